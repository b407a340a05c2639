package mailstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"diwan.gov.sy/diwan/internal/message"
)

// maxSQLRanges is the most UID ranges a search puts into SQL; larger sets
// (a saved $ result, say) are filtered in Go after the query.
const maxSQLRanges = 200

// Search returns the UIDs (ascending) of the mailbox's messages that match
// c.
func (s *Store) Search(ctx context.Context, userID, mailboxID int64, c *Criteria) ([]uint32, error) {
	if err := s.checkMailbox(ctx, userID, mailboxID); err != nil {
		return nil, err
	}
	if c == nil {
		c = &Criteria{}
	}
	b := &sqlBuilder{loc: s.loc}
	where := b.criteria(c)
	if b.inGo {
		return s.searchGo(ctx, userID, mailboxID, c)
	}
	q := "SELECT mm.uid FROM mailbox_messages mm"
	if b.join {
		q += " JOIN messages m ON m.id = mm.message_id"
	}
	q += " WHERE mm.mailbox_id = ? AND mm.user_id = ? AND " + where + " ORDER BY mm.uid"
	args := append([]any{mailboxID, userID}, b.args...)
	rows, err := s.db.Reader().WithContext(ctx).Raw(q, args...).Rows()
	if err != nil {
		return nil, fmt.Errorf("search mailbox %d: %w", mailboxID, err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("search mailbox %d: %w", mailboxID, err)
		}
		if b.goUIDs != nil && !b.goUIDs(u) {
			continue
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search mailbox %d: %w", mailboxID, err)
	}
	return out, nil
}

// sqlBuilder turns Criteria into a WHERE clause over mailbox_messages mm
// (and messages m, joined when a criterion needs it).
type sqlBuilder struct {
	loc    *time.Location
	args   []any
	join   bool
	goUIDs func(uint32) bool // top-level UID sets too large for SQL
	inGo   bool              // a criterion SQL cannot express exactly
}

func (b *sqlBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return "?"
}

// day is midnight of t's calendar date (the date as the client wrote it)
// in the store's time zone, as Unix seconds.
func (b *sqlBuilder) day(t time.Time) int64 {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, b.loc).Unix()
}

// sentClock is how messages.sent_date keeps the Date field: its date and
// time as written, its zone dropped, counted as if it were UTC. RFC 3501
// §6.4.4 compares SENTBEFORE, SENTON and SENTSINCE with "the date as
// written", disregarding time and time zone: a message dated
// "Sun, 25 Mar 2007 23:00:00 +0200" was sent on 25-Mar-2007, wherever the
// server is. (Rows written before this rule hold the true instant: they
// are off by at most the Date field's zone.)
func sentClock(d time.Time) int64 {
	return time.Date(d.Year(), d.Month(), d.Day(), d.Hour(), d.Minute(), d.Second(), 0, time.UTC).Unix()
}

// sentDay is midnight of t's calendar date on sentClock's scale.
func sentDay(t time.Time) int64 {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix()
}

