package imap_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// RFC 9051 §6.3.2 (SELECT), §6.3.3 (EXAMINE), §7.3.1 (EXISTS), §7.1
// (UIDVALIDITY, UIDNEXT, PERMANENTFLAGS): counts and UIDs as stored, the
// keywords in use in FLAGS and PERMANENTFLAGS with \*, and EXAMINE
// read-only with an empty PERMANENTFLAGS and no implicit \Seen.
func TestSelectAndExamine(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.login(t, user1)
	for i := range 3 {
		var flags []imap.Flag
		if i == 1 {
			flags = []imap.Flag{"$Forwarded", imap.FlagFlagged}
		}
		appendMsg(t, c, "INBOX", simpleMsg("m"+string(rune('a'+i)), "a@mof.gov.sy", user1, "hello"), &imap.AppendOptions{Flags: flags})
	}
	d := selectBox(t, c, "INBOX")
	if d.NumMessages != 3 || d.UIDNext != 4 || d.UIDValidity == 0 {
		t.Errorf("SELECT: EXISTS %d UIDNEXT %d UIDVALIDITY %d", d.NumMessages, d.UIDNext, d.UIDValidity)
	}
	for _, f := range []imap.Flag{imap.FlagSeen, imap.FlagDeleted, "$Forwarded"} {
		if !slices.Contains(d.Flags, f) {
			t.Errorf("FLAGS %v lacks %s", d.Flags, f)
		}
		if !slices.Contains(d.PermanentFlags, f) {
			t.Errorf("PERMANENTFLAGS %v lacks %s", d.PermanentFlags, f)
		}
	}
	if !slices.Contains(d.PermanentFlags, imap.FlagWildcard) {
		t.Errorf("PERMANENTFLAGS %v lacks \\*", d.PermanentFlags)
	}

	// UIDVALIDITY is stable across selects.
	d2, err := c.Select("inbox", nil).Wait() // INBOX in any case, RFC 9051 §5.1
	if err != nil || d2.UIDValidity != d.UIDValidity {
		t.Fatalf("reselect: %v %+v", err, d2)
	}

	ex, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if ex.NumMessages != 3 || len(ex.PermanentFlags) != 0 {
		t.Errorf("EXAMINE: EXISTS %d PERMANENTFLAGS %v", ex.NumMessages, ex.PermanentFlags)
	}
	fetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}})
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err == nil {
		t.Error("STORE in an EXAMINEd mailbox succeeded")
	}
	msgs := fetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true})
	if slices.Contains(msgs[0].Flags, imap.FlagSeen) {
		t.Error("BODY[] in an EXAMINEd mailbox set \\Seen")
	}

	if _, err := c.Select("Nonexistent", nil).Wait(); imapCode(err) != imap.ResponseCodeNonExistent {
		t.Errorf("SELECT of a missing mailbox: %v", err)
	}
}

