package mailstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/mailstore"
	"diwan.gov.sy/diwan/internal/message"
)

func TestEnsureUserCreatesSpecialUseMailboxesOnce(t *testing.T) {
	each(t, 2, func(t *testing.T, e *env) {
		u := e.users[0]
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() { errs <- e.s.EnsureUser(e.ctx, u) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		boxes, err := e.s.Mailboxes(e.ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, b := range boxes {
			got[b.Name] = b.SpecialUse
			if !b.Subscribed || b.UIDValidity == 0 || b.UIDNext != 1 {
				t.Errorf("%s: %+v", b.Name, b)
			}
		}
		want := map[string]string{"INBOX": "", "Sent": `\Sent`, "Drafts": `\Drafts`, "Trash": `\Trash`, "Junk": `\Junk`, "Archive": `\Archive`}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("mailboxes %v, want %v", got, want)
		}
		// A deleted default stays deleted; INBOX cannot be deleted.
		if err := e.s.DeleteMailbox(e.ctx, u, "Junk"); err != nil {
			t.Fatal(err)
		}
		if err := e.s.DeleteMailbox(e.ctx, u, "inbox"); !errors.Is(err, mailstore.ErrProtected) {
			t.Fatalf("delete INBOX: %v", err)
		}
		if err := e.s.EnsureUser(e.ctx, 999999); !errors.Is(err, mailstore.ErrNotFound) {
			t.Fatalf("EnsureUser(unknown): %v", err)
		}
	})
}

func TestConcurrentAppendsGiveUniqueGaplessUIDs(t *testing.T) {
	const writers, each_ = 8, 50
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		if err := e.s.EnsureUser(e.ctx, u); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var uids []uint32
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each_ {
					a, err := e.s.Append(e.ctx, u, "INBOX", strings.NewReader(msg(fmt.Sprintf("w%d-%d", w, i), "body")), mailstore.AppendOptions{})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					uids = append(uids, a.UID)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(uids)
		for i, u := range uids {
			if u != uint32(i+1) {
				t.Fatalf("UIDs not gapless and unique: position %d has %d", i, u)
			}
		}
		sel := e.selectBox(t, u, "INBOX")
		if len(sel.UIDs) != writers*each_ || sel.Messages != writers*each_ || sel.UIDNext != writers*each_+1 {
			t.Fatalf("select: %d uids, %d messages, uidnext %d", len(sel.UIDs), sel.Messages, sel.UIDNext)
		}
		if sel.HighestModSeq != writers*each_+1 {
			t.Fatalf("HIGHESTMODSEQ %d, want %d", sel.HighestModSeq, writers*each_+1)
		}
	})
}

// Concurrent deliveries and appends share transactions (group commit); a
// write that fails (here: over quota) fails alone, and UIDs, usage and the
// feed stay exact for everyone else.
func TestGroupedWritesStayExactWhenOneFails(t *testing.T) {
	const writers, each_ = 12, 15
	each(t, 3, func(t *testing.T, e *env) {
		a, b, full := e.users[0], e.users[1], e.users[2]
		for _, u := range e.users {
			if err := e.s.EnsureUser(e.ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		size := int64(len(msg("w00-00", "body")))
		// full takes 5 messages; every later one to it is refused.
		setQuota(t, e, full, 5*size)
		var mu sync.Mutex
		events := map[int64][]mailstore.Event{}
		for _, u := range e.users {
			box := e.selectBox(t, u, "INBOX")
			defer e.feed.Subscribe(box.ID, func(ev mailstore.Event) {
				mu.Lock()
				events[u] = append(events[u], ev)
				mu.Unlock()
			})()
		}
		var refused, appended atomic.Int64
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each_ {
					raw := msg(fmt.Sprintf("w%02d-%02d", w, i), "body")
					if w%3 == 0 {
						if _, err := e.s.Append(e.ctx, a, "INBOX", strings.NewReader(raw), mailstore.AppendOptions{}); err != nil {
							t.Error(err)
						}
						appended.Add(1)
						continue
					}
					err := e.s.Deliver(e.ctx, []int64{a, b, full}, strings.NewReader(raw))
					var derr *mailstore.DeliveryError
					switch {
					case err == nil:
					case errors.As(err, &derr) && errors.Is(err, mailstore.ErrOverQuota) && slices.Equal(derr.Delivered, []int64{a, b}):
						refused.Add(1)
					default:
						t.Errorf("Deliver: %v", err)
					}
				}
			})
		}
		wg.Wait()
		delivered := int64(writers*each_) - appended.Load()
		if refused.Load() != delivered-5 {
			t.Fatalf("%d deliveries refused for the full mailbox, want %d", refused.Load(), delivered-5)
		}
		want := map[int64]int64{a: delivered + appended.Load(), b: delivered, full: 5}
		for u, n := range want {
			sel := e.selectBox(t, u, "INBOX")
			if int64(len(sel.UIDs)) != n || sel.UIDNext != uint32(n+1) || sel.UIDs[n-1] != uint32(n) {
				t.Fatalf("user %d: %d UIDs, UIDNEXT %d, want %d gapless", u, len(sel.UIDs), sel.UIDNext, n)
			}
			if us, _ := e.s.Usage(e.ctx, u); us.Bytes != n*size {
				t.Fatalf("user %d: usage %d, want %d", u, us.Bytes, n*size)
			}
			mu.Lock()
			evs := events[u]
			mu.Unlock()
			if int64(len(evs)) != n {
				t.Fatalf("user %d: %d events, want %d", u, len(evs), n)
			}
			for i, ev := range evs {
				if ev.UIDs[0] != uint32(i+1) || ev.Messages != uint32(i+1) {
					t.Fatalf("user %d: event %d is %+v, want UID %d published in commit order", u, i, ev, i+1)
				}
			}
		}
		if e.s.Grouped() == 0 {
			t.Fatal("no write shared a transaction with another")
		}
	})
}

