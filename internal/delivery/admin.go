package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/directory"
)

// Errors of the queue's care.
var (
	// ErrNotFound: no queue entry has that id.
	ErrNotFound = errors.New("no such queue entry")
	// ErrNotPending: the entry was already sent or given up.
	ErrNotPending = errors.New("queue entry is not pending")
	// ErrForbidden: the caller may not care for the outbound queue.
	ErrForbidden = errors.New("only an administrator of the instance may care for the outbound queue")
)

// The queue as administrators care for it through the API and the web UI:
// the *As methods take the caller and refuse anyone but an enabled
// administrator of the instance (the role admin; a ministry administrator
// too) with ErrForbidden, before reading anything. The command line, run
// by the operator of the machine, calls List, Get, Retry and Drop with an
// actor.

// authorize refuses a caller who does not administer the instance.
func authorize(caller directory.Principal) error {
	if caller.Disabled || !caller.HasRole(directory.RoleAdmin) {
		return ErrForbidden
	}
	return nil
}

// ListAs is List for an administrator.
func (q *Queue) ListAs(ctx context.Context, caller directory.Principal, o ListOptions) ([]Entry, int64, error) {
	if err := authorize(caller); err != nil {
		return nil, 0, err
	}
	return q.List(ctx, o)
}

// GetAs is Get for an administrator.
func (q *Queue) GetAs(ctx context.Context, caller directory.Principal, id int64) (Entry, error) {
	if err := authorize(caller); err != nil {
		return Entry{}, err
	}
	return q.Get(ctx, id)
}

// RetryAs is Retry for an administrator, audited with them as actor.
func (q *Queue) RetryAs(ctx context.Context, caller directory.Principal, id int64) error {
	if err := authorize(caller); err != nil {
		return err
	}
	return q.Retry(ctx, caller.Actor(), id)
}

// DropAs is Drop for an administrator, audited with them as actor.
func (q *Queue) DropAs(ctx context.Context, caller directory.Principal, id int64) error {
	if err := authorize(caller); err != nil {
		return err
	}
	return q.Drop(ctx, caller.Actor(), id)
}

// Entry is one recipient of the outbound queue, as administrators see it.
type Entry struct {
	ID            int64
	From          string // "" for <>
	To            string
	Domain        string
	Size          int64
	State         string // StatePending, StateSent, StateFailed
	Attempts      int
	CreatedAt     time.Time
	NextAttemptAt time.Time
	LastError     string
}

// ListOptions select entries: State "" is every state; Limit 0 is 100.
type ListOptions struct {
	State         string
	Limit, Offset int
}

// List returns the entries, oldest first, and how many match in all.
func (q *Queue) List(ctx context.Context, o ListOptions) ([]Entry, int64, error) {
	if o.Limit <= 0 || o.Limit > 1000 {
		o.Limit = 100
	}
	g := q.db.Reader().WithContext(ctx).Model(&relayRow{})
	if o.State != "" {
		g = g.Where("state = ?", o.State)
	}
	var total int64
	if err := g.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("relay queue: count: %w", err)
	}
	var rows []relayRow
	if err := g.Order("id").Limit(o.Limit).Offset(o.Offset).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("relay queue: list: %w", err)
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = toEntry(r)
	}
	return out, total, nil
}

// pendingEntry locks nothing: it reads the entry and says why it cannot
// be acted on.
func pendingEntry(tx *gorm.DB, id int64) (relayRow, error) {
	var rows []relayRow
	if err := tx.Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return relayRow{}, err
	}
	if len(rows) == 0 {
		return relayRow{}, ErrNotFound
	}
	if rows[0].State != StatePending {
		return rows[0], ErrNotPending
	}
	return rows[0], nil
}

// Retry makes a pending entry (and the others of its job) due now
// ("queue.retry", audited with actor).
func (q *Queue) Retry(ctx context.Context, actor string, id int64) error {
	var row relayRow
	err := q.db.Transaction(ctx, func(tx *gorm.DB) error {
		var err error
		if row, err = pendingEntry(tx, id); err != nil {
			return err
		}
		now := q.now().UTC().Truncate(time.Microsecond)
		if err := tx.Model(&relayRow{}).Where("id = ?", id).Update("next_attempt_at", now).Error; err != nil {
			return err
		}
		return q.audit(ctx, tx, actor, "queue.retry", row, nil)
	})
	if err != nil {
		return fmt.Errorf("queue retry %d: %w", id, err)
	}
	if q.jobs != nil && row.JobID != nil {
		if err := q.jobs.retry(ctx, *row.JobID); err != nil {
			return fmt.Errorf("queue retry %d: job %d: %w", id, *row.JobID, err)
		}
	}
	return nil
}

// Drop gives a pending entry up: it is marked failed and the sender gets
// a bounce ("queue.drop", audited with actor).
func (q *Queue) Drop(ctx context.Context, actor string, id int64) error {
	var row relayRow
	now := q.now().UTC().Truncate(time.Microsecond)
	reason := "dropped from the queue by " + actor
	err := q.db.Transaction(ctx, func(tx *gorm.DB) error {
		var err error
		if row, err = pendingEntry(tx, id); err != nil {
			return err
		}
		res := tx.Model(&relayRow{}).Where("id = ? AND state = ?", id, StatePending).
			Updates(map[string]any{"state": StateFailed, "last_error": reason, "status": "5.0.0", "done_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrNotPending
		}
		return q.audit(ctx, tx, actor, "queue.drop", row, map[string]any{"from": row.MailFrom})
	})
	if err != nil {
		return fmt.Errorf("queue drop %d: %w", id, err)
	}
	if e := q.eng; e != nil {
		if e.metrics != nil {
			e.metrics.deliveries.WithLabelValues("dropped", row.Domain).Inc()
		}
		e.notify(ctx, []relayRow{row}, []fate{{state: StateFailed, status: "5.0.0", reply: reason}}, []int{0}, "failed", now)
		e.dropBlobWhenDone(ctx, row.BlobKey)
		e.log.Info("delivery: dropped", slog.Int64("id", id), slog.String("to", row.RcptTo), slog.String("actor", actor))
	}
	return nil
}

// audit records an administrator's act on an entry in tx.
func (q *Queue) audit(ctx context.Context, tx *gorm.DB, actor, action string, row relayRow, extra map[string]any) error {
	details := map[string]any{"to": row.RcptTo, "domain": row.Domain}
	for k, v := range extra {
		details[k] = v
	}
	e := audit.Event{Actor: actor, Action: action, Target: "queue:" + strconv.FormatInt(row.ID, 10), Details: details}
	if q.eng == nil || q.eng.o.Audit == nil {
		return errors.New("no audit sealer")
	}
	return q.eng.o.Audit.Append(ctx, tx, e)
}

// Get returns one entry, or ErrNotFound.
func (q *Queue) Get(ctx context.Context, id int64) (Entry, error) {
	var rows []relayRow
	if err := q.db.Writer().WithContext(ctx).Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return Entry{}, fmt.Errorf("relay queue: read %d: %w", id, err)
	}
	if len(rows) == 0 {
		return Entry{}, ErrNotFound
	}
	return toEntry(rows[0]), nil
}

func toEntry(r relayRow) Entry {
	return Entry{ID: r.ID, From: r.MailFrom, To: r.RcptTo, Domain: r.Domain, Size: r.Size, State: r.State,
		Attempts: r.Attempts, CreatedAt: r.CreatedAt, NextAttemptAt: r.NextAttemptAt, LastError: r.LastError}
}
