package imap

import (
	"errors"
	"io"
	"reflect"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"diwan.gov.sy/diwan/internal/mailstore"
)

var errReadOnly = no(imap.ResponseCodeCannot, "The mailbox is open read-only (EXAMINE)")

// Append stores a message (RFC 9051 §6.3.12) and answers APPENDUID
// (UIDPLUS, RFC 4315 §3). Size and quota are enforced here, where the
// literal is read: imapserver has refused a literal over APPENDLIMIT before
// the client sent it (NO [TOOBIG]); a message that would take the user over
// quota gets NO [OVERQUOTA] (RFC 9208 §4.3 code, RFC 5530) and nothing is
// stored. imapserver drains whatever of the literal is left unread.
func (s *session) Append(mailbox string, r imap.LiteralReader, o *imap.AppendOptions) (_ *imap.AppendData, err error) {
	defer s.done(cmdAppend, &err)
	name, err := mailboxName(mailbox)
	if err != nil {
		return nil, err
	}
	flags, err := clientFlags(o.Flags)
	if err != nil {
		return nil, err
	}
	st := s.srv.o.Store
	if u, err := st.Usage(s.ctx, s.uid()); err == nil && u.Quota > 0 && u.Bytes+r.Size() > u.Quota {
		return nil, no(imap.ResponseCodeOverQuota, "Over quota: the message was not stored")
	}
	lit := &literal{r: r, left: r.Size()}
	var src io.Reader = lit
	if o.Binary {
		src, err = binaryMessage(lit)
	}
	var a mailstore.Appended
	if err == nil {
		a, err = st.Append(s.ctx, s.uid(), name, src, mailstore.AppendOptions{Flags: flags, InternalDate: o.Time})
	}
	switch {
	case err == nil:
	case errors.Is(err, mailstore.ErrNotFound):
		// RFC 9051 §6.3.12: the client may CREATE and try again.
		return nil, no(imap.ResponseCodeTryCreate, "No such mailbox")
	case lit.lost != nil:
		// The client went away mid-literal: nothing was stored, nobody to
		// answer.
		return nil, bad("Message data incomplete")
	default:
		// storeError logs what it does not expect (once, at ERROR).
		rerr := s.storeError("append", err)
		var ie *imap.Error
		if errors.As(rerr, &ie) && ie.Code == imap.ResponseCodeServerBug {
			// The blob store or the database failed (a network error
			// from S3 or PostgreSQL looks like a connection error, but
			// the literal arrived whole): nothing was stored, and the
			// client may try again once the store is back (RFC 9051
			// §7.1, UNAVAILABLE: a subsystem is down).
			rerr = no(imap.ResponseCodeUnavailable, "Temporary local problem: the message was not stored; try again later")
		}
		return nil, rerr
	}
	if v := s.sel.Load(); v != nil && v.mailboxID == a.MailboxID {
		v.learnFlags(flags)
	}
	return &imap.AppendData{UID: imap.UID(a.UID), UIDValidity: a.UIDValidity}, nil
}

// literal reads an APPEND literal and tells a complete one from a cut one:
// imapserver's literal reader ends with a plain io.EOF when the connection
// closes early, which would look like a shorter, complete message.
type literal struct {
	r    io.Reader
	left int64
	lost error // what cut the literal short on the client's side
}

func (l *literal) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if err == io.EOF && l.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		l.lost = err
	}
	return n, err
}

// clientFlags checks flags a client sets (STORE, APPEND): system flags in
// canonical spelling; \Recent cannot be set (RFC 9051 §2.3.2).
func clientFlags(in []imap.Flag) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, f := range in {
		s := canonFlag(string(f))
		if strings.EqualFold(s, `\Recent`) {
			return nil, bad(`\Recent cannot be set`)
		}
		out = append(out, s)
	}
	return out, nil
}

// Store changes flags (STORE, RFC 9051 §6.4.6): FLAGS, +FLAGS, -FLAGS and
// their .SILENT forms. Without .SILENT every message of the set gets a
// FETCH with its flags (and its UID for UID STORE, RFC 9051 §6.4.9).
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, f *imap.StoreFlags, o *imap.StoreOptions) (err error) {
	defer s.done(byKind(numKind(numSet), cmdStore, cmdUIDStore), &err)
	v, err := s.selected()
	if err != nil {
		return err
	}
	if v.readOnly {
		return errReadOnly
	}
	uids, err := v.resolve(numSet, true)
	if err != nil {
		return err
	}
	flags, err := clientFlags(f.Flags)
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		return nil
	}
	op := mailstore.FlagsReplace
	switch f.Op {
	case imap.StoreFlagsAdd:
		op = mailstore.FlagsAdd
	case imap.StoreFlagsDel:
		op = mailstore.FlagsRemove
	}
	ups, modified, err := s.storeFlags(v, uids, op, flags, o)
	if err != nil {
		return s.storeError("store", err)
	}
	// A new keyword is introduced by FLAGS before the FETCH that shows
	// it (RFC 9051 §7.3.5); .SILENT shows none, the next poll tells.
	if op != mailstore.FlagsRemove {
		if f.Silent {
			v.learnFlags(flags)
		} else if err := announceFlags(w, v, flags); err != nil {
			return err
		}
	}
	for i := range ups {
		ups[i].Flags = v.withRecent(ups[i].UID, ups[i].Flags) // RFC 3501 §2.3.2
	}
	_, isUID := numSet.(imap.UIDSet)
	if err := s.writeStoreResults(w, v, ups, f.Silent, isUID); err != nil {
		return err
	}
	if len(modified) > 0 {
		return modifiedError(v, modified, isUID)
	}
	return nil
}