func TestDeliverToHundredRecipientsStoresOneBlob(t *testing.T) {
	each(t, 100, func(t *testing.T, e *env) {
		raw := msg("circular", "To all staff.")
		if err := e.s.Deliver(e.ctx, append(e.users, e.users[0]), strings.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		if keys := e.blobKeys(t); len(keys) != 1 {
			t.Fatalf("%d blobs, want 1", len(keys))
		}
		if n := e.count(t, "SELECT count(*) FROM messages"); n != 1 {
			t.Fatalf("%d message rows, want 1", n)
		}
		if n := e.count(t, "SELECT refs FROM messages"); n != 100 {
			t.Fatalf("refs %d, want 100", n)
		}
		for _, u := range []int64{e.users[0], e.users[99]} {
			sel := e.selectBox(t, u, "INBOX")
			if len(sel.UIDs) != 1 || sel.UIDs[0] != 1 || sel.Unseen != 1 {
				t.Fatalf("user %d INBOX: %+v", u, sel)
			}
			var got *mailstore.MessageInfo
			if err := e.s.Fetch(e.ctx, u, sel.ID, sel.UIDs, mailstore.FetchOptions{Envelope: true},
				func(mi *mailstore.MessageInfo) error { got = mi; return nil }); err != nil {
				t.Fatal(err)
			}
			if got == nil || got.Envelope.Subject != "circular" || e.raw(t, got.BlobKey) != raw {
				t.Fatalf("fetched %+v", got)
			}
			us, err := e.s.Usage(e.ctx, u)
			if err != nil || us.Bytes != int64(len(raw)) {
				t.Fatalf("usage %+v %v", us, err)
			}
		}
		// An unknown recipient fails alone.
		err := e.s.Deliver(e.ctx, []int64{e.users[1], 999999}, strings.NewReader(msg("second", "x")))
		var derr *mailstore.DeliveryError
		if !errors.As(err, &derr) || !errors.Is(err, mailstore.ErrNotFound) || !slices.Equal(derr.Delivered, []int64{e.users[1]}) {
			t.Fatalf("Deliver with an unknown recipient: %v", err)
		}
	})
}

func setQuota(t testing.TB, e *env, user, bytes int64) {
	t.Helper()
	if err := e.d.Writer().Exec("UPDATE users SET quota_bytes = ? WHERE id = ?", bytes, user).Error; err != nil {
		t.Fatal(err)
	}
}

// A delivery to one recipient (its own path) publishes the UID and counts
// it stored.
func TestDeliverToOnePublishesItsUID(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		if err := e.s.EnsureUser(e.ctx, u); err != nil {
			t.Fatal(err)
		}
		inbox := e.selectBox(t, u, "INBOX")
		var mu sync.Mutex
		var got []mailstore.Event
		defer e.feed.Subscribe(inbox.ID, func(ev mailstore.Event) {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		})()
		for i := range 2 {
			if err := e.s.Deliver(e.ctx, []int64{u}, strings.NewReader(msg(fmt.Sprint("one ", i), "x"))); err != nil {
				t.Fatal(err)
			}
		}
		sel := e.selectBox(t, u, "INBOX")
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 2 {
			t.Fatalf("%d events, want 2", len(got))
		}
		for i, ev := range got {
			uid := uint32(i + 1)
			if ev.MailboxID != inbox.ID || !slices.Equal(ev.UIDs, []uint32{uid}) || ev.Messages != uid || sel.UIDs[i] != uid {
				t.Errorf("event %d: %+v; INBOX %d holds UIDs %v", i, ev, inbox.ID, sel.UIDs)
			}
		}
		if got[1].ModSeq <= got[0].ModSeq {
			t.Errorf("MODSEQ %d then %d", got[0].ModSeq, got[1].ModSeq)
		}
	})
}

// A recipient whose INBOX is gone (a damaged store) fails alone, and its
// usage is not counted.
func TestDeliverWithoutInbox(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		e.appendMsg(t, u, "Archive", msg("kept", "x"))
		before, _ := e.s.Usage(e.ctx, u)
		if err := e.d.Writer().Exec("DELETE FROM mailboxes WHERE user_id = ? AND name = 'INBOX'", u).Error; err != nil {
			t.Fatal(err)
		}
		err := e.s.Deliver(e.ctx, []int64{u}, strings.NewReader(msg("lost", "y")))
		var derr *mailstore.DeliveryError
		if !errors.As(err, &derr) || !errors.Is(err, mailstore.ErrNotFound) || len(derr.Delivered) != 0 {
			t.Fatalf("Deliver without INBOX: %v", err)
		}
		if after, _ := e.s.Usage(e.ctx, u); after.Bytes != before.Bytes {
			t.Fatalf("usage %d after a refused delivery, was %d", after.Bytes, before.Bytes)
		}
	})
}

