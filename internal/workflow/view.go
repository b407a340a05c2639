package workflow

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// Reading a correspondence as an actor sees it: the document, the entries
// they may see, recipients (delivery details for the sender's side only),
// attachments and the timeline; and the public verification.

func (s *Service) get(ctx context.Context, a Actor, corrID int64) (View, error) {
	var view View
	var p *principal
	var atts attachmentList
	err := s.readBatched(ctx, func(x *txn) error {
		var err error
		p, view, err = s.view(x, a, corrID, &atts)
		return err
	})
	if err != nil {
		return View{}, err
	}
	if err := s.nameCreators(ctx, atts); err != nil {
		return View{}, err
	}
	if err := s.auditRead(ctx, p, corrID, view.Correspondence.Classification, "read", nil); err != nil {
		return View{}, err
	}
	return view, nil
}

// maxTimeline bounds the events a view lists.
const maxTimeline = 10000

// view reads a correspondence as the actor sees it. Everything is read at
// once (one round trip on PostgreSQL) and what the actor may not see is
// left out here: the entries, their referrals and the timeline. The
// attachments are listed in atts too, for their authors to be named after
// the read (nameCreators).
func (s *Service) view(x *txn, a Actor, corrID int64, atts *attachmentList) (*principal, View, error) {
	principal := x.principal(a)
	var es []entryView
	x.query(entrySelect+" WHERE e.correspondence_id = ? ORDER BY e.id", []any{corrID}, appendEntry(&es))
	var cs []correspondenceLine
	x.query(correspondenceSelect, []any{corrID}, func(r rowScanner) error {
		var c correspondenceLine
		if err := c.scan(r); err != nil {
			return err
		}
		cs = append(cs, c)
		return nil
	})
	var rs []recipientLine
	x.query(recipientSelect, []any{corrID}, func(r rowScanner) error {
		var l recipientLine
		if err := r.Scan(&l.Code, &l.Party, &l.Role, &l.State, &l.Number, &l.Reason, &l.ChangedAt); err != nil {
			return err
		}
		rs = append(rs, l)
		return nil
	})
	refs := []Reference{}
	x.query(`SELECT referenced_id, relation FROM correspondence_references WHERE correspondence_id = ? ORDER BY referenced_id`,
		[]any{corrID}, func(r rowScanner) error {
			var ref Reference
			if err := r.Scan(&ref.ID, &ref.Relation); err != nil {
				return err
			}
			refs = append(refs, ref)
			return nil
		})
	*atts = attachmentList{items: []Attachment{}}
	x.query(attachmentSelect+" WHERE a.correspondence_id = ? ORDER BY a.id LIMIT 10000", []any{corrID}, atts.appendRow)
	var events []eventRow
	x.query(timelineSelect+" WHERE v.correspondence_id = ? ORDER BY v.id LIMIT ?", []any{corrID, maxTimeline},
		appendTimelineLine(&events))
	if err := x.run(); err != nil {
		return nil, View{}, fmt.Errorf("read correspondence %d: %w", corrID, err)
	}
	p, err := principal()
	if err != nil {
		return nil, View{}, err
	}

	// The referrals of the entries, when they decide what p sees: whether
	// p sees an incoming entry they do not clerk for, or a referral's
	// events (a clerk sees those of their registry's entries).
	var holds []referralHold
	needHolds := false
	for i := range es {
		_, more := p.directAccess(&es[i])
		needHolds = needHolds || more
	}
	byID := map[int64]*entryView{}
	for i := range es {
		byID[es[i].ID] = &es[i]
	}
	for _, r := range events {
		if e := byID[deref(r.EntryID)]; r.ReferralID != nil && e != nil && !p.isClerkOf(e.RegistryID) {
			needHolds = true
		}
	}
	if needHolds && p.seesContent() && len(es) > 0 {
		ids := make([]any, len(es))
		for i := range es {
			ids[i] = es[i].ID
		}
		x.query(referralHoldSelect+" WHERE f.entry_id IN ("+placeholders(len(ids))+")", ids, appendHold(&holds))
		if err := x.run(); err != nil {
			return nil, View{}, fmt.Errorf("read referrals of correspondence %d: %w", corrID, err)
		}
	}

	// The entries p sees, with how.
	var vias []via
	visible := map[int64]*entryView{}
	if p.seesContent() {
		seen := es[:0]
		for _, e := range es {
			v, more := p.directAccess(&e)
			if more {
				v = p.throughReferrals(v, &e, holds)
			}
			if v != 0 {
				seen = append(seen, e)
				vias = append(vias, v)
			}
		}
		es = seen
	} else {
		es = nil
	}
	if len(es) == 0 || len(cs) == 0 {
		return nil, View{}, notFound("correspondence", corrID)
	}
	for i := range es {
		visible[es[i].ID] = &es[i]
	}
	c := cs[0]
	view := View{Correspondence: Correspondence{ID: c.ID, Kind: Kind(c.Kind), Subject: c.Subject, Body: c.Body,
		Classification: Classification(c.Classification), Priority: Priority(c.Priority), SenderParty: c.SenderParty,
		DueDate: c.DueDate, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, DocumentSHA256: c.DocumentSHA256,
		References: refs, Attachments: atts.items}}
	if c.FrozenAt != nil {
		view.Correspondence.FrozenAt = *c.FrozenAt
	}
	// Order: the caller's registry's entries first, outgoing before incoming.
	idx := make([]int, len(es))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int {
		rank := func(i int) int {
			r := 0
			if vias[i]&viaClerk == 0 {
				r += 2
			}
			if es[i].Direction != string(Outgoing) {
				r++
			}
			return r
		}
		return rank(x) - rank(y)
	})
	seesSender := false
	var entryIDs []int64
	for _, i := range idx {
		view.Entries = append(view.Entries, es[i].entry(p.allowedActions(&es[i], vias[i])))
		entryIDs = append(entryIDs, es[i].ID)
		if es[i].Direction == string(Outgoing) {
			seesSender = true
		}
	}
	view.Correspondence.SenderRegistry = deref(c.Registry)
	if seesSender {
		view.Correspondence.Department = deref(c.Department)
		view.Correspondence.CreatedBy = deref(c.Author)
	}
	view.Correspondence.Recipients = recipients(rs, seesSender)

	// The timeline: the events of the entries p sees, without those of
	// referrals p may not see.
	if len(events) == maxTimeline {
		// Cut by the limit before the events of other entries were left
		// out: read those of p's entries alone.
		q, err := x.db()
		if err != nil {
			return nil, View{}, err
		}
		events = events[:0]
		if err := scanRows(x.ctx, q, timelineSelect+" WHERE v.correspondence_id = ? AND v.entry_id IN ? ORDER BY v.id LIMIT ?",
			[]any{corrID, entryIDs, maxTimeline}, appendTimelineLine(&events)); err != nil {
			return nil, View{}, fmt.Errorf("load timeline of %d: %w", corrID, err)
		}
	}
	seesReferral := map[int64]bool{} // by referral id, from holds
	for i := range holds {
		h := &holds[i]
		if e, ok := visible[h.EntryID]; ok {
			f := referralView{ID: h.ID, EntryID: h.EntryID, FromUserID: h.FromUserID, ToUserID: h.ToUserID,
				ToDepartmentID: h.ToDepartmentID, ToUserDepartment: h.ToUserDepartment,
				Classification: e.Classification, RegistryID: e.RegistryID, MinistryID: e.MinistryID}
			seesReferral[h.ID] = p.referralAccess(&f).visible()
		}
	}
	view.Timeline = []TimelineEvent{}
	for _, r := range events {
		e := visible[deref(r.EntryID)]
		if e == nil {
			continue
		}
		// The clerks of an entry's registry see all its referrals
		// (referralAccess); holds were read for the others.
		if r.ReferralID != nil && !p.isClerkOf(e.RegistryID) && !seesReferral[*r.ReferralID] {
			continue
		}
		view.Timeline = append(view.Timeline, TimelineEvent{At: r.CreatedAt, Actor: r.Actor, Action: r.Action,
			EntryID: e.ID, ReferralID: deref(r.ReferralID), Registry: e.RegistryCode,
			From: State(r.FromState), To: State(r.ToState), Comment: r.Comment})
	}
	return p, view, nil
}

