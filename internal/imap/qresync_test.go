package imap_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

var reFetchModSeq = regexp.MustCompile(`^\* (\d+) FETCH \(UID (\d+) FLAGS \((.*)\) MODSEQ \((\d+)\)\)$`)

// RFC 7162 §3.2.5: a client that enabled QRESYNC and comes back with
// SELECT … (QRESYNC (uidvalidity modseq)) learns exactly what another
// session did meanwhile: VANISHED (EARLIER) with the expunged UIDs, a
// FETCH with UID, FLAGS and MODSEQ of each message whose flags changed,
// and nothing else (no FETCH for messages that did not change or that
// went, no EXPUNGE).
func TestQResyncSelectReportsExactlyTheChanges(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{backend: b})
			c := seedInbox(t, e, 6)
			r := e.rawTLS(t)
			r.login(user1)
			lines, st := r.cmd("ENABLE QRESYNC")
			if !strings.HasPrefix(st, "OK") || len(only(lines, "ENABLED QRESYNC")) != 1 {
				t.Fatalf("ENABLE QRESYNC: %q %s", lines, st)
			}
			lines, st = r.cmd("SELECT INBOX")
			mustOK(t, "SELECT", st)
			validity, modseq := find(t, lines, reValidity), find(t, lines, reHighest)
			_, st = r.cmd("UNSELECT")
			mustOK(t, "UNSELECT", st)

			// The other session: flags on 2 and 4, \Deleted on 1, 3 and 5,
			// then EXPUNGE of 1 and 3 only (UID EXPUNGE), then a MOVE of 6.
			storeFlags(t, c, imap.UIDSetNum(2), imap.StoreFlagsAdd, imap.FlagFlagged)
			storeFlags(t, c, imap.UIDSetNum(4), imap.StoreFlagsAdd, imap.FlagSeen, "$Done")
			storeFlags(t, c, imap.UIDSetNum(1, 3, 5), imap.StoreFlagsAdd, imap.FlagDeleted)
			if err := c.UIDExpunge(imap.UIDSetNum(1, 3)).Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Move(imap.UIDSetNum(6), "Archive").Wait(); err != nil {
				t.Fatal(err)
			}

			lines, st = r.cmd(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", validity, modseq))
			mustOK(t, "SELECT QRESYNC", st)
			if got := only(lines, "EXISTS"); len(got) != 1 || got[0] != "* 3 EXISTS" {
				t.Errorf("EXISTS: %q", got)
			}
			changes := only(lines, "VANISHED", "FETCH", "EXPUNGE")
			want := []string{
				"* VANISHED (EARLIER) 1,3,6",
				`* 1 FETCH (UID 2 FLAGS (\Flagged) MODSEQ (N))`,
				`* 2 FETCH (UID 4 FLAGS (\Seen $Done) MODSEQ (N))`,
				`* 3 FETCH (UID 5 FLAGS (\Deleted) MODSEQ (N))`,
			}
			if len(changes) != len(want) {
				t.Fatalf("resync: %q, want %q", changes, want)
			}
			for i, l := range changes {
				if m := reFetchModSeq.FindStringSubmatch(l); m != nil {
					if find(t, []string{l}, reModSeq) <= modseq {
						t.Errorf("%q: MODSEQ not above %d", l, modseq)
					}
					l = strings.Replace(l, "MODSEQ ("+m[4]+")", "MODSEQ (N)", 1)
				}
				if l != want[i] {
					t.Errorf("resync line %d: %q, want %q", i, l, want[i])
				}
			}

			// Known UIDs narrow VANISHED; a stale UIDVALIDITY gets nothing.
			lines, _ = r.cmd(fmt.Sprintf("EXAMINE INBOX (QRESYNC (%d %d 2:4))", validity, modseq))
			if got := only(lines, "VANISHED"); len(got) != 1 || got[0] != "* VANISHED (EARLIER) 3" {
				t.Errorf("known-uids 2:4: %q", got)
			}
			lines, _ = r.cmd(fmt.Sprintf("EXAMINE INBOX (QRESYNC (%d %d))", validity+1, modseq))
			if got := only(lines, "VANISHED", "FETCH"); len(got) != 0 {
				t.Errorf("other UIDVALIDITY: %q", got)
			}
		})
	}
}

