package imap

import (
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"diwan.gov.sy/diwan/internal/mailstore"
)

// view is one session's view of its selected mailbox: the UIDs the client
// knows, in sequence-number order (message n is uids[n-1]), and the changes
// the client has not been told about yet.
//
// It does the job of imapserver's MailboxTracker/SessionTracker pair, fed
// by mailstore.Feed, with two differences that IMAP needs: it knows the
// client's own message count (what "*" means in a sequence set, RFC 9051
// §9, which SessionTracker cannot tell), and one event may add many
// messages (SessionTracker.EncodeSeqNum assumes one at a time). Pending
// changes are kept compact — new UIDs, expunged UIDs, the latest flags per
// UID — so a client that stays selected without polling costs at most about
// one more UID list, never an event log.
//
// The feed calls onEvent on the publisher's goroutine; everything else runs
// on the session's. mu guards the pending state and uids.
type view struct {
	mailboxID   int64
	name        string
	readOnly    bool
	uidValidity uint32 // as SELECT read them (QRESYNC)
	uidNext     uint32

	mu       sync.Mutex
	uids     []uint32 // the client's view
	seen     uint64   // highest ModSeq taken from the feed (or the snapshot)
	newUIDs  []uint32 // appended, not yet announced; ascending, all > uids
	expunged map[uint32]struct{}
	flags    map[uint32][]string // latest flags not yet reported
	modSeqs  map[uint32]uint64   // their MODSEQ (CONDSTORE)
	deleted  bool                // the mailbox is gone
	notify   chan struct{}       // one token: something is pending

	// Until start, events are kept as they come (the snapshot they must
	// be compared with is not there yet).
	loading bool
	buffer  []mailstore.Event

	// announce: the session learnt new keywords itself (STORE, APPEND);
	// the next poll sends FLAGS.
	announce bool

	// known are the flags announced in FLAGS; a new keyword makes a new
	// FLAGS response (RFC 9051 §7.3.5).
	known []string

	// saved is the SEARCHRES result (RFC 5182), as UIDs.
	saved []uint32

	// recent are the UID ranges [lo, hi) whose \Recent flag this session
	// shows (recent.go); claimed is the UID up to which it has taken
	// them (a read-write session only).
	recent  [][2]uint32
	claimed uint32
	rev2    bool // IMAP4rev2 enabled: no \Recent at all (RFC 9051 dropped it)

	// modSeqTold: the client was told HIGHESTMODSEQ with CONDSTORE
	// enabled (condstore.go).
	modSeqTold bool

	origin any // the session: its own flag changes and expunges it reports itself
	cancel func()
}

func newView(origin any) *view {
	return &view{
		origin:   origin,
		expunged: make(map[uint32]struct{}),
		flags:    make(map[uint32][]string),
		modSeqs:  make(map[uint32]uint64),
		notify:   make(chan struct{}, 1),
		loading:  true,
	}
}

// start installs the snapshot SELECT read and replays the events that came
// while it was read: those at or below the snapshot's HIGHESTMODSEQ are in
// it already.
func (v *view) start(sel *mailstore.Selected, readOnly bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.mailboxID = sel.ID
	v.name = sel.Name
	v.readOnly = readOnly
	v.uidValidity, v.uidNext = sel.UIDValidity, sel.UIDNext
	v.uids = sel.UIDs
	v.seen = sel.HighestModSeq
	v.known = slices.Clone(sel.Flags)
	v.loading = false
	for _, ev := range v.buffer {
		v.apply(ev)
	}
	v.buffer = nil
}

// onEvent queues one committed change. Called by the feed: quick, never
// blocks, never calls the store.
func (v *view) onEvent(ev mailstore.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.loading {
		v.buffer = append(v.buffer, ev)
		return
	}
	v.apply(ev)
}

