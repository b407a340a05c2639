package imap

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"diwan.gov.sy/diwan/internal/mailstore"
)

// Search answers SEARCH and UID SEARCH (RFC 9051 §6.4.4), with ESEARCH
// return options (RFC 4731: MIN MAX COUNT ALL) and SAVE (SEARCHRES,
// RFC 5182). The store evaluates the criteria; sequence sets are turned into
// UID ranges here, with the client's numbering, and the result is cut to
// the messages the client knows.
func (s *session) Search(kind imapserver.NumKind, c *imap.SearchCriteria, o *imap.SearchOptions) (_ *imap.SearchData, err error) {
	defer s.done(byKind(kind, cmdSearch, cmdUIDSearch), &err)
	if err := checkSearch(c); err != nil {
		return nil, err
	}
	v, err := s.selected()
	if err != nil {
		return nil, err
	}
	mc := criteria(v, c)
	uids, err := s.srv.o.Store.Search(s.ctx, s.uid(), v.mailboxID, mc)
	if err != nil {
		return nil, s.storeError("search", err)
	}

	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uidSet imap.UIDSet
	var kept []uint32
	v.mu.Lock()
	i := 0
	for _, uid := range uids {
		// Both lists ascend: walk them together.
		for i < len(v.uids) && v.uids[i] < uid {
			i++
		}
		if i == len(v.uids) || v.uids[i] != uid {
			continue // not announced to the client yet
		}
		kept = append(kept, uid)
		num := uid
		if kind == imapserver.NumKindSeq {
			num = uint32(i + 1)
			seqs.AddNum(num)
		} else {
			uidSet.AddNum(imap.UID(uid))
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		data.Max = max(data.Max, num)
		data.Count++
	}
	if o != nil && o.ReturnSave {
		v.saved = kept
	}
	v.mu.Unlock()
	if kind == imapserver.NumKindSeq {
		data.All = seqs
	} else {
		data.All = uidSet
	}
	if len(kept) > 0 && hasModSeqKey(c) {
		if data.ModSeq, err = s.searchModSeq(v, modSeqOf(kept, o)); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// Bounds of a search program. The store turns the criteria into one SQL
// expression, and databases bound an expression's depth (SQLite at 1000
// levels): deeper NOT and OR nesting than any client builds is refused up
// front, with BAD naming the limit, as is a program of more keys than a
// client's filter has (imapserver already bounds a command to 50 KiB).
const (
	maxSearchDepth = 64
	maxSearchKeys  = 1000
)

// checkSearch refuses criteria beyond maxSearchDepth or maxSearchKeys.
func checkSearch(c *imap.SearchCriteria) error {
	keys := 0
	var walk func(c *imap.SearchCriteria, depth int) bool
	walk = func(c *imap.SearchCriteria, depth int) bool {
		if depth > maxSearchDepth {
			return false
		}
		keys += len(c.SeqNum) + len(c.UID) + len(c.Header) + len(c.Body) + len(c.Text) +
			len(c.Flag) + len(c.NotFlag) + len(c.Not) + len(c.Or)
		for _, t := range []time.Time{c.Since, c.Before, c.SentSince, c.SentBefore} {
			if !t.IsZero() {
				keys++
			}
		}
		if c.Larger != 0 {
			keys++
		}
		if c.Smaller != 0 {
			keys++
		}
		for i := range c.Not {
			if !walk(&c.Not[i], depth+1) {
				return false
			}
		}
		for i := range c.Or {
			if !walk(&c.Or[i][0], depth+1) || !walk(&c.Or[i][1], depth+1) {
				return false
			}
		}
		return keys <= maxSearchKeys
	}
	if !walk(c, 0) {
		if keys > maxSearchKeys {
			return bad(fmt.Sprintf("Too many search keys: at most %d", maxSearchKeys))
		}
		return bad(fmt.Sprintf("Search keys nested too deeply: NOT and OR at most %d levels", maxSearchDepth))
	}
	return nil
}

// nothing is a UID criterion no message meets.
var nothing = []mailstore.UIDRange{}

// criteria converts go-imap's criteria into the store's.
func criteria(v *view, c *imap.SearchCriteria) *mailstore.Criteria {
	out := &mailstore.Criteria{
		Since:      c.Since,
		Before:     c.Before,
		SentSince:  c.SentSince,
		SentBefore: c.SentBefore,
		Body:       c.Body,
		Text:       c.Text,
		Larger:     c.Larger,
		Smaller:    c.Smaller,
	}
	modSeqCriteria(c, out)
	for _, set := range c.SeqNum {
		out.UID = append(out.UID, v.ranges(set))
	}
	for _, set := range c.UID {
		out.UID = append(out.UID, v.ranges(set))
	}
	for _, h := range c.Header {
		out.Header = append(out.Header, mailstore.HeaderMatch{Key: h.Key, Value: h.Value})
	}
	// \Recent is the session's (recent.go): its UIDs, as a UID criterion.
	for _, f := range c.Flag {
		if strings.EqualFold(string(f), recentFlag) {
			if r := v.recentRanges(); len(r) > 0 {
				out.UID = append(out.UID, r)
			} else {
				out.UID = append(out.UID, nothing)
			}
			continue
		}
		out.Flag = append(out.Flag, canonFlag(string(f)))
	}
	for _, f := range c.NotFlag {
		if strings.EqualFold(string(f), recentFlag) {
			if r := v.recentRanges(); len(r) > 0 {
				out.Not = append(out.Not, mailstore.Criteria{UID: [][]mailstore.UIDRange{r}})
			}
			continue
		}
		out.NotFlag = append(out.NotFlag, canonFlag(string(f)))
	}
	for i := range c.Not {
		out.Not = append(out.Not, *criteria(v, &c.Not[i]))
	}
	for i := range c.Or {
		out.Or = append(out.Or, [2]mailstore.Criteria{*criteria(v, &c.Or[i][0]), *criteria(v, &c.Or[i][1])})
	}
	return out
}

var systemFlags = []string{mailstore.FlagSeen, mailstore.FlagAnswered, mailstore.FlagFlagged, mailstore.FlagDeleted, mailstore.FlagDraft}

// canonFlag spells a system flag the store's way (\seen → \Seen); keywords
// are kept as written.
func canonFlag(f string) string {
	if strings.HasPrefix(f, `\`) {
		if i := slices.IndexFunc(systemFlags, func(s string) bool { return strings.EqualFold(s, f) }); i >= 0 {
			return systemFlags[i]
		}
	}
	return f
}
