package mailstore_test

import (
	"fmt"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/mailstore"
	"diwan.gov.sy/diwan/internal/message"
)

// benchMessage is a plain 4 KiB message.
func benchMessage(i int) string {
	return msg(fmt.Sprintf("report %d on the budget", i), strings.Repeat("Lorem ipsum dolor sit amet. ", 140))
}

// BenchmarkAppend appends 4 KiB messages to one INBOX, one at a time, each
// durable (blob fsynced on the filesystem store, transaction committed).
func BenchmarkAppend(b *testing.B) {
	for _, driver := range dbtest.Drivers {
		b.Run(driver+"/fs", func(b *testing.B) {
			e := newEnv(b, driver, "fs", 1)
			u := e.users[0]
			if err := e.s.EnsureUser(e.ctx, u); err != nil {
				b.Fatal(err)
			}
			i := 0
			b.SetBytes(int64(len(benchMessage(0))))
			for b.Loop() {
				i++
				if _, err := e.s.Append(e.ctx, u, "INBOX", strings.NewReader(benchMessage(i)), mailstore.AppendOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fill puts n distinct messages into the user's INBOX straight through SQL
// (as Append would store them, without the blobs), for read benchmarks.
func fill(b *testing.B, e *env, user int64, n int) int64 {
	b.Helper()
	if err := e.s.EnsureUser(e.ctx, user); err != nil {
		b.Fatal(err)
	}
	inbox, err := e.s.Mailbox(e.ctx, user, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	p, err := message.Parse(strings.NewReader(benchMessage(0)))
	if err != nil {
		b.Fatal(err)
	}
	tx := e.d.Writer().Begin()
	for i := 1; i <= n; i++ {
		subject := fmt.Sprintf("report %d on the budget", i)
		env := fmt.Sprintf(`{"date":"2026-03-01T10:00:00+03:00","subject":%q,"from":[{"n":"Sender","m":"sender","h":"moct.gov.sy"}]}`, subject)
		var id int64
		if err := tx.Raw(`INSERT INTO messages (blob_key, size, header_size, sent_date, envelope, structure, search_subject,
				search_from, search_text, refs, created_at) VALUES (?, 4096, 150, 0, ?, '{}', ?, 'sender <sender@moct.gov.sy>', ?, 1, 0)
				RETURNING id`, fmt.Sprintf("msg/bench/%d", i), env, message.Fold(subject), p.Search.Text).Scan(&id).Error; err != nil {
			b.Fatal(err)
		}
		if err := tx.Exec(`INSERT INTO mailbox_messages (mailbox_id, uid, user_id, message_id, modseq, seen, internal_date, size)
				VALUES (?, ?, ?, ?, 1, ?, 1772348400, 4096)`, inbox.ID, i, user, id, i%3 != 0).Error; err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Exec("UPDATE mailboxes SET uid_next = ?, messages = ?, size = ?, highest_modseq = 2 WHERE id = ?",
		n+1, n, n*4096, inbox.ID).Error; err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit().Error; err != nil {
		b.Fatal(err)
	}
	return inbox.ID
}

// BenchmarkSelect10k selects a 10,000-message mailbox: counters, the UID
// list and the flags in use.
func BenchmarkSelect10k(b *testing.B) {
	for _, driver := range dbtest.Drivers {
		b.Run(driver, func(b *testing.B) {
			e := newEnv(b, driver, "fs", 1)
			fill(b, e, e.users[0], 10000)
			for b.Loop() {
				sel, err := e.s.Select(e.ctx, e.users[0], "INBOX")
				if err != nil || len(sel.UIDs) != 10000 {
					b.Fatal(len(sel.UIDs), err)
				}
			}
		})
	}
}

// BenchmarkUIDs10k reads the UID list of a 10,000-message mailbox (what
// SELECT reads when it has not kept the list).
func BenchmarkUIDs10k(b *testing.B) {
	for _, driver := range dbtest.Drivers {
		b.Run(driver, func(b *testing.B) {
			e := newEnv(b, driver, "fs", 1)
			box := fill(b, e, e.users[0], 10000)
			for b.Loop() {
				if uids, err := e.s.UIDs(e.ctx, e.users[0], box); err != nil || len(uids) != 10000 {
					b.Fatal(len(uids), err)
				}
			}
		})
	}
}

// BenchmarkFetchEnvelope10k is UID FETCH 1:* (FLAGS ENVELOPE) over 10,000
// messages.
func BenchmarkFetchEnvelope10k(b *testing.B) {
	for _, driver := range dbtest.Drivers {
		b.Run(driver, func(b *testing.B) {
			e := newEnv(b, driver, "fs", 1)
			box := fill(b, e, e.users[0], 10000)
			uids, _ := e.s.UIDs(e.ctx, e.users[0], box)
			for b.Loop() {
				n := 0
				err := e.s.Fetch(e.ctx, e.users[0], box, uids, mailstore.FetchOptions{Envelope: true},
					func(mi *mailstore.MessageInfo) error { n++; return nil })
				if err != nil || n != 10000 {
					b.Fatal(n, err)
				}
			}
		})
	}
}

// BenchmarkSearchSubject10k is UID SEARCH SUBJECT over 10,000 messages.
func BenchmarkSearchSubject10k(b *testing.B) {
	for _, driver := range dbtest.Drivers {
		b.Run(driver, func(b *testing.B) {
			e := newEnv(b, driver, "fs", 1)
			box := fill(b, e, e.users[0], 10000)
			c := &mailstore.Criteria{Header: []mailstore.HeaderMatch{{Key: "Subject", Value: "REPORT 9999"}}}
			for b.Loop() {
				uids, err := e.s.Search(e.ctx, e.users[0], box, c)
				if err != nil || len(uids) != 1 {
					b.Fatal(uids, err)
				}
			}
		})
	}
}