// apply folds one event into the pending state. Caller holds mu.
func (v *view) apply(ev mailstore.Event) {
	if ev.ModSeq != 0 && ev.ModSeq <= v.seen {
		return // in the snapshot already, or seen
	}
	v.seen = max(v.seen, ev.ModSeq)
	mine := ev.Origin != nil && ev.Origin == v.origin
	switch ev.Kind {
	case mailstore.EventAppend:
		last := uint32(0)
		if n := len(v.newUIDs); n > 0 {
			last = v.newUIDs[n-1]
		} else if n := len(v.uids); n > 0 {
			last = v.uids[n-1]
		}
		for _, uid := range ev.UIDs {
			if uid > last {
				v.newUIDs = append(v.newUIDs, uid)
				last = uid
			}
		}
	case mailstore.EventExpunge:
		if mine {
			return // reported by the command that did it
		}
		for _, uid := range ev.UIDs {
			if i, ok := slices.BinarySearch(v.newUIDs, uid); ok {
				v.newUIDs = slices.Delete(v.newUIDs, i, i+1) // never announced
				continue
			}
			v.expunged[uid] = struct{}{}
			delete(v.flags, uid)
		}
	case mailstore.EventFlags:
		for i, uid := range ev.UIDs {
			if i >= len(ev.Flags) {
				break
			}
			if _, gone := v.expunged[uid]; gone {
				continue
			}
			// The session reports its own changes itself (or was asked
			// not to, .SILENT); but a report still pending from another
			// session is now stale and takes the newest flags.
			if _, pending := v.flags[uid]; mine && !pending {
				continue
			}
			v.flags[uid] = ev.Flags[i]
			v.modSeqs[uid] = ev.ModSeq
		}
		if mine {
			return
		}
	case mailstore.EventMailboxDeleted:
		v.deleted = true
	default:
		return
	}
	select {
	case v.notify <- struct{}{}:
	default:
	}
}

// seqOf returns the sequence number of uid in the client's view, 0 if the
// client does not know it.
func (v *view) seqOf(uid uint32) uint32 {
	v.mu.Lock()
	defer v.mu.Unlock()
	i, ok := slices.BinarySearch(v.uids, uid)
	if !ok {
		return 0
	}
	return uint32(i + 1)
}

// forgetOwn removes UIDs the session expunged itself (EXPUNGE, MOVE) and
// returns their sequence numbers, highest first — the order to report them
// in, so that each number is right when the client reads it. UIDs the client
// never saw (appended by someone else, not yet announced) are dropped from
// the pending list without a report.
func (v *view) forgetOwn(uids []uint32) []uint32 {
	v.mu.Lock()
	defer v.mu.Unlock()
	var seqs []uint32
	for i := len(uids) - 1; i >= 0; i-- {
		uid := uids[i]
		if j, ok := slices.BinarySearch(v.uids, uid); ok {
			seqs = append(seqs, uint32(j+1))
			v.uids = slices.Delete(v.uids, j, j+1)
			delete(v.expunged, uid)
			delete(v.flags, uid)
		} else if j, ok := slices.BinarySearch(v.newUIDs, uid); ok {
			v.newUIDs = slices.Delete(v.newUIDs, j, j+1)
		}
	}
	return seqs
}

