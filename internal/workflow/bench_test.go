package workflow_test

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// BenchmarkCompleteLetter measures whole letters on PostgreSQL with 64
// concurrent clients: create, register and dispatch at MOCT, register the
// incoming entry at MOF and refer it to a department. It reports letters/s
// and the 99th percentile of one call. The audit linker runs as in diwan
// serve.
//
//	go test -run '^$' -bench CompleteLetter -benchtime 2000x ./internal/workflow/
func BenchmarkCompleteLetter(b *testing.B) {
	if _, set := os.LookupEnv("GOGC"); !set {
		// As diwan serve runs (internal/app).
		defer debug.SetGCPercent(debug.SetGCPercent(200))
	}
	for _, driver := range []string{db.Postgres, db.SQLite} {
		b.Run(driver, func(b *testing.B) {
			// DIWAN_BENCH_CONNS sets the pool's size (database.max_open_conns).
			var o db.Options
			if n, err := strconv.Atoi(os.Getenv("DIWAN_BENCH_CONNS")); err == nil && n > 0 && driver == db.Postgres {
				o.MaxOpenConns = n
			}
			d := dbtest.OpenWith(b, driver, o)
			f := newFixture(b, d, fixtureOptions{})
			benchLetters(b, f)
		})
	}
}

func benchLetters(b *testing.B, f *fixture) {
	ctx := f.ctx
	moct, mof := f.actor(moctClerk), f.actor(mofClerk)
	clients := 64
	if n, err := strconv.Atoi(os.Getenv("DIWAN_BENCH_CLIENTS")); err == nil && n > 0 {
		clients = n
	}
	var mu sync.Mutex
	var calls []time.Duration
	var perStep [6]atomic.Int64
	// The audit linker chains the run's events as diwan serve's does.
	linking, stopLinking := context.WithCancel(ctx)
	linked := make(chan struct{})
	go func() { defer close(linked); audit.Open(f.d, audit.Options{Keys: f.key}).Run(linking) }()
	defer func() { stopLinking(); <-linked }()
	b.ResetTimer()
	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			step := 0
			timed := func(fn func() error) {
				t0 := time.Now()
				if err := fn(); err != nil {
					b.Error(err)
				}
				d := time.Since(t0)
				mine = append(mine, d)
				perStep[step%6].Add(int64(d))
				step++
			}
			for i := range jobs {
				var e, in workflow.Entry
				var err error
				timed(func() error {
					e, err = f.wf.CreateDraft(ctx, moct, workflow.NewCorrespondence{SenderRegistry: "MOCT",
						Subject: fmt.Sprintf("كتاب رقم %06d#", i), Body: "نص الكتاب", Recipients: toRegistries("MOF")})
					return err
				})
				timed(func() error {
					e, err = f.wf.Act(ctx, moct, e.ID, workflow.Transition{Action: workflow.ActionRegister, Version: e.Version})
					return err
				})
				timed(func() error {
					_, err = f.wf.Act(ctx, moct, e.ID, workflow.Transition{Action: workflow.ActionDispatch, Version: e.Version})
					return err
				})
				// The MOF clerk opens the letter delivered to them.
				timed(func() error {
					v, err := f.wf.Get(ctx, mof, e.CorrespondenceID)
					if err == nil {
						in = v.Entries[0]
					}
					return err
				})
				timed(func() error {
					in, err = f.wf.Act(ctx, mof, in.ID, workflow.Transition{Action: workflow.ActionRegister, Version: in.Version})
					return err
				})
				timed(func() error {
					_, err = f.wf.Act(ctx, mof, in.ID, workflow.Transition{Action: workflow.ActionRefer, Version: in.Version,
						ToDepartment: "FIN", Instruction: workflow.InstructionAction})
					return err
				})
			}
			mu.Lock()
			calls = append(calls, mine...)
			mu.Unlock()
		})
	}
	for i := range b.N {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(calls)
	if len(calls) > 0 {
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "letters/s")
		b.ReportMetric(float64(calls[len(calls)*99/100].Microseconds())/1000, "p99-ms/call")
		b.ReportMetric(float64(calls[len(calls)/2].Microseconds())/1000, "p50-ms/call")
		if testing.Verbose() {
			for i, name := range []string{"create", "register", "dispatch", "open", "register-in", "refer"} {
				b.Logf("%-12s mean %v", name, time.Duration(perStep[i].Load()/int64(b.N)))
			}
		}
	}
}
