package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
// data-modifying WITH clauses in one statement, so there the timeline row,
// the audit event, the entry's update and the number are written together,
// and the counter is locked for that one statement and the COMMIT. SQLite
// has no data-modifying WITH; it writes them one by one (its round trips
// stay in the process).
//
// The audit rows written here come from audit.Prepare, as audit.Append's
// do; TestCombinedAuditMatchesAppend holds the two together.

// newAuditRow is the audit event of a transition by p, as audit.Append
// would store it.
func newAuditRow(p *principal, action, target string, details map[string]any) (audit.Row, error) {
	return audit.Prepare(audit.Event{Actor: p.a.auditName(), Action: action, Target: target, Details: details})
}

// timelineInsert is the WITH clause that writes e's timeline row, and its
// arguments.
func (s *Service) timelineInsert(p *principal, e event) (string, []any) {
	var entryID, referralID *int64
	if e.entryID != 0 {
		entryID = ptr(e.entryID)
	}
	if e.referralID != 0 {
		referralID = ptr(e.referralID)
	}
	return `t AS (INSERT INTO workflow_events (correspondence_id, entry_id, referral_id, actor, action, from_state,
	to_state, comment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?))`,
		[]any{e.corrID, entryID, referralID, p.displayName(), e.action, string(e.from), string(e.to), e.comment, s.clock()}
}

// recordPG is record in one statement: the timeline row and the audit event.
func (s *Service) recordPG(ctx context.Context, tx *gorm.DB, p *principal, e event) error {
	action, target, details := auditFields(e)
	a, err := newAuditRow(p, action, target, details)
	if err != nil {
		return err
	}
	with, args := s.timelineInsert(p, e)
	args = append(args, a.CreatedAt, a.Actor, a.Action, a.Target, a.Details)
	if err := tx.WithContext(ctx).Exec(`WITH `+with+`
`+audit.InsertColumns+` VALUES (?, ?, ?, ?, ?)`, args...).Error; err != nil {
		return fmt.Errorf("record %s: %w", e.action, err)
	}
	return nil
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

// finishPG ends a transition on PostgreSQL in one statement: the timeline
// row, the register number when the transition takes one, the entry's
// update with its version check, and the audit event. done is false when
// the registry's numbering template needs the general path (act then
// writes them one by one).
func (tr *transition) finishPG(ctx context.Context, ev event) (done bool, err error) {
	e := tr.e
	var number struct {
		pre, post string
		width     int
		year      int
	}
	if tr.numbered {
		number.year = tr.now.In(tr.s.loc).Year()
		var ok bool
		number.pre, number.post, number.width, ok = seqTemplate(e.Template, e.RegistryCode, Direction(e.Direction), number.year)
		if !ok {
			return false, nil
		}
		tr.info["number"] = numberPlaceholder
	}
	ev.details = tr.info
	action, target, details := auditFields(ev)
	a, err := newAuditRow(tr.p, action, target, details)
	if err != nil {
		return true, err
	}
	var sql strings.Builder
	var args []any
	sql.WriteString("WITH ")
	if tr.numbered {
		sql.WriteString(`n AS (INSERT INTO register_counters (registry_id, direction, year, last_seq) VALUES (?, ?, ?, 1)
	ON CONFLICT (registry_id, direction, year) DO UPDATE SET last_seq = register_counters.last_seq + 1
	RETURNING last_seq), `)
		args = append(args, e.RegistryID, e.Direction, number.year)
	}
	for i, c := range tr.later {
		fmt.Fprintf(&sql, "w%d AS (%s), ", i, c.sql)
		args = append(args, c.args...)
	}
	tr.later = nil
	with, targs := tr.s.timelineInsert(tr.p, ev)
	sql.WriteString(with)
	args = append(args, targs...)
	// The entry's update: tr.set's columns (names chosen in this package),
	// then version and updated_at, then the number.
	sql.WriteString(",\nu AS (UPDATE registry_entries SET ")
	cols := make([]string, 0, len(tr.set))
	for k := range tr.set {
		cols = append(cols, k)
	}
	slices.Sort(cols)
	for _, k := range cols {
		fmt.Fprintf(&sql, "%s = ?, ", k)
		args = append(args, tr.set[k])
	}
	sql.WriteString("version = ?, updated_at = ?")
	args = append(args, e.Version+1, tr.now)
	if tr.numbered {
		sql.WriteString(`, year = ?, seq = n.last_seq, registered_at = ?,
	number = ?::text || CASE WHEN length(n.last_seq::text) >= ? THEN n.last_seq::text
		ELSE lpad(n.last_seq::text, ?, '0') END || ?::text FROM n`)
		args = append(args, number.year, tr.now, number.pre, number.width, number.width, number.post)
	}
	sql.WriteString(` WHERE registry_entries.id = ? AND registry_entries.version = ?
	RETURNING registry_entries.seq, registry_entries.number),
a AS (` + audit.InsertColumns + ` SELECT ?::timestamptz, ?::text, ?::text, ?::text, `)
	args = append(args, e.ID, e.Version, a.CreatedAt, a.Actor, a.Action, a.Target)
	if tr.numbered {
		quoted, _ := json.Marshal(numberPlaceholder)
		dpre, dpost, ok := strings.Cut(a.Details, string(quoted))
		if !ok {
			return true, errors.New("audit details lost the number")
		}
		sql.WriteString("?::text || to_json(u.number)::text || ?::text")
		args = append(args, dpre, dpost)
	} else {
		sql.WriteString("?::text")
		args = append(args, a.Details)
	}
	sql.WriteString(" FROM u)\nSELECT seq, number FROM u")
	var rows []struct {
		Seq    *int64
		Number *string
	}
	if err := tr.tx.WithContext(ctx).Raw(sql.String(), args...).Scan(&rows).Error; err != nil {
		return true, fmt.Errorf("update entry %d: %w", e.ID, err)
	}
	if len(rows) != 1 {
		return true, &StaleError{Object: "entry", ID: e.ID, Given: e.Version, Current: e.Version + 1}
	}
	if tr.numbered {
		seq, got := deref(rows[0].Seq), deref(rows[0].Number)
		if want := formatNumber(e.Template, e.RegistryCode, Direction(e.Direction), number.year, seq); got != want || seq <= 0 {
			// Never a number other than the template's: roll back.
			return true, fmt.Errorf("register number of entry %d: %q written, %q expected", e.ID, got, want)
		}
		tr.set["year"], tr.set["seq"], tr.set["number"], tr.set["registered_at"] = number.year, seq, got, tr.now
		tr.info["number"] = got
	}
	return true, nil
}
