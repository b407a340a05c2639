package audit_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
)

// BenchmarkAppend8Writers measures 8 writers, each appending one event per
// transaction, while Run links in the background as it does in the server.
// It reports appends/s and the linker's lag (linked_at - created_at) over
// every event: average, 99th percentile and maximum, in milliseconds; and
// the slowest append transaction (tx-max-ms), which shows writers starving.
func BenchmarkAppend8Writers(b *testing.B) {
	for _, driver := range dbtest.Drivers {
		b.Run(driver, func(b *testing.B) {
			const writers = 8
			d := dbtest.Open(b, driver)
			ctx, cancel := context.WithCancel(context.Background())
			l := newLog(d)
			var linker sync.WaitGroup
			linker.Go(func() { l.Run(ctx) })
			defer func() { cancel(); linker.Wait() }()

			var next, txMax atomic.Int64
			var failed atomic.Pointer[error]
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					e := audit.Event{
						Actor:  fmt.Sprintf("user:w%d@mof.gov.sy", w),
						Action: "user.login_failed",
						Target: fmt.Sprintf("user:w%d@mof.gov.sy", w),
					}
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						e.Details = map[string]any{"i": i, "ip": "203.0.113.5"}
						t0 := time.Now()
						err := d.Transaction(ctx, func(tx *gorm.DB) error { return sealer.Append(ctx, tx, e) })
						took := int64(time.Since(t0))
						for m := txMax.Load(); took > m && !txMax.CompareAndSwap(m, took); m = txMax.Load() {
						}
						if err != nil {
							err = fmt.Errorf("append transaction failed after %v: %w", time.Duration(took), err)
						}
						if err != nil {
							failed.Store(&err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if err := failed.Load(); err != nil {
				b.Fatal(*err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
			b.ReportMetric(float64(txMax.Load())/float64(time.Millisecond), "tx-max-ms")

			// Let the background linker catch up, then read every lag.
			deadline := time.Now().Add(time.Minute)
			for {
				rep, err := l.Verify(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if rep.Broken != nil || rep.Linked+rep.Waiting != int64(b.N) {
					b.Fatalf("verify = %s, want %d events", rep, b.N)
				}
				if rep.Waiting == 0 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("linker did not catch up: %s", rep)
				}
				time.Sleep(10 * time.Millisecond)
			}
			lags := linkLags(b, d)
			slices.Sort(lags)
			var sum time.Duration
			for _, lag := range lags {
				sum += lag
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(sum/time.Duration(len(lags))), "lag-avg-ms")
			b.ReportMetric(ms(lags[len(lags)*99/100]), "lag-p99-ms")
			b.ReportMetric(ms(lags[len(lags)-1]), "lag-max-ms")
		})
	}
}

func linkLags(b *testing.B, d *db.DB) []time.Duration {
	var rows []struct {
		CreatedAt time.Time
		LinkedAt  time.Time
	}
	if err := d.Writer().Raw("SELECT created_at, linked_at FROM audit_events").Scan(&rows).Error; err != nil {
		b.Fatal(err)
	}
	lags := make([]time.Duration, len(rows))
	for i, r := range rows {
		lags[i] = r.LinkedAt.Sub(r.CreatedAt)
	}
	return lags
}
