package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/db"
)

// linkerLockKey is the PostgreSQL advisory lock that makes the linker run
// one at a time across every server sharing the database ("DIWANAUD").
// Writers never take it.
const linkerLockKey int64 = 0x444957414e415544

const (
	defaultLinkBatch    = 1000
	defaultLinkInterval = 250 * time.Millisecond
	verifyBatch         = 5000
	verifyRounds        = 5
	errorLogEvery       = time.Minute
)

// Log links, verifies and lists the audit events of one database. Events
// are written with Append, in the caller's transaction.
type Log struct {
	db       *db.DB
	logger   *slog.Logger
	now      func() time.Time
	interval time.Duration
	batch    int
	kick     chan struct{}
	passes   atomic.Int64 // linking passes Run has finished, for tests
}

// New returns the audit log of d. logger receives linker failures; nil
// discards them.
func New(d *db.DB, logger *slog.Logger) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Log{
		db:       d,
		logger:   logger,
		now:      time.Now,
		interval: defaultLinkInterval,
		batch:    defaultLinkBatch,
		kick:     make(chan struct{}, 1),
	}
}

// Kick asks Run to link now instead of at its next tick. It never blocks;
// kicks that arrive while one is pending are merged.
func (l *Log) Kick() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Run links committed events every interval (about 250 ms) and whenever
// Kick is called, until ctx is done. Failures are logged and retried on the
// next tick; a lasting failure is logged once a minute.
func (l *Log) Run(ctx context.Context) {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	var failing bool
	var lastLogged time.Time
	for {
		_, err := l.LinkPending(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing || time.Since(lastLogged) >= errorLogEvery {
				l.logger.Error("audit linker failed; events wait unlinked", slog.Any("err", err))
				lastLogged = time.Now()
			}
			failing = true
		case err == nil && failing:
			l.logger.Info("audit linker recovered")
			failing = false
		}
		l.passes.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.kick:
		}
	}
}

// LinkPending links every committed event that waits, in id order, in
// batches of one transaction each, and returns how many it linked. Events
// committed while it runs are linked too if it sees them before it finds
// nothing left.
func (l *Log) LinkPending(ctx context.Context) (linked int, err error) {
	for {
		n, err := l.linkBatch(ctx)
		linked += n
		if err != nil {
			return linked, err
		}
		if n < l.batch {
			return linked, nil
		}
	}
}

// linkBatch links up to l.batch waiting events after the current head of
// the chain, in one transaction that holds the linker lock.
//
// On PostgreSQL the lock is pg_advisory_xact_lock; on SQLite the write
// transaction itself (BEGIN IMMEDIATE) serialises linkers. Because seq is
// given here and not at insert, an event whose writer commits late (a
// smaller id committed after larger ids were linked) simply gets a later
// seq: the chain never skips an event.
func (l *Log) linkBatch(ctx context.Context) (int, error) {
	var n int
	err := l.db.Transaction(ctx, func(tx *gorm.DB) error {
		if l.db.Driver == db.Postgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", linkerLockKey).Error; err != nil {
				return fmt.Errorf("take linker lock: %w", err)
			}
		}
		seq, prev, err := chainHead(tx)
		if err != nil {
			return err
		}
		var rows []eventRow
		err = tx.Raw(`SELECT id, created_at, actor, action, target, details
			FROM audit_events WHERE seq IS NULL ORDER BY id LIMIT ?`, l.batch).Scan(&rows).Error
		if err != nil {
			return fmt.Errorf("read waiting events: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		links := make([]link, len(rows))
		for i := range rows {
			seq++
			h := chainHash(seq, prev, &rows[i])
			links[i] = link{id: rows[i].ID, seq: seq, prevHash: prev, hash: h}
			prev = h
		}
		if err := l.writeLinks(tx, links); err != nil {
			return fmt.Errorf("link events %d to %d: %w", rows[0].ID, rows[len(rows)-1].ID, err)
		}
		n = len(rows)
		l.logger.Debug("audit events linked", slog.Int("count", n), slog.Int64("head_seq", seq), slog.String("head_hash", prev))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("audit link: %w", err)
	}
	return n, nil
}

// link is the chain position given to one event.
type link struct {
	id, seq        int64
	prevHash, hash string
}

// writeLinks stores links, refusing to overwrite an event already linked
// (that would mean a second linker ran without the lock).
func (l *Log) writeLinks(tx *gorm.DB, links []link) error {
	linkedAt := l.now().UTC().Truncate(time.Microsecond)
	var updated int64
	if l.db.Driver == db.Postgres {
		// One statement per batch: one round trip instead of a thousand.
		var values strings.Builder
		args := make([]any, 0, 4*len(links)+1)
		for i, k := range links {
			if i > 0 {
				values.WriteString(", ")
			}
			values.WriteString("(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT))")
			args = append(args, k.id, k.seq, k.prevHash, k.hash)
		}
		args = append(args, linkedAt)
		res := tx.Exec(`WITH v (id, seq, prev_hash, hash) AS (VALUES `+values.String()+`)
			UPDATE audit_events SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash, linked_at = ?
			FROM v WHERE audit_events.id = v.id AND audit_events.seq IS NULL`, args...)
		if res.Error != nil {
			return res.Error
		}
		updated = res.RowsAffected
	} else {
		// SQLite is in-process, so a statement per event costs no round
		// trip, and each is a primary-key lookup (its planner does not drive
		// UPDATE ... FROM through the key).
		for _, k := range links {
			res := tx.Exec(`UPDATE audit_events SET seq = ?, prev_hash = ?, hash = ?, linked_at = ?
				WHERE id = ? AND seq IS NULL`, k.seq, k.prevHash, k.hash, linkedAt, k.id)
			if res.Error != nil {
				return res.Error
			}
			updated += res.RowsAffected
		}
	}
	if updated != int64(len(links)) {
		return fmt.Errorf("%d events updated, want %d: another linker ran without the lock", updated, len(links))
	}
	return nil
}

// chainHead returns the seq and hash of the last linked event, or 0 and the
// genesis hash when nothing is linked yet.
func chainHead(tx *gorm.DB) (int64, string, error) {
	var head []eventRow
	err := tx.Raw(`SELECT seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`).Scan(&head).Error
	if err != nil {
		return 0, "", fmt.Errorf("read chain head: %w", err)
	}
	if len(head) == 0 {
		return 0, genesisHash, nil
	}
	if head[0].Seq == nil || head[0].Hash == nil {
		return 0, "", errors.New("read chain head: last linked event has no hash")
	}
	return *head[0].Seq, *head[0].Hash, nil
}
