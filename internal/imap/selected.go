package imap

import (
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"diwan.gov.sy/diwan/internal/mailstore"
)

// Select opens a mailbox (SELECT and EXAMINE, RFC 9051 §6.3.2, §6.3.3).
//
// The session subscribes to the mailbox's changes before it reads the
// snapshot, so that nothing committed in between is lost; the view drops
// what the snapshot already holds by MODSEQ.
func (s *session) Select(name string, o *imap.SelectOptions) (_ *imap.SelectData, err error) {
	defer s.done(cmdSelect, &err)
	s.unselect()
	name, err = mailboxName(name)
	if err != nil {
		return nil, err
	}
	readOnly := o != nil && o.ReadOnly
	st := s.srv.o.Store
	var v *view
	var sel mailstore.Selected
	for attempt := 0; ; attempt++ {
		mb, err := st.Mailbox(s.ctx, s.uid(), name)
		if err != nil {
			return nil, s.storeError("select", err)
		}
		v = newView(s)
		v.cancel = st.Feed().Subscribe(mb.ID, v.onEvent)
		sel, err = st.Select(s.ctx, s.uid(), name)
		if err == nil && sel.ID == mb.ID {
			break
		}
		v.cancel()
		if err != nil {
			return nil, s.storeError("select", err)
		}
		// Renamed or recreated between the two reads: once more.
		if attempt == 2 {
			return nil, no(imap.ResponseCodeInUse, "Mailbox is changing, try again")
		}
	}
	v.start(&sel, readOnly)
	v.modSeqTold = s.condStore()
	recent, err := s.selectRecent(v, &sel, readOnly)
	if err != nil {
		v.cancel()
		return nil, err
	}
	s.sel.Store(v)

	flags := toFlags(sel.Flags)
	// RFC 9051 §6.3.3: EXAMINE answers an empty PERMANENTFLAGS.
	perm := []imap.Flag{}
	if !readOnly {
		perm = append(slices.Clone(flags), imap.FlagWildcard)
	}
	var firstUnseen uint32
	if sel.FirstUnseen != 0 {
		if i, ok := slices.BinarySearch(sel.UIDs, sel.FirstUnseen); ok {
			firstUnseen = uint32(i + 1)
		}
	}
	data := &imap.SelectData{
		Flags:             flags,
		PermanentFlags:    perm,
		NumMessages:       uint32(len(sel.UIDs)),
		FirstUnseenSeqNum: firstUnseen,
		UIDNext:           imap.UID(sel.UIDNext),
		UIDValidity:       sel.UIDValidity,
		NumRecent:         recent,
		// RFC 7162 §3.1.2.1: every SELECT and EXAMINE answers it.
		HighestModSeq: sel.HighestModSeq,
	}
	// RFC 9051 §6.3.2: IMAP4rev2 requires a LIST response for the mailbox;
	// an IMAP4rev1 client (RFC 3501 §6.3.1) does not expect one.
	if s.conn != nil && s.conn.EnabledCaps().Has(imap.CapIMAP4rev2) {
		data.List = &imap.ListData{Mailbox: sel.Name, Delim: mailstore.Separator, Attrs: mailboxAttrs(sel.Mailbox)}
	}
	return data, nil
}

func mailboxAttrs(mb mailstore.Mailbox) []imap.MailboxAttr {
	attrs := []imap.MailboxAttr{imap.MailboxAttrHasNoChildren}
	if mb.HasChildren {
		attrs[0] = imap.MailboxAttrHasChildren
	}
	if mb.SpecialUse != "" {
		attrs = append(attrs, imap.MailboxAttr(mb.SpecialUse))
	}
	return attrs
}

// Unselect leaves the selected state (UNSELECT, RFC 3691; and CLOSE after
// its expunge, RFC 9051 §6.4.1).
func (s *session) Unselect() (err error) {
	defer s.done(cmdUnselect, &err)
	s.unselect()
	return nil
}

func (s *session) unselect() {
	if v := s.sel.Swap(nil); v != nil {
		v.cancel()
	}
}

// selected returns the selected view, or NO when the mailbox was deleted
// under the session.
func (s *session) selected() (*view, error) {
	v := s.sel.Load()
	if v == nil {
		return nil, bad("No mailbox selected")
	}
	v.mu.Lock()
	gone := v.deleted
	v.mu.Unlock()
	if gone {
		return nil, no(imap.ResponseCodeNonExistent, "The selected mailbox was deleted")
	}
	return v, nil
}

// Poll reports what changed since the last command (RFC 9051 §5.2, §7).
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	v := s.sel.Load()
	if v == nil {
		return nil
	}
	if err := s.claimNew(v); err != nil {
		return err
	}
	if err := s.announceHighestModSeq(w, v); err != nil {
		return err
	}
	return v.poll(w, allowExpunge)
}

// Idle reports changes as they happen until the client says DONE (IDLE,
// RFC 2177, RFC 9051 §6.3.13). In the authenticated state there is nothing
// to report; the session just waits. imapserver does not wait for Idle to
// return when the connection breaks, so Idle may still run while Close
// does: it only touches the view, which outlives the session.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) (err error) {
	defer s.done(cmdIdle, &err)
	v := s.sel.Load()
	if v == nil {
		<-stop
		return nil
	}
	for {
		if err := s.claimNew(v); err != nil {
			return err
		}
		if err := v.poll(w, true); err != nil {
			return err
		}
		select {
		case <-v.notify:
		case <-stop:
			return nil
		}
	}
}
