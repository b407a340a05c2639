package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/testenv"
	"diwan.gov.sy/diwan/internal/workflow"
)

func TestNumberTemplates(t *testing.T) {
	for _, c := range []struct {
		tmpl, registry string
		dir            workflow.Direction
		year           int
		seq            int64
		want           string
	}{
		{workflow.DefaultTemplate, "MOCT", workflow.Outgoing, 2026, 123, "MOCT/ص/2026/000123"},
		{workflow.DefaultTemplate, "MOCT", workflow.Incoming, 2026, 1, "MOCT/و/2026/000001"},
		{workflow.DefaultTemplate, "MOF", workflow.Outgoing, 2027, 1234567, "MOF/ص/2027/1234567"},
		{"{year}-{dir}-{seq}", "X", workflow.Incoming, 2026, 42, "2026-و-42"},
		{"ق/{registry}/{seq:04}/{dir}/{year}", "MOH", workflow.Outgoing, 2026, 7, "ق/MOH/0007/ص/2026"},
	} {
		got, err := workflow.FormatNumberForTest(c.tmpl, c.registry, c.dir, c.year, c.seq)
		if err != nil || got != c.want {
			t.Errorf("%q: %q, %v; want %q", c.tmpl, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "{registry}/{seq}", "{dir}/{seq}", "{year}/{seq}/{dir}/{nope}", "{dir}{year}{seq:6}",
		"{dir}{year}{seq:0}", "{dir}{year}{seq", "}{dir}{year}{seq}", "{dir}{year}{seq}\x00"} {
		if _, err := workflow.FormatNumberForTest(bad, "X", workflow.Outgoing, 2026, 1); err == nil {
			t.Errorf("template %q accepted", bad)
		}
	}
}

// twoHandles opens a fresh, migrated database of the driver twice: two
// "server processes" sharing it. It returns the handles and the DSN.
func twoHandles(t *testing.T, driver string) (*db.DB, *db.DB, string) {
	t.Helper()
	var dsn string
	switch driver {
	case db.SQLite:
		dsn = filepath.Join(t.TempDir(), "diwan.db")
	case db.Postgres:
		dsn = testenv.Postgres(t)
	}
	open := func() *db.DB {
		d, err := db.Open(context.Background(), db.Options{Driver: driver, DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	d1 := open()
	if _, err := d1.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d1, open(), dsn
}

type registerRow struct {
	ID     int64
	Year   int
	Seq    int64
	Number string
	State  string
}

// register reads a registry's whole book for a direction, by year and number.
func readRegister(t *testing.T, d *db.DB, registry string, dir workflow.Direction) []registerRow {
	t.Helper()
	var rows []registerRow
	err := d.Writer().Raw(`SELECT e.id, e.year, e.seq, e.number, e.state FROM registry_entries e
JOIN registries r ON r.id = e.registry_id WHERE r.code = ? AND e.direction = ? AND e.seq IS NOT NULL
ORDER BY e.year, e.seq`, registry, string(dir)).Scan(&rows).Error
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// checkGapless checks that each year's numbers run 1..n without gap or
// duplicate and are formatted from their year and sequence.
func checkGapless(t *testing.T, rows []registerRow, registry string, dir workflow.Direction) {
	t.Helper()
	next := map[int]int64{}
	seen := map[string]bool{}
	for _, r := range rows {
		next[r.Year]++
		if r.Seq != next[r.Year] {
			t.Fatalf("register %s %s %d: number %d where %d was due (gap or duplicate)", registry, dir, r.Year, r.Seq, next[r.Year])
		}
		want, _ := workflow.FormatNumberForTest(workflow.DefaultTemplate, registry, dir, r.Year, r.Seq)
		if r.Number != want || seen[r.Number] {
			t.Fatalf("entry %d: number %q, want %q once", r.ID, r.Number, want)
		}
		seen[r.Number] = true
	}
}

// 64 clerks register at once through two handles on one database (two
// nodes): no gap, no duplicate, checked by reading the whole register.
func TestNumberingRace(t *testing.T) {
	for _, driver := range []string{db.SQLite, db.Postgres} {
		t.Run(driver, func(t *testing.T) {
			d1, d2, _ := twoHandles(t, driver)
			f := newFixture(t, d1, fixtureOptions{})
			services := []*workflow.Service{f.wf, f.service(d2)}
			const clerks, each = 64, 4
			var wg sync.WaitGroup
			errs := make(chan error, clerks*each)
			start := make(chan struct{})
			for i := range clerks {
				wg.Go(func() {
					<-start
					wf := services[i%2]
					a := f.actor(moctClerk)
					for range each {
						e, err := wf.CreateDraft(f.ctx, a, workflow.NewCorrespondence{SenderRegistry: "MOCT", Subject: fmt.Sprintf("letter of clerk %d", i)})
						if err != nil {
							errs <- err
							return
						}
						if _, err := wf.Act(f.ctx, a, e.ID, workflow.Transition{Action: workflow.ActionRegister, Version: e.Version}); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			rows := readRegister(t, d1, "MOCT", workflow.Outgoing)
			if len(rows) != clerks*each {
				t.Fatalf("%d registered entries, want %d", len(rows), clerks*each)
			}
			checkGapless(t, rows, "MOCT", workflow.Outgoing)
			var last int64
			f.must(d2.Writer().Raw(`SELECT last_seq FROM register_counters c JOIN registries r ON r.id = c.registry_id
WHERE r.code = 'MOCT' AND c.direction = 'outgoing' AND c.year = 2026`).Scan(&last).Error)
			if last != clerks*each {
				t.Errorf("counter at %d, want %d", last, clerks*each)
			}
		})
	}
}

// A registration whose transaction fails before commit leaves no gap: the
// counter increment rolls back with the entry.
func TestNumberingRollbackLeavesNoGap(t *testing.T) {
	for _, driver := range []string{db.SQLite, db.Postgres} {
		t.Run(driver, func(t *testing.T) {
			d1, _, _ := twoHandles(t, driver)
			f := newFixture(t, d1, fixtureOptions{})
			e1 := f.act(moctClerk, f.draft(workflow.NewCorrespondence{}), tr(workflow.ActionRegister))
			e2 := f.draft(workflow.NewCorrespondence{})
			boom := errors.New("disk full")
			workflow.SetBeforeCommitForTest(f.wf, func(*gorm.DB) error { return boom })
			_, err := f.wf.Act(f.ctx, f.actor(moctClerk), e2.ID, workflow.Transition{Action: workflow.ActionRegister, Version: e2.Version})
			wantErr(t, err, boom)
			workflow.SetBeforeCommitForTest(f.wf, nil)
			e2 = f.act(moctClerk, e2, tr(workflow.ActionRegister))
			if e1.Seq != 1 || e2.Seq != 2 {
				t.Fatalf("numbers %d then %d after a rolled-back registration", e1.Seq, e2.Seq)
			}
		})
	}
}

// Environment of the child process of TestNumberingCrashLeavesNoGap.
const (
	crashEnvDriver = "DIWAN_TEST_CRASH_DRIVER"
	crashEnvDSN    = "DIWAN_TEST_CRASH_DSN"
	crashEnvEntry  = "DIWAN_TEST_CRASH_ENTRY"
	crashEnvUser   = "DIWAN_TEST_CRASH_USER"
	crashExitCode  = 7
)

// A node that dies in the middle of a registration, after taking the
// number and before commit, leaves no gap: another node's next
// registration gets that number.
func TestNumberingCrashLeavesNoGap(t *testing.T) {
	for _, driver := range []string{db.SQLite, db.Postgres} {
		t.Run(driver, func(t *testing.T) {
			d1, _, dsn := twoHandles(t, driver)
			f := newFixture(t, d1, fixtureOptions{})
			f.act(moctClerk, f.draft(workflow.NewCorrespondence{}), tr(workflow.ActionRegister))
			e2 := f.draft(workflow.NewCorrespondence{})
			if driver == db.SQLite {
				d1.Close() // the child must not wait on this handle's lock
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestNumberingCrashChild$", "-test.v")
			cmd.Env = append(os.Environ(), crashEnvDriver+"="+driver, crashEnvDSN+"="+dsn,
				crashEnvEntry+"="+strconv.FormatInt(e2.ID, 10), crashEnvUser+"="+strconv.FormatInt(f.actor(moctClerk).UserID, 10))
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != crashExitCode {
				t.Fatalf("child: %v\n%s", err, out)
			}
			d3, err := db.Open(f.ctx, db.Options{Driver: driver, DSN: dsn})
			f.must(err)
			defer d3.Close()
			wf := f.service(d3)
			got, err := wf.Entry(f.ctx, f.actor(moctClerk), e2.ID)
			f.must(err)
			if got.State != workflow.StateDraft || got.Number != "" {
				t.Fatalf("the crashed registration left %+v", got)
			}
			got, err = wf.Act(f.ctx, f.actor(moctClerk), e2.ID, workflow.Transition{Action: workflow.ActionRegister, Version: got.Version})
			f.must(err)
			if got.Seq != 2 {
				t.Fatalf("number %d after the crash, want 2", got.Seq)
			}
			checkGapless(t, readRegister(t, d3, "MOCT", workflow.Outgoing), "MOCT", workflow.Outgoing)
		})
	}
}

// TestNumberingCrashChild is the dying node: it registers the entry and
// exits the process once the number is taken, before commit.
func TestNumberingCrashChild(t *testing.T) {
	driver := os.Getenv(crashEnvDriver)
	if driver == "" {
		t.Skip("runs only as the child of TestNumberingCrashLeavesNoGap")
	}
	ctx := context.Background()
	d, err := db.Open(ctx, db.Options{Driver: driver, DSN: os.Getenv(crashEnvDSN)})
	if err != nil {
		t.Fatal(err)
	}
	entry, _ := strconv.ParseInt(os.Getenv(crashEnvEntry), 10, 64)
	user, _ := strconv.ParseInt(os.Getenv(crashEnvUser), 10, 64)
	wf := workflow.New(d, nil, workflow.Options{Location: damascus, Now: func() time.Time {
		return time.Date(2026, 3, 2, 9, 0, 0, 0, damascus)
	}, Directory: directory.New(d, directory.Options{})})
	workflow.SetBeforeCommitForTest(wf, func(tx *gorm.DB) error {
		var last int64
		if err := tx.Raw(`SELECT MAX(last_seq) FROM register_counters`).Scan(&last).Error; err != nil || last != 2 {
			fmt.Fprintf(os.Stderr, "counter inside the transaction: %d, %v\n", last, err)
			os.Exit(1)
		}
		os.Exit(crashExitCode) // no commit, no rollback: the process is gone
		return nil
	})
	e, err := wf.Entry(ctx, workflow.UserActor(user, moctClerk), entry)
	if err != nil {
		t.Fatal(err)
	}
	_, err = wf.Act(ctx, workflow.UserActor(user, moctClerk), entry, workflow.Transition{Action: workflow.ActionRegister, Version: e.Version})
	t.Fatalf("the registration returned (%v) instead of dying", err)
}

// Register years turn at midnight in time_zone (Asia/Damascus, UTC+3), not
// at midnight UTC.
func TestNumberingYearRolloverAtMidnightDamascus(t *testing.T) {
	d1, _, _ := twoHandles(t, db.SQLite)
	f := newFixture(t, d1, fixtureOptions{})
	reg := func(at time.Time) workflow.Entry {
		f.clock.Set(at)
		return f.act(moctClerk, f.draft(workflow.NewCorrespondence{}), tr(workflow.ActionRegister))
	}
	a := reg(time.Date(2026, 12, 31, 23, 59, 59, 999_000_000, damascus))
	b := reg(time.Date(2026, 12, 31, 23, 59, 59, 999_999_000, damascus))
	c := reg(time.Date(2027, 1, 1, 0, 0, 0, 0, damascus)) // 2026-12-31 21:00 UTC
	dd := reg(time.Date(2027, 1, 1, 0, 0, 1, 0, damascus))
	for _, x := range []struct {
		e    workflow.Entry
		want string
	}{{a, "MOCT/ص/2026/000001"}, {b, "MOCT/ص/2026/000002"}, {c, "MOCT/ص/2027/000001"}, {dd, "MOCT/ص/2027/000002"}} {
		if x.e.Number != x.want {
			t.Errorf("registered at %v: %s, want %s", x.e.RegisteredAt.In(damascus), x.e.Number, x.want)
		}
	}
	if c.RegisteredAt.UTC().Year() != 2026 {
		t.Fatalf("the test means to register in 2027 Damascus time while UTC is still in 2026")
	}
	checkGapless(t, readRegister(t, d1, "MOCT", workflow.Outgoing), "MOCT", workflow.Outgoing)
}
