package imap_test

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// flagsBeforeFetch fails when a FETCH line shows kw before a FLAGS line
// that lists it.
func flagsBeforeFetch(t *testing.T, what string, lines []string, kw string) {
	t.Helper()
	introduced, shown := false, false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "* FLAGS ") && strings.Contains(l, kw):
			introduced = true
		case strings.Contains(l, " FETCH ") && strings.Contains(l, kw):
			shown = true
			if !introduced {
				t.Fatalf("%s: %q shows %s before a FLAGS response introduces it", what, lines, kw)
			}
		}
	}
	if !shown {
		t.Fatalf("%s: %q never shows %s", what, lines, kw)
	}
}

// RFC 9051 §7.3.5 (FLAGS) and §7.5.2, imaptest's "Keyword used without
// being in FLAGS": no FETCH shows a keyword before the FLAGS response that
// introduces it — after the session's own STORE, for a keyword another
// session set, and for a new message that came with a keyword.
func TestIMAPNoKeywordReachesAClientBeforeItsFlagsResponse(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.login(t, user1)
		appendMsg(t, c, "INBOX", simpleMsg("one", "a@mof.gov.sy", user1, "x"), nil)
		a, b := e.rawTLS(t), e.rawTLS(t)
		a.login(user1)
		b.login(user1)
		a.cmd("SELECT INBOX")
		b.cmd("SELECT INBOX")

		lines, _ := a.cmd(`STORE 1 +FLAGS ($Own)`)
		flagsBeforeFetch(t, "own STORE", lines, "$Own")

		a.cmd(`STORE 1 +FLAGS.SILENT ($Other)`)
		lines, _ = b.cmd("FETCH 1 (FLAGS)")
		flagsBeforeFetch(t, "FETCH after another session's STORE", lines, "$Other")

		appendMsg(t, c, "INBOX", simpleMsg("two", "a@mof.gov.sy", user1, "x"), &imap.AppendOptions{Flags: []imap.Flag{"$Arrived"}})
		noop, _ := b.cmd("NOOP")
		lines, _ = b.cmd("FETCH 2 (FLAGS)")
		flagsBeforeFetch(t, "FETCH of a new message", append(noop, lines...), "$Arrived")
	})
}

// RFC 3501 §6.3.1 and RFC 9051 §6.3.2: SELECT answers a LIST response only
// to a client that enabled IMAP4rev2.
func TestIMAPSelectSendsListOnlyToIMAP4rev2Clients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.rawTLS(t)
	r.login(user1)
	hasList := func(lines []string) bool {
		for _, l := range lines {
			if strings.HasPrefix(l, "* LIST ") {
				return true
			}
		}
		return false
	}
	if lines, _ := r.cmd("SELECT INBOX"); hasList(lines) {
		t.Fatalf("SELECT without ENABLE IMAP4rev2: %q", lines)
	}
	r.cmd("ENABLE IMAP4rev2")
	if lines, _ := r.cmd("SELECT INBOX"); !hasList(lines) {
		t.Fatalf("SELECT after ENABLE IMAP4rev2: %q, want a LIST response", lines)
	}
}
