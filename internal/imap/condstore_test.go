package imap_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

var (
	reHighest  = regexp.MustCompile(`\[HIGHESTMODSEQ (\d+)\]`)
	reValidity = regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`)
	reModSeq   = regexp.MustCompile(`MODSEQ \((\d+)\)`)
)

// find returns the first submatch of re in lines, failing the test when
// there is none.
func find(t testing.TB, lines []string, re *regexp.Regexp) uint64 {
	t.Helper()
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			n, err := strconv.ParseUint(m[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in %q", re, lines)
	return 0
}

// only keeps the lines that contain one of words.
func only(lines []string, words ...string) []string {
	var out []string
	for _, l := range lines {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// seedInbox appends n messages to user1's INBOX and returns a client with
// INBOX selected.
func seedInbox(t *testing.T, e *env, n int) *imapclient.Client {
	t.Helper()
	c := e.login(t, user1)
	for i := 1; i <= n; i++ {
		appendMsg(t, c, "INBOX", simpleMsg(fmt.Sprintf("m%d", i), user2, user1, "body"), nil)
	}
	selectBox(t, c, "INBOX")
	return c
}

// withoutRecent drops \Recent, which the session that appended and
// selected holds (recent.go), from flags.
func withoutRecent(flags []imap.Flag) []imap.Flag {
	var out []imap.Flag
	for _, f := range flags {
		if f != `\Recent` {
			out = append(out, f)
		}
	}
	return out
}

func mustOK(t testing.TB, what, status string) {
	t.Helper()
	if !strings.HasPrefix(status, "OK") {
		t.Fatalf("%s: %s", what, status)
	}
}

func storeFlags(t testing.TB, c *imapclient.Client, uids imap.UIDSet, op imap.StoreFlagsOp, flags ...imap.Flag) {
	t.Helper()
	if err := c.Store(uids, &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
		t.Fatal(err)
	}
}

// RFC 7162 §3.1.2.1 and §3.1.6: SELECT and EXAMINE answer HIGHESTMODSEQ
// (never NOMODSEQ), STATUS answers HIGHESTMODSEQ, and a change raises it.
func TestSelectAndStatusAnswerHighestModSeq(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{backend: b})
			c := seedInbox(t, e, 2)
			r := e.rawTLS(t)
			r.login(user1)
			lines, st := r.cmd("EXAMINE INBOX")
			mustOK(t, "EXAMINE", st)
			if len(only(lines, "NOMODSEQ")) > 0 {
				t.Errorf("NOMODSEQ in %q", lines)
			}
			before := find(t, lines, reHighest)
			mb, err := e.store.Mailbox(t.Context(), e.users[user1].ID, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			if before != mb.HighestModSeq {
				t.Errorf("HIGHESTMODSEQ %d, store has %d", before, mb.HighestModSeq)
			}
			storeFlags(t, c, imap.UIDSetNum(1), imap.StoreFlagsAdd, imap.FlagFlagged)
			lines, st = r.cmd("STATUS INBOX (MESSAGES HIGHESTMODSEQ)")
			mustOK(t, "STATUS", st)
			want := fmt.Sprintf("* STATUS INBOX (MESSAGES 2 HIGHESTMODSEQ %d)", before+1)
			if lines = only(lines, "STATUS"); len(lines) != 1 || lines[0] != want {
				t.Errorf("STATUS: %q, want %q", lines, want)
			}
			data, err := c.Select("INBOX", nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if data.HighestModSeq != before+1 {
				t.Errorf("go-imap client: HIGHESTMODSEQ %d, want %d", data.HighestModSeq, before+1)
			}
		})
	}
}

// RFC 7162 §3.1.4.1: FETCH … (CHANGEDSINCE n) returns only the messages
// whose MODSEQ is above n, each with its MODSEQ; FETCH MODSEQ returns it.
func TestFetchChangedSinceReturnsOnlyChangedMessages(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{backend: b})
			c := seedInbox(t, e, 4)
			msgs := fetch(t, c, imap.SeqSetNum(1, 2, 3, 4), &imap.FetchOptions{ModSeq: true})
			var base uint64
			for _, m := range msgs {
				if m.ModSeq == 0 {
					t.Fatalf("FETCH MODSEQ: message %d without MODSEQ", m.SeqNum)
				}
				base = max(base, m.ModSeq)
			}
			storeFlags(t, c, imap.UIDSetNum(2, 4), imap.StoreFlagsAdd, "$Important")
			got := fetch(t, c, imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, ChangedSince: base})
			if len(got) != 2 || got[0].UID != 2 || got[1].UID != 4 {
				t.Fatalf("CHANGEDSINCE %d: %d messages %+v, want UIDs 2 and 4", base, len(got), got)
			}
			for _, m := range got {
				if fl := withoutRecent(m.Flags); m.ModSeq <= base || len(fl) != 1 || fl[0] != "$Important" {
					t.Errorf("UID %d: MODSEQ %d flags %v", m.UID, m.ModSeq, m.Flags)
				}
			}
		})
	}
}

// RFC 7162 §3.1.3: STORE (UNCHANGEDSINCE n) changes the messages not
// changed since n, reports them with MODSEQ, and answers OK [MODIFIED set]
// naming the others, which keep their flags.
func TestStoreUnchangedSinceConflictAnswersModified(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{backend: b})
			c := seedInbox(t, e, 3)
			r := e.rawTLS(t)
			r.login(user1)
			lines, st := r.cmd("SELECT INBOX (CONDSTORE)")
			mustOK(t, "SELECT (CONDSTORE)", st)
			base := find(t, lines, reHighest)

			// Another session changes message 2 after base.
			storeFlags(t, c, imap.UIDSetNum(2), imap.StoreFlagsAdd, imap.FlagSeen)

			lines, st = r.cmd(fmt.Sprintf("UID STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Answered)", base))
			if !strings.HasPrefix(st, "OK [MODIFIED 2]") {
				t.Fatalf("UID STORE UNCHANGEDSINCE: %q, want OK [MODIFIED 2]", st)
			}
			// .SILENT, but CONDSTORE: the changed ones are reported with MODSEQ.
			fetches := strings.Join(only(lines, "FETCH"), "\n")
			if !strings.Contains(fetches, "* 1 FETCH (UID 1 MODSEQ (") || !strings.Contains(fetches, "* 3 FETCH (UID 3 MODSEQ (") ||
				strings.Contains(fetches, "Answered") {
				t.Errorf("FETCH responses %q: want UID 1 and 3 with MODSEQ, no FLAGS", fetches)
			}
			lines, st = r.cmd(fmt.Sprintf("STORE 1:3 (UNCHANGEDSINCE %d) FLAGS (\\Draft)", base))
			if !strings.HasPrefix(st, "OK [MODIFIED 1:3]") {
				t.Fatalf("STORE UNCHANGEDSINCE %d: %q, want OK [MODIFIED 1:3]", base, st)
			}
			got := fetch(t, c, imap.UIDSetNum(1, 2, 3), &imap.FetchOptions{Flags: true})
			want := [][]imap.Flag{{imap.FlagAnswered}, {imap.FlagSeen}, {imap.FlagAnswered}}
			for i, m := range got {
				if fmt.Sprint(withoutRecent(m.Flags)) != fmt.Sprint(want[i]) {
					t.Errorf("UID %d: flags %v, want %v", m.UID, m.Flags, want[i])
				}
			}
		})
	}
}

// RFC 7162 §3.1.5: SEARCH MODSEQ n finds the messages changed at or after
// n, and the response ends with the highest MODSEQ of those found.
func TestSearchModSeqFindsChangedMessages(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{backend: b})
			c := seedInbox(t, e, 3)
			r := e.rawTLS(t)
			r.login(user1)
			lines, st := r.cmd("SELECT INBOX")
			mustOK(t, "SELECT", st)
			base := find(t, lines, reHighest)
			storeFlags(t, c, imap.UIDSetNum(3), imap.StoreFlagsAdd, imap.FlagFlagged)
			lines, st = r.cmd(fmt.Sprintf("SEARCH MODSEQ \"/flags/\\\\flagged\" all %d", base+1))
			mustOK(t, "SEARCH MODSEQ", st)
			want := fmt.Sprintf("* SEARCH 3 (MODSEQ %d)", base+1)
			if got := only(lines, "SEARCH"); len(got) != 1 || got[0] != want {
				t.Errorf("SEARCH MODSEQ: %q, want %q", got, want)
			}
			lines, _ = r.cmd(fmt.Sprintf("UID SEARCH RETURN (ALL) MODSEQ %d", base+1))
			if got := only(lines, "ESEARCH"); len(got) != 1 || !strings.HasSuffix(got[0], fmt.Sprintf("ALL 3 MODSEQ %d", base+1)) {
				t.Errorf("ESEARCH MODSEQ: %q", got)
			}
		})
	}
}
