// Package audit holds Diwan's audit log: an append-only table of events,
// each written in the same transaction as the change it records, and linked
// after commit into a keyed hash chain that `diwan admin audit verify`
// checks.
//
// Two keys, both derived from the master key (package secrets) and never
// stored in the database, make the log hard to forge for whoever can write
// the database but cannot read the master key file:
//
//   - Every writer seals its row at insert (Sealer.Append, Sealer.Prepare):
//     row_mac is an HMAC-SHA256 under the "audit row" key of the row's
//     fields and a random nonce (seal.go). Only the server's own writes
//     carry a valid seal.
//   - The linker links sealed rows into a chain whose hash is an
//     HMAC-SHA256 under the "audit chain" key (chain.go), so a changed row
//     cannot be hidden by recomputing the hashes after it.
//
// A row whose seal is missing or wrong is never linked: the linker links
// the rows before it, links nothing past it, and fails with an error that
// names the row (Run logs it at ERROR); Verify reports it. An operator
// looks at the row and, once it is understood, deletes it (it is outside
// the chain), after which linking resumes.
//
// The chain head (seq, hash, time, MAC'd with the chain key) is recorded
// outside the database as the linker advances (HeadStore: a file under
// data_dir, and an object in the blob store shared by every node), so that
// deleting the newest events is seen: Verify compares the chain with every
// recorded head, and the linker refuses to link on a chain shorter than the
// head it knows, rather than overwrite the evidence.
//
// Databases written before rows were sealed are re-keyed once (Log.Rekey,
// rekey.go), at the first start under a master key.
//
// Writers only insert; they never take the linker's lock and never touch
// the chain columns. One linker at a time (Log.LinkPending, Log.Run) gives
// committed events their chain position. Nothing in this package updates an
// event's content or deletes an event.
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
// NULL until the linker sets them; RowMAC is the writer's seal.
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
	RowMAC    *string `gorm:"column:row_mac"`
}

func (eventRow) TableName() string { return "audit_events" }

// InsertColumns is the start of an INSERT of one event by a writer: the
// chain columns stay NULL for the linker. For callers that write the event
// inside a larger statement of their own, with the values of Prepare in
// the order of InsertValues.
const InsertColumns = "INSERT INTO audit_events (created_at, actor, action, target, details, row_mac)"

// InsertValues are the placeholders of one row of InsertColumns.
const InsertValues = "(?, ?, ?, ?, ?, ?)"

// Row is an event as Append stores it, in the order of InsertColumns.
type Row struct {
	CreatedAt             time.Time
	Actor, Action, Target string
	Details               string // canonical JSON: what the chain hashes
	MAC                   string // the seal, for the row_mac column
}

// Args are r's values in the order of InsertColumns.
// An unsealed row (a nil Sealer's) has a NULL row_mac.
func (r Row) Args() []any {
	var mac any
	if r.MAC != "" {
		mac = r.MAC
	}
	return []any{r.CreatedAt, r.Actor, r.Action, r.Target, r.Details, mac}
}

// Deriver derives the keys of a purpose from the master key;
// *secrets.MasterKey satisfies it.
type Deriver interface {
	Derive(purpose string) []byte
}

// Purposes of the keys derived for the audit log.
const (
	rowKeyPurpose   = "audit row"
	chainKeyPurpose = "audit chain"
)

// Sealer seals the events a writer inserts. Every service that writes
// audit events is given one (internal/app builds it from the master key);
// it is safe for concurrent use. A nil *Sealer writes rows without a seal,
// which the linker refuses: only for tests that never link.
type Sealer struct {
	key []byte
}

// NewSealer returns the sealer of the master key k.
func NewSealer(k Deriver) *Sealer {
	return &Sealer{key: k.Derive(rowKeyPurpose)}
}

// Prepare checks e, encodes it as Append stores it and seals it, for
// callers that insert the row themselves (in one statement with other
// writes); they must insert it in the transaction of the change it records.
func (s *Sealer) Prepare(e Event) (Row, error) {
	return s.prepare(e, "")
}

// PrepareOpen is Prepare for a row whose details field open (a top-level
// key of e.Details) is filled in by the caller's SQL: the seal covers every
// field but that value, which the chain covers once the row is linked.
// For a register number taken in the same statement as the row is written.
func (s *Sealer) PrepareOpen(e Event, open string) (Row, error) {
	if open == "" {
		return Row{}, fmt.Errorf("audit %s: no open field named", e.Action)
	}
	if _, ok := e.Details[open]; !ok {
		return Row{}, fmt.Errorf("audit %s: open field %q is not in the details", e.Action, open)
	}
	return s.prepare(e, open)
}

func (s *Sealer) prepare(e Event, open string) (Row, error) {
	if err := e.validate(); err != nil {
		return Row{}, fmt.Errorf("audit %s: %w", e.Action, err)
	}
	details, err := canonicalDetails(e.Details)
	if err != nil {
		return Row{}, fmt.Errorf("audit %s: details: %w", e.Action, err)
	}
	r := Row{
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
		Actor:     e.Actor,
		Action:    e.Action,
		Target:    e.Target,
		Details:   details,
	}
	if s == nil {
		return r, nil
	}
	sealed := details
	if open != "" {
		d := make(map[string]any, len(e.Details))
		for k, v := range e.Details {
			d[k] = v
		}
		d[open] = nil
		if sealed, err = canonicalDetails(d); err != nil {
			return Row{}, fmt.Errorf("audit %s: details: %w", e.Action, err)
		}
	}
	r.MAC = seal(s.key, newNonce(), open, r.CreatedAt, r.Actor, r.Action, r.Target, sealed)
	return r, nil
}

// Append inserts e, sealed, in the caller's transaction tx (so it exists
// iff the change commits). It never waits on a global lock: the chain is
// linked later, after commit, by the linker.
func (s *Sealer) Append(ctx context.Context, tx *gorm.DB, e Event) error {
	r, err := s.Prepare(e)
	if err != nil {
		return err
	}
	return Insert(ctx, tx, r)
}

// Insert writes a row Prepare made in the caller's transaction tx: for a
// caller that needs the row as stored (its time, its canonical details)
// before it writes it.
func Insert(ctx context.Context, tx *gorm.DB, r Row) error {
	if err := tx.WithContext(ctx).Exec(InsertColumns+" VALUES "+InsertValues, r.Args()...).Error; err != nil {
		return fmt.Errorf("audit %s: insert: %w", r.Action, err)
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