// RFC 9051 §6.3.9 (LIST with * and %), RFC 5258 (LIST-EXTENDED selection
// and RETURN), RFC 6154 (SPECIAL-USE), RFC 5819 (LIST-STATUS), RFC 3348
// (CHILDREN). A plain LIST shows the special-use attributes too.
func TestList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.login(t, user1)
	for _, name := range []string{"Projects", "Projects/2026", "Projects/2026/Budget", "تقارير"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", name, err)
		}
	}
	appendMsg(t, c, "Projects/2026", simpleMsg("p", "a@mof.gov.sy", user1, "x"), nil)

	all := list(t, c, "", "*", nil)
	for _, want := range []string{"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Projects", "Projects/2026", "Projects/2026/Budget", "تقارير"} {
		if _, ok := all[want]; !ok {
			t.Errorf("LIST * lacks %q; got %v", want, keys(all))
		}
	}
	for name, use := range map[string]imap.MailboxAttr{"Sent": imap.MailboxAttrSent, "Drafts": imap.MailboxAttrDrafts,
		"Trash": imap.MailboxAttrTrash, "Junk": imap.MailboxAttrJunk, "Archive": imap.MailboxAttrArchive} {
		if !slices.Contains(all[name].Attrs, use) {
			t.Errorf("plain LIST: %s has %v, want %s", name, all[name].Attrs, use)
		}
	}
	if !slices.Contains(all["Projects"].Attrs, imap.MailboxAttrHasChildren) || !slices.Contains(all["Projects/2026/Budget"].Attrs, imap.MailboxAttrHasNoChildren) {
		t.Errorf("CHILDREN: Projects %v, Budget %v", all["Projects"].Attrs, all["Projects/2026/Budget"].Attrs)
	}
	if all["INBOX"].Delim != '/' {
		t.Errorf("delimiter %q", all["INBOX"].Delim)
	}

	top := list(t, c, "", "%", nil)
	if _, ok := top["Projects/2026"]; ok || len(top) != 8 {
		t.Errorf("LIST %% = %v, want the 8 top-level mailboxes", keys(top))
	}
	sub := list(t, c, "Projects/", "%", nil)
	if len(sub) != 1 || sub["Projects/2026"] == nil {
		t.Errorf("LIST Projects/ %% = %v", keys(sub))
	}
	deep := list(t, c, "", "Projects/*", nil)
	if len(deep) != 2 {
		t.Errorf("LIST Projects/* = %v", keys(deep))
	}

	special := list(t, c, "", "*", &imap.ListOptions{SelectSpecialUse: true, ReturnSpecialUse: true})
	if len(special) != 5 || special["INBOX"] != nil {
		t.Errorf("LIST (SPECIAL-USE) = %v", keys(special))
	}

	withStatus := list(t, c, "", "Projects/%", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true, NumUnseen: true, Size: true}})
	st := withStatus["Projects/2026"].Status
	if st == nil || *st.NumMessages != 1 || *st.NumUnseen != 1 || *st.Size == 0 {
		t.Errorf("LIST RETURN (STATUS): %+v", st)
	}

	if err := c.Unsubscribe("Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	subs := list(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true})
	if _, ok := subs["Junk"]; ok || subs["INBOX"] == nil || !slices.Contains(subs["INBOX"].Attrs, imap.MailboxAttrSubscribed) {
		t.Errorf("LIST (SUBSCRIBED) = %v", keys(subs))
	}

	// LIST "" "" returns the delimiter (RFC 9051 §6.3.9).
	root, err := c.List("", "", nil).Collect()
	if err != nil || len(root) != 1 || root[0].Delim != '/' || !slices.Contains(root[0].Attrs, imap.MailboxAttrNoSelect) {
		t.Errorf("LIST \"\" \"\": %v %+v", err, root)
	}
}

func list(t *testing.T, c *imapclient.Client, ref, pattern string, o *imap.ListOptions) map[string]*imap.ListData {
	t.Helper()
	l, err := c.List(ref, pattern, o).Collect()
	if err != nil {
		t.Fatalf("LIST %q %q: %v", ref, pattern, err)
	}
	m := map[string]*imap.ListData{}
	for _, d := range l {
		m[d.Mailbox] = d
	}
	return m
}

func keys(m map[string]*imap.ListData) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// RFC 9051 §6.3.11 (STATUS), RFC 8438 (STATUS=SIZE), RFC 7889
// (APPENDLIMIT).
func TestStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{appendLimit: 2 << 20})
	c := e.login(t, user1)
	m1 := simpleMsg("one", "a@mof.gov.sy", user1, "1")
	m2 := simpleMsg("two", "a@mof.gov.sy", user1, "22")
	appendMsg(t, c, "Archive", m1, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	a2 := appendMsg(t, c, "Archive", m2, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDeleted}})
	st, err := c.Status("Archive", &imap.StatusOptions{
		NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true, NumDeleted: true, Size: true, AppendLimit: true,
	}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 2 || st.UIDNext != a2.UID+1 || st.UIDValidity != a2.UIDValidity ||
		*st.NumUnseen != 1 || *st.NumDeleted != 1 || *st.Size != int64(len(m1)+len(m2)) ||
		st.AppendLimit == nil || *st.AppendLimit != 2<<20 {
		t.Errorf("STATUS: messages %d uidnext %d uidvalidity %d unseen %d deleted %d size %d appendlimit %v",
			*st.NumMessages, st.UIDNext, st.UIDValidity, *st.NumUnseen, *st.NumDeleted, *st.Size, st.AppendLimit)
	}
	if _, err := c.Status("Missing", &imap.StatusOptions{NumMessages: true}).Wait(); imapCode(err) != imap.ResponseCodeNonExistent {
		t.Errorf("STATUS of a missing mailbox: %v", err)
	}
}