// correspondenceLine is a row of correspondenceSelect.
type correspondenceLine struct {
	ID                                    int64
	Kind, Subject, Body                   string
	Classification, Priority, SenderParty string
	DueDate                               string
	CreatedAt, UpdatedAt                  time.Time
	FrozenAt                              *time.Time
	DocumentSHA256                        string
	Registry, Department, Author          *string
}

const correspondenceSelect = `SELECT c.id, c.kind, c.subject, c.body, c.classification, c.priority, c.sender_party,
	c.due_date, c.created_at, c.updated_at, c.frozen_at, c.document_sha256,
	r.code AS registry, d.code AS department, u.login AS author
FROM correspondence c LEFT JOIN registries r ON r.id = c.sender_registry_id
LEFT JOIN departments d ON d.id = c.department_id LEFT JOIN users u ON u.id = c.created_by WHERE c.id = ?`

func (c *correspondenceLine) scan(r rowScanner) error {
	return r.Scan(&c.ID, &c.Kind, &c.Subject, &c.Body, &c.Classification, &c.Priority, &c.SenderParty,
		&c.DueDate, &c.CreatedAt, &c.UpdatedAt, &c.FrozenAt, &c.DocumentSHA256, &c.Registry, &c.Department, &c.Author)
}

// auditRead records a read of a confidential or secret document.
func (s *Service) auditRead(ctx context.Context, p *principal, corrID int64, c Classification, what string, extra map[string]any) error {
	if level(c) == 0 {
		return nil
	}
	return s.db.Transaction(ctx, func(tx *gorm.DB) error {
		details := map[string]any{"classification": string(c)}
		for k, v := range extra {
			details[k] = v
		}
		return s.appendAudit(ctx, tx, p, "correspondence."+what, fmt.Sprintf("correspondence:%d", corrID), details)
	})
}

