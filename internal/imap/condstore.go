package imap

import (
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"diwan.gov.sy/diwan/internal/mailstore"
)

// CONDSTORE (RFC 7162 §3.1). Every message has a MODSEQ in the store and
// every mailbox a HIGHESTMODSEQ, so SELECT and EXAMINE always answer
// HIGHESTMODSEQ and never NOMODSEQ. imapserver parses the arguments
// (FETCH MODSEQ and CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH MODSEQ,
// STATUS HIGHESTMODSEQ, SELECT (CONDSTORE)) and records the enabling
// commands in the connection's enabled capabilities; the session reads
// them there.

// condStore reports whether the client enabled CONDSTORE (by ENABLE, or
// by a CONDSTORE enabling command, RFC 7162 §3.1; QRESYNC implies it):
// its untagged FETCH responses of flag changes then carry UID and MODSEQ.
func (s *session) condStore() bool {
	return s.conn != nil && s.conn.EnabledCaps().Has(imap.CapCondStore)
}

// qresync reports whether the client enabled QRESYNC (RFC 7162 §3.2.3):
// expunges are then reported with VANISHED.
func (s *session) qresync() bool {
	return s.conn != nil && s.conn.EnabledCaps().Has(imap.CapQResync)
}

// storeFlags runs STORE's change, conditional when the client gave
// UNCHANGEDSINCE (RFC 7162 §3.1.3); modified are the UIDs that failed the
// condition.
func (s *session) storeFlags(v *view, uids []uint32, op mailstore.FlagOp, flags []string, o *imap.StoreOptions) ([]mailstore.FlagUpdate, []uint32, error) {
	st := s.srv.o.Store
	if o == nil || o.UnchangedSince == 0 {
		ups, err := st.StoreFlags(s.ctx, s.uid(), v.mailboxID, uids, op, flags)
		return ups, nil, err
	}
	return st.StoreFlagsUnchangedSince(s.ctx, s.uid(), v.mailboxID, uids, op, flags, o.UnchangedSince)
}

