// Package audit holds Diwan's audit log: an append-only table of events,
// each written in the same transaction as the change it records, and linked
// after commit into a SHA-256 hash chain that `diwan audit verify` checks.
//
// Writers only insert (Append); they never take the linker's lock and never
// touch the chain columns. One linker at a time (Log.LinkPending, Log.Run)
// gives committed events their chain position. Nothing in this package
// updates an event's content or deletes an event.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Event is one audited fact: who did what to which object.
type Event struct {
	Actor   string         // "user:ali@mof.gov.sy", "cli:root", "system", "smtp:203.0.113.5"
	Action  string         // dotted verb: "ministry.add", "domain.add", "user.add", "user.passwd", "user.disable", "user.login_failed", "user.locked", "policy.refused", ...
	Target  string         // "domain:mof.gov.sy", "user:ali@mof.gov.sy"
	Details map[string]any // JSON-encodable detail; may be nil
}

// eventRow is the audit_events table. Seq, PrevHash, Hash and LinkedAt are
// NULL until the linker sets them.
type eventRow struct {
	ID        int64 `gorm:"primaryKey"`
	CreatedAt time.Time
	Actor     string
	Action    string
	Target    string
	Details   string
	Seq       *int64
	PrevHash  *string
	Hash      *string
	LinkedAt  *time.Time
}

func (eventRow) TableName() string { return "audit_events" }

// InsertColumns is the start of an INSERT of one event by a writer: the
// chain columns stay NULL for the linker. For callers that write the event
// inside a larger statement of their own, with the values of Prepare.
const InsertColumns = "INSERT INTO audit_events (created_at, actor, action, target, details)"

// Row is an event as Append stores it, in the order of InsertColumns.
type Row struct {
	CreatedAt             time.Time
	Actor, Action, Target string
	Details               string // canonical JSON: what the chain hashes
}

// Prepare checks e and encodes it as Append stores it, for callers that
// insert the row themselves (in one statement with other writes); they must
// insert it in the transaction of the change it records.
func Prepare(e Event) (Row, error) {
	if err := e.validate(); err != nil {
		return Row{}, fmt.Errorf("audit %s: %w", e.Action, err)
	}
	details, err := canonicalDetails(e.Details)
	if err != nil {
		return Row{}, fmt.Errorf("audit %s: details: %w", e.Action, err)
	}
	return Row{
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
		Actor:     e.Actor,
		Action:    e.Action,
		Target:    e.Target,
		Details:   details,
	}, nil
}

// Append inserts e in the caller's transaction tx (so it exists iff the
// change commits). It never waits on a global lock: the chain is linked
// later, after commit, by the linker.
func Append(ctx context.Context, tx *gorm.DB, e Event) error {
	r, err := Prepare(e)
	if err != nil {
		return err
	}
	row := eventRow{CreatedAt: r.CreatedAt, Actor: r.Actor, Action: r.Action, Target: r.Target, Details: r.Details}
	if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("audit %s: insert: %w", e.Action, err)
	}
	return nil
}

func (e Event) validate() error {
	if e.Actor == "" {
		return errors.New("actor is empty")
	}
	if e.Action == "" {
		return errors.New("action is empty")
	}
	for _, f := range []struct{ name, v string }{{"actor", e.Actor}, {"action", e.Action}, {"target", e.Target}} {
		if !utf8.ValidString(f.v) || strings.ContainsRune(f.v, 0) {
			return fmt.Errorf("%s is not valid UTF-8 text", f.name)
		}
	}
	return nil
}

// canonicalDetails encodes details as compact JSON with object keys sorted
// at every level; nil and empty details are "{}". The stored text is what
// the chain hashes, byte for byte.
func canonicalDetails(d map[string]any) (string, error) {
	if len(d) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	if plainJSON(d) {
		// Already canonical: maps are encoded with sorted keys, and these
		// values have one encoding.
		return string(b), nil
	}
	return roundTrip(b)
}

// roundTrip re-encodes JSON b through generic values, so that struct field
// order and json.RawMessage formatting cannot make two encodings of one
// value.
func roundTrip(b []byte) (string, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// plainJSON is whether v holds only values with one JSON encoding: nil,
// strings, booleans, integers, and slices and string-keyed maps of them.
func plainJSON(v any) bool {
	switch v := v.(type) {
	case nil, string, bool, int, int64, int32, uint32:
		return true
	case []string, []int64, []int:
		return true
	case []any:
		for _, e := range v {
			if !plainJSON(e) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range v {
			if !plainJSON(e) {
				return false
			}
		}
		return true
	case map[string]string:
		return true
	}
	return false
}