// recipientLine is a row of recipientSelect.
type recipientLine struct {
	Code      *string
	Party     string
	Role      string
	State     string
	Number    string
	Reason    string
	ChangedAt *time.Time
}

// recipientSelect reads the registry and entry of each recipient by key
// (not by join: a plan of a prepared statement made before statistics
// could scan the tables).
const recipientSelect = `SELECT (SELECT r.code FROM registries r WHERE r.id = x.registry_id), x.party, x.role, x.state,
	COALESCE((SELECT e.number FROM registry_entries e WHERE e.id = x.entry_id), x.number), x.reason, x.changed_at
FROM correspondence_recipients x WHERE x.correspondence_id = ? ORDER BY x.position`

// recipients are the recipients of a view; full adds the delivery details
// (the sender's side only).
func recipients(rows []recipientLine, full bool) []Recipient {
	out := make([]Recipient, len(rows))
	for i, r := range rows {
		out[i] = Recipient{Registry: deref(r.Code), Party: r.Party, Role: RecipientRole(r.Role)}
		if full {
			out[i].State, out[i].Number, out[i].Reason = State(r.State), r.Number, r.Reason
			if r.ChangedAt != nil {
				out[i].At = *r.ChangedAt
			}
		}
	}
	return out
}

const timelineSelect = `SELECT v.entry_id, v.referral_id, v.actor, v.action, v.from_state, v.to_state, v.comment, v.created_at
FROM workflow_events v`

// appendTimelineLine appends each row of timelineSelect to to.
func appendTimelineLine(to *[]eventRow) func(r rowScanner) error {
	return func(r rowScanner) error {
		var l eventRow
		if err := r.Scan(&l.EntryID, &l.ReferralID, &l.Actor, &l.Action, &l.FromState, &l.ToState, &l.Comment, &l.CreatedAt); err != nil {
			return err
		}
		*to = append(*to, l)
		return nil
	}
}

func (s *Service) verify(ctx context.Context, a Actor, corrID int64) (Verification, error) {
	var rows []struct {
		Code           string
		Direction      string
		State          string
		Number         string
		RegisteredAt   time.Time
		DocumentSHA256 string `gorm:"column:document_sha256"`
		Subject        string
		Classification string
	}
	err := s.read(ctx, func(q *gorm.DB) error {
		// The access rule of Get: the actor sees an entry of it.
		p, err := loadPrincipal(ctx, q, a)
		if err != nil {
			return err
		}
		if es, _, err := s.visibleEntries(ctx, q, p, corrID); err != nil || len(es) == 0 {
			return err
		}
		return q.WithContext(ctx).Raw(`SELECT r.code, e.direction, e.state, e.number, e.registered_at,
	c.document_sha256, c.subject, c.classification
FROM registry_entries e JOIN correspondence c ON c.id = e.correspondence_id JOIN registries r ON r.id = e.registry_id
WHERE e.correspondence_id = ? AND e.number IS NOT NULL
ORDER BY CASE WHEN e.direction = 'outgoing' THEN 0 ELSE 1 END, e.id LIMIT 1`, corrID).Scan(&rows).Error
	})
	if err != nil {
		return Verification{}, fmt.Errorf("verify %d: %w", corrID, err)
	}
	if len(rows) == 0 {
		return Verification{}, notFound("correspondence", corrID)
	}
	r := rows[0]
	v := Verification{Registry: r.Code, Direction: Direction(r.Direction), Number: r.Number, RegisteredAt: r.RegisteredAt,
		DocumentSHA256: r.DocumentSHA256, State: State(r.State)}
	if Classification(r.Classification) == Normal {
		v.Subject = r.Subject
	}
	return v, nil
}
