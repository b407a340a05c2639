package imap_test

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"
)

// has reports whether one of lines is want.
func has(lines []string, want string) bool { return slices.Contains(lines, want) }

// RFC 3501 §2.3.2 and §6.3.1-§6.3.2, imaptest "select", "search-flags":
// the first read-write SELECT after messages arrive takes their \Recent
// flag; EXAMINE and STATUS show them recent without taking them; a second
// session sees none; SEARCH RECENT, NEW and OLD are the session's.
func TestIMAPRecentBelongsToTheFirstSessionThatSelects(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.login(t, user1)
		appendMsg(t, c, "INBOX", simpleMsg("one", "a@mof.gov.sy", user1, "x"), nil)
		appendMsg(t, c, "INBOX", simpleMsg("two", "a@mof.gov.sy", user1, "x"), nil)
		a, b := e.rawTLS(t), e.rawTLS(t)
		a.login(user1)
		b.login(user1)

		if lines, _ := a.cmd("EXAMINE INBOX"); !has(lines, "* 2 RECENT") {
			t.Fatalf("EXAMINE: %q, want * 2 RECENT", lines)
		}
		a.cmd("CLOSE")
		if lines, _ := a.cmd("STATUS INBOX (RECENT)"); !has(lines, `* STATUS "INBOX" (RECENT 2)`) && !has(lines, `* STATUS INBOX (RECENT 2)`) {
			t.Fatalf("STATUS after EXAMINE: %q, want RECENT 2", lines)
		}
		if lines, _ := a.cmd("SELECT INBOX"); !has(lines, "* 2 RECENT") {
			t.Fatalf("first SELECT: %q, want * 2 RECENT", lines)
		}
		if lines, _ := a.cmd("FETCH 1 (FLAGS)"); !has(lines, `* 1 FETCH (FLAGS (\Recent))`) {
			t.Fatalf("FETCH FLAGS in the owner: %q", lines)
		}
		if lines, _ := a.cmd("SEARCH NEW"); !has(lines, "* SEARCH 1 2") {
			t.Fatalf("SEARCH NEW in the owner: %q", lines)
		}
		if lines, _ := b.cmd("SELECT INBOX"); !has(lines, "* 0 RECENT") {
			t.Fatalf("second SELECT: %q, want * 0 RECENT", lines)
		}
		for cmd, want := range map[string]string{"FETCH 1 (FLAGS)": `* 1 FETCH (FLAGS ())`, "SEARCH RECENT": "* SEARCH", "SEARCH OLD": "* SEARCH 1 2"} {
			if lines, _ := b.cmd(cmd); !has(lines, want) {
				t.Fatalf("%s in the second session: %q, want %s", cmd, lines, want)
			}
		}
		if lines, _ := b.cmd("STATUS INBOX (RECENT)"); !has(lines, `* STATUS "INBOX" (RECENT 0)`) && !has(lines, `* STATUS INBOX (RECENT 0)`) {
			t.Fatalf("STATUS after SELECT: %q, want RECENT 0", lines)
		}

		// A new message goes to the selected session that is told first.
		appendMsg(t, c, "INBOX", simpleMsg("three", "a@mof.gov.sy", user1, "x"), nil)
		eventually(t, "the new message reaches b", func() bool {
			lines, _ := b.cmd("NOOP")
			return has(lines, "* 3 EXISTS")
		})
		if lines, _ := b.cmd("FETCH 3 (FLAGS)"); !has(lines, `* 3 FETCH (FLAGS (\Recent))`) {
			t.Fatalf("FETCH of the new message in b: %q", lines)
		}
		eventually(t, "the new message reaches a", func() bool {
			lines, _ := a.cmd("NOOP")
			return has(lines, "* 3 EXISTS")
		})
		if lines, _ := a.cmd("SEARCH RECENT"); !has(lines, "* SEARCH 1 2") {
			t.Fatalf("SEARCH RECENT in a after b took the new message: %q", lines)
		}
	})
}

// RFC 3501 §2.3.2 across nodes: the \Recent flag a session on one node
// took is not recent for a session on another node sharing the database.
func TestIMAPRecentIsTakenOnceAcrossNodes(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.login(t, user1)
		appendMsg(t, c, "INBOX", simpleMsg("one", "a@mof.gov.sy", user1, "x"), nil)
		a := e.rawTLS(t)
		a.login(user1)
		if lines, _ := a.cmd("SELECT INBOX"); !has(lines, "* 1 RECENT") {
			t.Fatalf("SELECT on the first node: %q", lines)
		}
		conn, err := tls.Dial("tcp", e.secondNode(t), e.clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		b := newRaw(t, conn)
		b.login(user1)
		if lines, _ := b.cmd("SELECT INBOX"); !has(lines, "* 0 RECENT") || strings.Contains(strings.Join(lines, "\n"), `\Recent)`) {
			t.Fatalf("SELECT on the second node: %q, want * 0 RECENT", lines)
		}
	})
}

// RFC 9051 Appendix E: a client that enabled IMAP4rev2 neither takes nor
// sees \Recent; the messages stay recent for the next IMAP4rev1 session.
func TestIMAPRecentIsNotTakenByIMAP4rev2Clients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.login(t, user1)
	appendMsg(t, c, "INBOX", simpleMsg("one", "a@mof.gov.sy", user1, "x"), nil)
	a := e.rawTLS(t)
	a.login(user1)
	a.cmd("ENABLE IMAP4rev2")
	if lines, _ := a.cmd("SELECT INBOX"); strings.Contains(strings.Join(lines, "\n"), "RECENT") {
		t.Fatalf("SELECT of an IMAP4rev2 client: %q", lines)
	}
	if lines, _ := a.cmd("FETCH 1 (FLAGS)"); !has(lines, "* 1 FETCH (FLAGS ())") {
		t.Fatalf("FETCH FLAGS of an IMAP4rev2 client: %q", lines)
	}
	b := e.rawTLS(t)
	b.login(user1)
	if lines, _ := b.cmd("SELECT INBOX"); !has(lines, "* 1 RECENT") {
		t.Fatalf("SELECT of an IMAP4rev1 client after it: %q, want * 1 RECENT", lines)
	}
}
