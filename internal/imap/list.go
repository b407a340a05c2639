package imap

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"diwan.gov.sy/diwan/internal/mailstore"
)

// listEntry is a mailbox, or a subscribed name that is not one
// (nonExistent: RFC 5258 §3.1 \NonExistent).
type listEntry struct {
	mailstore.Mailbox
	nonExistent bool
}

// List answers LIST and LSUB (RFC 9051 §6.3.9, LIST-EXTENDED RFC 5258,
// LIST-STATUS RFC 5819, SPECIAL-USE RFC 6154, CHILDREN RFC 3348). Every
// LIST shows \HasChildren or \HasNoChildren and the special-use attribute,
// whether or not RETURN asked for them: clients expect them in a plain LIST.
// Subscriptions outlive their mailboxes (RFC 3501 §6.3.6): LIST
// (SUBSCRIBED) shows such a name \NonExistent, LSUB shows it \Noselect.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, o *imap.ListOptions) (err error) {
	defer s.done(cmdList, &err)
	if len(patterns) == 0 {
		// RFC 9051 §6.3.9: LIST "" "" asks for the delimiter.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: mailstore.Separator})
	}
	if o == nil {
		o = &imap.ListOptions{}
	}
	entries, err := s.listEntries(o.SelectSubscribed || w.LSUB())
	if err != nil {
		return s.storeError("list", err)
	}
	ref = canonInbox(ref)
	for i := range patterns {
		patterns[i] = canonInbox(patterns[i])
	}
	if w.LSUB() {
		return lsub(w, entries, ref, patterns)
	}
	var subscribed []string
	if o.SelectRecursiveMatch {
		for _, e := range entries {
			// RFC 5258 §3.5: CHILDINFO tells of subscribed descendants
			// the patterns do not return themselves.
			if e.Subscribed && !matchAny(e.Name, ref, patterns) {
				subscribed = append(subscribed, e.Name)
			}
		}
	}
	for _, e := range entries {
		if !matchAny(e.Name, ref, patterns) {
			continue
		}
		subChild := o.SelectRecursiveMatch && hasDescendant(e.Name, subscribed)
		if o.SelectSubscribed && !e.Subscribed && !subChild || e.nonExistent && !e.Subscribed ||
			o.SelectSpecialUse && e.SpecialUse == "" {
			continue
		}
		if err := w.WriteList(s.listData(e, o, subChild)); err != nil {
			return err
		}
	}
	return nil
}

// listEntries returns the user's mailboxes and, with subscriptions, the
// subscribed names that are not mailboxes, sorted by name.
func (s *session) listEntries(subscriptions bool) ([]listEntry, error) {
	mbs, err := s.srv.o.Store.Mailboxes(s.ctx, s.uid())
	if err != nil {
		return nil, err
	}
	entries := make([]listEntry, 0, len(mbs))
	for _, mb := range mbs {
		entries = append(entries, listEntry{Mailbox: mb})
	}
	if !subscriptions {
		return entries, nil
	}
	names, err := s.srv.o.Store.Subscriptions(s.ctx, s.uid())
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		entries = append(entries, listEntry{Mailbox: mailstore.Mailbox{Name: n, Subscribed: true}, nonExistent: true})
	}
	slices.SortFunc(entries, func(a, b listEntry) int { return strings.Compare(a.Name, b.Name) })
	return entries, nil
}

// listData is the LIST response of one entry.
func (s *session) listData(e listEntry, o *imap.ListOptions, subChild bool) *imap.ListData {
	data := &imap.ListData{Mailbox: e.Name, Delim: mailstore.Separator}
	switch {
	case e.nonExistent:
		data.Attrs = append(data.Attrs, imap.MailboxAttrNonExistent)
	case e.HasChildren:
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
	default:
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
	}
	if e.Subscribed && (o.SelectSubscribed || o.ReturnSubscribed) {
		data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
	}
	if e.SpecialUse != "" {
		data.Attrs = append(data.Attrs, imap.MailboxAttr(e.SpecialUse))
	}
	if subChild {
		data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
	}
	if o.ReturnStatus != nil && !e.nonExistent {
		st, err := s.srv.o.Store.Status(s.ctx, s.uid(), e.Name)
		if err == nil {
			data.Status = s.statusData(st, o.ReturnStatus)
		}
		// A mailbox deleted meanwhile is listed without STATUS.
	}
	return data
}

// lsub answers LSUB (RFC 3501 §6.3.9): the subscribed names the pattern
// matches, and, where "%" stops above a subscribed name, its parent at
// that level as \Noselect when the parent is not subscribed itself.
func lsub(w *imapserver.ListWriter, entries []listEntry, ref string, patterns []string) error {
	subscribed := make(map[string]bool)
	for _, e := range entries {
		if e.Subscribed {
			subscribed[e.Name] = true
		}
	}
	parents := make(map[string]bool)
	for _, e := range entries {
		if !e.Subscribed || matchAny(e.Name, ref, patterns) {
			continue
		}
		for i, r := range e.Name {
			p := e.Name[:i]
			if r == mailstore.Separator && !subscribed[p] && matchAny(p, ref, patterns) {
				parents[p] = true
				break
			}
		}
	}
	for _, e := range entries {
		var data *imap.ListData
		switch {
		case e.Subscribed && matchAny(e.Name, ref, patterns):
			data = &imap.ListData{Mailbox: e.Name, Delim: mailstore.Separator}
			if e.nonExistent {
				data.Attrs = []imap.MailboxAttr{imap.MailboxAttrNoSelect}
			}
		case parents[e.Name]:
			data = &imap.ListData{Mailbox: e.Name, Delim: mailstore.Separator, Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}}
			delete(parents, e.Name)
		default:
			continue
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	// Parents that are neither mailboxes nor subscribed.
	rest := make([]string, 0, len(parents))
	for p := range parents {
		rest = append(rest, p)
	}
	slices.Sort(rest)
	for _, p := range rest {
		if err := w.WriteList(&imap.ListData{Mailbox: p, Delim: mailstore.Separator, Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}}); err != nil {
			return err
		}
	}
	return nil
}

func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if imapserver.MatchList(name, mailstore.Separator, ref, p) {
			return true
		}
	}
	return false
}

func hasDescendant(name string, names []string) bool {
	prefix := name + sep
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}
