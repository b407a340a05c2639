package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// Filter selects events for List. Zero fields do not filter.
type Filter struct {
	Actor        string    // exact
	Action       string    // exact
	TargetPrefix string    // target starts with this, case-sensitive
	Since        time.Time // created at or after
	Until        time.Time // created before
	Limit        int       // at most this many; 0 means 100, capped at 1000
}

// Record is a stored event.
type Record struct {
	Event
	ID   int64
	Time time.Time // when it was appended, UTC
	Seq  int64     // position in the chain; 0 while it waits to be linked
}

// List returns the events that match f, newest first.
func (l *Log) List(ctx context.Context, f Filter) ([]Record, error) {
	q := l.db.Writer().WithContext(ctx).Model(&eventRow{})
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.TargetPrefix != "" {
		// substr, not LIKE: SQLite's LIKE ignores ASCII case.
		q = q.Where("substr(target, 1, ?) = ?", utf8.RuneCountInString(f.TargetPrefix), f.TargetPrefix)
	}
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at < ?", f.Until.UTC())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	var rows []eventRow
	if err := q.Order("created_at DESC, id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("audit list: %w", err)
	}
	out := make([]Record, 0, len(rows))
	for i := range rows {
		rec, err := rows[i].record()
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

func (r *eventRow) record() (Record, error) {
	rec := Record{
		Event: Event{Actor: r.Actor, Action: r.Action, Target: r.Target},
		ID:    r.ID,
		Time:  r.CreatedAt.UTC(),
	}
	if r.Seq != nil {
		rec.Seq = *r.Seq
	}
	if r.Details != "" && r.Details != "{}" {
		if err := json.Unmarshal([]byte(r.Details), &rec.Details); err != nil {
			return Record{}, fmt.Errorf("audit event %d: details: %w", r.ID, err)
		}
	}
	return rec, nil
}
