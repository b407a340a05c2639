package imap

import (
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// QRESYNC (RFC 7162 §3.2). A client that enabled it learns of expunges by
// UID (VANISHED) instead of by sequence number (EXPUNGE), and resynchronises
// a mailbox in one round trip: SELECT … (QRESYNC (uidvalidity modseq
// [known-uids])) answers VANISHED (EARLIER) with the UIDs that went since
// modseq and a FETCH (UID FLAGS MODSEQ) for each message changed since.
// What went comes from the store's record of expunged UIDs (mailstore
// Vanished); when that record no longer reaches back to modseq, every UID
// the client may know that no longer exists is reported instead
// (§3.2.5.2 lets the server send UIDs the client never saw).

var _ imapserver.SessionQResync = (*session)(nil)

// ResyncSelected answers the QRESYNC parameter of SELECT and EXAMINE
// (RFC 7162 §3.2.5), after the untagged responses of the SELECT. A
// UIDVALIDITY that differs from the mailbox's means the client's cache is
// void: nothing is sent (§3.2.5.1).
func (s *session) ResyncSelected(w *imapserver.FetchWriter, q *imap.SelectQResync) (err error) {
	v := s.sel.Load()
	if v == nil || q.UIDValidity != v.uidValidity {
		return nil
	}
	gone, err := s.vanishedSince(v, q.ModSeq, q.KnownUIDs)
	if err != nil {
		return err
	}
	if len(gone) > 0 {
		if err := w.WriteVanished(gone, true); err != nil {
			return err
		}
	}
	ups, err := s.srv.o.Store.Changed(s.ctx, s.uid(), v.mailboxID, q.ModSeq)
	if err != nil {
		return s.storeError("qresync", err)
	}
	for _, u := range ups {
		seq := v.seqOf(u.UID)
		if seq == 0 {
			continue // arrived after the SELECT: announced with EXISTS
		}
		rw := w.CreateMessage(seq)
		rw.WriteUID(imap.UID(u.UID))
		rw.WriteFlags(toFlags(v.withRecent(u.UID, u.Flags)))
		rw.WriteModSeq(u.ModSeq)
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// vanishedSince returns the UIDs, among within (nil: all), expunged after
// MODSEQ since that the client's view no longer holds (a UID expunged
// after the SELECT is still in the view and is reported by VANISHED in
// its turn).
func (s *session) vanishedSince(v *view, since uint64, within imap.UIDSet) (imap.UIDSet, error) {
	uids, complete, err := s.srv.o.Store.Vanished(s.ctx, s.uid(), v.mailboxID, since)
	if err != nil {
		return nil, s.storeError("vanished", err)
	}
	var out imap.UIDSet
	if !complete {
		top := v.topUID()
		if within == nil {
			return v.absent(1, top), nil
		}
		for _, r := range within {
			start, stop := uint32(r.Start), uint32(r.Stop)
			if stop == 0 || stop > top {
				stop = top
			}
			if start == 0 {
				start = top
			}
			out.AddSet(v.absent(start, stop))
		}
		return out, nil
	}
	for _, u := range uids {
		if within != nil && !within.Contains(imap.UID(u)) {
			continue
		}
		if v.seqOf(u) == 0 {
			out.AddNum(imap.UID(u))
		}
	}
	return out, nil
}

// writeFetchVanished answers UID FETCH … (CHANGEDSINCE n VANISHED)
// (RFC 7162 §3.2.6): VANISHED (EARLIER) of the UIDs of the set expunged
// since n, before the FETCH responses.
func (s *session) writeFetchVanished(w *imapserver.FetchWriter, v *view, set imap.NumSet, since uint64) error {
	uidSet, ok := set.(imap.UIDSet)
	if !ok {
		return nil // imapserver allows VANISHED with UID FETCH only
	}
	gone, err := s.vanishedSince(v, since, uidSet)
	if err != nil || len(gone) == 0 {
		return err
	}
	return w.WriteVanished(gone, true)
}

// expungeWriter is what reports a session's own expunges: EXPUNGE, UID
// EXPUNGE (ExpungeWriter) and MOVE (MoveWriter).
type expungeWriter interface {
	WriteExpunge(seqNum uint32) error
	WriteVanished(uids imap.UIDSet) error
}

// reportExpunged removes the UIDs the session expunged itself from its
// view and reports them: one VANISHED to a client that enabled QRESYNC
// (RFC 7162 §3.2.10), else an EXPUNGE per message, highest first.
func (s *session) reportExpunged(w expungeWriter, v *view, gone []uint32) error {
	var known imap.UIDSet
	qr := s.qresync()
	if qr {
		for _, u := range gone {
			if v.seqOf(u) != 0 {
				known.AddNum(imap.UID(u))
			}
		}
	}
	seqs := v.forgetOwn(gone)
	if qr {
		if len(known) == 0 {
			return nil
		}
		return w.WriteVanished(known)
	}
	for _, seq := range seqs {
		if err := w.WriteExpunge(seq); err != nil {
			return err
		}
	}
	return nil
}

// topUID is the highest UID the mailbox may have given out as the view
// knows it: UIDNEXT at SELECT less one, or the highest UID seen since.
func (v *view) topUID() uint32 {
	v.mu.Lock()
	defer v.mu.Unlock()
	top := v.uidNext - 1
	if n := len(v.newUIDs); n > 0 {
		top = max(top, v.newUIDs[n-1])
	}
	if n := len(v.uids); n > 0 {
		top = max(top, v.uids[n-1])
	}
	return top
}

// absent returns the UIDs from lo to hi that are neither in the view nor
// pending: with UIDs given out in order and never twice, those expunged.
func (v *view) absent(lo, hi uint32) imap.UIDSet {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out imap.UIDSet
	if lo == 0 || lo > hi {
		return out
	}
	next := lo // the lowest UID not yet accounted for
	visit := func(list []uint32) bool {
		i, _ := slices.BinarySearch(list, next)
		for ; i < len(list) && list[i] <= hi; i++ {
			if list[i] > next {
				out.AddRange(imap.UID(next), imap.UID(list[i]-1))
			}
			next = list[i] + 1
		}
		return next > hi
	}
	if visit(v.uids) || visit(v.newUIDs) {
		return out
	}
	out.AddRange(imap.UID(next), imap.UID(hi))
	return out
}

// modes reports whether the view's session enabled CONDSTORE and QRESYNC.
func (v *view) modes() (condStore, qresync bool) {
	s, ok := v.origin.(*session)
	if !ok || s.conn == nil {
		return false, false
	}
	caps := s.conn.EnabledCaps()
	return caps.Has(imap.CapCondStore), caps.Has(imap.CapQResync)
}

// writeExpunges reports expunges found by a poll: one VANISHED for a
// client that enabled QRESYNC, else EXPUNGE per message (seqs highest
// first).
func writeExpunges(w *imapserver.UpdateWriter, seqs []uint32, uids imap.UIDSet, qresync bool) error {
	if len(seqs) == 0 {
		return nil
	}
	if qresync {
		return w.WriteVanished(uids)
	}
	for _, seq := range seqs {
		if err := w.WriteExpunge(seq); err != nil {
			return err
		}
	}
	return nil
}

// writeFlagUpdate reports another session's flag change: with UID and
// MODSEQ to a client that enabled CONDSTORE (RFC 7162 §3.2).
func writeFlagUpdate(w *imapserver.UpdateWriter, seq, uid uint32, flags []string, modSeq uint64, condStore bool) error {
	if condStore && modSeq != 0 {
		return w.WriteMessageFlagsModSeq(seq, imap.UID(uid), toFlags(flags), modSeq)
	}
	return w.WriteMessageFlags(seq, imap.UID(uid), toFlags(flags))
}
