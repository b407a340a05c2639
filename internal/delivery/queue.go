// Package delivery owns the outbound queue: the mail accepted for
// recipients on other national servers, recorded in relay_queue (one row
// per recipient) with the message in the blob store (keys "relay/…"),
// until a worker sends it. internal/smtp records into it through its
// RelayQueue interface; internal/app wires the two.
//
// Each message's recipients of one destination domain are one River job
// (jobs.go), inserted in the transaction that records the rows, so that a
// message accepted is never without the job that sends it. The worker
// (worker.go) routes and sends through route.go and client.go, marks each
// recipient sent, retried or failed, and bounces what failed to the
// sender's INBOX (bounce.go). It never sends to a domain the national
// policy refuses at the time of sending.
package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/db"
)

// Message is an accepted message for recipients on other national
// servers.
type Message struct {
	UserID int64    // who submitted it; 0 when not known
	From   string   // envelope sender, canonical; "" for <>
	To     []string // canonical recipient addresses, national and not hosted here
	UTF8   bool     // the envelope needs SMTPUTF8
}

// QueueBlobs is the part of the blob store the relay queue uses;
// blob.Store satisfies it.
type QueueBlobs interface {
	PutKey(ctx context.Context, key string, r io.Reader, size int64) (blob.Info, error)
}

// Queue is the relay queue in the database (relay_queue) and the blob
// store (keys "relay/…"). Built by NewQueue it only records; built by New
// it also inserts the jobs that send, and runs them once started.
type Queue struct {
	db    *db.DB
	blobs QueueBlobs
	now   func() time.Time
	jobs  jobs    // nil: record only
	eng   *engine // nil: record only

	started   atomic.Bool
	stopSweep context.CancelFunc
	swept     sync.WaitGroup
}

// NewQueue returns the relay queue on d and b, which records and sends
// nothing (no jobs).
func NewQueue(d *db.DB, b QueueBlobs) *Queue {
	return &Queue{db: d, blobs: b, now: time.Now}
}

// States of a relay_queue entry.
const (
	StatePending = "pending" // waiting to be sent (or retried)
	StateSent    = "sent"    // a remote server took it
	StateFailed  = "failed"  // given up: bounced to the sender (or dropped)
)

type relayRow struct {
	ID            int64 `gorm:"primaryKey"`
	CreatedAt     time.Time
	UserID        *int64
	MailFrom      string
	RcptTo        string
	Domain        string
	BlobKey       string
	Size          int64
	Smtputf8      bool `gorm:"column:smtputf8"`
	State         string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	JobID         *int64
	LastAttemptAt *time.Time
	RemoteMTA     string `gorm:"column:remote_mta"`
	Status        string
	DelayNotified bool
	DoneAt        *time.Time
}

func (relayRow) TableName() string { return "relay_queue" }

// Enqueue stores the message under a new key and, in one transaction, an
// entry per recipient and (when the queue sends) one job per destination
// domain. A blob whose transaction failed stays unreferenced.
func (q *Queue) Enqueue(ctx context.Context, m Message, raw io.Reader, size int64) error {
	if len(m.To) == 0 {
		return errors.New("relay queue: no recipients")
	}
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	key := "relay/" + h[:2] + "/" + h[2:4] + "/" + h
	if _, err := q.blobs.PutKey(ctx, key, raw, size); err != nil {
		return fmt.Errorf("relay queue: store message: %w", err)
	}
	now := q.now().UTC().Truncate(time.Microsecond)
	rows := make([]relayRow, len(m.To))
	for i, to := range m.To {
		_, domain, _ := strings.Cut(to, "@")
		rows[i] = relayRow{CreatedAt: now, MailFrom: m.From, RcptTo: to, Domain: domain, BlobKey: key, Size: size,
			Smtputf8: m.UTF8, State: StatePending, NextAttemptAt: now}
		if m.UserID != 0 {
			rows[i].UserID = &m.UserID
		}
	}
	var err error
	if q.jobs != nil {
		err = q.jobs.enqueue(ctx, rows)
	} else {
		err = q.db.Transaction(ctx, func(tx *gorm.DB) error { return tx.Create(&rows).Error })
	}
	if err != nil {
		return fmt.Errorf("relay queue: record %d recipient(s): %w", len(rows), err)
	}
	return nil
}

// byDomain groups rows (in order) by destination domain.
func byDomain(rows []relayRow) [][]int {
	var groups [][]int
	at := map[string]int{}
	for i, r := range rows {
		g, ok := at[r.Domain]
		if !ok {
			g = len(groups)
			at[r.Domain] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// QueuedRelay is one pending entry of the relay queue.
type QueuedRelay struct {
	ID        int64
	UserID    int64
	From, To  string
	Domain    string
	BlobKey   string
	Size      int64
	UTF8      bool
	CreatedAt time.Time
}

// Pending lists the pending entries, oldest first, at most limit (1000
// when 0).
func (q *Queue) Pending(ctx context.Context, limit int) ([]QueuedRelay, error) {
	if limit <= 0 {
		limit = 1000
	}
	var rows []relayRow
	err := q.db.Writer().WithContext(ctx).Where("state = ?", StatePending).Order("next_attempt_at, id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("relay queue: list: %w", err)
	}
	out := make([]QueuedRelay, len(rows))
	for i, r := range rows {
		out[i] = QueuedRelay{ID: r.ID, From: r.MailFrom, To: r.RcptTo, Domain: r.Domain, BlobKey: r.BlobKey,
			Size: r.Size, UTF8: r.Smtputf8, CreatedAt: r.CreatedAt}
		if r.UserID != nil {
			out[i].UserID = *r.UserID
		}
	}
	return out, nil
}
