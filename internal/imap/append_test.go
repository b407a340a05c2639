package imap_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// eachBackend runs the core suite on SQLite with filesystem blobs and on
// PostgreSQL with S3 blobs.
func eachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { fn(t, newEnv(t, envOptions{backend: b})) })
	}
}

// RFC 9051 §6.3.12 (APPEND) with flags and internal date, RFC 4315 §3
// (APPENDUID); the message comes back byte for byte.
func TestAppend(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.login(t, user1)
		date := time.Date(2026, 1, 15, 8, 30, 0, 0, time.FixedZone("", 3*3600))
		a := appendMsg(t, c, "INBOX", mixedMsg, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, "$Registered"}, Time: date})
		if a.UID != 1 || a.UIDValidity == 0 {
			t.Errorf("APPENDUID %d %d", a.UIDValidity, a.UID)
		}
		a2 := appendMsg(t, c, "INBOX", arabicMsg, nil)
		if a2.UID != 2 || a2.UIDValidity != a.UIDValidity {
			t.Errorf("second APPENDUID %d %d", a2.UIDValidity, a2.UID)
		}
		d := selectBox(t, c, "INBOX")
		if d.NumMessages != 2 || d.UIDValidity != a.UIDValidity {
			t.Errorf("SELECT after APPEND: %+v", d)
		}
		msgs := fetch(t, c, imap.UIDSetNum(1, 2), &imap.FetchOptions{
			Flags: true, InternalDate: true, RFC822Size: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		})
		if len(msgs) != 2 {
			t.Fatalf("FETCH: %d messages", len(msgs))
		}
		m := msgs[0]
		if !m.InternalDate.Equal(date) || m.RFC822Size != int64(len(mixedMsg)) ||
			!slices.Contains(m.Flags, imap.FlagSeen) || !slices.Contains(m.Flags, "$Registered") {
			t.Errorf("FETCH: date %v size %d flags %v", m.InternalDate, m.RFC822Size, m.Flags)
		}
		if got := string(m.FindBodySection(&imap.FetchItemBodySection{})); got != mixedMsg {
			t.Errorf("BODY[] differs from what was appended:\n%q", got)
		}
		if time.Since(msgs[1].InternalDate) > time.Hour {
			t.Errorf("default internal date %v", msgs[1].InternalDate)
		}

		// RFC 9051 §6.3.12: a missing mailbox is NO [TRYCREATE].
		cmd := c.Append("Nowhere", 3, nil)
		cmd.Write([]byte("a\r\n"))
		cmd.Close()
		if _, err := cmd.Wait(); imapCode(err) != imap.ResponseCodeTryCreate {
			t.Errorf("APPEND to a missing mailbox: %v", err)
		}
	})
}

// RFC 9051 §6.3.12, §7.4.1: an APPEND into the selected mailbox is
// announced with EXISTS before the tagged OK.
func TestAppendToSelectedMailboxAnnouncesExists(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.login(t, user1)
	selectBox(t, c, "INBOX")
	appendMsg(t, c, "INBOX", simpleMsg("a", "a@mof.gov.sy", user1, "x"), &imap.AppendOptions{Flags: []imap.Flag{"$NewKeyword"}})
	if n := c.Mailbox().NumMessages; n != 1 {
		t.Errorf("client sees %d messages after APPEND, want 1", n)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.Mailbox().Flags, "$NewKeyword") {
		t.Errorf("FLAGS not updated with a new keyword: %v", c.Mailbox().Flags)
	}
}

// Bad input: an APPEND over APPENDLIMIT gets NO [TOOBIG] before the
// literal is sent (RFC 7889 §3), over the quota NO [OVERQUOTA] (RFC 9208
// §4.3, RFC 5530); nothing is stored and the session goes on.
func TestAppendOverLimitOrQuotaStoresNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{appendLimit: 10 << 10})
	// Raw: imapclient gives up its connection after a refused literal.
	r := e.rawTLS(t)
	r.login(user1)
	r.send("big APPEND INBOX {20000}\r\n")
	if _, st := r.until("big"); !strings.HasPrefix(st, "NO [TOOBIG]") {
		t.Errorf("APPEND over APPENDLIMIT: %s", st)
	}
	if _, st := r.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
		t.Errorf("after a refused APPEND: %s", st)
	}

	c := e.login(t, user1)

	if err := e.dir.SetQuota(context.Background(), "test", user1, 3000); err != nil {
		t.Fatal(err)
	}
	m := simpleMsg("q", "a@mof.gov.sy", user1, strings.Repeat("q", 1500))
	appendMsg(t, c, "INBOX", m, nil) // ~1.7 KB: fits
	cmd := c.Append("INBOX", int64(len(m)), nil)
	cmd.Write([]byte(m))
	cmd.Close()
	if _, err := cmd.Wait(); imapCode(err) != imap.ResponseCodeOverQuota {
		t.Errorf("APPEND over quota: %v", err)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 1 {
		t.Errorf("INBOX has %d messages, want 1", *st.NumMessages)
	}
	// The session goes on.
	selectBox(t, c, "INBOX")
}

// Bad input: broken MIME is stored as it came and still FETCHes; its
// BODYSTRUCTURE degrades to text/plain.
func TestAppendBrokenMIME(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.login(t, user1)
	appendMsg(t, c, "INBOX", brokenMsg, nil)
	selectBox(t, c, "INBOX")
	msgs := fetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		Envelope:      true,
		BodySection:   []*imap.FetchItemBodySection{{Peek: true}, {Peek: true, Part: []int{1}}},
	})
	if len(msgs) != 1 {
		t.Fatal("no message")
	}
	bs, ok := msgs[0].BodyStructure.(*imap.BodyStructureSinglePart)
	if !ok || bs.Type != "text" || bs.Subtype != "plain" {
		t.Errorf("BODYSTRUCTURE of broken MIME: %#v", msgs[0].BodyStructure)
	}
	if got := string(msgs[0].FindBodySection(&imap.FetchItemBodySection{})); got != brokenMsg {
		t.Errorf("BODY[] = %q", got)
	}
	if msgs[0].Envelope == nil || msgs[0].Envelope.Subject != "Broken" {
		t.Errorf("ENVELOPE %+v", msgs[0].Envelope)
	}
}

// RFC 9051 §6.3.12: many APPENDs from several sessions get distinct,
// increasing UIDs.
func TestConcurrentAppendsGetDistinctUIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const sessions, each = 4, 10
	uids := make(chan imap.UID, sessions*each)
	errs := make(chan error, sessions)
	for s := range sessions {
		c := e.login(t, user1)
		go func() {
			for i := range each {
				raw := simpleMsg(fmt.Sprintf("s%d-%d", s, i), "a@mof.gov.sy", user1, "x")
				cmd := c.Append("INBOX", int64(len(raw)), nil)
				cmd.Write([]byte(raw))
				cmd.Close()
				d, err := cmd.Wait()
				if err != nil {
					errs <- err
					return
				}
				uids <- d.UID
			}
			errs <- nil
		}()
	}
	for range sessions {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(uids)
	seen := map[imap.UID]bool{}
	for u := range uids {
		if seen[u] {
			t.Errorf("UID %d given twice", u)
		}
		seen[u] = true
	}
	if len(seen) != sessions*each {
		t.Errorf("%d UIDs", len(seen))
	}
}
