package workflow

import (
	"context"
	"fmt"
	"strconv"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
)

// event is one change: a timeline row and its audit event, written in the
// caller's transaction.
type event struct {
	corrID     int64
	entryID    int64 // 0 for none
	referralID int64 // 0 for none
	action     string
	from, to   State
	comment    string
	details    map[string]any // extra audit details
}

// record writes e's timeline row and audit event. The audit action is
// "entry.<action>", "referral.<action>" or "correspondence.<action>" after
// the object the event is about.
func (s *Service) record(ctx context.Context, tx *gorm.DB, p *principal, e event) error {
	if s.isPostgres() {
		return s.recordPG(ctx, tx, p, e)
	}
	if err := s.timelineRow(ctx, tx, p, e); err != nil {
		return err
	}
	return s.auditEvent(ctx, tx, p, e)
}

// record queues e's timeline row and audit event on x.
func (x *txn) record(p *principal, e event) {
	x.timelineRow(p, e)
	x.auditEvent(p, e)
}

// timelineRow queues e's timeline row on x.
func (x *txn) timelineRow(p *principal, e event) {
	x.insert(insert{timelineInto, timelineValues, x.s.timelineArgs(p, e)})
}

// auditEvent queues e's audit event on x, as Sealer.Append writes it.
func (x *txn) auditEvent(p *principal, e event) {
	action, target, details := auditFields(e)
	a, err := x.s.newAuditRow(p, action, target, details)
	if err != nil {
		x.fail(err)
		return
	}
	x.insert(insert{audit.InsertColumns + " VALUES", audit.InsertValues, a.Args()})
}

// timelineRow writes e's timeline row.
func (s *Service) timelineRow(ctx context.Context, tx *gorm.DB, p *principal, e event) error {
	row := eventRow{CorrespondenceID: e.corrID, Actor: p.displayName(), Action: e.action,
		FromState: string(e.from), ToState: string(e.to), Comment: e.comment, CreatedAt: s.clock()}
	if e.entryID != 0 {
		row.EntryID = ptr(e.entryID)
	}
	if e.referralID != 0 {
		row.ReferralID = ptr(e.referralID)
	}
	if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("record %s: %w", e.action, err)
	}
	return nil
}

// auditEvent writes e's audit event.
func (s *Service) auditEvent(ctx context.Context, tx *gorm.DB, p *principal, e event) error {
	action, target, details := auditFields(e)
	return s.appendAudit(ctx, tx, p, action, target, details)
}

// auditFields are the action, target and details of e's audit event. The
// audit action is "entry.<action>", "referral.<action>" or
// "correspondence.<action>" after the object the event is about.
func auditFields(e event) (action, target string, details map[string]any) {
	details = map[string]any{"correspondence": e.corrID}
	for k, v := range e.details {
		details[k] = v
	}
	if e.from != "" {
		details["from"] = string(e.from)
	}
	if e.to != "" {
		details["to"] = string(e.to)
	}
	if e.comment != "" {
		details["comment"] = e.comment
	}
	switch {
	case e.referralID != 0:
		action, target = "referral."+e.action, "referral:"+strconv.FormatInt(e.referralID, 10)
		details["entry"] = e.entryID
	case e.entryID != 0:
		action, target = "entry."+e.action, "entry:"+strconv.FormatInt(e.entryID, 10)
	default:
		action, target = "correspondence."+e.action, "correspondence:"+strconv.FormatInt(e.corrID, 10)
	}
	return action, target, details
}

// auditName is the actor as audit events name them: a user by their login
// as the database has it (Actor.Login is the caller's, for messages).
func (p *principal) auditName() string {
	if p.operator {
		return p.a.Operator
	}
	return "user:" + p.login
}

// displayName is the actor as the timeline shows them.
func (p *principal) displayName() string {
	if p.operator {
		return p.a.Operator
	}
	return p.login
}
