package imap_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue 14 item 7, RFC 9051 §7.5 and RFC 7888 §4: a literal too large to
// be taken in memory ({100000} on LOGIN or SEARCH) is answered at once
// with a tagged NO instead of a continuation, and the next command is
// read as a command; on the STARTTLS listener after STARTTLS as on the
// implicit-TLS one, before and after login.
func TestIMAPAnswersAnOversizedLiteralAndReadsTheNextCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	upgraded := func(t testing.TB) *raw {
		r := e.rawPlain(t)
		if _, st := r.cmd("STARTTLS"); !strings.HasPrefix(st, "OK") {
			t.Fatalf("STARTTLS: %s", st)
		}
		r.c = tls.Client(r.c, e.clientTLS)
		r.r.Reset(r.c)
		return r
	}
	for name, open := range map[string]func(t testing.TB) *raw{"implicit TLS": e.rawTLS, "STARTTLS": upgraded} {
		t.Run(name, func(t *testing.T) {
			r := open(t)
			if _, st := r.cmd("LOGIN {100000}"); !strings.HasPrefix(st, "NO [TOOBIG]") {
				t.Fatalf("LOGIN with a 100000-byte literal: %s", st)
			}
			if _, st := r.cmd("NOOP"); st != "OK NOOP completed" {
				t.Fatalf("NOOP after the refused literal: %s", st)
			}
			r.login(user1)
			if _, st := r.cmd("SELECT INBOX"); !strings.HasPrefix(st, "OK") {
				t.Fatalf("SELECT: %s", st)
			}
			for _, cmd := range []string{"SEARCH SUBJECT {100000}", "UID SEARCH HEADER Subject {100000}", "CREATE {100000}"} {
				if _, st := r.cmd(cmd); !strings.HasPrefix(st, "NO [TOOBIG]") {
					t.Fatalf("%s: %s", cmd, st)
				}
				if _, st := r.cmd("NOOP"); st != "OK NOOP completed" {
					t.Fatalf("NOOP after %s: %s", cmd, st)
				}
			}
		})
	}
}

// Issue 14 item 7, RFC 7888 §4: the octets of a refused non-synchronising
// literal follow its command at once; they are never read as commands. The
// command is answered, then BYE, and the connection is closed.
func TestIMAPNeverRunsTheOctetsOfARefusedLiteral(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	smuggled := "\r\nx1 CREATE Smuggled\r\n"
	payload := smuggled + strings.Repeat("a", 100000-len(smuggled))
	for _, cmd := range []string{"x0 SEARCH SUBJECT {100000+}\r\n", "x0 APPEND INBOX {100000000+}\r\n"} {
		r := e.rawTLS(t)
		r.login(user1)
		r.cmd("SELECT INBOX")
		r.send(cmd + payload)
		if l := r.line(); !strings.HasPrefix(l, "x0 NO [TOOBIG]") && !strings.HasPrefix(l, "x0 BAD") {
			t.Fatalf("%q: %s", cmd, l)
		}
		readsBye(t, r.c, "Refused literal: closing the connection")
	}
	c := e.login(t, user1)
	if _, err := c.Status("Smuggled", nil).Wait(); err == nil {
		t.Fatal("the literal's octets ran as a command: mailbox Smuggled exists")
	}
}

// Issue 14 item 7: 1,000 nested parentheses in SEARCH pass imapserver's
// list depth; the answer is BAD, not NO [SERVERBUG].
func TestIMAPSearchWithDeepParenthesesIsBad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.rawTLS(t)
	r.login(user1)
	r.cmd("SELECT INBOX")
	if _, st := r.cmd("SEARCH " + strings.Repeat("(", 1000) + "ALL" + strings.Repeat(")", 1000)); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("SEARCH with 1000 nested parentheses: %s", st)
	}
	if _, st := r.cmd("NOOP"); st != "OK NOOP completed" {
		t.Fatalf("NOOP: %s", st)
	}
}

// RFC 7888 §4: a small non-synchronising literal at the end of a command
// refused for its syntax is skipped whole: its octets do not run as a
// command, and the session goes on.
func TestIMAPSkipsTheLiteralOfARefusedCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.rawTLS(t)
	r.login(user1)
	r.cmd("SELECT INBOX")
	smuggled := "x1 CREATE Smuggled\r\n"
	for _, cmd := range []string{"x0 FROBNICATE", "x0 SEARCH FROBNICATE"} {
		r.send(cmd + " {" + strconv.Itoa(len(smuggled)) + "+}\r\n" + smuggled + "\r\n")
		if l := r.line(); !strings.HasPrefix(l, "x0 BAD") && !strings.HasPrefix(l, "x0 NO") {
			t.Fatalf("%s: %s", cmd, l)
		}
		if _, st := r.cmd("NOOP"); st != "OK NOOP completed" {
			t.Fatalf("NOOP after %s: %s", cmd, st)
		}
	}
	if _, err := e.login(t, user1).Status("Smuggled", nil).Wait(); err == nil {
		t.Fatal("the literal's octets ran as a command: mailbox Smuggled exists")
	}
}

// A client that goes on sending the octets of a refused literal after the
// answer came is not reset: the connection's close lingers, reading and
// dropping what still comes, so the client's writes succeed and it reads
// the BYE and then the end of the connection (a reset would fail its
// writes and drop what it had not read yet).
func TestIMAPCloseLingersWhileTheClientStillSends(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c, err := net.Dial("tcp", e.starttls)
	if err != nil {
		t.Fatal(err)
	}
	r := newRaw(t, c)
	const size = 600 << 10
	r.send("x0 SEARCH SUBJECT {" + strconv.Itoa(size) + "+}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "x0 NO [TOOBIG]") && !strings.HasPrefix(l, "x0 BAD") {
		t.Fatalf("answer to the refused literal: %s", l)
	}
	if l := r.line(); l != "* BYE Refused literal: closing the connection" {
		t.Fatalf("after the answer: %s", l)
	}
	// The server has answered and closed its side; the client only now
	// sends the literal it announced, in pieces.
	piece := bytes.Repeat([]byte("a"), 64<<10)
	for sent := 0; sent < size; sent += len(piece) {
		if _, err := c.Write(piece); err != nil {
			t.Fatalf("write after %d of %d octets: %v", sent, size, err)
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := r.r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the BYE: read %d, %v; want the end of the connection", n, err)
	}
}
