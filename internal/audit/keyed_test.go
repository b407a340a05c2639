package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/secrets"
)

// recorded is an audit log of d that records its head in a file and in a
// blob store, as the server does.
type recorded struct {
	d     *db.DB
	log   *audit.Log
	file  audit.HeadFile
	blobs *blob.FS
}

func recordedLog(t *testing.T, d *db.DB) *recorded {
	t.Helper()
	dir := t.TempDir()
	st, err := blob.NewFS(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	r := &recorded{d: d, file: audit.HeadFile(filepath.Join(dir, "audit-head")), blobs: st}
	r.log = r.open(testKey)
	return r
}

// open is another log (another process) on the same database and head
// stores, under k.
func (r *recorded) open(k *secrets.MasterKey) *audit.Log {
	return audit.Open(r.d, audit.Options{Keys: k, Heads: []audit.HeadStore{r.file, audit.HeadBlob(r.blobs)}})
}

// headSeqs reads the seq of the head recorded in the file and in the blob
// store ("none" when none is).
func (r *recorded) headSeqs(t *testing.T) (file, blobHead string) {
	t.Helper()
	read := func(st audit.HeadStore) string {
		b, err := st.ReadHead(context.Background())
		if errors.Is(err, audit.ErrNoHead) {
			return "none"
		}
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b))
		if len(f) != 5 {
			t.Fatalf("head in %s is %q", st, b)
		}
		return f[1]
	}
	return read(r.file), read(audit.HeadBlob(r.blobs))
}

func nowUTC() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func TestVerifyReportsDeletedNewestEvents(t *testing.T) {
	for _, c := range []struct {
		name    string
		deleted int
	}{{"newest", 1}, {"newest 100", 100}, {"all", 150}} {
		t.Run(c.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				r := recordedLog(t, d)
				appendCommitted(t, d, numbered(150)...)
				if n := link(t, r.log); n != 150 {
					t.Fatalf("linked %d, want 150", n)
				}
				if got := verify(t, r.log).String(); got != "ok 150 events (0 waiting)" {
					t.Fatalf("before: %s", got)
				}
				if err := d.Writer().Exec(`DELETE FROM audit_events WHERE seq > ?`, 150-c.deleted).Error; err != nil {
					t.Fatal(err)
				}
				want := fmt.Sprintf("broken: chain ends at seq %d but the recorded head is seq 150 (", 150-c.deleted)
				missing := fmt.Sprintf("): %d events missing at the end", c.deleted)
				if c.deleted == 1 {
					missing = "): 1 event missing at the end"
				}
				// A fresh process too (it reads the head from the stores).
				for _, l := range []*audit.Log{r.log, r.open(testKey)} {
					got := verify(t, l).String()
					if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, missing) {
						t.Fatalf("verify = %q, want %q…%q", got, want, missing)
					}
				}

				// The linker does not link over the gap, so new events
				// cannot overwrite the recorded head.
				appendCommitted(t, d, numbered(c.deleted+1)...)
				for _, l := range []*audit.Log{r.log, r.open(testKey)} {
					if _, err := l.LinkPending(context.Background()); err == nil || !strings.Contains(err.Error(), "missing at the end") {
						t.Fatalf("linking after the deletion: %v", err)
					}
				}
				if file, b := r.headSeqs(t); file != "150" || b != "150" {
					t.Fatalf("recorded heads moved to %s and %s", file, b)
				}
			})
		})
	}
}

func TestHeadIsRecordedAsTheLinkerAdvances(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := recordedLog(t, d)
		if file, b := r.headSeqs(t); file != "none" || b != "none" {
			t.Fatalf("heads before anything was linked: %s, %s", file, b)
		}
		audit.SetLinkerForTest(r.log, 0, 7)
		appendCommitted(t, d, numbered(5)...)
		link(t, r.log)
		if file, b := r.headSeqs(t); file != "5" || b != "5" {
			t.Fatalf("heads after 5 events: %s, %s", file, b)
		}
		appendCommitted(t, d, numbered(10)...)
		link(t, r.log)
		if file, b := r.headSeqs(t); file != "15" || b != "15" {
			t.Fatalf("heads after 15 events: %s, %s", file, b)
		}
		if got := verify(t, r.log).String(); got != "ok 15 events (0 waiting)" {
			t.Fatalf("verify = %s", got)
		}
		// The head cannot be forged: a head moved back (to hide a deletion)
		// without the key is refused, by Verify and by the linker.
		b, err := r.file.ReadHead(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		forged := strings.Replace(string(b), " 15 ", " 14 ", 1)
		if err := r.file.WriteHead(context.Background(), []byte(forged)); err != nil {
			t.Fatal(err)
		}
		got := verify(t, r.open(testKey)).String()
		if !strings.Contains(got, "recorded head (file ") || !strings.Contains(got, "MAC does not match") {
			t.Fatalf("verify of a forged head = %q", got)
		}
		if _, err := r.open(testKey).LinkPending(context.Background()); err == nil || !strings.Contains(err.Error(), "not valid") {
			t.Fatalf("linking under a forged head: %v", err)
		}
		st, err := os.Stat(string(r.file))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o022 != 0 {
			t.Fatalf("head file mode %v", st.Mode())
		}
	})
}