// poll reports pending changes (RFC 9051 §7: unilateral EXPUNGE, EXISTS,
// FLAGS and FETCH FLAGS). Without allowExpunge (during FETCH, STORE and
// SEARCH, RFC 9051 §7.5.1) expunges stay pending and the numbering is
// unchanged.
func (v *view) poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	v.mu.Lock()
	var expSeqs []uint32
	var expUIDs imap.UIDSet
	if allowExpunge && len(v.expunged) > 0 {
		for i := len(v.uids) - 1; i >= 0; i-- {
			if _, ok := v.expunged[v.uids[i]]; ok {
				expSeqs = append(expSeqs, uint32(i+1))
				expUIDs.AddNum(imap.UID(v.uids[i]))
				v.uids = slices.Delete(v.uids, i, i+1)
			}
		}
		clear(v.expunged)
	}
	exists := -1
	if len(v.newUIDs) > 0 {
		v.uids = append(v.uids, v.newUIDs...)
		v.newUIDs = v.newUIDs[:0]
		exists = len(v.uids)
	}
	type flagUpdate struct {
		seq    uint32
		uid    uint32
		flags  []string
		modSeq uint64
	}
	var updates []flagUpdate
	var newFlags []string
	for uid, fl := range v.flags {
		if _, gone := v.expunged[uid]; gone {
			continue
		}
		i, ok := slices.BinarySearch(v.uids, uid)
		if !ok {
			continue
		}
		updates = append(updates, flagUpdate{uint32(i + 1), uid, fl, v.modSeqs[uid]})
		for _, f := range fl {
			if !containsFold(v.known, f) && !containsFold(newFlags, f) {
				newFlags = append(newFlags, f)
			}
		}
	}
	clear(v.flags)
	clear(v.modSeqs)
	if len(newFlags) > 0 {
		v.known = append(v.known, newFlags...)
	}
	announce := len(newFlags) > 0 || v.announce
	v.announce = false
	known := slices.Clone(v.known)
	v.mu.Unlock()

	var condStore, qresync bool
	if len(expSeqs) > 0 || len(updates) > 0 {
		condStore, qresync = v.modes()
	}
	if err := writeExpunges(w, expSeqs, expUIDs, qresync); err != nil {
		return err
	}
	if exists >= 0 {
		if err := w.WriteNumMessages(uint32(exists)); err != nil {
			return err
		}
		// RFC 3501 §7.3.2 (IMAP4rev1 only; imapserver drops it for
		// IMAP4rev2 clients).
		if err := w.WriteNumRecent(v.recentCount()); err != nil {
			return err
		}
	}
	if announce {
		if err := w.WriteMailboxFlags(toFlags(known)); err != nil {
			return err
		}
	}
	slices.SortFunc(updates, func(a, b flagUpdate) int { return int(a.seq) - int(b.seq) })
	for _, u := range updates {
		if err := writeFlagUpdate(w, u.seq, u.uid, v.withRecent(u.uid, u.flags), u.modSeq, condStore); err != nil {
			return err
		}
	}
	return nil
}

// learnFlags adds flags the session itself set (STORE, APPEND) to the
// known set; a new one is announced with FLAGS at the next poll.
func (v *view) learnFlags(flags []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, f := range flags {
		if !containsFold(v.known, f) {
			v.known = append(v.known, f)
			v.announce = true
		}
	}
}

// introduce adds the flags the client was not told about to the known set
// and returns the whole set when there were any (nil otherwise): the FLAGS
// response to send before a FETCH that shows them (RFC 9051 §7.3.5).
func (v *view) introduce(flags []string) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	added := false
	for _, f := range flags {
		if !containsFold(v.known, f) && f != recentFlag {
			v.known = append(v.known, f)
			added = true
		}
	}
	if !added {
		return nil
	}
	v.announce = false // told now, not again at the next poll
	return slices.Clone(v.known)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// errSeqRange is the answer to a sequence number the client does not have
// (RFC 9051 §9, seq-number: "*" in an empty mailbox included).
var errSeqRange = bad("Invalid message sequence number")

// resolve turns a sequence set or a UID set into the UIDs the client knows
// that it names, ascending and without duplicates. A sequence number
// beyond the client's count is BAD when strict (commands that act on
// messages) and ignored otherwise (SEARCH keys). UIDs that do not exist are
// ignored (RFC 9051 §6.4.9); "*" in a UID set is the highest UID the client
// knows (RFC 9051 §9: or UIDNEXT in an empty mailbox, which names nothing
// either), and "$" is the saved search result (RFC 5182).
func (v *view) resolve(set imap.NumSet, strict bool) ([]uint32, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	idx, err := v.indexes(set, strict)
	if err != nil {
		return nil, err
	}
	var out []uint32
	for _, r := range idx {
		out = append(out, v.uids[r[0]:r[1]+1]...)
	}
	return out, nil
}