func TestQuotaRefusalStoresNothing(t *testing.T) {
	each(t, 2, func(t *testing.T, e *env) {
		u, v := e.users[0], e.users[1]
		first := msg("first", strings.Repeat("a", 400))
		setQuota(t, e, u, int64(len(first))+100)
		e.appendMsg(t, u, "INBOX", first)
		blobs := len(e.blobKeys(t))
		_, err := e.s.Append(e.ctx, u, "INBOX", strings.NewReader(msg("second", strings.Repeat("b", 400))), mailstore.AppendOptions{})
		if !errors.Is(err, mailstore.ErrOverQuota) {
			t.Fatalf("Append over quota: %v", err)
		}
		if got := len(e.blobKeys(t)); got != blobs {
			t.Fatalf("%d blobs after refusal, want %d", got, blobs)
		}
		if n := e.count(t, "SELECT count(*) FROM messages"); n != 1 {
			t.Fatalf("%d message rows after refusal", n)
		}
		sel := e.selectBox(t, u, "INBOX")
		if len(sel.UIDs) != 1 || sel.UIDNext != 2 {
			t.Fatalf("after refusal: %d messages, UIDNEXT %d", len(sel.UIDs), sel.UIDNext)
		}
		if us, _ := e.s.Usage(e.ctx, u); us.Bytes != int64(len(first)) {
			t.Fatalf("usage %d, want %d", us.Bytes, len(first))
		}
		// COPY counts too.
		if _, err := e.s.Copy(e.ctx, u, sel.ID, sel.UIDs, "Archive"); !errors.Is(err, mailstore.ErrOverQuota) {
			t.Fatalf("Copy over quota: %v", err)
		}
		// Delivery: the user over quota fails, the other gets it.
		err = e.s.Deliver(e.ctx, []int64{u, v}, strings.NewReader(msg("third", strings.Repeat("c", 400))))
		var derr *mailstore.DeliveryError
		if !errors.As(err, &derr) || !errors.Is(err, mailstore.ErrOverQuota) || !slices.Equal(derr.Delivered, []int64{v}) {
			t.Fatalf("Deliver: %v", err)
		}
		if us, _ := e.s.Usage(e.ctx, u); us.Bytes != int64(len(first)) {
			t.Fatalf("usage after refused delivery %d", us.Bytes)
		}
		// A delivery to that user alone (its own path).
		err = e.s.Deliver(e.ctx, []int64{u}, strings.NewReader(msg("fourth", strings.Repeat("d", 400))))
		if !errors.As(err, &derr) || !errors.Is(err, mailstore.ErrOverQuota) || len(derr.Delivered) != 0 {
			t.Fatalf("Deliver to one user over quota: %v", err)
		}
		if us, _ := e.s.Usage(e.ctx, u); us.Bytes != int64(len(first)) {
			t.Fatalf("usage after refused delivery to one %d", us.Bytes)
		}
		if sel := e.selectBox(t, u, "INBOX"); len(sel.UIDs) != 1 || sel.UIDNext != 2 {
			t.Fatalf("after refused delivery to one: %d messages, UIDNEXT %d", len(sel.UIDs), sel.UIDNext)
		}
		// Too big: refused before anything is stored.
		_, err = e.s.Append(e.ctx, v, "INBOX", strings.NewReader(msg("big", strings.Repeat("x", 1<<20))), mailstore.AppendOptions{})
		if !errors.Is(err, mailstore.ErrTooBig) {
			t.Fatalf("Append too big: %v", err)
		}
	})
}

const brokenMIME = "From: a@b.gov.sy\r\nSubject: broken\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"never-used\"\r\n\r\nthis has no parts at all\r\n--other\r\nstill text\r\n"

func TestBrokenMIMEIsStoredAsItCameAndParsedAsTextPlain(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		a := e.appendMsg(t, u, "INBOX", brokenMIME)
		var got *mailstore.MessageInfo
		err := e.s.Fetch(e.ctx, u, a.MailboxID, []uint32{a.UID}, mailstore.FetchOptions{Envelope: true, Structure: true},
			func(mi *mailstore.MessageInfo) error { got = mi; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if got.Body.MediaType() != "text/plain" || got.Envelope.Subject != "broken" {
			t.Fatalf("structure %s, subject %q", got.Body.MediaType(), got.Envelope.Subject)
		}
		if e.raw(t, got.BlobKey) != brokenMIME || got.Size != int64(len(brokenMIME)) {
			t.Fatal("raw message changed")
		}
		uids, err := e.s.Search(e.ctx, u, a.MailboxID, &mailstore.Criteria{Body: []string{"STILL text"}})
		if err != nil || !slices.Equal(uids, []uint32{a.UID}) {
			t.Fatalf("search body of broken MIME: %v %v", uids, err)
		}
		// NUL bytes and invalid UTF-8 anywhere (PostgreSQL refuses both in
		// text columns) are stored too.
		hostile := "Subject: a\x00b \xff\xfe\r\nFrom: \x00<x@y>\r\nX-Bin: \x80\x81\r\n\r\n\x00\xff body\r\n"
		e.appendMsg(t, u, "INBOX", hostile)
	})
}

