package imap_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"diwan.gov.sy/diwan/internal/mailstore"
)

// seed100k fills user1's INBOX with n messages through the store: 1,000
// appended (99% \Seen, as a kept mailbox is), then copied within the
// mailbox until there are n (copies share the stored message).
func seed100k(b *testing.B, e *env, n int) int64 {
	b.Helper()
	ctx := b.Context()
	u := e.users[user1].ID
	for i := range min(n, 1000) {
		var flags []string
		if i%100 != 0 {
			flags = []string{mailstore.FlagSeen}
		}
		raw := simpleMsg(fmt.Sprintf("report %d", i), "Sara <sara@mof.gov.sy>", user1, strings.Repeat("body text\r\n", 100))
		if _, err := e.store.Append(ctx, u, "INBOX", strings.NewReader(raw), mailstore.AppendOptions{Flags: flags}); err != nil {
			b.Fatal(err)
		}
	}
	mb, err := e.store.Mailbox(ctx, u, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	for {
		uids, err := e.store.UIDs(ctx, u, mb.ID)
		if err != nil {
			b.Fatal(err)
		}
		if len(uids) >= n {
			return mb.ID
		}
		if _, err := e.store.Copy(ctx, u, mb.ID, uids[:min(len(uids), n-len(uids))], "INBOX"); err != nil {
			b.Fatal(err)
		}
	}
}

// Figures for a 100,000-message mailbox (DIWAN_IMAP_BENCH_N for another
// size; DIWAN_IMAP_BENCH_BACKEND=postgres+s3 for PostgreSQL):
//
//	go test -run '^$' -bench BenchmarkMailbox100k -benchtime 20x ./internal/imap/
//
// SELECT, UID FETCH 1:* (UID FLAGS), a QRESYNC resynchronisation
// (SELECT … (QRESYNC (uidvalidity modseq))) after another session changed
// the flags of 100 messages, and SELECT after a new message arrived.
func BenchmarkMailbox100k(b *testing.B) {
	n := 100000
	if _, err := fmt.Sscan(os.Getenv("DIWAN_IMAP_BENCH_N"), &n); err != nil {
		n = 100000
	}
	e := newEnv(b, envOptions{backend: os.Getenv("DIWAN_IMAP_BENCH_BACKEND")})
	box := seed100k(b, e, n)
	c := e.login(b, user1)
	selectBox(b, c, "INBOX")
	b.Run("SELECT", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UID_FETCH_1:*_(UID_FLAGS)", func(b *testing.B) {
		all := imap.UIDSet{{Start: 1, Stop: 0}}
		for b.Loop() {
			msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true}).Collect()
			if err != nil || len(msgs) != n {
				b.Fatalf("%v, %d messages", err, len(msgs))
			}
		}
	})
	b.Run("QRESYNC_after_100_flag_changes", func(b *testing.B) {
		r := e.rawTLS(b)
		r.login(user1)
		r.cmd("ENABLE QRESYNC")
		u := e.users[user1].ID
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			lines, _ := r.cmd("EXAMINE INBOX")
			validity, modseq := find(b, lines, reValidity), find(b, lines, reHighest)
			r.cmd("UNSELECT")
			for range 100 {
				uid := uint32(rand.IntN(n) + 1)
				if _, err := e.store.StoreFlags(b.Context(), u, box, []uint32{uid}, mailstore.FlagsAdd, []string{fmt.Sprintf("$k%d", i%50)}); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			lines, st := r.cmd(fmt.Sprintf("EXAMINE INBOX (QRESYNC (%d %d))", validity, modseq))
			if !strings.HasPrefix(st, "OK") || len(only(lines, "FETCH")) == 0 {
				b.Fatalf("%s %d lines", st, len(lines))
			}
			b.StopTimer()
			r.cmd("UNSELECT")
			b.StartTimer()
		}
	})
	b.Run("SELECT_after_a_new_message", func(b *testing.B) {
		u := e.users[user1].ID
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			raw := simpleMsg(fmt.Sprintf("new %d", i), "Sara <sara@mof.gov.sy>", user1, "body text\r\n")
			if _, err := e.store.Append(b.Context(), u, "INBOX", strings.NewReader(raw), mailstore.AppendOptions{}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