// RFC 7162 §3.2.10, §3.2.5: once QRESYNC is enabled, expunges are
// reported with VANISHED — the session's own (EXPUNGE, UID EXPUNGE,
// MOVE) and another session's — and flag changes of another session come
// with UID and MODSEQ. SELECT (QRESYNC …) without ENABLE is BAD.
func TestQResyncClientGetsVanishedInsteadOfExpunge(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{backend: b})
			c := seedInbox(t, e, 5)
			r := e.rawTLS(t)
			r.login(user1)
			if _, st := r.cmd("SELECT INBOX (QRESYNC (1 1))"); !strings.HasPrefix(st, "BAD") {
				t.Errorf("QRESYNC before ENABLE: %s, want BAD", st)
			}
			r.cmd("ENABLE QRESYNC")
			_, st := r.cmd("SELECT INBOX")
			mustOK(t, "SELECT", st)

			storeFlags(t, c, imap.UIDSetNum(1), imap.StoreFlagsAdd, imap.FlagDeleted)
			if err := c.Expunge().Close(); err != nil {
				t.Fatal(err)
			}
			storeFlags(t, c, imap.UIDSetNum(2), imap.StoreFlagsAdd, imap.FlagAnswered)
			lines, _ := r.cmd("NOOP")
			changes := only(lines, "VANISHED", "FETCH", "EXPUNGE")
			if len(changes) != 2 || changes[0] != "* VANISHED 1" ||
				!regexp.MustCompile(`^\* 1 FETCH \(UID 2 FLAGS \(\\Answered\) MODSEQ \(\d+\)\)$`).MatchString(changes[1]) {
				t.Errorf("after another session's EXPUNGE and STORE: %q", changes)
			}

			r.cmd("UID STORE 3,4 +FLAGS.SILENT (\\Deleted)")
			lines, st = r.cmd("UID EXPUNGE 3")
			if got := only(lines, "VANISHED", "EXPUNGE"); !strings.HasPrefix(st, "OK") || len(got) != 1 || got[0] != "* VANISHED 3" {
				t.Errorf("UID EXPUNGE: %q %s", got, st)
			}
			lines, _ = r.cmd("EXPUNGE")
			if got := only(lines, "VANISHED", "EXPUNGE"); len(got) != 1 || got[0] != "* VANISHED 4" {
				t.Errorf("EXPUNGE: %q", got)
			}
			lines, _ = r.cmd("UID MOVE 5 Archive")
			if got := only(lines, "VANISHED", "EXPUNGE"); len(got) != 1 || got[0] != "* VANISHED 5" {
				t.Errorf("MOVE: %q", got)
			}
		})
	}
}

// RFC 7162 §3.2.6: UID FETCH … (CHANGEDSINCE n VANISHED) answers
// VANISHED (EARLIER) with the UIDs of the set expunged since n, then the
// messages changed since n.
func TestUIDFetchChangedSinceVanished(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{backend: b})
			c := seedInbox(t, e, 4)
			r := e.rawTLS(t)
			r.login(user1)
			r.cmd("ENABLE QRESYNC")
			lines, _ := r.cmd("SELECT INBOX")
			base := find(t, lines, reHighest)
			storeFlags(t, c, imap.UIDSetNum(1), imap.StoreFlagsAdd, imap.FlagDeleted)
			if err := c.Expunge().Close(); err != nil {
				t.Fatal(err)
			}
			storeFlags(t, c, imap.UIDSetNum(3), imap.StoreFlagsAdd, imap.FlagSeen)
			r.cmd("NOOP")
			lines, st := r.cmd(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", base))
			mustOK(t, "UID FETCH VANISHED", st)
			if len(lines) != 2 || lines[0] != "* VANISHED (EARLIER) 1" ||
				!regexp.MustCompile(`^\* 2 FETCH \(UID 3 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)$`).MatchString(lines[1]) {
				t.Errorf("UID FETCH (CHANGEDSINCE VANISHED): %q", lines)
			}
			if _, st := r.cmd(fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", base)); !strings.HasPrefix(st, "BAD") {
				t.Errorf("FETCH with VANISHED: %s, want BAD", st)
			}
		})
	}
}

// RFC 7162 §3.2.5.2: once the records of expunged UIDs older than the
// retention are pruned, a resync from before them reports every UID up to
// UIDNEXT that no longer exists (within known-uids when given), including
// ones the client may already have known were gone: it may have missed
// them.
func TestQResyncAfterPruningReportsEveryMissingUID(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{backend: b, retention: time.Nanosecond})
			c := seedInbox(t, e, 6)
			storeFlags(t, c, imap.UIDSetNum(1), imap.StoreFlagsAdd, imap.FlagDeleted)
			if err := c.Expunge().Close(); err != nil {
				t.Fatal(err)
			}
			r := e.rawTLS(t)
			r.login(user1)
			r.cmd("ENABLE QRESYNC")
			lines, _ := r.cmd("EXAMINE INBOX")
			validity, modseq := find(t, lines, reValidity), find(t, lines, reHighest)
			r.cmd("UNSELECT")

			storeFlags(t, c, imap.UIDSetNum(2, 5), imap.StoreFlagsAdd, imap.FlagDeleted)
			if err := c.Expunge().Close(); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the expunge records pruned", func() bool {
				if _, err := e.store.Sweep(t.Context()); err != nil {
					t.Fatal(err)
				}
				mb, err := e.store.Mailbox(t.Context(), e.users[user1].ID, "INBOX")
				if err != nil {
					t.Fatal(err)
				}
				_, complete, err := e.store.Vanished(t.Context(), e.users[user1].ID, mb.ID, modseq)
				return err == nil && !complete
			})
			lines, _ = r.cmd(fmt.Sprintf("EXAMINE INBOX (QRESYNC (%d %d))", validity, modseq))
			if got := only(lines, "VANISHED"); len(got) != 1 || got[0] != "* VANISHED (EARLIER) 1:2,5" {
				t.Errorf("after pruning: %q, want VANISHED (EARLIER) 1:2,5", got)
			}
			lines, _ = r.cmd(fmt.Sprintf("EXAMINE INBOX (QRESYNC (%d %d 3:6))", validity, modseq))
			if got := only(lines, "VANISHED"); len(got) != 1 || got[0] != "* VANISHED (EARLIER) 5" {
				t.Errorf("after pruning, known-uids 3:6: %q", got)
			}
		})
	}
}
