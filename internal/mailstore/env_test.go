package mailstore_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/mailstore"
	"diwan.gov.sy/diwan/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one store on one database and one blob store, with users.
type env struct {
	s     *mailstore.Store
	d     *db.DB
	blobs blob.Store
	clock *clock
	feed  *mailstore.LocalFeed
	users []int64
	ctx   context.Context
}

// blobStores are the blob store kinds every suite runs on.
var blobStores = []string{"fs", "s3"}

// each runs fn on a fresh store for every database and blob store.
func each(t *testing.T, users int, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, driver := range dbtest.Drivers {
		for _, bs := range blobStores {
			t.Run(driver+"/"+bs, func(t *testing.T) {
				fn(t, newEnv(t, driver, bs, users))
			})
		}
	}
}

func newEnv(t testing.TB, driver, blobKind string, users int) *env {
	t.Helper()
	var bs blob.Store
	switch blobKind {
	case "fs":
		fs, err := blob.NewFS(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fs.Close() })
		bs = fs
	case "s3":
		srv := testenv.S3(t)
		s3, err := blob.NewS3(context.Background(), blob.S3Options{Endpoint: srv.Endpoint, Bucket: testenv.Bucket(t),
			AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: srv.Region})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s3.Close() })
		bs = s3
	}
	d := dbtest.Open(t, driver)
	e := &env{d: d, blobs: bs, clock: &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)},
		feed: mailstore.NewLocalFeed(), ctx: context.Background()}
	e.users = addUsers(t, d, users)
	s, err := mailstore.New(mailstore.Options{DB: d, Blobs: bs, Directory: directory.New(d, directory.Options{}),
		Feed: e.feed, Clock: e.clock.Now,
		MaxMessageBytes: 1 << 20, MemorySpool: 64 << 10, SpoolDir: t.TempDir(),
		SweepGrace: time.Hour, PutTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	return e
}

// addUsers inserts n users (u1@test.gov.sy, …) straight into the directory
// tables and returns their IDs.
func addUsers(t testing.TB, d *db.DB, n int) []int64 {
	t.Helper()
	g := d.Writer()
	now := time.Now().UTC()
	if err := g.Exec("INSERT INTO ministries (code, name_ar, name_en, created_at) VALUES ('TST', 'اختبار', 'Test', ?)", now).Error; err != nil {
		t.Fatal(err)
	}
	if err := g.Exec(`INSERT INTO domains (name, ascii_name, ministry_id, created_at)
		SELECT 'test.gov.sy', 'test.gov.sy', id, ? FROM ministries WHERE code = 'TST'`, now).Error; err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, 0, n)
	for len(ids) < n {
		k := min(n-len(ids), 100)
		q := "INSERT INTO users (login, name, ministry_id, domain_id, password_hash, created_at, updated_at) VALUES "
		var args []any
		for i := range k {
			if i > 0 {
				q += ", "
			}
			q += "(?, ?, (SELECT id FROM ministries WHERE code = 'TST'), (SELECT id FROM domains WHERE name = 'test.gov.sy'), 'x', ?, ?)"
			j := len(ids) + i + 1
			args = append(args, fmt.Sprintf("u%d@test.gov.sy", j), fmt.Sprintf("User %d", j), now, now)
		}
		var got []int64
		if err := g.Raw(q+" RETURNING id", args...).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		ids = append(ids, got...)
	}
	return ids
}

// msg builds a small message.
func msg(subject, body string) string {
	return "From: Sender <sender@moct.gov.sy>\r\nTo: u1@test.gov.sy\r\nSubject: " + subject +
		"\r\nDate: Sun, 1 Mar 2026 10:00:00 +0300\r\nMessage-ID: <" + subject + "@moct.gov.sy>\r\n\r\n" + body + "\r\n"
}

func (e *env) appendMsg(t testing.TB, user int64, box, raw string, flags ...string) mailstore.Appended {
	t.Helper()
	a, err := e.s.Append(e.ctx, user, box, strings.NewReader(raw), mailstore.AppendOptions{Flags: flags})
	if err != nil {
		t.Fatalf("Append to %s: %v", box, err)
	}
	return a
}

// blobKeys lists the stored blobs.
func (e *env) blobKeys(t testing.TB) []string {
	t.Helper()
	var keys []string
	if err := e.blobs.List(e.ctx, "", func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

func (e *env) count(t testing.TB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := e.d.Writer().Raw(q, args...).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) raw(t testing.TB, key string) string {
	t.Helper()
	rc, err := e.s.OpenRaw(e.ctx, key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *env) selectBox(t testing.TB, user int64, name string) mailstore.Selected {
	t.Helper()
	sel, err := e.s.Select(e.ctx, user, name)
	if err != nil {
		t.Fatalf("Select %s: %v", name, err)
	}
	return sel
}

func readAll(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
