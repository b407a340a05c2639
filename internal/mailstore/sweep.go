package mailstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/blob"
)

// The sweep and deliveries of the same content.
//
// A message's blob lives under a key derived from its content, so a new
// delivery of content whose last reference has just gone reuses the old
// row and blob. The race to avoid: the sweep decides a row is unreferenced
// and deletes the blob while a delivery, having stored the same blob again
// (PutKey overwrites), is about to reference the row; the delivery would
// commit a reference to a deleted blob. The protocol:
//
//  1. A row's refs drop to 0 with orphaned_at = now, in the transaction
//     that drops them. Only rows orphaned longer than SweepGrace are swept.
//  2. Before storing the blob, a delivery "pins" the content: if a row
//     exists with refs = 0 it sets orphaned_at = now (young again); if it
//     is marked deleting, the delivery waits until the sweep has finished
//     with it and starts again. After the pin, no sweep can claim the row
//     for SweepGrace, which is longer than the delivery's put and commit
//     (PutTimeout ≤ SweepGrace/2).
//  3. The sweep claims a row in a transaction: UPDATE … SET deleting = TRUE
//     WHERE refs = 0 AND orphaned_at < cutoff AND NOT deleting. Row locks
//     (PostgreSQL re-checks the WHERE after waiting) and SQLite's single
//     writer make the claim and a delivery's increment exclusive. Then it
//     deletes the blob, then the row.
//  4. The delivery's transaction upserts the row: INSERT … ON CONFLICT DO
//     UPDATE SET refs = refs + n … WHERE NOT deleting. A claimed row
//     refuses, and the delivery pins again (waiting for the sweep), stores
//     the blob again and retries.
//
// So once a delivery commits, its row has refs > 0 and was not claimed, and
// the blob it stored after its pin is still there: a sweep that claimed the
// row before the pin made the delivery wait for the row to go; none can
// claim it between pin and commit. A blob stored by a delivery that then
// failed (quota, crash) is recorded as an unreferenced row (abandon) and
// swept in turn; only a crash between the put and that record leaves a
// blob without a row (harmless; see the package notes).

// sweepBatch is how many rows one pass claims per query.
const sweepBatch = 100

// Sweep deletes the blobs and rows of messages unreferenced for longer
// than SweepGrace, and finishes deletions an earlier sweep left half done.
// It returns how many messages it removed.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	if _, err := s.pruneExpunged(ctx); err != nil {
		return 0, err
	}
	g := s.db.Writer().WithContext(ctx)
	done := 0
	// Deletions interrupted by a crash or a blob store error.
	var stale []struct {
		ID      int64  `gorm:"column:id"`
		BlobKey string `gorm:"column:blob_key"`
	}
	if err := g.Raw("SELECT id, blob_key FROM messages WHERE refs = 0 AND deleting LIMIT ?", sweepBatch).Scan(&stale).Error; err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	for _, r := range stale {
		if err := s.removeBlob(ctx, r.ID, r.BlobKey); err != nil {
			return done, err
		}
		done++
	}
	for {
		cutoff := s.clock().Add(-s.grace).Unix()
		var cands []struct {
			ID      int64  `gorm:"column:id"`
			BlobKey string `gorm:"column:blob_key"`
		}
		if err := g.Raw(`SELECT id, blob_key FROM messages WHERE refs = 0 AND orphaned_at < ? AND NOT deleting
			ORDER BY orphaned_at LIMIT ?`, cutoff, sweepBatch).Scan(&cands).Error; err != nil {
			return done, fmt.Errorf("sweep: %w", err)
		}
		if len(cands) == 0 {
			return done, nil
		}
		claimed := 0
		for _, c := range cands {
			if err := ctx.Err(); err != nil {
				return done, err
			}
			res := g.Exec(`UPDATE messages SET deleting = TRUE
				WHERE id = ? AND refs = 0 AND orphaned_at < ? AND NOT deleting`, c.ID, cutoff)
			if res.Error != nil {
				return done, fmt.Errorf("sweep: %w", res.Error)
			}
			if res.RowsAffected == 0 {
				continue // referenced or pinned meanwhile, or another sweep has it
			}
			claimed++
			if err := s.removeBlob(ctx, c.ID, c.BlobKey); err != nil {
				return done, err
			}
			done++
		}
		if claimed == 0 && len(cands) < sweepBatch {
			return done, nil
		}
	}
}

// removeBlob deletes a claimed row's blob, then the row.
func (s *Store) removeBlob(ctx context.Context, id int64, key string) error {
	if err := s.blobs.Delete(ctx, key); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("sweep: delete blob %s: %w", key, err)
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		return tx.Exec("DELETE FROM messages WHERE id = ? AND deleting", id).Error
	})
	if err != nil {
		return fmt.Errorf("sweep: delete message %d: %w", id, err)
	}
	return nil
}

// RunSweeper calls Sweep every interval until ctx is done, logging errors.
func (s *Store) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Error("mailstore: sweep failed", "err", err, "removed", n)
		} else if n > 0 {
			s.log.Info("mailstore: swept unreferenced messages", "removed", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
