package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	var where []string
	var args []any
	cond := func(c string, a ...any) { where, args = append(where, c), append(args, a...) }
	if f.Actor != "" {
		cond("actor = ?", f.Actor)
	}
	if f.Action != "" {
		cond("action = ?", f.Action)
	}
	if f.TargetPrefix != "" {
		// substr, not LIKE: SQLite's LIKE ignores ASCII case.
		cond("substr(target, 1, ?) = ?", utf8.RuneCountInString(f.TargetPrefix), f.TargetPrefix)
	}
	if !f.Since.IsZero() {
		cond("created_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		cond("created_at < ?", f.Until.UTC())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	q := "SELECT * FROM audit_events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	var rows []eventRow
	if err := l.db.Writer().WithContext(ctx).Raw(q+" ORDER BY created_at DESC, id DESC LIMIT ?", append(args, limit)...).
		Scan(&rows).Error; err != nil {
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

// ErrForbidden: the caller may not read the audit log.
var ErrForbidden = errors.New("only an administrator may read the audit log")
