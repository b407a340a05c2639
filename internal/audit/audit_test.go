package audit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/secrets"
	"diwan.gov.sy/diwan/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// testKey is the master key of the tests; sealer seals what they append.
var (
	testKey = secrets.Random()
	sealer  = audit.NewSealer(testKey)
)

// newLog is the audit log of d under testKey, recording its head in heads.
func newLog(d *db.DB, heads ...audit.HeadStore) *audit.Log {
	return audit.Open(d, audit.Options{Keys: testKey, Heads: heads})
}

// appendCommitted appends each event in its own committed transaction.
func appendCommitted(t testing.TB, d *db.DB, events ...audit.Event) {
	t.Helper()
	for _, e := range events {
		err := d.Transaction(context.Background(), func(tx *gorm.DB) error {
			return sealer.Append(context.Background(), tx, e)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func numbered(n int) []audit.Event {
	var out []audit.Event
	for i := range n {
		out = append(out, audit.Event{
			Actor:   "cli:root",
			Action:  "user.add",
			Target:  fmt.Sprintf("user:u%d@mof.gov.sy", i),
			Details: map[string]any{"n": i},
		})
	}
	return out
}

func verify(t *testing.T, l *audit.Log) audit.Report {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func link(t *testing.T, l *audit.Log) int {
	t.Helper()
	n, err := l.LinkPending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAppendedEventExistsOnlyIfItsTransactionCommits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := newLog(d)
		errChange := errors.New("change failed")
		err := d.Transaction(ctx, func(tx *gorm.DB) error {
			if err := sealer.Append(ctx, tx, audit.Event{Actor: "cli:root", Action: "domain.add", Target: "domain:lost.gov.sy"}); err != nil {
				return err
			}
			return errChange
		})
		if !errors.Is(err, errChange) {
			t.Fatalf("transaction = %v, want the change's error", err)
		}
		before := time.Now().UTC().Add(-time.Second)
		appendCommitted(t, d, audit.Event{
			Actor:   "cli:root",
			Action:  "domain.add",
			Target:  "domain:mof.gov.sy",
			Details: map[string]any{"ministry": "mof", "quota_mb": 512},
		})
		recs, err := l.List(ctx, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 {
			t.Fatalf("listed %d events, want only the committed one: %+v", len(recs), recs)
		}
		r := recs[0]
		if r.Target != "domain:mof.gov.sy" || r.Actor != "cli:root" || r.Action != "domain.add" {
			t.Fatalf("listed %+v", r)
		}
		if r.Details["ministry"] != "mof" || r.Details["quota_mb"] != float64(512) {
			t.Fatalf("details = %#v", r.Details)
		}
		if r.Seq != 0 || r.Time.Before(before) || r.Time.Location() != time.UTC {
			t.Fatalf("seq %d time %v: want unlinked and appended just now in UTC", r.Seq, r.Time)
		}
		if got := verify(t, l).String(); got != "ok 0 events (1 waiting)" {
			t.Fatalf("verify = %q", got)
		}
	})
}

func TestAppendRefusesIncompleteOrUnencodableEvents(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	ctx := context.Background()
	for name, e := range map[string]audit.Event{
		"no actor":    {Action: "user.add"},
		"no action":   {Actor: "cli:root"},
		"bad utf-8":   {Actor: "cli:root", Action: "user.add", Target: "user:\xff"},
		"nul byte":    {Actor: "cli:\x00root", Action: "user.add"},
		"bad details": {Actor: "cli:root", Action: "user.add", Details: map[string]any{"f": func() {}}},
	} {
		if err := sealer.Append(ctx, d.Writer(), e); err == nil {
			t.Errorf("%s: appended", name)
		}
	}
}

func TestVerifyCountsWaitingEventsBeforeTheyAreLinked(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		l := newLog(d)
		if got := verify(t, l).String(); got != "ok 0 events (0 waiting)" {
			t.Fatalf("empty log: %q", got)
		}
		appendCommitted(t, d, numbered(5)...)
		rep := verify(t, l)
		if rep.Linked != 0 || rep.Waiting != 5 || rep.Broken != nil {
			t.Fatalf("before linking: %+v", rep)
		}
		if n := link(t, l); n != 5 {
			t.Fatalf("linked %d, want 5", n)
		}
		appendCommitted(t, d, numbered(2)...)
		if got := verify(t, l).String(); got != "ok 5 events (2 waiting)" {
			t.Fatalf("verify = %q", got)
		}
		if n := link(t, l); n != 2 {
			t.Fatalf("linked %d, want 2", n)
		}
		if got := verify(t, l).String(); got != "ok 7 events (0 waiting)" {
			t.Fatalf("verify = %q", got)
		}
	})
}

func TestLinkerWorksInBatchesAndChainsAcrossThem(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		l := newLog(d)
		audit.SetLinkerForTest(l, time.Hour, 7)
		appendCommitted(t, d, numbered(30)...)
		if n := link(t, l); n != 30 {
			t.Fatalf("linked %d, want 30", n)
		}
		appendCommitted(t, d, numbered(3)...)
		if n := link(t, l); n != 3 {
			t.Fatalf("linked %d, want 3", n)
		}
		if got := verify(t, l).String(); got != "ok 33 events (0 waiting)" {
			t.Fatalf("verify = %q", got)
		}
		recs, err := newLog(d).List(context.Background(), audit.Filter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Seq != r.ID { // one writer, committed in id order
				t.Fatalf("event %d has seq %d", r.ID, r.Seq)
			}
		}
	})
}

