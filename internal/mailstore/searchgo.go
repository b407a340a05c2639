package mailstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"diwan.gov.sy/diwan/internal/message"
)

// searchRow is what the Go evaluation of a search looks at.
type searchRow struct {
	uid      uint32
	modseq   int64
	flags    flagSet
	internal int64
	sent     int64 // the Date field, or the internal date
	size     int64
	subject, from, to, cc, bcc,
	header, text string
}

// searchGo evaluates c in Go over the mailbox's rows, streamed: for the
// criteria that SQL cannot express exactly (HEADER of a field without a
// column of its own). It reads every message of the mailbox.
func (s *Store) searchGo(ctx context.Context, userID, mailboxID int64, c *Criteria) ([]uint32, error) {
	rows, err := s.db.Reader().WithContext(ctx).Raw(`SELECT mm.uid, mm.modseq, mm.seen, mm.answered, mm.flagged, mm.deleted, mm.draft,
			mm.keywords, mm.internal_date, COALESCE(m.sent_date, mm.internal_date), mm.size, m.search_subject, m.search_from,
			m.search_to, m.search_cc, m.search_bcc, m.search_header, m.search_text
		FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id
		WHERE mm.mailbox_id = ? AND mm.user_id = ? ORDER BY mm.uid`, mailboxID, userID).Rows()
	if err != nil {
		return nil, fmt.Errorf("search mailbox %d: %w", mailboxID, err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var r searchRow
		var kw string
		if err := rows.Scan(&r.uid, &r.modseq, &r.flags.seen, &r.flags.answered, &r.flags.flagged, &r.flags.deleted, &r.flags.draft,
			&kw, &r.internal, &r.sent, &r.size, &r.subject, &r.from, &r.to, &r.cc, &r.bcc, &r.header, &r.text); err != nil {
			return nil, fmt.Errorf("search mailbox %d: %w", mailboxID, err)
		}
		r.flags.keywords = keywordsFromColumn(kw)
		if s.match(&r, c) {
			out = append(out, r.uid)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search mailbox %d: %w", mailboxID, err)
	}
	return out, nil
}

// match is the reference meaning of Criteria for one message.
func (s *Store) match(r *searchRow, c *Criteria) bool {
	day := func(t time.Time) int64 {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, s.loc).Unix()
	}
	for _, set := range c.UID {
		if !inRanges(set, r.uid) {
			return false
		}
	}
	if !c.Since.IsZero() && r.internal < day(c.Since) ||
		!c.Before.IsZero() && r.internal >= day(c.Before) ||
		!c.SentSince.IsZero() && r.sent < sentDay(c.SentSince) ||
		!c.SentBefore.IsZero() && r.sent >= sentDay(c.SentBefore) {
		return false
	}
	for _, h := range c.Header {
		if !headerMatches(r, h) {
			return false
		}
	}
	for _, v := range c.Body {
		if !strings.Contains(r.text, message.Fold(v)) {
			return false
		}
	}
	for _, v := range c.Text {
		f := message.Fold(v)
		if !strings.Contains(r.header, f) && !strings.Contains(r.text, f) {
			return false
		}
	}
	for _, f := range c.Flag {
		if !hasFlag(r.flags, f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(r.flags, f) {
			return false
		}
	}
	if c.Larger > 0 && r.size <= c.Larger || c.Smaller > 0 && r.size >= c.Smaller {
		return false
	}
	if c.ModSeq > 0 && r.modseq < int64(c.ModSeq) {
		return false
	}
	for i := range c.Not {
		if s.match(r, &c.Not[i]) {
			return false
		}
	}
	for _, p := range c.Or {
		if !s.match(r, &p[0]) && !s.match(r, &p[1]) {
			return false
		}
	}
	return true
}

func headerMatches(r *searchRow, h HeaderMatch) bool {
	key := message.Fold(h.Key)
	v := message.Fold(h.Value)
	if v != "" {
		switch key {
		case "subject":
			return strings.Contains(r.subject, v)
		case "from":
			return strings.Contains(r.from, v)
		case "to":
			return strings.Contains(r.to, v)
		case "cc":
			return strings.Contains(r.cc, v)
		case "bcc":
			return strings.Contains(r.bcc, v)
		}
	}
	for line := range strings.SplitSeq(r.header, "\n") {
		name, val, ok := strings.Cut(line, ": ")
		if !ok {
			name, val, ok = strings.Cut(line, ":")
		}
		if ok && name == key && strings.Contains(val, v) {
			return true
		}
	}
	return false
}

func hasFlag(f flagSet, fl string) bool {
	switch strings.ToLower(fl) {
	case `\seen`:
		return f.seen
	case `\answered`:
		return f.answered
	case `\flagged`:
		return f.flagged
	case `\deleted`:
		return f.deleted
	case `\draft`:
		return f.draft
	case `\recent`:
		return false
	}
	return hasKeyword(f.keywords, fl)
}
