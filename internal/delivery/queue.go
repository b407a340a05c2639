// Package delivery owns the outbound queue: the mail accepted for
// recipients on other national servers, recorded in relay_queue (one row
// per recipient) with the message in the blob store (keys "relay/…"),
// until a worker sends it. internal/smtp records into it through its
// RelayQueue interface; internal/app wires the two.
package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
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
// store (keys "relay/…"), until the delivery worker takes its entries.
type Queue struct {
	db    *db.DB
	blobs QueueBlobs
	now   func() time.Time
}

// NewQueue returns the relay queue on d and b.
func NewQueue(d *db.DB, b QueueBlobs) *Queue {
	return &Queue{db: d, blobs: b, now: time.Now}
}

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
}

func (relayRow) TableName() string { return "relay_queue" }

// Enqueue stores the message under a new key and, in one transaction, an
// entry per recipient. A blob whose transaction failed stays unreferenced;
// the delivery worker's sweep removes those.
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
			Smtputf8: m.UTF8, State: "pending", NextAttemptAt: now}
		if m.UserID != 0 {
			rows[i].UserID = &m.UserID
		}
	}
	err := q.db.Transaction(ctx, func(tx *gorm.DB) error { return tx.Create(&rows).Error })
	if err != nil {
		return fmt.Errorf("relay queue: record %d recipient(s): %w", len(rows), err)
	}
	return nil
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
	err := q.db.Writer().WithContext(ctx).Where("state = ?", "pending").Order("next_attempt_at, id").Limit(limit).Find(&rows).Error
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