func TestConcurrentWritersAndLinkerGiveAnIntactChain(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		const writers, each = 8, 200
		ctx, cancel := context.WithCancel(context.Background())
		l := newLog(d)
		var linker sync.WaitGroup
		linker.Go(func() { l.Run(ctx) })
		defer func() { cancel(); linker.Wait() }()

		errs := make(chan error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					err := d.Transaction(ctx, func(tx *gorm.DB) error {
						return sealer.Append(ctx, tx, audit.Event{
							Actor:   fmt.Sprintf("user:w%d@mof.gov.sy", w),
							Action:  "user.passwd",
							Target:  fmt.Sprintf("user:w%d@mof.gov.sy", w),
							Details: map[string]any{"i": i},
						})
					})
					if err != nil {
						errs <- err
						return
					}
					if i%50 == 0 {
						l.Kick()
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		link(t, l)
		rep := verify(t, l)
		if rep.Broken != nil || rep.Linked != writers*each || rep.Waiting != 0 {
			t.Fatalf("verify = %s; want ok %d events (0 waiting)", rep, writers*each)
		}
	})
}

// On PostgreSQL a writer may take a smaller id and commit after larger ids
// were linked; it is linked later, with a later seq, and nothing is skipped.
func TestLateCommittingWriterIsLinkedLaterNotSkipped(t *testing.T) {
	d := dbtest.Open(t, db.Postgres)
	ctx := context.Background()
	l := newLog(d)
	tx := d.Writer().WithContext(ctx).Begin()
	if err := tx.Error; err != nil {
		t.Fatal(err)
	}
	if err := sealer.Append(ctx, tx, audit.Event{Actor: "system", Action: "slow.change", Target: "x:late"}); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	appendCommitted(t, d, numbered(3)...)
	if n := link(t, l); n != 3 {
		tx.Rollback()
		t.Fatalf("linked %d, want the 3 committed events", n)
	}
	if err := tx.Commit().Error; err != nil {
		t.Fatal(err)
	}
	if got := verify(t, l).String(); got != "ok 3 events (1 waiting)" {
		t.Fatalf("verify = %q", got)
	}
	if n := link(t, l); n != 1 {
		t.Fatalf("linked %d, want the late event", n)
	}
	if got := verify(t, l).String(); got != "ok 4 events (0 waiting)" {
		t.Fatalf("verify = %q", got)
	}
	recs, err := l.List(ctx, audit.Filter{Action: "slow.change"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("list = %v, %v", recs, err)
	}
	if recs[0].ID != 1 || recs[0].Seq != 4 {
		t.Fatalf("late event has id %d seq %d, want id 1 seq 4", recs[0].ID, recs[0].Seq)
	}
}

// tampered appends and links 10 events, runs the tampering SQL, and
// returns the report of Verify.
func tampered(t *testing.T, d *db.DB, sql ...string) audit.Report {
	t.Helper()
	l := newLog(d)
	appendCommitted(t, d, numbered(10)...)
	if n := link(t, l); n != 10 {
		t.Fatalf("linked %d, want 10", n)
	}
	for _, q := range sql {
		if err := d.Writer().Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return verify(t, l)
}

func wantBroken(t *testing.T, rep audit.Report, id, seq int64, reason string) {
	t.Helper()
	b := rep.Broken
	if b == nil {
		t.Fatalf("verify = %s; want broken at event %d", rep, id)
	}
	if b.EventID != id || b.Seq != seq || !strings.Contains(b.Reason, reason) {
		t.Fatalf("verify = %s; want event %d (seq %d) and reason %q", rep, id, seq, reason)
	}
	want := fmt.Sprintf("broken at event %d (seq %d): ", id, seq)
	if !strings.HasPrefix(rep.String(), want) {
		t.Fatalf("String() = %q, want prefix %q", rep.String(), want)
	}
}

func TestVerifyNamesAnEditedEvent(t *testing.T) {
	for name, q := range map[string]string{
		"actor":   "UPDATE audit_events SET actor = 'cli:someone' WHERE id = 4",
		"details": `UPDATE audit_events SET details = '{"n":99}' WHERE id = 4`,
		"time":    "UPDATE audit_events SET created_at = linked_at WHERE id = 4",
	} {
		t.Run(name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				rep := tampered(t, d, q)
				wantBroken(t, rep, 4, 4, "content does not match its hash")
				if rep.Linked != 3 {
					t.Fatalf("Linked = %d, want the 3 intact events before the edit", rep.Linked)
				}
			})
		})
	}
}

