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
	Target       string    // exact
	Since        time.Time // created at or after
	Until        time.Time // created before
	Limit        int       // at most this many; 0 means 100, capped at 1000
	// After is a keyset cursor: only events listed after it, newest
	// first (those older than it, or of its time with a smaller id).
	After *Cursor
}

// Cursor is the place of an event in the newest-first order of List.
type Cursor struct {
	Time time.Time
	ID   int64
}

// Record is a stored event.
type Record struct {
	Event
	ID   int64
	Time time.Time // when it was appended, UTC
	Seq  int64     // position in the chain; 0 while it waits to be linked
	// Hash is the event's link in the chain (hex), and PrevHash the link
	// before it; both "" while it waits to be linked.
	Hash, PrevHash string
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
	if f.Target != "" {
		cond("target = ?", f.Target)
	}
	if f.After != nil {
		t := f.After.Time.UTC()
		// The bound on created_at alone lets the index range start there.
		cond("created_at <= ? AND (created_at < ? OR id < ?)", t, t, f.After.ID)
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
	if r.Hash != nil && r.PrevHash != nil {
		rec.Hash, rec.PrevHash = *r.Hash, *r.PrevHash
	}
	if r.Details != "" && r.Details != "{}" {
		if err := json.Unmarshal([]byte(r.Details), &rec.Details); err != nil {
			return Record{}, fmt.Errorf("audit event %d: details: %w", r.ID, err)
		}
	}
	return rec, nil
}

// ErrForbidden: the caller may not read the audit log.
var ErrForbidden = errors.New("only an administrator may read or verify the audit log")

// Reader is who asks to read or verify the log through the API or the web
// UI; directory.Principal satisfies it (the directory says who may).
type Reader interface {
	MayReadAudit() bool
}

// Page is one page of Search: the events, and the cursor of the next page
// (nil after the last).
type Page struct {
	Records []Record
	Next    *Cursor
}

// Search lists the events that match f, newest first, for a reader who may
// read the log: f.Limit of them (at most 1000) and the cursor of the next
// page. Each page costs one indexed query whatever the log's size: no
// count of every match.
func (l *Log) Search(ctx context.Context, who Reader, f Filter) (Page, error) {
	if who == nil || !who.MayReadAudit() {
		return Page{}, ErrForbidden
	}
	limit := min(max(f.Limit, 1), maxListLimit)
	f.Limit = limit + 1 // one more: is there a next page?
	recs, err := l.List(ctx, f)
	if err != nil {
		return Page{}, err
	}
	p := Page{Records: recs}
	if len(recs) > limit {
		p.Records = recs[:limit]
		last := recs[limit-1]
		p.Next = &Cursor{Time: last.Time, ID: last.ID}
	}
	return p, nil
}

// VerifyAs is Verify for a reader who may read the log.
func (l *Log) VerifyAs(ctx context.Context, who Reader) (Report, error) {
	if who == nil || !who.MayReadAudit() {
		return Report{}, ErrForbidden
	}
	return l.Verify(ctx)
}
