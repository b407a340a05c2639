package imap_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// updates records a client's unilateral responses as lines:
// "EXISTS n", "EXPUNGE n", "FETCH n FLAGS (…)".
type updates chan string

func (u updates) handler() *imapclient.UnilateralDataHandler {
	return &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { u <- fmt.Sprintf("EXPUNGE %d", seq) },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				u <- fmt.Sprintf("EXISTS %d", *d.NumMessages)
			}
		},
		Fetch: func(m *imapclient.FetchMessageData) {
			b, _ := m.Collect()
			if b != nil && b.Flags != nil {
				fl := make([]string, len(b.Flags))
				for i, f := range b.Flags {
					fl[i] = string(f)
				}
				slices.Sort(fl)
				u <- fmt.Sprintf("FETCH %d FLAGS (%s)", b.SeqNum, strings.Join(fl, " "))
			}
		},
	}
}

// expect waits for the next update and checks it.
func (u updates) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-u:
		if got != want {
			t.Fatalf("update %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no update, want %q", want)
	}
}

// expectSet waits for len(want) updates, in any order.
func (u updates) expectSet(t *testing.T, want ...string) {
	t.Helper()
	var got []string
	for range want {
		select {
		case g := <-u:
			got = append(got, g)
		case <-time.After(10 * time.Second):
			t.Fatalf("updates %q, want %q", got, want)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("updates %q, want %q", got, want)
	}
}

// quiet checks that no update is queued.
func (u updates) quiet(t *testing.T) {
	t.Helper()
	select {
	case got := <-u:
		t.Fatalf("unexpected update %q", got)
	default:
	}
}

// RFC 2177 and RFC 9051 §6.3.13 (IDLE), §7.4.1 (EXPUNGE), §7.3.1 (EXISTS),
// §7.5.2 (FETCH): a session idling on a mailbox sees another session's
// APPEND, STORE and EXPUNGE as they happen, numbered as it knows the
// messages.
func TestIdleSeesAnotherSession(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		appendN(t, e, user1, "INBOX", 4) // UIDs 1..4
		u := make(updates, 32)
		a := e.loginWith(t, user1, u.handler())
		selectBox(t, a, "INBOX")
		b := e.login(t, user1)
		selectBox(t, b, "INBOX")

		idle, err := a.Idle()
		if err != nil {
			t.Fatal(err)
		}
		appendMsg(t, b, "INBOX", simpleMsg("new", "a@mof.gov.sy", user1, "x"), nil) // UID 5
		u.expect(t, "EXISTS 5")

		b.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
		// A selected the mailbox after the messages came: their \Recent
		// flag is A's (RFC 3501 §2.3.2).
		u.expect(t, `FETCH 2 FLAGS (\Flagged \Recent)`)

		// Expunge UIDs 1 and 3: A hears the higher first, so each number
		// is right when it arrives.
		b.Store(imap.UIDSetNum(1, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
		u.expectSet(t, `FETCH 1 FLAGS (\Deleted \Recent)`, `FETCH 3 FLAGS (\Deleted \Recent)`)
		if _, err := b.Expunge().Collect(); err != nil {
			t.Fatal(err)
		}
		u.expect(t, "EXPUNGE 3")
		u.expect(t, "EXPUNGE 1")

		if err := idle.Close(); err != nil {
			t.Fatal(err)
		}
		if err := idle.Wait(); err != nil {
			t.Fatal(err)
		}
		msgs := fetch(t, a, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true})
		var uids []imap.UID
		for _, m := range msgs {
			uids = append(uids, m.UID)
		}
		if !slices.Equal(uids, []imap.UID{2, 4, 5}) {
			t.Errorf("after the updates A sees UIDs %v, want [2 4 5]", uids)
		}
		u.quiet(t)
	})
}

// RFC 9051 §6.1.2 (NOOP), §7: without IDLE, a session hears of others'
// changes at its next command; EXPUNGE is held back during FETCH, STORE
// and SEARCH (§7.5.1) so numbers stay valid, and comes with NOOP.
func TestNoopSeesAnotherSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	appendN(t, e, user1, "INBOX", 3)
	u := make(updates, 32)
	a := e.loginWith(t, user1, u.handler())
	selectBox(t, a, "INBOX")
	b := e.login(t, user1)
	selectBox(t, b, "INBOX")

	b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	b.Expunge().Close()
	appendMsg(t, b, "INBOX", simpleMsg("n", "a@mof.gov.sy", user1, "x"), nil)

	// A FETCH while the expunge is pending: message 1 is still number 1
	// for A, the new one is announced (EXISTS 4), EXPUNGE waits.
	msgs := fetch(t, a, imap.SeqSetNum(2), &imap.FetchOptions{UID: true})
	if len(msgs) != 1 || msgs[0].UID != 2 {
		t.Errorf("FETCH 2 during a pending expunge: %+v", msgs)
	}
	u.expect(t, "EXISTS 4")
	u.quiet(t)
	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	u.expect(t, "EXPUNGE 1")
	msgs = fetch(t, a, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true})
	if len(msgs) != 3 || msgs[0].UID != 2 || msgs[2].UID != 4 {
		t.Errorf("after NOOP: %+v", msgs)
	}
}

// RFC 9051 §6.4.6, §7.5.2: a flag change by another session that the
// client has not heard of yet is superseded by the client's own STORE: the
// last flags it is told are the current ones, with both changes.
func TestOwnStoreSupersedesPendingFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	appendN(t, e, user1, "INBOX", 1)
	a := e.login(t, user1)
	selectBox(t, a, "INBOX")
	b := e.login(t, user1)
	selectBox(t, b, "INBOX")
	b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()

	got, err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
	if err != nil || len(got) == 0 {
		t.Fatalf("STORE: %v %d", err, len(got))
	}
	last := got[len(got)-1].Flags
	if !sameFlags(withoutRecent(last), []imap.Flag{imap.FlagSeen, imap.FlagFlagged}) {
		t.Errorf("last flags told: %v (all: %+v)", last, got)
	}
}

// RFC 2177: IDLE in the authenticated state is allowed and reports nothing.
func TestIdleWithoutMailbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	a := e.login(t, user1)
	idle, err := a.Idle()
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}