func TestRenameTakesChildrenAlong(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		if _, err := e.s.CreateMailbox(e.ctx, u, "Projects/2026/Q1", ""); err != nil {
			t.Fatal(err)
		}
		q1, err := e.s.Mailbox(e.ctx, u, "Projects/2026/Q1")
		if err != nil {
			t.Fatal(err)
		}
		a := e.appendMsg(t, u, "Projects/2026/Q1", msg("plan", "x"))
		if err := e.s.RenameMailbox(e.ctx, u, "Projects", "Archive/المشاريع"); err != nil {
			t.Fatal(err)
		}
		boxes, _ := e.s.Mailboxes(e.ctx, u)
		var names []string
		for _, b := range boxes {
			names = append(names, b.Name)
		}
		for _, want := range []string{"Archive/المشاريع", "Archive/المشاريع/2026", "Archive/المشاريع/2026/Q1"} {
			if !slices.Contains(names, want) {
				t.Fatalf("after rename: %v lacks %s", names, want)
			}
		}
		if slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "Projects") }) {
			t.Fatalf("old names left: %v", names)
		}
		moved, err := e.s.Mailbox(e.ctx, u, "Archive/المشاريع/2026/Q1")
		if err != nil || moved.ID != q1.ID || moved.UIDValidity != q1.UIDValidity {
			t.Fatalf("renamed child %+v (was %+v): %v", moved, q1, err)
		}
		if sel := e.selectBox(t, u, moved.Name); !slices.Equal(sel.UIDs, []uint32{a.UID}) {
			t.Fatalf("messages after rename: %v", sel.UIDs)
		}
		// Onto an existing name, or under itself: refused.
		if err := e.s.RenameMailbox(e.ctx, u, "Archive", "Sent"); !errors.Is(err, mailstore.ErrExists) {
			t.Fatalf("rename onto Sent: %v", err)
		}
		if err := e.s.RenameMailbox(e.ctx, u, "Archive", "Archive/x"); !errors.Is(err, mailstore.ErrProtected) {
			t.Fatalf("rename under itself: %v", err)
		}
		if err := e.s.DeleteMailbox(e.ctx, u, "Archive/المشاريع"); !errors.Is(err, mailstore.ErrHasChildren) {
			t.Fatalf("delete with children: %v", err)
		}
		// Renaming INBOX moves its messages and leaves it empty.
		in := e.appendMsg(t, u, "INBOX", msg("old", "x"))
		if err := e.s.RenameMailbox(e.ctx, u, "INBOX", "Old Inbox"); err != nil {
			t.Fatal(err)
		}
		if sel := e.selectBox(t, u, "INBOX"); len(sel.UIDs) != 0 || sel.UIDNext != in.UID+1 {
			t.Fatalf("INBOX after rename: %+v", sel)
		}
		if sel := e.selectBox(t, u, "Old Inbox"); !slices.Equal(sel.UIDs, []uint32{in.UID}) || sel.UIDNext != in.UID+1 {
			t.Fatalf("renamed INBOX: %+v", sel)
		}
	})
}

func TestMailboxNamesAndOwnershipAreChecked(t *testing.T) {
	each(t, 2, func(t *testing.T, e *env) {
		u, other := e.users[0], e.users[1]
		for _, bad := range []string{"", "/a", "a/", "a//b", "a/../b", "..", "a\x00b", "a\tb", "a\u202eb", "a*", "a%b",
			strings.Repeat("x", mailstore.MaxNameLen+1), strings.Repeat("a/", mailstore.MaxNameDepth) + "a"} {
			if _, err := e.s.CreateMailbox(e.ctx, u, bad, ""); !errors.Is(err, mailstore.ErrInvalidName) {
				t.Errorf("CreateMailbox(%q): %v", bad, err)
			}
		}
		if _, err := e.s.CreateMailbox(e.ctx, u, "Sent", ""); !errors.Is(err, mailstore.ErrExists) {
			t.Fatalf("CreateMailbox(Sent): %v", err)
		}
		if _, err := e.s.CreateMailbox(e.ctx, u, "x", `\Bogus`); !errors.Is(err, mailstore.ErrInvalidName) {
			t.Fatalf("bad special use: %v", err)
		}
		a := e.appendMsg(t, u, "inbox", msg("mine", "secret"))
		if err := e.s.EnsureUser(e.ctx, other); err != nil {
			t.Fatal(err)
		}
		// Another user's mailbox ID is not found for anything.
		if _, err := e.s.UIDs(e.ctx, other, a.MailboxID); !errors.Is(err, mailstore.ErrNotFound) {
			t.Fatalf("UIDs of another user's mailbox: %v", err)
		}
		if err := e.s.Fetch(e.ctx, other, a.MailboxID, []uint32{a.UID}, mailstore.FetchOptions{},
			func(*mailstore.MessageInfo) error { return nil }); !errors.Is(err, mailstore.ErrNotFound) {
			t.Fatalf("Fetch of another user's mailbox: %v", err)
		}
		if _, err := e.s.StoreFlags(e.ctx, other, a.MailboxID, []uint32{a.UID}, mailstore.FlagsAdd, []string{`\Deleted`}); !errors.Is(err, mailstore.ErrNotFound) {
			t.Fatalf("StoreFlags on another user's mailbox: %v", err)
		}
		if _, err := e.s.Expunge(e.ctx, other, a.MailboxID, nil); !errors.Is(err, mailstore.ErrNotFound) {
			t.Fatalf("Expunge of another user's mailbox: %v", err)
		}
		if _, err := e.s.Move(e.ctx, other, a.MailboxID, []uint32{a.UID}, "INBOX"); !errors.Is(err, mailstore.ErrNotFound) {
			t.Fatalf("Move from another user's mailbox: %v", err)
		}
		if _, err := e.s.Search(e.ctx, other, a.MailboxID, &mailstore.Criteria{}); !errors.Is(err, mailstore.ErrNotFound) {
			t.Fatalf("Search of another user's mailbox: %v", err)
		}
		if sel := e.selectBox(t, u, "INBOX"); len(sel.UIDs) != 1 {
			t.Fatalf("owner's INBOX changed: %v", sel.UIDs)
		}
		if _, err := e.s.StoreFlags(e.ctx, u, a.MailboxID, []uint32{a.UID}, mailstore.FlagsAdd, []string{"bad(kw"}); !errors.Is(err, mailstore.ErrInvalidFlag) {
			t.Fatalf("invalid keyword: %v", err)
		}
	})
}