// writeStoreResults writes STORE's FETCH responses: FLAGS of every
// message unless .SILENT; with CONDSTORE enabled UID and MODSEQ too, and a
// FETCH for every message the command changed even with .SILENT
// (RFC 7162 §3.1.3).
func (s *session) writeStoreResults(w *imapserver.FetchWriter, v *view, ups []mailstore.FlagUpdate, silent, isUID bool) error {
	cs := s.condStore()
	if silent && !cs {
		return nil
	}
	for _, u := range ups {
		if silent && !u.Changed {
			continue
		}
		seq := v.seqOf(u.UID)
		if seq == 0 {
			continue
		}
		rw := w.CreateMessage(seq)
		if isUID || cs {
			rw.WriteUID(imap.UID(u.UID))
		}
		if !silent {
			rw.WriteFlags(toFlags(u.Flags))
		}
		if cs {
			rw.WriteModSeq(u.ModSeq)
		}
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// modifiedError is the tagged OK [MODIFIED set] of a conditional STORE
// some messages failed (RFC 7162 §3.1.3): their sequence numbers, or UIDs
// for UID STORE. imapserver writes an *imap.Error of type OK as the
// tagged response, code and text as given.
func modifiedError(v *view, modified []uint32, isUID bool) error {
	var set imap.NumSet
	if isUID {
		var uids imap.UIDSet
		for _, u := range modified {
			uids.AddNum(imap.UID(u))
		}
		set = uids
	} else {
		var seqs imap.SeqSet
		for _, u := range modified {
			if seq := v.seqOf(u); seq != 0 {
				seqs.AddNum(seq)
			}
		}
		set = seqs
	}
	return &imap.Error{
		Type: imap.StatusResponseTypeOK,
		Code: imap.ResponseCode("MODIFIED " + set.String()),
		Text: "Conditional STORE failed for some messages",
	}
}

// changedOnly narrows a FETCH with CHANGEDSINCE (RFC 7162 §3.1.4.1) to the
// messages whose MODSEQ is above it, read from the store's MODSEQ index
// rather than message by message.
func (s *session) changedOnly(v *view, uids []uint32, since uint64) ([]uint32, error) {
	ups, err := s.srv.o.Store.Changed(s.ctx, s.uid(), v.mailboxID, since)
	if err != nil {
		return nil, s.storeError("fetch changedsince", err)
	}
	out := make([]uint32, 0, len(ups))
	for _, u := range ups {
		if _, ok := slices.BinarySearch(uids, u.UID); ok {
			out = append(out, u.UID)
		}
	}
	return out, nil
}

// searchModSeq is the MODSEQ a SEARCH with the MODSEQ key answers (RFC 7162
// §3.1.5): the highest of the messages found, 0 when none.
func (s *session) searchModSeq(v *view, uids []uint32) (uint64, error) {
	var top uint64
	err := s.srv.o.Store.Fetch(s.ctx, s.uid(), v.mailboxID, uids, mailstore.FetchOptions{}, func(mi *mailstore.MessageInfo) error {
		top = max(top, mi.ModSeq)
		return nil
	})
	if err != nil {
		return 0, s.storeError("search modseq", err)
	}
	return top, nil
}

// modSeqCriteria copies the MODSEQ keys into the store's criteria. The
// entry name of a per-flag MODSEQ (RFC 7162 §3.1.5) is answered with the
// message's MODSEQ: the store keeps one per message, not one per flag,
// which §3.1.5 allows (a server without per-flag MODSEQs uses the
// message's).
func modSeqCriteria(c *imap.SearchCriteria, out *mailstore.Criteria) {
	if c.ModSeq != nil {
		out.ModSeq = c.ModSeq.ModSeq
	}
}

// hasModSeqKey reports whether a MODSEQ key appears anywhere in c.
func hasModSeqKey(c *imap.SearchCriteria) bool {
	if c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if hasModSeqKey(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if hasModSeqKey(&c.Or[i][0]) || hasModSeqKey(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// kib is bytes in KiB, rounded up (RFC 9208 §5.1: STORAGE in units of
// 1024 octets).
func kib(n int64) int64 { return (n + 1023) / 1024 }

// fetchChangedSince applies FETCH's CHANGEDSINCE modifier (RFC 7162
// §3.1.4.1): MODSEQ is returned, only messages changed since are
// fetched, and with VANISHED (UID FETCH, QRESYNC, §3.2.6) the UIDs of the
// set expunged since come first.
func (s *session) fetchChangedSince(w *imapserver.FetchWriter, v *view, set imap.NumSet, uids []uint32, o *imap.FetchOptions) ([]uint32, error) {
	o.ModSeq = true
	if o.Vanished {
		if err := s.writeFetchVanished(w, v, set, o.ChangedSince); err != nil {
			return nil, err
		}
	}
	if len(uids) == 0 {
		return nil, nil
	}
	return s.changedOnly(v, uids, o.ChangedSince)
}

// announceHighestModSeq sends OK [HIGHESTMODSEQ n] after the first
// CONDSTORE enabling command of a session whose mailbox was selected
// before CONDSTORE was enabled (RFC 7162 §3.1): n is the highest MODSEQ
// the client has been told of, the view's.
func (s *session) announceHighestModSeq(w *imapserver.UpdateWriter, v *view) error {
	if v.modSeqTold || !s.condStore() {
		return nil
	}
	v.modSeqTold = true
	v.mu.Lock()
	seen := v.seen
	v.mu.Unlock()
	return w.WriteHighestModSeq(seen)
}

// modSeqOf picks the messages whose MODSEQ a SEARCH with the MODSEQ key
// reports (RFC 7162 §3.1.5, and RFC 4731 with §3.1.10 of RFC 7162 for
// ESEARCH): all of them, unless only MIN and/or MAX were asked, then
// those.
func modSeqOf(found []uint32, o *imap.SearchOptions) []uint32 {
	if o == nil || o.ReturnAll || o.ReturnCount || (!o.ReturnMin && !o.ReturnMax) {
		return found
	}
	var out []uint32
	if o.ReturnMin {
		out = append(out, found[0])
	}
	if o.ReturnMax && (len(out) == 0 || found[len(found)-1] != out[0]) {
		out = append(out, found[len(found)-1])
	}
	return out
}
