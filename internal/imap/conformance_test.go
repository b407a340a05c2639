package imap_test

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// The behaviours below are the ones Dovecot's imaptest checks (its group
// named in each comment), each tied to its RFC section.

// literalResp reads the untagged lines of a command whose answer may carry
// literals, and returns them with each literal inlined after its "{n}"
// marker, and the tagged status.
func (r *raw) literalResp(line string) (untagged []string, literals [][]byte, status string) {
	r.t.Helper()
	r.tag++
	tag := fmt.Sprintf("t%d", r.tag)
	r.send(tag + " " + line + "\r\n")
	size := regexp.MustCompile(`~?\{(\d+)\}$`)
	for {
		l := r.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, literals, rest
		}
		for m := size.FindStringSubmatch(l); m != nil; m = size.FindStringSubmatch(l) {
			n, _ := strconv.Atoi(m[1])
			buf := make([]byte, n)
			if _, err := io.ReadFull(r.r, buf); err != nil {
				r.t.Fatalf("read literal: %v", err)
			}
			literals = append(literals, buf)
			l += "<literal>" + r.line()
		}
		untagged = append(untagged, l)
	}
}

// RFC 3501 §5.1.3, imaptest "atoms": a LIST pattern in invalid modified
// UTF-7 matches no mailbox (OK, nothing listed); a mailbox name in invalid
// modified UTF-7 is a plain NO, never [SERVERBUG].
func TestIMAPInvalidModifiedUTF7IsNoMatchAndPlainNo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.rawTLS(t)
	r.login(user1)
	for _, cmd := range []string{`LIST "" !#$&'+,-.0123456789:;<=>?@^_` + "`" + `|[}%*`, `LIST "" "&Jjo"`, `LIST "" ("&Jjo" "&-x")`, `LSUB "" "&Jjo"`} {
		untagged, st := r.cmd(cmd)
		if !strings.HasPrefix(st, "OK") || len(untagged) != 0 {
			t.Errorf("%s: %q %s, want OK and nothing listed", cmd, untagged, st)
		}
	}
	for _, cmd := range []string{`SELECT "&Jjo"`, `STATUS "&Jjo" (MESSAGES)`, `CREATE "a&Jjo"`} {
		if _, st := r.cmd(cmd); !strings.HasPrefix(st, "NO [CANNOT]") {
			t.Errorf("%s: %s, want NO [CANNOT]", cmd, st)
		}
	}
}

// RFC 3501 §7.4.2, imaptest "fetch-envelope": ENVELOPE keeps RFC 5322
// group syntax, a group being a start marker (NIL NIL "name" NIL), its
// members and an end marker (NIL NIL NIL NIL); an empty group is the two
// markers; an obsolete source route is the address's adl.
func TestIMAPEnvelopeKeepsGroupSyntax(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.login(t, user1)
		appendMsg(t, c, "INBOX", crlf("From: Real Name <user@domain>\nDate: Thu, 15 Feb 2007 01:02:03 +0200\n"+
			"To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\nCc: group:;, group2: (foo) ;\n\nbody\n"), nil)
		r := e.rawTLS(t)
		r.login(user1)
		r.cmd("SELECT INBOX")
		untagged, st := r.cmd("FETCH 1 ENVELOPE")
		want := `((NIL NIL "group" NIL) (NIL NIL "g1" "d1.org") (NIL NIL "g2" "d2.org") (NIL NIL NIL NIL) (NIL NIL "group2" NIL) (NIL NIL "g3" "d3.org") (NIL NIL NIL NIL)) ` +
			`((NIL NIL "group" NIL) (NIL NIL NIL NIL) (NIL NIL "group2" NIL) (NIL NIL NIL NIL)) NIL`
		if st[:2] != "OK" || len(untagged) != 1 || !strings.Contains(untagged[0], want) {
			t.Fatalf("FETCH ENVELOPE: %q %s\nwant it to contain %s", untagged, st, want)
		}
		appendMsg(t, c, "INBOX", crlf("From: <@route:user@domain>\nDate: Thu, 15 Feb 2007 01:02:03 +0200\n\nbody\n"), nil)
		r.cmd("NOOP")
		untagged, _ = r.cmd("FETCH 2 ENVELOPE")
		if want := `((NIL "@route" "user" "domain"))`; len(untagged) != 1 || !strings.Contains(untagged[0], want) {
			t.Fatalf("FETCH ENVELOPE of a routed address: %q, want %s", untagged, want)
		}
	})
}