func TestSweepRemovesOnlyUnreferencedBlobs(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		kept := e.appendMsg(t, u, "INBOX", msg("kept", "x"))
		copied := e.appendMsg(t, u, "INBOX", msg("copied", "y"))
		gone := e.appendMsg(t, u, "INBOX", msg("gone", "z"))
		if _, err := e.s.Copy(e.ctx, u, copied.MailboxID, []uint32{copied.UID}, "Archive"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.StoreFlags(e.ctx, u, kept.MailboxID, []uint32{copied.UID, gone.UID}, mailstore.FlagsAdd, []string{`\Deleted`}); err != nil {
			t.Fatal(err)
		}
		if got, err := e.s.Expunge(e.ctx, u, kept.MailboxID, nil); err != nil || !slices.Equal(got, []uint32{copied.UID, gone.UID}) {
			t.Fatalf("expunged %v %v", got, err)
		}
		if n, err := e.s.Sweep(e.ctx); err != nil || n != 0 {
			t.Fatalf("sweep within the grace period removed %d: %v", n, err)
		}
		e.clock.Advance(2 * time.Hour)
		if n, err := e.s.Sweep(e.ctx); err != nil || n != 1 {
			t.Fatalf("sweep removed %d, want 1: %v", n, err)
		}
		if keys := e.blobKeys(t); len(keys) != 2 {
			t.Fatalf("%d blobs left, want 2", len(keys))
		}
		for _, box := range []string{"INBOX", "Archive"} {
			sel := e.selectBox(t, u, box)
			err := e.s.Fetch(e.ctx, u, sel.ID, sel.UIDs, mailstore.FetchOptions{}, func(mi *mailstore.MessageInfo) error {
				e.raw(t, mi.BlobKey)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// Content whose last reference went long ago, delivered again:
		// the delivery pins it, and a sweep right after leaves it alone.
		again := e.appendMsg(t, u, "Archive", msg("again", "w"))
		if _, err := e.s.StoreFlags(e.ctx, u, again.MailboxID, []uint32{again.UID}, mailstore.FlagsAdd, []string{`\Deleted`}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Expunge(e.ctx, u, again.MailboxID, []uint32{again.UID}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Hour)
		back := e.appendMsg(t, u, "INBOX", msg("again", "w"))
		if n, err := e.s.Sweep(e.ctx); err != nil || n != 0 {
			t.Fatalf("sweep after redelivery removed %d: %v", n, err)
		}
		var key string
		_ = e.s.Fetch(e.ctx, u, back.MailboxID, []uint32{back.UID}, mailstore.FetchOptions{}, func(mi *mailstore.MessageInfo) error {
			key = mi.BlobKey
			return nil
		})
		if e.raw(t, key) != msg("again", "w") {
			t.Fatal("redelivered message unreadable")
		}
	})
}

// claimContent stores raw for u and leaves its content unreferenced and
// claimed, as a sweep that claimed the row and then stopped (crash, store
// error) leaves it; it returns the content's blob key.
func claimContent(t *testing.T, e *env, u int64, raw string) string {
	t.Helper()
	a := e.appendMsg(t, u, "INBOX", raw, `\Deleted`)
	if _, err := e.s.Expunge(e.ctx, u, a.MailboxID, nil); err != nil {
		t.Fatal(err)
	}
	var key string
	if err := e.d.Writer().Raw("UPDATE messages SET deleting = TRUE RETURNING blob_key").Scan(&key).Error; err != nil || key == "" {
		t.Fatalf("claim %q: %v", key, err)
	}
	return key
}

// A delivery of content that a sweep is deleting waits for the sweep and
// stores the blob again, whichever runs first.
func TestDeliveryRacingTheSweepKeepsItsBlob(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		raw := msg("raced", "content")
		claimContent(t, e, u, raw)
		var wg sync.WaitGroup
		var got mailstore.Appended
		var appendErr error
		wg.Go(func() {
			got, appendErr = e.s.Append(e.ctx, u, "Archive", strings.NewReader(raw), mailstore.AppendOptions{})
		})
		if n, err := e.s.Sweep(e.ctx); err != nil || n > 1 {
			t.Fatalf("sweep: %d %v", n, err)
		}
		wg.Wait()
		if appendErr != nil {
			t.Fatal(appendErr)
		}
		var key string
		if err := e.s.Fetch(e.ctx, u, got.MailboxID, []uint32{got.UID}, mailstore.FetchOptions{}, func(mi *mailstore.MessageInfo) error {
			key = mi.BlobKey
			return nil
		}); err != nil || key == "" {
			t.Fatalf("fetch: %v", err)
		}
		if e.raw(t, key) != raw {
			t.Fatal("blob lost to the sweep")
		}
		if n := e.count(t, "SELECT count(*) FROM messages WHERE refs = 1 AND NOT deleting"); n != 1 {
			t.Fatalf("%d live rows", n)
		}
	})
}

// An APPEND of content whose row the sweep has claimed waits for the sweep
// without storing the blob: a blob stored then would be deleted by the
// sweep after the put. (Here the sweep stopped after deleting the blob, so
// the APPEND waits until its deadline.)
func TestAppendWaitsForAClaimedContent(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		raw := msg("claimed", "content")
		key := claimContent(t, e, u, raw)
		if err := e.blobs.Delete(e.ctx, key); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(e.ctx, 300*time.Millisecond)
		defer cancel()
		if _, err := e.s.Append(ctx, u, "Archive", strings.NewReader(raw), mailstore.AppendOptions{}); err == nil {
			t.Fatal("APPEND of claimed content succeeded while the sweep held it")
		}
		if _, err := e.blobs.Stat(e.ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("blob of claimed content: %v, want it not stored", err)
		}
	})
}

