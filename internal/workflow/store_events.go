package workflow

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
)

// The statements of events: the timeline (workflow_events) and the audit
// events a change writes in its transaction.

// timelineInto and timelineValues insert a timeline row.
const (
	timelineInto = `INSERT INTO workflow_events (correspondence_id, entry_id, referral_id, actor, action, from_state,
	to_state, comment, created_at) VALUES`
	timelineValues = `(?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// timelineArgs are the arguments of e's timeline row.
func (s *Service) timelineArgs(p *principal, e event) []any {
	var entryID, referralID *int64
	if e.entryID != 0 {
		entryID = ptr(e.entryID)
	}
	if e.referralID != 0 {
		referralID = ptr(e.referralID)
	}
	actor := p.displayName()
	if e.asRegistry != "" {
		actor = e.asRegistry
	}
	return []any{e.corrID, entryID, referralID, actor, e.action, string(e.from), string(e.to), e.comment, s.clock()}
}

// newAuditRow is the audit event of a change by p, sealed, as
// Sealer.Append would store it.
func (s *Service) newAuditRow(p *principal, action, target string, details map[string]any) (audit.Row, error) {
	return s.audit.Prepare(audit.Event{Actor: p.auditName(), Action: action, Target: target, Details: details})
}

// insertEvents queues the timeline row and the audit event of each event
// on x. The audit action is "entry.<action>", "referral.<action>" or
// "correspondence.<action>" after the object the event is about.
func (x *txn) insertEvents(p *principal, es ...event) {
	for _, e := range es {
		x.insert(insert{timelineInto, timelineValues, x.s.timelineArgs(p, e)})
		action, target, details := auditFields(e)
		a, err := x.s.newAuditRow(p, action, target, details)
		if err != nil {
			x.fail(err)
			return
		}
		x.insert(insert{audit.InsertColumns + " VALUES", audit.InsertValues, a.Args()})
	}
}

// record writes e's timeline row and audit event in tx, now.
func (s *Service) record(ctx context.Context, tx *gorm.DB, p *principal, e event) error {
	x := s.onTx(ctx, tx)
	x.insertEvents(p, e)
	if err := x.run(); err != nil {
		return fmt.Errorf("record %s: %w", e.action, err)
	}
	return nil
}

// writeReadEvent writes, in a transaction of its own, the audit event of a
// read.
func (s *Service) writeReadEvent(ctx context.Context, p *principal, action, target string, details map[string]any) error {
	return s.db.Transaction(ctx, func(tx *gorm.DB) error {
		return s.appendAudit(ctx, tx, p, action, target, details)
	})
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

// timelineOf queues the reading of a correspondence's timeline, at most
// limit events; get returns them once x has run.
func (x *txn) timelineOf(corrID int64, limit int) (get func() []eventRow) {
	var events []eventRow
	x.query(timelineSelect+" WHERE v.correspondence_id = ? ORDER BY v.id LIMIT ?", []any{corrID, limit}, appendTimelineLine(&events))
	return func() []eventRow { return events }
}

// timelineOfEntries reads, now, the timeline of a correspondence's
// entries among entryIDs, at most limit events.
func (x *txn) timelineOfEntries(corrID int64, entryIDs []int64, limit int) ([]eventRow, error) {
	q, err := x.db()
	if err != nil {
		return nil, err
	}
	var events []eventRow
	if err := scanRows(x.ctx, q, timelineSelect+" WHERE v.correspondence_id = ? AND v.entry_id IN ? ORDER BY v.id LIMIT ?",
		[]any{corrID, entryIDs, limit}, appendTimelineLine(&events)); err != nil {
		return nil, fmt.Errorf("load timeline of %d: %w", corrID, err)
	}
	return events, nil
}