// like is a LIKE pattern matching text that contains the folded s.
func like(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

func (b *sqlBuilder) contains(col, s string) string {
	f := message.Fold(s)
	if f == "" {
		return "1=1"
	}
	b.join = b.join || strings.HasPrefix(col, "m.")
	return col + " LIKE " + b.arg(like(f)) + ` ESCAPE '\'`
}

// headerCols maps the header fields with columns of their own.
var headerCols = map[string]string{
	"subject": "m.search_subject",
	"from":    "m.search_from",
	"to":      "m.search_to",
	"cc":      "m.search_cc",
	"bcc":     "m.search_bcc",
}

func (b *sqlBuilder) criteria(c *Criteria) string {
	return b.criteriaTop(c, false)
}

func (b *sqlBuilder) criteriaTop(c *Criteria, nested bool) string {
	var and []string
	for _, set := range c.UID {
		if len(set) > maxSQLRanges && !nested {
			prev := b.goUIDs
			b.goUIDs = func(u uint32) bool { return (prev == nil || prev(u)) && inRanges(set, u) }
			continue
		}
		var or []string
		for _, r := range set {
			lo, hi := min(r.Start, r.Stop), max(r.Start, r.Stop)
			if lo == hi {
				or = append(or, "mm.uid = "+b.arg(lo))
			} else {
				or = append(or, "mm.uid BETWEEN "+b.arg(lo)+" AND "+b.arg(hi))
			}
		}
		if len(or) == 0 {
			and = append(and, "1=0")
		} else {
			and = append(and, "("+strings.Join(or, " OR ")+")")
		}
	}
	if !c.Since.IsZero() {
		and = append(and, "mm.internal_date >= "+b.arg(b.day(c.Since)))
	}
	if !c.Before.IsZero() {
		and = append(and, "mm.internal_date < "+b.arg(b.day(c.Before)))
	}
	// Messages without a Date field are dated by their internal date.
	if !c.SentSince.IsZero() {
		b.join = true
		and = append(and, "COALESCE(m.sent_date, mm.internal_date) >= "+b.arg(sentDay(c.SentSince)))
	}
	if !c.SentBefore.IsZero() {
		b.join = true
		and = append(and, "COALESCE(m.sent_date, mm.internal_date) < "+b.arg(sentDay(c.SentBefore)))
	}
	for _, h := range c.Header {
		key := strings.ToLower(strings.TrimSpace(h.Key))
		if col, ok := headerCols[key]; ok {
			if message.Fold(h.Value) == "" {
				// An empty value matches messages that have the field.
				b.inGo = true
				and = append(and, "1=1")
				continue
			}
			and = append(and, b.contains(col, h.Value))
			continue
		}
		// Another field: SQL LIKE cannot keep the match within the
		// field's line, so the whole search runs in Go (searchGo).
		b.inGo = true
		and = append(and, "1=1")
	}
	for _, s := range c.Body {
		and = append(and, b.contains("m.search_text", s))
	}
	for _, s := range c.Text {
		h, t := b.contains("m.search_header", s), b.contains("m.search_text", s)
		and = append(and, "("+h+" OR "+t+")")
	}
	for _, f := range c.Flag {
		and = append(and, b.flag(f, true))
	}
	for _, f := range c.NotFlag {
		and = append(and, b.flag(f, false))
	}
	if c.Larger > 0 {
		and = append(and, "mm.size > "+b.arg(c.Larger))
	}
	if c.ModSeq > 0 {
		and = append(and, "mm.modseq >= "+b.arg(int64(c.ModSeq)))
	}
	if c.Smaller > 0 {
		and = append(and, "mm.size < "+b.arg(c.Smaller))
	}
	for i := range c.Not {
		and = append(and, "NOT ("+b.criteriaTop(&c.Not[i], true)+")")
	}
	for _, pair := range c.Or {
		l := b.criteriaTop(&pair[0], true)
		r := b.criteriaTop(&pair[1], true)
		and = append(and, "(("+l+") OR ("+r+"))")
	}
	if len(and) == 0 {
		return "1=1"
	}
	return strings.Join(and, " AND ")
}

func inRanges(set []UIDRange, u uint32) bool {
	for _, r := range set {
		lo, hi := min(r.Start, r.Stop), max(r.Start, r.Stop)
		if u >= lo && u <= hi {
			return true
		}
	}
	return false
}

func (b *sqlBuilder) flag(f string, set bool) string {
	not := ""
	if !set {
		not = "NOT "
	}
	switch strings.ToLower(f) {
	case `\seen`:
		return not + "mm.seen"
	case `\answered`:
		return not + "mm.answered"
	case `\flagged`:
		return not + "mm.flagged"
	case `\deleted`:
		return not + "mm.deleted"
	case `\draft`:
		return not + "mm.draft"
	case `\recent`:
		// No session-independent \Recent (RFC 9051 drops it): never set.
		if set {
			return "1=0"
		}
		return "1=1"
	}
	if !validKeyword(f) {
		if set {
			return "1=0"
		}
		return "1=1"
	}
	return not + "(lower(mm.keywords) LIKE " + b.arg("% "+strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(f))+" %") + ` ESCAPE '\')`
}
