package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"diwan.gov.sy/diwan/internal/audit"
	"gorm.io/gorm"
)

// Writes combined into one statement on PostgreSQL.
//
// Every round trip inside a transaction costs a connection's time and,
// during registration, the time the register counter row stays locked
// (numbering.go): the counter is taken by every registration of a registry,
// direction and year, so whatever happens between taking it and COMMIT
// bounds how many letters a registry can number per second. PostgreSQL runs
// data-modifying WITH clauses in one statement, so there the number, the
// entry's update and the audit event are written together (numberPG), sent
// with COMMIT right behind (batch.go): the counter is locked for that one
// statement and the COMMIT. The other writes of a call are joined into one
// statement by the txn (joinWrites). SQLite has no data-modifying WITH; it
// writes them one by one (its round trips stay in the process).
//
// The audit rows written here come from Sealer.Prepare, as Sealer.Append's
// do; TestCombinedAuditMatchesAppend holds the two together.

// newAuditRow is the audit event of a transition by p, sealed, as
// Sealer.Append would store it.
func (s *Service) newAuditRow(p *principal, action, target string, details map[string]any) (audit.Row, error) {
	return s.audit.Prepare(audit.Event{Actor: p.auditName(), Action: action, Target: target, Details: details})
}

// timelineInto and timelineValues insert a timeline row; timelineArgs are
// its arguments for an event.
const (
	timelineInto = `INSERT INTO workflow_events (correspondence_id, entry_id, referral_id, actor, action, from_state,
	to_state, comment, created_at) VALUES`
	timelineValues = `(?, ?, ?, ?, ?, ?, ?, ?, ?)`
	timelineInsert = timelineInto + " " + timelineValues
)

func (s *Service) timelineArgs(p *principal, e event) []any {
	var entryID, referralID *int64
	if e.entryID != 0 {
		entryID = ptr(e.entryID)
	}
	if e.referralID != 0 {
		referralID = ptr(e.referralID)
	}
	return []any{e.corrID, entryID, referralID, p.displayName(), e.action, string(e.from), string(e.to), e.comment, s.clock()}
}

// recordPG is record in one statement: the timeline row and the audit event.
func (s *Service) recordPG(ctx context.Context, tx *gorm.DB, p *principal, e event) error {
	sql, args, err := s.recordStatement(p, e)
	if err != nil {
		return err
	}
	if err := tx.WithContext(ctx).Exec(sql, args...).Error; err != nil {
		return fmt.Errorf("record %s: %w", e.action, err)
	}
	return nil
}

// recordStatement is recordPG's statement.
func (s *Service) recordStatement(p *principal, e event) (string, []any, error) {
	action, target, details := auditFields(e)
	a, err := s.newAuditRow(p, action, target, details)
	if err != nil {
		return "", nil, err
	}
	args := append(s.timelineArgs(p, e), a.Args()...)
	return `WITH t AS (` + timelineInsert + `)
` + audit.InsertColumns + ` VALUES ` + audit.InsertValues, args, nil
}

// numberPlaceholder stands for the register number in audit details built
// before the number is known; it is replaced in SQL.
const numberPlaceholder = "\x00number\x00"

// seqTemplate splits a numbering template, formatted for registry,
// direction and year, around its one {seq}: number = pre + seq padded to
// width + post. ok is false when the template has no single {seq}, or when
// the number could hold a character that JSON encodes differently in Go
// and PostgreSQL (the audit details carry the number); such registries
// number through the general path.
func seqTemplate(tmpl, registry string, d Direction, year int) (pre, post string, width int, ok bool) {
	t, err := parseTemplate(tmpl)
	if err != nil {
		return "", "", 0, false
	}
	var b strings.Builder
	seen := false
	for _, p := range t {
		switch p.field {
		case "":
			b.WriteString(p.lit)
		case "registry":
			b.WriteString(registry)
		case "dir":
			b.WriteString(dirMark(d))
		case "year":
			b.WriteString(strconv.Itoa(year))
		case "seq":
			if seen {
				return "", "", 0, false
			}
			seen = true
			pre, width = b.String(), p.width
			b.Reset()
		}
	}
	post = b.String()
	plain := func(s string) bool {
		return utf8.ValidString(s) && !strings.ContainsAny(s, "\"\\<>&\u2028\u2029") &&
			!strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
	}
	return pre, post, width, seen && plain(pre) && plain(post)
}

