package imap

import (
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"

	"diwan.gov.sy/diwan/internal/mailstore"
)

const sep = string(mailstore.Separator)

// mailboxName checks a mailbox name as the client sent it (imapserver has
// decoded modified UTF-7 already, and refuses invalid modified UTF-7 itself
// with NO [CANNOT]) and returns it with INBOX in canonical case.
//
// Refused with NO [CANNOT] (RFC 9051 §5.1): control characters, the
// wildcards * and %, an empty level ("a//b", a leading or trailing "/"),
// "." and ".." levels, names beginning with "~" or "#" (other servers' roots
// for other users' and shared mailboxes: a client must not believe it
// reached one), and names longer or deeper than the store allows. Every name
// reaches the store with the session's own user ID, so no spelling can name
// another user's mailbox; these checks keep odd names out of the store
// altogether.
func mailboxName(name string) (string, error) {
	if name == "" {
		return "", no(imap.ResponseCodeNonExistent, "Empty mailbox name")
	}
	if !utf8.ValidString(name) {
		return "", no(imap.ResponseCodeCannot, "Mailbox name is not valid UTF-8")
	}
	if len(name) > mailstore.MaxNameLen {
		return "", no(imap.ResponseCodeCannot, "Mailbox name too long")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '*' || r == '%' {
			return "", no(imap.ResponseCodeCannot, "Mailbox name contains a character that is not allowed")
		}
	}
	if name[0] == '~' || name[0] == '#' {
		return "", no(imap.ResponseCodeCannot, "Mailbox names cannot begin with ~ or #")
	}
	levels := strings.Split(name, sep)
	if len(levels) > mailstore.MaxNameDepth {
		return "", no(imap.ResponseCodeCannot, "Mailbox name too deep")
	}
	for _, l := range levels {
		switch l {
		case "":
			return "", no(imap.ResponseCodeCannot, "Mailbox name has an empty level")
		case ".", "..":
			return "", no(imap.ResponseCodeCannot, "Mailbox name has a . or .. level")
		}
	}
	return canonInbox(name), nil
}

// canonInbox spells a leading INBOX level in upper case: INBOX is
// case-insensitive (RFC 9051 §5.1).
func canonInbox(name string) string {
	if len(name) >= 5 && strings.EqualFold(name[:5], mailstore.Inbox) && (len(name) == 5 || name[5] == mailstore.Separator) {
		return mailstore.Inbox + name[5:]
	}
	return name
}

// Create makes a mailbox (RFC 9051 §6.3.4), with a SPECIAL-USE attribute
// when asked (CREATE-SPECIAL-USE, RFC 6154 §3).
func (s *session) Create(name string, o *imap.CreateOptions) (err error) {
	defer s.done(cmdCreate, &err)
	// A trailing separator declares the intent to create children: the
	// name is the one without it.
	name, err = mailboxName(strings.TrimSuffix(name, sep))
	if err != nil {
		return err
	}
	use := ""
	if o != nil {
		switch len(o.SpecialUse) {
		case 0:
		case 1:
			use = specialUse(o.SpecialUse[0])
			if use == "" {
				return no("USEATTR", "Unsupported special-use attribute")
			}
		default:
			return no("USEATTR", "Only one special-use attribute per mailbox")
		}
	}
	_, err = s.srv.o.Store.CreateMailbox(s.ctx, s.uid(), name, use)
	return s.storeError("create mailbox", err)
}

// specialUse maps an attribute to the store's spelling, "" when unknown.
func specialUse(a imap.MailboxAttr) string {
	for _, u := range []string{mailstore.UseSent, mailstore.UseDrafts, mailstore.UseTrash, mailstore.UseJunk, mailstore.UseArchive} {
		if strings.EqualFold(string(a), u) {
			return u
		}
	}
	return ""
}

// Delete removes a mailbox (RFC 9051 §6.3.5). INBOX cannot go; a mailbox
// with children gets NO [HASCHILDREN].
func (s *session) Delete(name string) (err error) {
	defer s.done(cmdDelete, &err)
	name, err = mailboxName(name)
	if err != nil {
		return err
	}
	return s.storeError("delete mailbox", s.srv.o.Store.DeleteMailbox(s.ctx, s.uid(), name))
}

// Rename renames a mailbox and its children (RFC 9051 §6.3.6).
func (s *session) Rename(oldName, newName string, _ *imap.RenameOptions) (err error) {
	defer s.done(cmdRename, &err)
	oldName, err = mailboxName(oldName)
	if err != nil {
		return err
	}
	newName, err = mailboxName(newName)
	if err != nil {
		return err
	}
	return s.storeError("rename mailbox", s.srv.o.Store.RenameMailbox(s.ctx, s.uid(), oldName, newName))
}

// Subscribe and Unsubscribe (RFC 9051 §6.3.7, §6.3.8).
func (s *session) Subscribe(name string) (err error) {
	defer s.done(cmdSubscribe, &err)
	return s.subscribe(name, true)
}

func (s *session) Unsubscribe(name string) (err error) {
	defer s.done(cmdUnsubscribe, &err)
	return s.subscribe(name, false)
}

func (s *session) subscribe(name string, on bool) error {
	name, err := mailboxName(name)
	if err != nil {
		return err
	}
	return s.storeError("subscribe", s.srv.o.Store.SetSubscribed(s.ctx, s.uid(), name, on))
}

// Status answers STATUS (RFC 9051 §6.3.11, STATUS=SIZE RFC 8438) from the
// store's counters, without walking the mailbox.
func (s *session) Status(name string, o *imap.StatusOptions) (_ *imap.StatusData, err error) {
	defer s.done(cmdStatus, &err)
	name, err = mailboxName(name)
	if err != nil {
		return nil, err
	}
	st, err := s.srv.o.Store.Status(s.ctx, s.uid(), name)
	if err != nil {
		return nil, s.storeError("status", err)
	}
	return s.statusData(st, o), nil
}

func (s *session) statusData(st mailstore.Status, o *imap.StatusOptions) *imap.StatusData {
	var recent uint32
	if o != nil && o.NumRecent {
		recent = s.statusRecent(st.ID)
	}
	limit := s.srv.limit
	deleted := st.DeletedSize / 1024 // RFC 9208 §4.4: in KiB, like STORAGE
	return &imap.StatusData{
		HighestModSeq:  st.HighestModSeq, // RFC 7162 §3.1.6
		DeletedStorage: &deleted,
		Mailbox:        st.Name,
		NumMessages:    &st.Messages,
		UIDNext:        imap.UID(st.UIDNext),
		UIDValidity:    st.UIDValidity,
		NumUnseen:      &st.Unseen,
		NumDeleted:     &st.Deleted,
		Size:           &st.Size,
		AppendLimit:    &limit,
		NumRecent:      &recent,
	}
}
