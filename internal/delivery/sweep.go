package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"diwan.gov.sy/diwan/internal/blob"
)

// sweepAge is how old a queued message's blob must be before the sweep
// may remove it: older than any transaction that could still be
// recording its entries.
const sweepAge = time.Hour

// Sweep removes the queued messages (blobs "relay/…") older than before
// that no pending entry needs: a message whose recording failed after its
// blob was stored (the submission got no 250), or one whose removal
// failed after it was sent. It returns how many it removed.
func (q *Queue) Sweep(ctx context.Context, before time.Time) (int, error) {
	lister, ok := q.blobs.(interface {
		List(ctx context.Context, prefix string, fn func(blob.Info) error) error
	})
	if !ok || q.eng == nil {
		return 0, nil
	}
	var stale []string
	err := lister.List(ctx, "relay/", func(i blob.Info) error {
		if i.ModTime.Before(before) {
			stale = append(stale, i.Key)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("relay queue sweep: list: %w", err)
	}
	removed := 0
	for _, key := range stale {
		var n int64
		if err := q.db.Reader().WithContext(ctx).Model(&relayRow{}).Where("blob_key = ? AND state = ?", key, StatePending).
			Count(&n).Error; err != nil {
			return removed, fmt.Errorf("relay queue sweep: %w", err)
		}
		if n > 0 {
			continue
		}
		if err := q.eng.blobs.Delete(ctx, key); err != nil {
			return removed, fmt.Errorf("relay queue sweep: remove %s: %w", key, err)
		}
		removed++
	}
	return removed, nil
}

// runSweeper sweeps every interval until ctx ends.
func (q *Queue) runSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := q.Sweep(ctx, q.now().Add(-sweepAge))
		if err != nil && ctx.Err() == nil {
			q.eng.log.Error("delivery: sweep", slog.Any("err", err))
		} else if n > 0 {
			q.eng.log.Info("delivery: swept queued messages no entry needs", slog.Int("removed", n))
		}
	}
}
