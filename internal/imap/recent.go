package imap

import (
	"slices"

	"github.com/emersion/go-imap/v2"

	"diwan.gov.sy/diwan/internal/mailstore"
)

// \Recent (RFC 3501 §2.3.2, IMAP4rev1; RFC 9051 dropped it) as Dovecot
// keeps it: one session at a time owns a message's \Recent flag. A
// read-write SELECT takes the flag of every message no session has taken
// (mailstore.ClaimRecent), and a read-write session that is told of new
// messages takes theirs; EXAMINE takes nothing but shows the messages
// nobody took as recent. The mark lives in the database, so this holds
// across nodes.

// selectRecent sets up the view's recent messages at SELECT or EXAMINE
// and returns how many the client has.
func (s *session) selectRecent(v *view, sel *mailstore.Selected, readOnly bool) (uint32, error) {
	if s.conn != nil && s.conn.EnabledCaps().Has(imap.CapIMAP4rev2) {
		// RFC 9051 dropped \Recent: such a session neither takes nor
		// shows it.
		v.mu.Lock()
		v.rev2 = true
		v.mu.Unlock()
		return 0, nil
	}
	from := sel.FirstRecentUID
	// Nothing arrived since the last claim (the common case): no write.
	if !readOnly && from < sel.UIDNext {
		var err error
		from, err = s.srv.o.Store.ClaimRecent(s.ctx, s.uid(), sel.ID, sel.UIDNext)
		if err != nil {
			return 0, s.storeError("select", err)
		}
	}
	if !readOnly {
		v.mu.Lock()
		v.claimed = sel.UIDNext
		v.mu.Unlock()
	}
	v.addRecent(from, sel.UIDNext)
	return v.recentCount(), nil
}

// claimNew takes the \Recent flag of the new messages the next poll will
// announce, for a read-write session; what another session took first is
// not recent here.
func (s *session) claimNew(v *view) error {
	v.mu.Lock()
	top := uint32(0)
	if n := len(v.newUIDs); n > 0 && !v.readOnly && !v.rev2 && v.newUIDs[n-1] >= v.claimed {
		top = v.newUIDs[n-1] + 1
	}
	v.mu.Unlock()
	if top == 0 {
		return nil
	}
	from, err := s.srv.o.Store.ClaimRecent(s.ctx, s.uid(), v.mailboxID, top)
	if err != nil {
		return s.storeError("claim recent", err)
	}
	v.mu.Lock()
	v.claimed = max(v.claimed, top)
	v.mu.Unlock()
	v.addRecent(from, top)
	return nil
}

// addRecent adds the UIDs [from, upto) to the session's recent ones.
func (v *view) addRecent(from, upto uint32) {
	if from >= upto {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := len(v.recent); n > 0 && v.recent[n-1][1] >= from {
		v.recent[n-1][1] = max(v.recent[n-1][1], upto)
		return
	}
	v.recent = append(v.recent, [2]uint32{from, upto})
}

// isRecent reports whether the session shows uid as \Recent. Caller holds
// mu.
func (v *view) isRecent(uid uint32) bool {
	for _, r := range v.recent {
		if uid >= r[0] && uid < r[1] {
			return true
		}
	}
	return false
}

// recentCount is the number of the client's messages that are recent here
// (the RECENT response).
func (v *view) recentCount() uint32 {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, r := range v.recent {
		lo, _ := slices.BinarySearch(v.uids, r[0])
		hi, _ := slices.BinarySearch(v.uids, r[1])
		n += hi - lo
	}
	return uint32(n)
}

// withRecent returns flags with \Recent added when uid is recent here.
func (v *view) withRecent(uid uint32, flags []string) []string {
	v.mu.Lock()
	recent := v.isRecent(uid)
	v.mu.Unlock()
	if !recent {
		return flags
	}
	return append(slices.Clip(flags), recentFlag)
}

// recentRanges are the session's recent UIDs as the store's ranges (SEARCH
// RECENT, NEW, OLD).
func (v *view) recentRanges() []mailstore.UIDRange {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]mailstore.UIDRange, 0, len(v.recent))
	for _, r := range v.recent {
		out = append(out, mailstore.UIDRange{Start: r[0], Stop: r[1] - 1})
	}
	return out
}

// statusRecent is STATUS RECENT: the messages no session has taken as
// \Recent (RFC 3501 §6.3.10); 0 when it cannot be counted (logged).
func (s *session) statusRecent(mailboxID int64) uint32 {
	n, err := s.srv.o.Store.CountRecent(s.ctx, s.uid(), mailboxID)
	if err != nil {
		_ = s.internal("status recent", err)
		return 0
	}
	return n
}
