package mailstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// Limits on keywords.
const (
	maxKeywordLen     = 100
	maxKeywordsPerBox = 256
)

// flagSet is the flags of one message: the system flags as columns, the
// keywords as a sorted list (compared without regard to case, kept in
// the spelling first seen).
type flagSet struct {
	seen, answered, flagged, deleted, draft bool
	keywords                                []string
}

// parseFlags validates flags and returns them as a set. \Recent is ignored
// (RFC 9051 drops it; clients cannot set it).
func parseFlags(flags []string) (flagSet, error) {
	var f flagSet
	for _, fl := range flags {
		if strings.HasPrefix(fl, `\`) {
			switch strings.ToLower(fl) {
			case `\seen`:
				f.seen = true
			case `\answered`:
				f.answered = true
			case `\flagged`:
				f.flagged = true
			case `\deleted`:
				f.deleted = true
			case `\draft`:
				f.draft = true
			case `\recent`:
			default:
				return f, fmt.Errorf("%w: %q", ErrInvalidFlag, fl)
			}
			continue
		}
		if !validKeyword(fl) {
			return f, fmt.Errorf("%w: %q", ErrInvalidFlag, fl)
		}
		f.keywords = addKeyword(f.keywords, fl)
	}
	return f, nil
}

// validKeyword: an atom (RFC 9051 §9 flag-keyword) of ASCII characters.
func validKeyword(k string) bool {
	if k == "" || len(k) > maxKeywordLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

func hasKeyword(list []string, k string) bool {
	return slices.IndexFunc(list, func(x string) bool { return strings.EqualFold(x, k) }) >= 0
}

func addKeyword(list []string, k string) []string {
	if hasKeyword(list, k) {
		return list
	}
	list = append(list, k)
	slices.SortFunc(list, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return list
}

// keywordsColumn is the stored form: " a b " (spaces around each, so that
// LIKE '% k %' finds one).
func keywordsColumn(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return " " + strings.Join(list, " ") + " "
}

func keywordsFromColumn(s string) []string {
	return strings.Fields(s)
}

// list returns the flags, system flags first.
func (f flagSet) list() []string {
	out := make([]string, 0, 5+len(f.keywords))
	if f.answered {
		out = append(out, FlagAnswered)
	}
	if f.deleted {
		out = append(out, FlagDeleted)
	}
	if f.draft {
		out = append(out, FlagDraft)
	}
	if f.flagged {
		out = append(out, FlagFlagged)
	}
	if f.seen {
		out = append(out, FlagSeen)
	}
	return append(out, f.keywords...)
}

func (f flagSet) equal(g flagSet) bool {
	return f.seen == g.seen && f.answered == g.answered && f.flagged == g.flagged &&
		f.deleted == g.deleted && f.draft == g.draft && slices.Equal(f.keywords, g.keywords)
}

// apply returns f changed by op with the flags of g.
func (f flagSet) apply(op FlagOp, g flagSet) flagSet {
	switch op {
	case FlagsReplace:
		return g
	case FlagsAdd:
		f.seen = f.seen || g.seen
		f.answered = f.answered || g.answered
		f.flagged = f.flagged || g.flagged
		f.deleted = f.deleted || g.deleted
		f.draft = f.draft || g.draft
		kw := slices.Clone(f.keywords)
		for _, k := range g.keywords {
			kw = addKeyword(kw, k)
		}
		f.keywords = kw
	case FlagsRemove:
		f.seen = f.seen && !g.seen
		f.answered = f.answered && !g.answered
		f.flagged = f.flagged && !g.flagged
		f.deleted = f.deleted && !g.deleted
		f.draft = f.draft && !g.draft
		var kw []string
		for _, k := range f.keywords {
			if !hasKeyword(g.keywords, k) {
				kw = append(kw, k)
			}
		}
		f.keywords = kw
	}
	return f
}

// key identifies the flag state, to group updates.
func (f flagSet) key() string {
	b := []byte{'0', '0', '0', '0', '0'}
	for i, v := range []bool{f.seen, f.answered, f.flagged, f.deleted, f.draft} {
		if v {
			b[i] = '1'
		}
	}
	return string(b) + keywordsColumn(f.keywords)
}

// canonKeywords spells keywords as the mailbox first saw them and adds new
// ones to its list; it returns the mailbox's new list and whether it grew.
func canonKeywords(box []string, f *flagSet) ([]string, bool, error) {
	grew := false
	for i, k := range f.keywords {
		j := slices.IndexFunc(box, func(x string) bool { return strings.EqualFold(x, k) })
		if j >= 0 {
			f.keywords[i] = box[j]
			continue
		}
		if len(box) >= maxKeywordsPerBox {
			return box, false, fmt.Errorf("%w: more than %d keywords in one mailbox", ErrInvalidFlag, maxKeywordsPerBox)
		}
		box = addKeyword(box, k)
		grew = true
	}
	return box, grew, nil
}

// systemFlags are the flags every mailbox offers.
var systemFlags = []string{FlagAnswered, FlagDeleted, FlagDraft, FlagFlagged, FlagSeen}

// StoreFlags changes the flags of uids (STORE, RFC 9051 §6.4.6) and returns
// the new state of each message present.
func (s *Store) StoreFlags(ctx context.Context, userID, mailboxID int64, uids []uint32, op FlagOp, flags []string) ([]FlagUpdate, error) {
	out, _, err := s.storeFlags(ctx, userID, mailboxID, uids, op, flags, -1)
	return out, err
}

// StoreFlagsUnchangedSince is StoreFlags with the condition of STORE
// (UNCHANGEDSINCE n) (RFC 7162 §3.1.3): a message whose MODSEQ is above
// unchangedSince keeps its flags, is left out of the updates, and its UID
// is returned in modified (ascending).
func (s *Store) StoreFlagsUnchangedSince(ctx context.Context, userID, mailboxID int64, uids []uint32, op FlagOp, flags []string, unchangedSince uint64) (_ []FlagUpdate, modified []uint32, _ error) {
	return s.storeFlags(ctx, userID, mailboxID, uids, op, flags, int64(min(unchangedSince, 1<<63-1)))
}

// storeFlags is StoreFlags; unchangedSince -1 is no condition.
func (s *Store) storeFlags(ctx context.Context, userID, mailboxID int64, uids []uint32, op FlagOp, flags []string, unchangedSince int64) ([]FlagUpdate, []uint32, error) {
	change, err := parseFlags(flags)
	if err != nil {
		return nil, nil, err
	}
	uids = sortedUIDs(uids)
	if err := s.checkMailbox(ctx, userID, mailboxID); err != nil {
		return nil, nil, err
	}
	if len(uids) == 0 {
		return nil, nil, nil
	}
	unlock := s.lock(userID)
	defer unlock()
	var out []FlagUpdate
	var modified []uint32
	var ev Event
	err = s.tx(ctx, func(tx *gorm.DB) error {
		out, modified, ev = nil, nil, Event{}
		var rows []mailboxRow
		if err := tx.Raw("UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ? AND user_id = ? RETURNING "+mailboxCols,
			mailboxID, userID).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("mailbox %d: %w", mailboxID, ErrNotFound)
		}
		mb := rows[0]
		modseq := mb.HighestModseq
		boxKW := keywordsFromColumn(mb.Keywords)
		grew := false
		if op != FlagsRemove {
			var err error
			boxKW, grew, err = canonKeywords(boxKW, &change)
			if err != nil {
				return err
			}
		}
		var groups flagGroups
		var err error
		out, modified, groups, err = readFlagChanges(tx, mailboxID, uids, op, change, modseq, unchangedSince)
		if err != nil {
			return err
		}
		if len(groups.uids) == 0 {
			return errRollback // nothing changed: no new MODSEQ
		}
		if err := groups.write(tx, mailboxID, modseq); err != nil {
			return err
		}
		if grew {
			if err := tx.Exec("UPDATE mailboxes SET keywords = ? WHERE id = ?", keywordsColumn(boxKW), mailboxID).Error; err != nil {
				return err
			}
		}
		ev = Event{Kind: EventFlags, UserID: userID, MailboxID: mailboxID, ModSeq: uint64(modseq), Messages: uint32(mb.Messages)}
		for _, u := range out {
			if u.ModSeq == uint64(modseq) {
				ev.UIDs = append(ev.UIDs, u.UID)
				ev.Flags = append(ev.Flags, u.Flags)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRollback) {
		return nil, nil, fmt.Errorf("store flags in mailbox %d: %w", mailboxID, err)
	}
	if err == nil {
		s.publish(ctx, ev)
	}
	return out, modified, nil
}

// inSorted reports whether x is in the ascending slice b.
func inSorted(b []uint32, x uint32) bool {
	_, ok := slices.BinarySearch(b, x)
	return ok
}

// flagGroups are the messages whose flags change, grouped by their new
// flags (by flagSet.key), to be written with one statement per group.
type flagGroups struct {
	uids   map[string][]uint32
	states map[string]flagSet
}

// readFlagChanges reads the flags of uids (ascending) in the mailbox and
// works out the change op makes: every message's flags after it (with
// the MODSEQ of the change, or its own when they stay as they were), and
// the groups of those that change. Messages whose MODSEQ is above
// unchangedSince (unless it is -1) are left as they are and returned in
// modified.
func readFlagChanges(tx *gorm.DB, mailboxID int64, uids []uint32, op FlagOp, change flagSet, modseq, unchangedSince int64) ([]FlagUpdate, []uint32, flagGroups, error) {
	var out []FlagUpdate
	var modified []uint32
	g := flagGroups{uids: map[string][]uint32{}, states: map[string]flagSet{}}
	for _, b := range batches(uids, 500) {
		cond, args := uidCond(b)
		r, err := tx.Raw(`SELECT mm.uid, mm.modseq, mm.seen, mm.answered, mm.flagged, mm.deleted, mm.draft, mm.keywords
			FROM mailbox_messages mm WHERE mm.mailbox_id = ? AND `+cond+` ORDER BY mm.uid`,
			append([]any{mailboxID}, args...)...).Rows()
		if err != nil {
			return nil, nil, g, err
		}
		for r.Next() {
			var uid uint32
			var ms int64
			var f flagSet
			var kw string
			if err := r.Scan(&uid, &ms, &f.seen, &f.answered, &f.flagged, &f.deleted, &f.draft, &kw); err != nil {
				r.Close()
				return nil, nil, g, err
			}
			if len(b) > 1 && !inSorted(b, uid) {
				continue
			}
			if unchangedSince >= 0 && ms > unchangedSince {
				modified = append(modified, uid)
				continue
			}
			f.keywords = keywordsFromColumn(kw)
			nf := f.apply(op, change)
			if nf.equal(f) {
				out = append(out, FlagUpdate{UID: uid, Flags: f.list(), ModSeq: uint64(ms)})
				continue
			}
			k := nf.key()
			g.uids[k] = append(g.uids[k], uid)
			g.states[k] = nf
			out = append(out, FlagUpdate{UID: uid, Flags: nf.list(), ModSeq: uint64(modseq), Changed: true})
		}
		r.Close()
		if err := r.Err(); err != nil {
			return nil, nil, g, err
		}
	}
	return out, modified, g, nil
}

// write sets the new flags and MODSEQ of each group, in key order.
func (g flagGroups) write(tx *gorm.DB, mailboxID, modseq int64) error {
	keys := make([]string, 0, len(g.uids))
	for k := range g.uids {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := g.states[k]
		for _, b := range batches(g.uids[k], 500) {
			if err := tx.Exec(`UPDATE mailbox_messages SET seen = ?, answered = ?, flagged = ?, deleted = ?, draft = ?,
				keywords = ?, modseq = ? WHERE mailbox_id = ? AND uid IN ?`,
				f.seen, f.answered, f.flagged, f.deleted, f.draft, keywordsColumn(f.keywords), modseq, mailboxID, b).Error; err != nil {
				return err
			}
		}
	}
	return nil
}