// ranges is resolve for SEARCH: the same messages as UID ranges. Between
// two UIDs the client knows there is no other message in the mailbox (UIDs
// only grow), so a run of sequence numbers is one UID range however sparse
// its UIDs.
func (v *view) ranges(set imap.NumSet) []mailstore.UIDRange {
	v.mu.Lock()
	defer v.mu.Unlock()
	idx, _ := v.indexes(set, false)
	out := make([]mailstore.UIDRange, 0, len(idx))
	for _, r := range idx {
		out = append(out, mailstore.UIDRange{Start: v.uids[r[0]], Stop: v.uids[r[1]]})
	}
	return out
}

// indexes returns the index ranges (0-based, inclusive) of v.uids that set
// names, sorted and merged. Caller holds mu.
func (v *view) indexes(set imap.NumSet, strict bool) ([][2]int, error) {
	n := len(v.uids)
	var idx [][2]int
	switch set := set.(type) {
	case imap.SeqSet:
		for _, r := range set {
			start, stop := int(r.Start), int(r.Stop)
			if start == 0 || stop == 0 { // "*"
				if n == 0 {
					if strict {
						return nil, errSeqRange
					}
					continue
				}
				if start == 0 {
					start = n
				}
				if stop == 0 {
					stop = n
				}
			}
			if start > stop {
				start, stop = stop, start
			}
			if stop > n {
				if strict {
					return nil, errSeqRange
				}
				if start > n {
					continue
				}
				stop = n
			}
			idx = append(idx, [2]int{start - 1, stop - 1})
		}
	case imap.UIDSet:
		if imap.IsSearchRes(set) {
			for _, uid := range v.saved {
				if i, ok := slices.BinarySearch(v.uids, uid); ok {
					idx = append(idx, [2]int{i, i})
				}
			}
			break
		}
		if n == 0 {
			return nil, nil
		}
		star := v.uids[n-1]
		for _, r := range set {
			start, stop := uint32(r.Start), uint32(r.Stop)
			if start == 0 {
				start = star
			}
			if stop == 0 {
				stop = star
			}
			if start > stop {
				start, stop = stop, start
			}
			lo, _ := slices.BinarySearch(v.uids, start)
			hi, found := slices.BinarySearch(v.uids, stop)
			if !found {
				hi-- // the last index whose UID is below stop
			}
			if lo <= hi {
				idx = append(idx, [2]int{lo, hi})
			}
		}
	default:
		return nil, bad("Invalid message set")
	}
	return mergeIndexes(idx), nil
}

// mergeIndexes sorts index ranges and joins those that overlap or touch.
func mergeIndexes(idx [][2]int) [][2]int {
	if len(idx) < 2 {
		return idx
	}
	slices.SortFunc(idx, func(a, b [2]int) int { return a[0] - b[0] })
	out := idx[:1]
	for _, r := range idx[1:] {
		last := &out[len(out)-1]
		if r[0] <= last[1]+1 {
			last[1] = max(last[1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

func toFlags(fl []string) []imap.Flag {
	out := make([]imap.Flag, len(fl))
	for i, f := range fl {
		out[i] = imap.Flag(f)
	}
	return out
}

// recentFlag is \Recent: never a keyword, never in FLAGS's list of what
// may be set.
const recentFlag = `\Recent`

// announceFlags sends FLAGS ahead of a FETCH response that shows flags the
// client does not know yet (keywords set by another session, or by this
// one's STORE), so that no keyword reaches the client before the FLAGS
// response that introduces it (RFC 9051 §7.3.5).
func announceFlags(w *imapserver.FetchWriter, v *view, flags []string) error {
	known := v.introduce(flags)
	if known == nil {
		return nil
	}
	return w.WriteMailboxFlags(toFlags(known))
}