// The same race for a delivery to one recipient, which stores the message
// in one statement on PostgreSQL.
func TestDeliveryToOneRacingTheSweepKeepsItsBlob(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		raw := msg("raced", "delivered")
		claimContent(t, e, u, raw)
		var wg sync.WaitGroup
		var deliverErr error
		wg.Go(func() { deliverErr = e.s.Deliver(e.ctx, []int64{u}, strings.NewReader(raw)) })
		if n, err := e.s.Sweep(e.ctx); err != nil || n > 1 {
			t.Fatalf("sweep: %d %v", n, err)
		}
		wg.Wait()
		if deliverErr != nil {
			t.Fatal(deliverErr)
		}
		var keys []string
		if err := e.d.Writer().Raw("SELECT blob_key FROM messages WHERE refs = 1 AND NOT deleting").Scan(&keys).Error; err != nil || len(keys) != 1 {
			t.Fatalf("live rows %v (%v)", keys, err)
		}
		if e.raw(t, keys[0]) != raw {
			t.Fatal("blob lost to the sweep")
		}
		if sel := e.selectBox(t, u, "INBOX"); len(sel.UIDs) != 1 {
			t.Fatalf("INBOX holds %d messages, want 1", len(sel.UIDs))
		}
	})
}

func TestSearchMatchesArabicCaseInsensitively(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		ar := "From: =?UTF-8?B?2YjYstin2LHYqSDYp9mE2YXYp9mE2YrYqQ==?= <mof@mof.gov.sy>\r\nTo: u1@test.gov.sy\r\n" +
			"Subject: =?UTF-8?B?2KrYudmF2YrZhSDYqNi02KPZhiDYp9mE2YXZiNin2LLZhtipINin2YTYudin2YXYqQ==?=\r\n" +
			"Date: Mon, 2 Mar 2026 08:00:00 +0300\r\nX-Ref: MOF/2026/17\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
			"نرجو الاطلاع على الميزانية العامة للدولة.\r\n"
		a1 := e.appendMsg(t, u, "INBOX", ar)
		a2 := e.appendMsg(t, u, "INBOX", msg("Budget REVIEW", "Numbers attached"), `\Seen`, "$Important")
		a3 := e.appendMsg(t, u, "INBOX", msg("Other", strings.Repeat("long ", 300)), `\Flagged`)
		box := a1.MailboxID
		cases := []struct {
			name string
			c    mailstore.Criteria
			want []uint32
		}{
			{"arabic subject", mailstore.Criteria{Header: []mailstore.HeaderMatch{{"Subject", "الموازنة"}}}, []uint32{a1.UID}},
			{"arabic from name", mailstore.Criteria{Header: []mailstore.HeaderMatch{{"From", "وزارة المالية"}}}, []uint32{a1.UID}},
			{"arabic body", mailstore.Criteria{Body: []string{"الميزانية"}}, []uint32{a1.UID}},
			{"arabic with harakat", mailstore.Criteria{Body: []string{"المِيزانيّة"}}, []uint32{a1.UID}},
			{"case-insensitive", mailstore.Criteria{Header: []mailstore.HeaderMatch{{"subject", "budget review"}}}, []uint32{a2.UID}},
			{"text", mailstore.Criteria{Text: []string{"mof/2026"}}, []uint32{a1.UID}},
			{"other header", mailstore.Criteria{Header: []mailstore.HeaderMatch{{"X-Ref", "2026/17"}}}, []uint32{a1.UID}},
			{"header present", mailstore.Criteria{Header: []mailstore.HeaderMatch{{"X-Ref", ""}}}, []uint32{a1.UID}},
			{"seen", mailstore.Criteria{Flag: []string{`\Seen`}}, []uint32{a2.UID}},
			{"unseen", mailstore.Criteria{NotFlag: []string{`\Seen`}}, []uint32{a1.UID, a3.UID}},
			{"keyword", mailstore.Criteria{Flag: []string{"$important"}}, []uint32{a2.UID}},
			{"larger", mailstore.Criteria{Larger: 1000}, []uint32{a3.UID}},
			{"smaller", mailstore.Criteria{Smaller: 1000}, []uint32{a1.UID, a2.UID}},
			{"uid range", mailstore.Criteria{UID: [][]mailstore.UIDRange{{{Start: a2.UID, Stop: a3.UID}}}}, []uint32{a2.UID, a3.UID}},
			{"not", mailstore.Criteria{Not: []mailstore.Criteria{{Flag: []string{`\Flagged`}}}}, []uint32{a1.UID, a2.UID}},
			{"or", mailstore.Criteria{Or: [][2]mailstore.Criteria{{{Flag: []string{`\Seen`}}, {Flag: []string{`\Flagged`}}}}}, []uint32{a2.UID, a3.UID}},
			{"sent since", mailstore.Criteria{SentSince: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}, []uint32{a1.UID}},
			{"sent before", mailstore.Criteria{SentBefore: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}, []uint32{a2.UID, a3.UID}},
			{"since", mailstore.Criteria{Since: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}, []uint32{a1.UID, a2.UID, a3.UID}},
			{"before", mailstore.Criteria{Before: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}, nil},
			{"like wildcards are literal", mailstore.Criteria{Body: []string{"%"}}, nil},
		}
		for _, c := range cases {
			got, err := e.s.Search(e.ctx, u, box, &c.c)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
			// The SQL evaluation agrees with the reference one.
			ref, err := e.s.SearchInGo(e.ctx, u, box, &c.c)
			if err != nil || !slices.Equal(ref, c.want) {
				t.Errorf("%s (reference): got %v, want %v (%v)", c.name, ref, c.want, err)
			}
		}
	})
}

