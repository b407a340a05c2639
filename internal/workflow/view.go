package workflow

import (
	"context"
	"fmt"
	"slices"
)

// Reading a correspondence as an actor sees it: the document, the entries
// they may see, recipients (delivery details for the sender's side only),
// attachments and the timeline; and the public verification.

func (s *Service) get(ctx context.Context, a Actor, corrID int64) (View, error) {
	var view View
	var p *principal
	var names viewNames
	err := s.readBatched(ctx, func(x *txn) error {
		var err error
		p, view, err = s.view(x, a, corrID, &names)
		return err
	})
	if err != nil {
		return View{}, err
	}
	if err := s.nameView(ctx, &view, names); err != nil {
		return View{}, err
	}
	if err := s.auditRead(ctx, p, corrID, view.Correspondence.Classification, "read", nil); err != nil {
		return View{}, err
	}
	return view, nil
}

// maxTimeline bounds the events a view lists.
const maxTimeline = 10000

// viewNames are the users a view shows, by id, for the directory to name
// after the read (nameView): the correspondence's author (0 when not
// shown) and the authors of its attachments.
type viewNames struct {
	author      int64
	attachments attachmentList
}

// nameView names the users of view (names), asking the directory once for
// all of them; it is called after the read, holding no connection.
func (s *Service) nameView(ctx context.Context, view *View, names viewNames) error {
	ids := names.attachments.creatorIDs()
	if names.author != 0 {
		ids = append(ids, names.author)
	}
	logins, err := s.logins(ctx, ids)
	if err != nil {
		return fmt.Errorf("name the authors of correspondence %d: %w", view.Correspondence.ID, err)
	}
	names.attachments.name(logins)
	if names.author != 0 {
		view.Correspondence.CreatedBy = logins[names.author]
	}
	return nil
}

// view reads a correspondence as the actor sees it. Everything is read at
// once (one round trip on PostgreSQL) and what the actor may not see is
// left out here: the entries, their referrals and the timeline. The users
// it shows are noted in names, to be named after the read (nameView).
func (s *Service) view(x *txn, a Actor, corrID int64, names *viewNames) (*principal, View, error) {
	principal := x.principal(a)
	rows := x.loadView(corrID, maxTimeline)
	if err := x.run(); err != nil {
		return nil, View{}, fmt.Errorf("read correspondence %d: %w", corrID, err)
	}
	p, err := principal()
	if err != nil {
		return nil, View{}, err
	}
	holds, err := viewHolds(x, p, rows)
	if err != nil {
		return nil, View{}, fmt.Errorf("read referrals of correspondence %d: %w", corrID, err)
	}
	es, vias := visibleOf(p, rows.entries, holds)
	if len(es) == 0 || len(rows.document) == 0 {
		return nil, View{}, notFound("correspondence", corrID)
	}
	view, entryIDs, author := viewOf(p, rows, es, vias)
	names.author = author
	names.attachments = rows.attachments
	events := rows.timeline
	if len(events) == maxTimeline {
		// Cut by the limit before the events of other entries were left
		// out: read those of p's entries alone.
		if events, err = x.timelineOfEntries(corrID, entryIDs, maxTimeline); err != nil {
			return nil, View{}, err
		}
	}
	view.Timeline = timeline(p, es, holds, events)
	return p, view, nil
}

// viewHolds reads the referrals of the entries, when they decide what p
// sees: whether p sees an incoming entry they do not clerk for, or a
// referral's events (a clerk sees those of their registry's entries).
func viewHolds(x *txn, p *principal, rows *viewRows) ([]referralHold, error) {
	es := rows.entries
	if !p.seesContent() || len(es) == 0 {
		return nil, nil
	}
	need := false
	byID := map[int64]*entryView{}
	for i := range es {
		_, more := p.directAccess(&es[i])
		need = need || more
		byID[es[i].ID] = &es[i]
	}
	for _, r := range rows.timeline {
		if e := byID[deref(r.EntryID)]; r.ReferralID != nil && e != nil && !p.isClerkOf(e.RegistryID) {
			need = true
		}
	}
	if !need {
		return nil, nil
	}
	ids := make([]int64, len(es))
	for i := range es {
		ids[i] = es[i].ID
	}
	holds := x.referralHolds(ids)
	if err := x.run(); err != nil {
		return nil, err
	}
	return holds(), nil
}