// copyError answers a failed COPY or MOVE: a missing destination is
// NO [TRYCREATE] (RFC 9051 §6.4.7), also when no message was named.
func copyError(s *session, err error) error {
	if errors.Is(err, mailstore.ErrNotFound) {
		return no(imap.ResponseCodeTryCreate, "No such mailbox")
	}
	return s.storeError("copy", err)
}

func copyData(c mailstore.Copied) *imap.CopyData {
	var src, dst imap.UIDSet
	for _, u := range c.SrcUIDs {
		src.AddNum(imap.UID(u))
	}
	for _, u := range c.DstUIDs {
		dst.AddNum(imap.UID(u))
	}
	return &imap.CopyData{UIDValidity: c.DstUIDValidity, SourceUIDs: src, DestUIDs: dst}
}

// Copy copies messages to another mailbox (RFC 9051 §6.4.7) and answers
// COPYUID (RFC 4315 §3).
func (s *session) Copy(numSet imap.NumSet, dest string) (_ *imap.CopyData, err error) {
	defer s.done(byKind(numKind(numSet), cmdCopy, cmdUIDCopy), &err)
	v, err := s.selected()
	if err != nil {
		return nil, err
	}
	uids, err := v.resolve(numSet, true)
	if err != nil {
		return nil, err
	}
	if dest, err = mailboxName(dest); err != nil {
		return nil, err
	}
	c, err := s.srv.o.Store.Copy(s.ctx, s.uid(), v.mailboxID, uids, dest)
	if err != nil {
		return nil, copyError(s, err)
	}
	if len(c.DstUIDs) == 0 {
		return nil, nil
	}
	return copyData(c), nil
}

// Move moves messages (MOVE, RFC 6851 §3): COPYUID first, then an EXPUNGE
// for each message that left, numbered as the client knows it.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) (err error) {
	defer s.done(byKind(numKind(numSet), cmdMove, cmdUIDMove), &err)
	v, err := s.selected()
	if err != nil {
		return err
	}
	if v.readOnly {
		return errReadOnly
	}
	uids, err := v.resolve(numSet, true)
	if err != nil {
		return err
	}
	if dest, err = mailboxName(dest); err != nil {
		return err
	}
	c, err := s.srv.o.Store.Move(s.ctx, s.uid(), v.mailboxID, uids, dest)
	if err != nil {
		return copyError(s, err)
	}
	if len(c.SrcUIDs) == 0 {
		return nil
	}
	if err := w.WriteCopyData(copyData(c)); err != nil {
		return err
	}
	return s.reportExpunged(w, v, c.SrcUIDs)
}

// Expunge removes the messages marked \Deleted (EXPUNGE, RFC 9051 §6.4.3),
// or those of a UID set (UID EXPUNGE, RFC 4315 §2.1), and reports each with
// the number the client knows it by. CLOSE calls it with a writer that
// writes nothing (RFC 9051 §6.4.1: CLOSE expunges silently, and not at all
// in a mailbox opened with EXAMINE).
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) (err error) {
	cmd := cmdExpunge
	if uids != nil {
		cmd = cmdUIDExpunge
	}
	defer s.done(cmd, &err)
	v, err := s.selected()
	if err != nil {
		if isClose(w) {
			return nil
		}
		return err
	}
	if v.readOnly {
		if isClose(w) {
			return nil
		}
		return errReadOnly
	}
	var list []uint32 // nil: every \Deleted message
	if uids != nil {
		list, err = v.resolve(*uids, false)
		if err != nil || len(list) == 0 {
			return err
		}
	}
	gone, err := s.srv.o.Store.Expunge(s.ctx, s.uid(), v.mailboxID, list)
	if err != nil {
		return s.storeError("expunge", err)
	}
	return s.reportExpunged(w, v, gone)
}

// isClose tells CLOSE's expunge from EXPUNGE's: imapserver gives CLOSE an
// ExpungeWriter without a connection (it must write nothing) and has no
// other way to say which command is running. Pinned by
// TestCloseAfterExamineRemovesNothing.
func isClose(w *imapserver.ExpungeWriter) bool {
	if w == nil {
		return true
	}
	f := reflect.ValueOf(w).Elem().FieldByName("conn")
	return f.IsValid() && f.Kind() == reflect.Pointer && f.IsNil()
}