// RFC 9051 §6.3.4 (CREATE), §6.3.5 (DELETE), §6.3.6 (RENAME), §6.3.7
// (SUBSCRIBE), RFC 6154 §3 (CREATE-SPECIAL-USE), RFC 5530 codes.
func TestCreateDeleteRename(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.login(t, user1)
	if err := c.Create("Letters/", nil).Wait(); err != nil { // trailing "/" declares children
		t.Fatal(err)
	}
	if err := c.Create("Letters", nil).Wait(); imapCode(err) != imap.ResponseCodeAlreadyExists {
		t.Errorf("CREATE existing: %v", err)
	}
	if err := c.Create("Letters/In", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Old", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrArchive}}).Wait(); err != nil {
		t.Fatalf("CREATE (USE (\\Archive)): %v", err)
	}
	if err := c.Create("Odd", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{"\\Bogus"}}).Wait(); imapCode(err) != "USEATTR" {
		t.Errorf("CREATE with an unknown special use: %v", err)
	}
	if err := c.Delete("Letters").Wait(); imapCode(err) != imap.ResponseCodeHasChildren {
		t.Errorf("DELETE with children: %v", err)
	}
	if err := c.Rename("Letters", "Mail", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	all := list(t, c, "", "*", nil)
	if all["Mail/In"] == nil || all["Letters/In"] != nil {
		t.Errorf("after RENAME children did not follow: %v", keys(all))
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Error("DELETE INBOX succeeded")
	}
	if err := c.Delete("Mail/In").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("Nothing").Wait(); imapCode(err) != imap.ResponseCodeNonExistent {
		t.Errorf("DELETE missing: %v", err)
	}
}

// Bad input: mailbox names with control characters, "." or ".." levels,
// empty levels, wildcards, other users' or shared roots, and invalid
// modified UTF-7 get NO, and nothing is created; no spelling reaches
// another user's mailboxes.
func TestMailboxNameTricksAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c2 := e.login(t, user2)
	appendMsg(t, c2, "INBOX", simpleMsg("secret", "a@mof.gov.sy", user2, "for u2 only"), nil)

	r := e.rawTLS(t)
	r.login(user1)
	for _, name := range []string{
		"\"a\x01b\"", `"../u2"`, `"a/../b"`, `"./x"`, `"a//b"`, `"/abs"`, `"x*"`, `"x%"`,
		`"~u2@mof.gov.sy/INBOX"`, `"#shared/x"`, `"#user/u2/INBOX"`,
	} {
		if _, st := r.cmd("CREATE " + name); !strings.HasPrefix(st, "NO") && !strings.HasPrefix(st, "BAD") {
			t.Errorf("CREATE %q: %s", name, st)
		}
	}
	// Control characters that arrive as valid modified UTF-7 (U+0001,
	// TAB, U+0085) pass the library and are refused here.
	for _, name := range []string{`"a&AAE-b"`, `"a&AAk-b"`, `"a&AIU-b"`} {
		if _, st := r.cmd("CREATE " + name); !strings.HasPrefix(st, "NO [CANNOT]") {
			t.Errorf("CREATE %s: %s", name, st)
		}
	}
	// Invalid modified UTF-7: the library's own NO [SERVERBUG] is fine.
	if _, st := r.cmd(`CREATE "&Jjo"`); !strings.HasPrefix(st, "NO") && !strings.HasPrefix(st, "BAD") {
		t.Errorf("invalid modified UTF-7: %s", st)
	}
	for _, name := range []string{`"u2@mof.gov.sy/INBOX"`, `"~u2@mof.gov.sy"`, `"../u2@mof.gov.sy/INBOX"`, `"Other Users/u2/INBOX"`} {
		if _, st := r.cmd("SELECT " + name); !strings.HasPrefix(st, "NO") {
			t.Errorf("SELECT %s: %s", name, st)
		}
	}
	lines, _ := r.cmd(`LIST "" "*"`)
	if len(lines) != 6 {
		t.Errorf("after the tricks user1 has:\n%s", strings.Join(lines, "\n"))
	}
	mbs, err := e.store.Mailboxes(context.Background(), e.users[user1].ID)
	if err != nil || len(mbs) != 6 {
		t.Errorf("store: %v, %d mailboxes", err, len(mbs))
	}
}