func TestVerifyReportsAChainRecomputedAfterAnEdit(t *testing.T) {
	other := secrets.Random()
	for name, key := range map[string][]byte{
		"plain SHA-256":          nil,
		"HMAC under another key": audit.ChainKeyForTest(other),
	} {
		t.Run(name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				r := recordedLog(t, d)
				appendCommitted(t, d, numbered(10)...)
				link(t, r.log)
				if err := d.Writer().Exec(`UPDATE audit_events SET actor = 'cli:mallory' WHERE id = 4`).Error; err != nil {
					t.Fatal(err)
				}
				if err := audit.RelinkForTest(d, key, 4); err != nil {
					t.Fatal(err)
				}
				wantBroken(t, verify(t, r.log), 4, 4, "content does not match its hash")
			})
		})
	}
}

func TestVerifyWithAnotherMasterKeyFails(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := recordedLog(t, d)
		appendCommitted(t, d, numbered(3)...)
		link(t, r.log)
		rep := verify(t, r.open(secrets.Random()))
		// The heads are checked first: they do not authenticate either.
		if rep.Broken == nil || !strings.Contains(rep.String(), "not written under this master key") {
			t.Fatalf("verify under another key = %s", rep)
		}
		// Without heads, the chain itself does not verify.
		rep = verify(t, audit.Open(d, audit.Options{Keys: secrets.Random()}))
		wantBroken(t, rep, 1, 1, "content does not match its hash")
	})
}

func TestLinkerRefusesRowsTheServerDidNotWrite(t *testing.T) {
	for name, forge := range map[string]func(t *testing.T, d *db.DB){
		"inserted without a seal": func(t *testing.T, d *db.DB) {
			exec(t, d, `INSERT INTO audit_events (created_at, actor, action, target, details) VALUES (?, 'cli:mallory', 'user.add', 'user:x', '{}')`, nowUTC())
		},
		"inserted with a made-up seal": func(t *testing.T, d *db.DB) {
			exec(t, d, `INSERT INTO audit_events (created_at, actor, action, target, details, row_mac) VALUES (?, 'cli:mallory', 'user.add', 'user:x', '{}', ?)`,
				nowUTC(), strings.Repeat("ab", 16)+"."+strings.Repeat("cd", 32))
		},
		"a waiting row edited": func(t *testing.T, d *db.DB) {
			appendCommitted(t, d, audit.Event{Actor: "cli:root", Action: "user.add", Target: "user:y"})
			exec(t, d, `UPDATE audit_events SET actor = 'cli:mallory' WHERE id = (SELECT MAX(id) FROM audit_events)`)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				r := recordedLog(t, d)
				appendCommitted(t, d, numbered(3)...)
				link(t, r.log)
				appendCommitted(t, d, numbered(2)...)
				forge(t, d)
				var forged int64
				if err := d.Writer().Raw(`SELECT MAX(id) FROM audit_events`).Scan(&forged).Error; err != nil {
					t.Fatal(err)
				}
				appendCommitted(t, d, numbered(2)...)

				n, err := r.log.LinkPending(context.Background())
				var fe *audit.ForgedError
				if !errors.As(err, &fe) || fe.EventID != forged {
					t.Fatalf("LinkPending = %d, %v; want the forged event %d refused", n, err, forged)
				}
				if n != 2 {
					t.Fatalf("linked %d, want the 2 genuine events before the forged one", n)
				}
				rep := verify(t, r.log)
				if rep.Broken == nil || rep.Broken.EventID != forged || !rep.Broken.Waiting || rep.Linked != 5 {
					t.Fatalf("verify = %s (%+v); want event %d reported, 5 linked", rep, rep.Broken, forged)
				}
				if !strings.HasPrefix(rep.String(), fmt.Sprintf("broken at event %d (not linked): ", forged)) {
					t.Fatalf("verify = %s", rep)
				}
				// Removed (it is outside the chain), linking resumes.
				exec(t, d, `DELETE FROM audit_events WHERE id = ?`, forged)
				if n := link(t, r.log); n != 2 {
					t.Fatalf("linked %d after the forged row went, want 2", n)
				}
				if got := verify(t, r.log).String(); got != "ok 7 events (0 waiting)" {
					t.Fatalf("verify = %s", got)
				}
			})
		})
	}
}

func TestACopyOfASealedRowIsRefused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		appendCommitted(t, d, numbered(1)...)
		err := d.Writer().Exec(`INSERT INTO audit_events (created_at, actor, action, target, details, row_mac)
			SELECT created_at, actor, action, target, details, row_mac FROM audit_events WHERE id = 1`).Error
		if err == nil {
			t.Fatal("a copy of a sealed row was inserted")
		}
	})
}

func TestRunLinksNothingPastAForgedRow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := recordedLog(t, d)
		exec(t, d, `INSERT INTO audit_events (created_at, actor, action, target, details) VALUES (?, 'cli:mallory', 'user.add', 'user:x', '{}')`, nowUTC())
		appendCommitted(t, d, numbered(3)...)
		var logged bytes.Buffer
		l := audit.Open(d, audit.Options{Keys: testKey, Heads: []audit.HeadStore{r.file},
			Logger: slog.New(slog.NewTextHandler(&logged, nil))})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Run(ctx); close(done) }()
		waitFor(t, 5*time.Second, "two linking passes", func() bool { return audit.RunPassesForTest(l) >= 2 })
		cancel()
		<-done
		rep := verify(t, l)
		if rep.Linked != 0 || rep.Broken == nil || rep.Broken.EventID != 1 {
			t.Fatalf("verify = %s", rep)
		}
		if got := logged.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "event_id=1") || strings.Count(got, "\n") != 1 {
			t.Fatalf("log (want one ERROR naming event 1):\n%s", got)
		}
	})
}

func exec(t *testing.T, d *db.DB, sql string, args ...any) {
	t.Helper()
	if err := d.Writer().Exec(sql, args...).Error; err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