func TestVerifyNamesTheGapOfADeletedEvent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		rep := tampered(t, d, "DELETE FROM audit_events WHERE id = 6")
		wantBroken(t, rep, 7, 7, "seq 6 is missing")
	})
}

func TestVerifyFindsDeletionHiddenByRenumbering(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		rep := tampered(t, d,
			"DELETE FROM audit_events WHERE id = 6",
			"UPDATE audit_events SET seq = -seq WHERE seq > 6",
			"UPDATE audit_events SET seq = -seq - 1 WHERE seq < 0",
		)
		wantBroken(t, rep, 7, 6, "prev_hash does not match the hash of seq 5")
	})
}

func TestVerifyFindsReorderedEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		rep := tampered(t, d,
			"UPDATE audit_events SET seq = -1 WHERE id = 3",
			"UPDATE audit_events SET seq = 3 WHERE id = 5",
			"UPDATE audit_events SET seq = 5 WHERE id = 3",
		)
		wantBroken(t, rep, 5, 3, "prev_hash does not match the hash of seq 2")
	})
}

func TestVerifyFindsAnEventMovedBeforeTheChain(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		// The newest event moved out of the chain: the rest stays intact.
		rep := tampered(t, d, "UPDATE audit_events SET seq = 0 WHERE id = 10")
		wantBroken(t, rep, 10, 0, "before the start of the chain")
	})
}

func TestKickLinksWithoutWaitingForTheTick(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		l := newLog(d)
		audit.SetLinkerForTest(l, time.Hour, 1000)
		done := make(chan struct{})
		go func() { l.Run(ctx); close(done) }()
		defer func() {
			cancel()
			<-done
		}()
		// After its first pass Run sleeps for an hour unless kicked.
		waitFor(t, 5*time.Second, "the first linking pass", func() bool { return audit.RunPassesForTest(l) >= 1 })
		appendCommitted(t, d, numbered(3)...)
		l.Kick()
		l.Kick() // never blocks
		waitFor(t, 5*time.Second, "the kicked linker", func() bool {
			rep, err := l.Verify(ctx)
			return err == nil && rep.Linked == 3
		})
	})
}

func TestRunStopsWhenItsContextEnds(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { newLog(d).Run(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestListFilters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := newLog(d)
		appendCommitted(t, d,
			audit.Event{Actor: "cli:root", Action: "domain.add", Target: "domain:mof.gov.sy"},
			audit.Event{Actor: "user:ali@mof.gov.sy", Action: "user.passwd", Target: "user:ali@mof.gov.sy"},
			audit.Event{Actor: "smtp:203.0.113.5", Action: "policy.refused", Target: "user:ali@mof.gov.sy", Details: map[string]any{"rule": "non-national"}},
			audit.Event{Actor: "cli:root", Action: "user.add", Target: "user:Ali@moh.gov.sy"},
		)
		mid := time.Now().UTC()
		appendCommitted(t, d, audit.Event{Actor: "cli:root", Action: "user.disable", Target: "user:ali@mof.gov.sy"})
		link(t, l)

		ids := func(f audit.Filter) []int64 {
			t.Helper()
			recs, err := l.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []int64
			for _, r := range recs {
				out = append(out, r.ID)
			}
			return out
		}
		for name, c := range map[string]struct {
			f    audit.Filter
			want []int64
		}{
			"all, newest first": {audit.Filter{}, []int64{5, 4, 3, 2, 1}},
			"actor":             {audit.Filter{Actor: "cli:root"}, []int64{5, 4, 1}},
			"action":            {audit.Filter{Action: "policy.refused"}, []int64{3}},
			"target prefix":     {audit.Filter{TargetPrefix: "user:ali@"}, []int64{5, 3, 2}},
			"prefix is exact":   {audit.Filter{TargetPrefix: "user:Ali"}, []int64{4}},
			"since":             {audit.Filter{Since: mid}, []int64{5}},
			"until":             {audit.Filter{Until: mid}, []int64{4, 3, 2, 1}},
			"limit":             {audit.Filter{Limit: 2}, []int64{5, 4}},
			"combined":          {audit.Filter{Actor: "cli:root", TargetPrefix: "user:", Until: mid}, []int64{4}},
		} {
			if got := ids(c.f); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%s: ids %v, want %v", name, got, c.want)
			}
		}
		recs, err := l.List(ctx, audit.Filter{Action: "policy.refused"})
		if err != nil || len(recs) != 1 || recs[0].Details["rule"] != "non-national" || recs[0].Seq != 3 {
			t.Fatalf("list = %+v, %v", recs, err)
		}
	})
}
