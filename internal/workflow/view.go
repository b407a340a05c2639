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
	err := s.read(ctx, func(q *gorm.DB) error {
		var err error
		p, view, err = s.view(ctx, q, a, corrID)
		return err
	})
	if err != nil {
		return View{}, err
	}
	if err := s.auditRead(ctx, p, corrID, view.Correspondence.Classification, "read", nil); err != nil {
		return View{}, err
	}
	return view, nil
}

// view reads a correspondence as the actor sees it.
func (s *Service) view(ctx context.Context, q *gorm.DB, a Actor, corrID int64) (*principal, View, error) {
	p, err := loadPrincipal(ctx, q, a)
	if err != nil {
		return nil, View{}, err
	}
	es, vias, err := s.visibleEntries(ctx, q, p, corrID)
	if err != nil {
		return nil, View{}, err
	}
	if len(es) == 0 {
		return nil, View{}, notFound("correspondence", corrID)
	}
	var cs []struct {
		Row        correspondenceRow `gorm:"embedded"`
		Registry   *string
		Department *string
		Author     *string
	}
	if err := q.WithContext(ctx).Raw(`SELECT c.*, r.code AS registry, d.code AS department, u.login AS author
FROM correspondence c LEFT JOIN registries r ON r.id = c.sender_registry_id
LEFT JOIN departments d ON d.id = c.department_id LEFT JOIN users u ON u.id = c.created_by WHERE c.id = ?`, corrID).Scan(&cs).Error; err != nil {
		return nil, View{}, fmt.Errorf("load correspondence %d: %w", corrID, err)
	}
	if len(cs) == 0 {
		return nil, View{}, notFound("correspondence", corrID)
	}
	c := cs[0].Row
	view := View{Correspondence: Correspondence{ID: c.ID, Kind: Kind(c.Kind), Subject: c.Subject, Body: c.Body,
		Classification: Classification(c.Classification), Priority: Priority(c.Priority), SenderParty: c.SenderParty,
		DueDate: c.DueDate, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, DocumentSHA256: c.DocumentSHA256}}
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
	view.Correspondence.SenderRegistry = deref(cs[0].Registry)
	if seesSender {
		view.Correspondence.Department = deref(cs[0].Department)
		view.Correspondence.CreatedBy = deref(cs[0].Author)
	}
	if view.Correspondence.Recipients, err = s.recipients(ctx, q, corrID, seesSender); err != nil {
		return nil, View{}, err
	}
	var refs []referenceRow
	if err := q.WithContext(ctx).Where("correspondence_id = ?", corrID).Order("referenced_id").Find(&refs).Error; err != nil {
		return nil, View{}, err
	}
	view.Correspondence.References = []Reference{}
	for _, r := range refs {
		view.Correspondence.References = append(view.Correspondence.References, Reference{ID: r.ReferencedID, Relation: Relation(r.Relation)})
	}
	if view.Correspondence.Attachments, err = attachmentsOf(ctx, q, corrID); err != nil {
		return nil, View{}, err
	}
	if view.Timeline, err = s.timeline(ctx, q, p, corrID, entryIDs); err != nil {
		return nil, View{}, err
	}
	return p, view, nil
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
		return appendAudit(ctx, tx, p, "correspondence."+what, fmt.Sprintf("correspondence:%d", corrID), details)
	})
}

func (s *Service) recipients(ctx context.Context, q *gorm.DB, corrID int64, full bool) ([]Recipient, error) {
	var rows []struct {
		Code      *string
		Party     string
		Role      string
		State     string
		Number    string
		Reason    string
		ChangedAt *time.Time
	}
	if err := q.WithContext(ctx).Raw(`SELECT r.code, x.party, x.role, x.state, COALESCE(e.number, x.number) AS number,
	x.reason, x.changed_at
FROM correspondence_recipients x LEFT JOIN registries r ON r.id = x.registry_id
LEFT JOIN registry_entries e ON e.id = x.entry_id
WHERE x.correspondence_id = ? ORDER BY x.position`, corrID).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("load recipients of %d: %w", corrID, err)
	}
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
	return out, nil
}

// timeline lists the events of the entries p sees, leaving out referrals
// p may not see.
func (s *Service) timeline(ctx context.Context, q *gorm.DB, p *principal, corrID int64, entryIDs []int64) ([]TimelineEvent, error) {
	var rows []struct {
		EntryID      *int64
		ReferralID   *int64
		Actor        string
		Action       string
		FromState    string
		ToState      string
		Comment      string
		CreatedAt    time.Time
		RegistryCode *string
	}
	err := q.WithContext(ctx).Raw(`SELECT v.entry_id, v.referral_id, v.actor, v.action, v.from_state, v.to_state,
	v.comment, v.created_at, r.code AS registry_code FROM workflow_events v
LEFT JOIN registry_entries e ON e.id = v.entry_id LEFT JOIN registries r ON r.id = e.registry_id
WHERE v.correspondence_id = ? AND v.entry_id IN ? ORDER BY v.id LIMIT 10000`, corrID, entryIDs).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("load timeline of %d: %w", corrID, err)
	}
	var refs []referralView
	for _, r := range rows {
		if r.ReferralID != nil {
			var err error
			if refs, err = s.referralsOfEntries(ctx, q, entryIDs); err != nil {
				return nil, err
			}
			break
		}
	}
	seen := map[int64]bool{}
	for i := range refs {
		if p.referralAccess(&refs[i]).visible() {
			seen[refs[i].ID] = true
		}
	}
	out := []TimelineEvent{}
	for _, r := range rows {
		if r.ReferralID != nil && !seen[*r.ReferralID] {
			continue
		}
		out = append(out, TimelineEvent{At: r.CreatedAt, Actor: r.Actor, Action: r.Action, EntryID: deref(r.EntryID),
			ReferralID: deref(r.ReferralID), Registry: deref(r.RegistryCode), From: State(r.FromState),
			To: State(r.ToState), Comment: r.Comment})
	}
	return out, nil
}

func (s *Service) verify(ctx context.Context, corrID int64) (Verification, error) {
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
	err := s.db.Gorm.WithContext(ctx).Raw(`SELECT r.code, e.direction, e.state, e.number, e.registered_at,
	c.document_sha256, c.subject, c.classification
FROM registry_entries e JOIN correspondence c ON c.id = e.correspondence_id JOIN registries r ON r.id = e.registry_id
WHERE e.correspondence_id = ? AND e.number IS NOT NULL
ORDER BY CASE WHEN e.direction = 'outgoing' THEN 0 ELSE 1 END, e.id LIMIT 1`, corrID).Scan(&rows).Error
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