// RFC 3501 §6.4.4, imaptest "search-date": SENTBEFORE, SENTON and
// SENTSINCE compare the Date field's date as written, disregarding its
// time and zone, whatever the server's zone.
func TestIMAPSentOnComparesTheDateAsWritten(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.login(t, user1)
		for _, d := range []string{
			"Mon, 26 Mar 2007 00:30:00 +1400", // 1: 25 Mar in UTC
			"Sun, 25 Mar 2007 23:30:00 -1200", // 2: 26 Mar in UTC
			"Sun, 25 Mar 2007 12:00:00 +0000", // 3
		} {
			appendMsg(t, c, "INBOX", crlf("From: a@mof.gov.sy\nDate: "+d+"\nSubject: s\n\nbody\n"), nil)
		}
		selectBox(t, c, "INBOX")
		on := func(d int) time.Time { return time.Date(2007, 3, d, 0, 0, 0, 0, time.UTC) }
		for _, tc := range []struct {
			name string
			c    imap.SearchCriteria
			want []uint32
		}{
			{"SENTON 26-Mar-2007", imap.SearchCriteria{SentSince: on(26), SentBefore: on(27)}, []uint32{1}},
			{"SENTON 25-Mar-2007", imap.SearchCriteria{SentSince: on(25), SentBefore: on(26)}, []uint32{2, 3}},
			{"SENTBEFORE 26-Mar-2007", imap.SearchCriteria{SentBefore: on(26)}, []uint32{2, 3}},
			{"SENTSINCE 26-Mar-2007", imap.SearchCriteria{SentSince: on(26)}, []uint32{1}},
		} {
			got, err := c.Search(&tc.c, nil).Wait()
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if fmt.Sprint(got.AllSeqNums()) != fmt.Sprint(tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, got.AllSeqNums(), tc.want)
			}
		}
	})
}

// RFC 3501 §6.4.4, imaptest "search-addresses": SEARCH FROM finds a
// mailbox written with comments inside its address.
func TestIMAPSearchFromFindsAnAddressWrittenWithComments(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.login(t, user1)
		for _, from := range []string{"user-from@domain.org", "<user-from (comment)@ (comment) domain.org>",
			"user-from@domain.org (RealFrom)", "user-from1@domain.org, user-from2@domain.org"} {
			appendMsg(t, c, "INBOX", crlf("From: "+from+"\nDate: Sun, 25 Mar 2007 12:00:00 +0000\n\nbody\n"), nil)
		}
		selectBox(t, c, "INBOX")
		got, err := c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "user-from@domain.org"}}}, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got.AllSeqNums()) != "[1 2 3]" {
			t.Errorf("SEARCH FROM user-from@domain.org: %v, want [1 2 3]", got.AllSeqNums())
		}
	})
}

// base64Msg has a base64 part 1 whose decoded text is "abcdefghijklmnop".
var base64Msg = crlf("From: a@mof.gov.sy\nDate: Sun, 25 Mar 2007 12:00:00 +0000\nMIME-Version: 1.0\n" +
	"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\nYWJjZGVmZ2hpamtsbW5vcA==\n")

// RFC 3516 §4.2, imaptest "fetch-binary-mime-base64": a partial BINARY
// response names its origin octet, BINARY[1]<4>.
func TestIMAPPartialBinaryNamesItsOrigin(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.login(t, user1)
		appendMsg(t, c, "INBOX", base64Msg, nil)
		r := e.rawTLS(t)
		r.login(user1)
		r.cmd("SELECT INBOX")
		untagged, lits, st := r.literalResp("FETCH 1 (BINARY.PEEK[1]<4.5>)")
		if !strings.HasPrefix(st, "OK") || len(untagged) != 1 || !strings.Contains(untagged[0], "BINARY[1]<4> ~{5}") ||
			len(lits) != 1 || string(lits[0]) != "efghi" {
			t.Fatalf("FETCH BINARY.PEEK[1]<4.5>: %q %q %s", untagged, lits, st)
		}
	})
}

// RFC 3516 §4.4 and RFC 9051 §4.3, imaptest "append-binary": after an
// APPEND in a literal8 whose part holds NUL octets, BODY[1] and BODY[] are
// sent in normal literals without NUL (the part is stored in base64), and
// only BINARY[1] sends the octets appended, in a literal8.
func TestIMAPBinaryAppendNeverSendsNULInABodyLiteral(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		content := "\x00-\xe4\r\n\r\n"
		msg := crlf("From: user@domain.org\nDate: Sat, 24 Mar 2007 23:00:00 +0200\nMime-Version: 1.0\n"+
			"Content-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n") + content
		r := e.rawTLS(t)
		r.login(user1)
		r.send(fmt.Sprintf("a1 APPEND INBOX ~{%d}\r\n", len(msg)))
		if l := r.line(); !strings.HasPrefix(l, "+") {
			t.Fatalf("APPEND continuation: %q", l)
		}
		r.send(msg + "\r\n")
		if _, st := r.until("a1"); !strings.HasPrefix(st, "OK") {
			t.Fatalf("APPEND ~{n}: %s", st)
		}
		r.cmd("SELECT INBOX")
		for _, item := range []string{"BODY.PEEK[1]", "BODY.PEEK[]"} {
			untagged, lits, st := r.literalResp("FETCH 1 (" + item + ")")
			if !strings.HasPrefix(st, "OK") || len(lits) != 1 || bytes.IndexByte(lits[0], 0) >= 0 || strings.Contains(untagged[0], "~{") {
				t.Errorf("FETCH %s: %q %q %s: want a normal literal without NUL", item, untagged, lits, st)
			}
		}
		untagged, lits, st := r.literalResp("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])")
		if !strings.HasPrefix(st, "OK") || len(lits) != 1 || string(lits[0]) != content ||
			!strings.Contains(untagged[0], fmt.Sprintf("BINARY.SIZE[1] %d", len(content))) || !strings.Contains(untagged[0], "~{") {
			t.Errorf("FETCH BINARY[1]: %q %q %s, want literal8 %q", untagged, lits, st, content)
		}
	})
}