func TestFlagsExpungeMoveBookkeeping(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		var as []mailstore.Appended
		for i := range 5 {
			as = append(as, e.appendMsg(t, u, "INBOX", msg(fmt.Sprintf("m%d", i), "body")))
		}
		box := as[0].MailboxID
		ms0 := e.selectBox(t, u, "INBOX").HighestModSeq

		up, err := e.s.StoreFlags(e.ctx, u, box, []uint32{1, 2, 3, 99}, mailstore.FlagsAdd, []string{`\seen`, "$Label1"})
		if err != nil || len(up) != 3 {
			t.Fatalf("StoreFlags: %v %v", up, err)
		}
		if !slices.Equal(up[0].Flags, []string{`\Seen`, "$Label1"}) || up[0].ModSeq != ms0+1 {
			t.Fatalf("flags %v modseq %d (was %d)", up[0].Flags, up[0].ModSeq, ms0)
		}
		// No change: no new MODSEQ.
		if _, err := e.s.StoreFlags(e.ctx, u, box, []uint32{1}, mailstore.FlagsAdd, []string{`\Seen`}); err != nil {
			t.Fatal(err)
		}
		sel := e.selectBox(t, u, "INBOX")
		if sel.HighestModSeq != ms0+1 || sel.Unseen != 2 || sel.FirstUnseen != 4 || !slices.Contains(sel.Flags, "$Label1") {
			t.Fatalf("after store: %+v", sel)
		}
		up, _ = e.s.StoreFlags(e.ctx, u, box, []uint32{2}, mailstore.FlagsRemove, []string{"$label1"})
		if !slices.Equal(up[0].Flags, []string{`\Seen`}) {
			t.Fatalf("after -FLAGS: %v", up[0].Flags)
		}
		up, _ = e.s.StoreFlags(e.ctx, u, box, []uint32{3}, mailstore.FlagsReplace, []string{`\Deleted`, `\Answered`})
		if !slices.Equal(up[0].Flags, []string{`\Answered`, `\Deleted`}) {
			t.Fatalf("after FLAGS: %v", up[0].Flags)
		}
		// COPY keeps flags and dates; UIDs in order.
		cp, err := e.s.Copy(e.ctx, u, box, []uint32{3, 1}, "Archive")
		if err != nil || !slices.Equal(cp.SrcUIDs, []uint32{1, 3}) || !slices.Equal(cp.DstUIDs, []uint32{1, 2}) {
			t.Fatalf("Copy: %+v %v", cp, err)
		}
		arch := e.selectBox(t, u, "Archive")
		if arch.UIDValidity != cp.DstUIDValidity || arch.Deleted != 1 || arch.Messages != 2 {
			t.Fatalf("Archive: %+v", arch)
		}
		// MOVE removes from the source.
		mv, err := e.s.Move(e.ctx, u, box, []uint32{4, 5}, "Trash")
		if err != nil || !slices.Equal(mv.DstUIDs, []uint32{1, 2}) {
			t.Fatalf("Move: %+v %v", mv, err)
		}
		// UID EXPUNGE of a subset takes only \Deleted messages in it.
		if got, err := e.s.Expunge(e.ctx, u, box, []uint32{1, 2}); err != nil || len(got) != 0 {
			t.Fatalf("UID EXPUNGE without \\Deleted: %v %v", got, err)
		}
		if got, err := e.s.Expunge(e.ctx, u, box, nil); err != nil || !slices.Equal(got, []uint32{3}) {
			t.Fatalf("EXPUNGE: %v %v", got, err)
		}
		st, err := e.s.Status(e.ctx, u, "INBOX")
		if err != nil || st.Messages != 2 || st.Deleted != 0 || st.UIDNext != 6 {
			t.Fatalf("INBOX status: %+v %v", st, err)
		}
		// MOVE within one mailbox: a new UID, two MODSEQs (copy, then
		// removal); -FLAGS of an unknown keyword adds no keyword.
		before := e.selectBox(t, u, "INBOX")
		if mv, err := e.s.Move(e.ctx, u, box, []uint32{1}, "INBOX"); err != nil || !slices.Equal(mv.DstUIDs, []uint32{6}) {
			t.Fatalf("Move within INBOX: %+v %v", mv, err)
		}
		if _, err := e.s.StoreFlags(e.ctx, u, box, []uint32{2}, mailstore.FlagsRemove, []string{"$Never"}); err != nil {
			t.Fatal(err)
		}
		after := e.selectBox(t, u, "INBOX")
		if !slices.Equal(after.UIDs, []uint32{2, 6}) || after.Messages != 2 || after.HighestModSeq != before.HighestModSeq+2 ||
			slices.Contains(after.Flags, "$Never") || after.Size != before.Size {
			t.Fatalf("after MOVE within INBOX: %+v (before %+v)", after, before)
		}
		var size int64
		for _, name := range []string{"INBOX", "Archive", "Trash"} {
			st, _ := e.s.Status(e.ctx, u, name)
			size += st.Size
		}
		us, _ := e.s.Usage(e.ctx, u)
		if us.Bytes != size {
			t.Fatalf("usage %d, sum of mailbox sizes %d", us.Bytes, size)
		}
		if n := e.count(t, "SELECT sum(refs) FROM messages"); n != 6 {
			t.Fatalf("refs %d, want 6", n)
		}
		// Deleting a mailbox gives its space back.
		if err := e.s.DeleteMailbox(e.ctx, u, "Archive"); err != nil {
			t.Fatal(err)
		}
		us2, _ := e.s.Usage(e.ctx, u)
		if us2.Bytes != size-arch.Size {
			t.Fatalf("usage after delete %d, want %d", us2.Bytes, size-arch.Size)
		}
	})
}