// numberPG ends a numbered transition (a registration) on PostgreSQL: it
// queues the timeline row, then one statement that takes the number,
// updates the entry with its version check and writes the audit event, to
// go with COMMIT. The counter row is locked from that statement to the
// COMMIT right behind it, with nothing between them waiting for this
// process. The statement fails when the entry is not at its version, so
// that the COMMIT does not run. It is false when the registry's numbering
// template needs the general path (act then takes the number with
// allocate).
func (tr *transition) numberPG(ev event) bool {
	e := tr.e
	year := tr.now.In(tr.s.loc).Year()
	pre, post, width, ok := seqTemplate(e.Template, e.RegistryCode, Direction(e.Direction), year)
	if !ok || !seqTemplateWrites(e, year, pre, post, width) {
		return false
	}
	tr.info["number"] = numberPlaceholder
	ev.details = tr.info
	action, target, details := auditFields(ev)
	// The number is written by the statement: the seal leaves it open,
	// the chain covers it once linked.
	a, err := tr.s.audit.PrepareOpen(audit.Event{Actor: tr.p.auditName(), Action: action, Target: target, Details: details}, "number")
	if err != nil {
		tr.x.fail(err)
		return true
	}
	quoted, _ := json.Marshal(numberPlaceholder)
	dpre, dpost, ok := strings.Cut(a.Details, string(quoted))
	if !ok {
		tr.x.fail(errors.New("audit details lost the number"))
		return true
	}
	tr.x.timelineRow(tr.p, ev)

	var sql strings.Builder
	sql.WriteString(`WITH n AS (INSERT INTO register_counters (registry_id, direction, year, last_seq) VALUES (?, ?, ?, 1)
	ON CONFLICT (registry_id, direction, year) DO UPDATE SET last_seq = register_counters.last_seq + 1
	RETURNING last_seq),
u AS (UPDATE registry_entries SET `)
	args := []any{e.RegistryID, e.Direction, year}
	// tr.set's columns (names chosen in this package), then version and
	// updated_at, then the number.
	cols := make([]string, 0, len(tr.set))
	for k := range tr.set {
		cols = append(cols, k)
	}
	slices.Sort(cols)
	for _, k := range cols {
		fmt.Fprintf(&sql, "%s = ?, ", k)
		args = append(args, tr.set[k])
	}
	sql.WriteString(`version = ?, updated_at = ?, year = ?, seq = n.last_seq, registered_at = ?,
	number = ?::text || CASE WHEN length(n.last_seq::text) >= ? THEN n.last_seq::text
		ELSE lpad(n.last_seq::text, ?, '0') END || ?::text FROM n
	WHERE registry_entries.id = ? AND registry_entries.version = ?
	RETURNING registry_entries.seq, registry_entries.number),
a AS (` + audit.InsertColumns + ` SELECT ?::timestamptz, ?::text, ?::text, ?::text,
	?::text || to_json(u.number)::text || ?::text, ?::text FROM u)
SELECT (SELECT seq FROM u), (SELECT number FROM u), 1 / (SELECT COUNT(*) FROM u)`)
	// One row whatever happened; a division by zero when the entry was
	// not at its version.
	args = append(args, e.Version+1, tr.now, year, tr.now, pre, width, width, post, e.ID, e.Version,
		a.CreatedAt, a.Actor, a.Action, a.Target, dpre, dpost, a.Args()[5] /* row_mac */)
	tr.x.queryOne(staleEntry(e.ID, e.Version), sql.String(), args, func(r rowScanner) error {
		var seq *int64
		var number *string
		var one int64
		if err := r.Scan(&seq, &number, &one); err != nil {
			return fmt.Errorf("update entry %d: %w", e.ID, err)
		}
		got, want := deref(number), formatNumber(e.Template, e.RegistryCode, Direction(e.Direction), year, deref(seq))
		if got != want {
			// Committed already; seqTemplateWrites keeps this from
			// happening.
			tr.s.log.Error("register number differs from its template", slog.Int64("entry", e.ID),
				slog.String("number", got), slog.String("expected", want))
		}
		tr.set["year"], tr.set["seq"], tr.set["number"], tr.set["registered_at"] = year, deref(seq), got, tr.now
		tr.info["number"] = got
		return nil
	})
	return true
}

// seqTemplateWrites reports whether pre, width and post (seqTemplate's)
// write e's numbers of year as formatNumber does, numberPG's SQL padding
// as %0*d: checked on a number that fills the width and one that overflows
// it. numberPG's statement goes with COMMIT, too late to refuse a number
// once written.
func seqTemplateWrites(e *entryView, year int, pre, post string, width int) bool {
	over := int64(1)
	for range width {
		over *= 10
	}
	for _, seq := range []int64{1, over} {
		digits := strconv.FormatInt(seq, 10)
		if len(digits) < width {
			digits = strings.Repeat("0", width-len(digits)) + digits
		}
		if pre+digits+post != formatNumber(e.Template, e.RegistryCode, Direction(e.Direction), year, seq) {
			return false
		}
	}
	return true
}