// visibleOf is the entries among es p sees, with how.
func visibleOf(p *principal, es []entryView, holds []referralHold) ([]entryView, []via) {
	if !p.seesContent() {
		return nil, nil
	}
	var vias []via
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
	return seen, vias
}

// viewOf is the view of the correspondence without its timeline, the ids
// of its entries p sees (es, which p sees by vias, the caller's registry's
// entries first, outgoing before incoming), and the id of its author when
// p sees them (0 when not), to be named after the read (nameView).
func viewOf(p *principal, rows *viewRows, es []entryView, vias []via) (view View, entryIDs []int64, author int64) {
	c := rows.document[0]
	view = View{Correspondence: Correspondence{ID: c.ID, Kind: Kind(c.Kind), Subject: c.Subject, Body: c.Body,
		Classification: Classification(c.Classification), Priority: Priority(c.Priority), SenderParty: c.SenderParty,
		DueDate: c.DueDate, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, DocumentSHA256: c.DocumentSHA256,
		References: rows.references, Attachments: rows.attachments.items}}
	if c.FrozenAt != nil {
		view.Correspondence.FrozenAt = *c.FrozenAt
	}
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
		author = deref(c.CreatedBy)
	} else if c.Registry != nil {
		// The sender's people appear as their registry.
		rows.attachments = rows.attachments.shownAs(*c.Registry)
	}
	view.Correspondence.Recipients = recipients(rows.recipients, seesSender)
	if onlyRecalled(es) {
		view.Correspondence = view.Correspondence.envelope()
		rows.attachments = attachmentList{items: []Attachment{}}
	}
	return view, entryIDs, author
}

// onlyRecalled reports whether every entry of es is an incoming entry its
// sender recalled: those who see the letter through them see its envelope
// alone.
func onlyRecalled(es []entryView) bool {
	for i := range es {
		if !es[i].recalledIncoming() {
			return false
		}
	}
	return len(es) > 0
}

func (e *entryView) recalledIncoming() bool {
	return Direction(e.Direction) == Incoming && State(e.State) == StateRecalled
}

// envelope is c without its content: what a recipient keeps of a letter
// its sender recalled (who sent it, when, its classification and
// priority, its recipients).
func (c Correspondence) envelope() Correspondence {
	c.Subject, c.Body, c.DocumentSHA256 = "", "", ""
	c.References, c.Attachments = []Reference{}, []Attachment{}
	return c
}

// timeline is the events of the entries p sees (es), without those of
// referrals p may not see.
func timeline(p *principal, es []entryView, holds []referralHold, events []eventRow) []TimelineEvent {
	visible := map[int64]*entryView{}
	for i := range es {
		visible[es[i].ID] = &es[i]
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
	out := []TimelineEvent{}
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
		out = append(out, TimelineEvent{At: r.CreatedAt, Actor: r.Actor, Action: r.Action,
			EntryID: e.ID, ReferralID: deref(r.ReferralID), Registry: e.RegistryCode,
			From: State(r.FromState), To: State(r.ToState), Comment: r.Comment})
	}
	return out
}

// auditRead records a read of a confidential or secret document.
func (s *Service) auditRead(ctx context.Context, p *principal, corrID int64, c Classification, what string, extra map[string]any) error {
	if level(c) == 0 {
		return nil
	}
	details := map[string]any{"classification": string(c)}
	for k, v := range extra {
		details[k] = v
	}
	return s.writeReadEvent(ctx, p, "correspondence."+what, fmt.Sprintf("correspondence:%d", corrID), details)
}

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

func (s *Service) verify(ctx context.Context, a Actor, corrID int64) (Verification, error) {
	var rows []registration
	envelope := false
	err := s.readStepwise(ctx, func(x *txn) error {
		// The access rule of Get: the actor sees an entry of it.
		p, err := x.loadPrincipal(a)
		if err != nil {
			return err
		}
		es, _, err := visibleEntries(x, p, corrID)
		if err != nil || len(es) == 0 {
			return err
		}
		envelope = onlyRecalled(es)
		rows, err = x.loadRegistration(corrID)
		return err
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
	v.Valid = inForce(v.State)
	if Classification(r.Classification) == Normal && !envelope {
		v.Subject = r.Subject
	}
	return v, nil
}

// inForce reports whether a registered letter in state st is in force: a
// cancelled or recalled letter keeps its number but is not.
func inForce(st State) bool {
	return st != StateCancelled && st != StateRecalled
}