func TestChangeFeedPublishesAfterCommit(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		if err := e.s.EnsureUser(e.ctx, u); err != nil {
			t.Fatal(err)
		}
		inbox := e.selectBox(t, u, "INBOX")
		var mu sync.Mutex
		var got []mailstore.Event
		var committed []bool
		cancel := e.feed.Subscribe(inbox.ID, func(ev mailstore.Event) {
			// The change is visible to another reader when it is published.
			n := e.count(t, "SELECT count(*) FROM mailbox_messages WHERE mailbox_id = ?", inbox.ID)
			mu.Lock()
			got = append(got, ev)
			committed = append(committed, n == int64(ev.Messages))
			mu.Unlock()
		})
		defer cancel()
		setQuota(t, e, u, 2000)
		ctx := mailstore.WithOrigin(e.ctx, "session-1")
		a, err := e.s.Append(ctx, u, "INBOX", strings.NewReader(msg("one", "x")), mailstore.AppendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// A refused change publishes nothing.
		if _, err := e.s.Append(e.ctx, u, "INBOX", strings.NewReader(msg("big", strings.Repeat("y", 3000))), mailstore.AppendOptions{}); !errors.Is(err, mailstore.ErrOverQuota) {
			t.Fatal(err)
		}
		if _, err := e.s.StoreFlags(e.ctx, u, inbox.ID, []uint32{a.UID}, mailstore.FlagsAdd, []string{`\Deleted`}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Expunge(e.ctx, u, inbox.ID, nil); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		kinds := []mailstore.EventKind{}
		for _, ev := range got {
			kinds = append(kinds, ev.Kind)
		}
		if !slices.Equal(kinds, []mailstore.EventKind{mailstore.EventAppend, mailstore.EventFlags, mailstore.EventExpunge}) {
			t.Fatalf("events %v", got)
		}
		for i, ok := range committed {
			if !ok {
				t.Errorf("event %d published before its commit was visible", i)
			}
		}
		if got[0].Origin != "session-1" || got[1].Origin != nil || !slices.Equal(got[0].UIDs, []uint32{a.UID}) {
			t.Fatalf("origin/UIDs: %+v", got[:2])
		}
		if !slices.Equal(got[1].Flags[0], []string{`\Deleted`}) || !slices.Equal(got[2].UIDs, []uint32{a.UID}) || got[2].Messages != 0 {
			t.Fatalf("flag/expunge events: %+v", got[1:])
		}
		for i := 1; i < len(got); i++ {
			if got[i].ModSeq <= got[i-1].ModSeq {
				t.Fatalf("ModSeq not increasing: %+v", got)
			}
		}
	})
}

func TestFetchServesSectionsByByteRange(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		raw := "From: a@b.gov.sy\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" +
			"--B\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n" +
			"Subject: inner\r\nContent-Type: multipart/alternative; boundary=C\r\n\r\n--C\r\n\r\ninner one\r\n--C\r\n" +
			"Content-Type: text/html\r\n\r\n<b>two</b>\r\n--C--\r\n\r\n--B--\r\n"
		a := e.appendMsg(t, u, "INBOX", raw)
		var mi *mailstore.MessageInfo
		if err := e.s.Fetch(e.ctx, u, a.MailboxID, []uint32{a.UID}, mailstore.FetchOptions{Structure: true},
			func(m *mailstore.MessageInfo) error { mi = m; return nil }); err != nil {
			t.Fatal(err)
		}
		p := &message.Parsed{Body: mi.Body}
		section := func(path []int, spec message.Specifier) string {
			off, n, err := p.Section(path, spec)
			if err != nil {
				t.Fatalf("%v %s: %v", path, spec, err)
			}
			rc, err := e.s.OpenRaw(e.ctx, mi.BlobKey, off, n)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b := new(strings.Builder)
			if _, err := fmt.Fprint(b, readAll(t, rc)); err != nil {
				t.Fatal(err)
			}
			return b.String()
		}
		if got := section([]int{1}, message.SpecAll); got != "first" {
			t.Errorf("BODY[1] = %q", got)
		}
		if got := section([]int{2, 1}, message.SpecMIME); got != "\r\n" {
			t.Errorf("BODY[2.1.MIME] = %q", got)
		}
		if got := section([]int{2, 2}, message.SpecAll); got != "<b>two</b>" {
			t.Errorf("BODY[2.2] = %q", got)
		}
		if got := section(nil, message.SpecHeader); int64(len(got)) != mi.HeaderSize || !strings.HasSuffix(got, "\r\n\r\n") {
			t.Errorf("BODY[HEADER] = %q", got)
		}
		if got := section([]int{2}, message.SpecHeader); got != "Subject: inner\r\nContent-Type: multipart/alternative; boundary=C\r\n\r\n" {
			t.Errorf("BODY[2.HEADER] = %q", got)
		}
	})
}

// failingReader yields some bytes, then an error, as a client that drops
// in the middle of a literal.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	k := min(len(p), f.n)
	for i := range k {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

func TestAppendFromFailingReaderStoresNothing(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		for _, n := range []int{10, 200 << 10} { // in memory, and spooled to a file
			_, err := e.s.Append(e.ctx, u, "INBOX", &failingReader{n: n}, mailstore.AppendOptions{})
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("Append(%d bytes then error): %v", n, err)
			}
		}
		if keys := e.blobKeys(t); len(keys) != 0 {
			t.Fatalf("blobs stored: %v", keys)
		}
		if sel := e.selectBox(t, u, "INBOX"); len(sel.UIDs) != 0 || sel.UIDNext != 1 {
			t.Fatalf("INBOX: %+v", sel)
		}
	})
}
