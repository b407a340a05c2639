package imap_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/directory"
	dimap "diwan.gov.sy/diwan/internal/imap"
	"diwan.gov.sy/diwan/internal/mailstore"
	"diwan.gov.sy/diwan/internal/testenv"
	"diwan.gov.sy/diwan/internal/tlsutil"
)

// TestServeForLoadGenerator runs the IMAP server for ../shared/bench's
// mailload until interrupted (or DIWAN_IMAP_BENCH_FOR), with production
// settings: durable SQLite (or PostgreSQL with fsync on, with
// DIWAN_IMAP_BENCH_DB=postgres) and filesystem blobs, the default
// password hashing, users u1..u4@mof.gov.sy with password "benchpass".
// Skipped unless DIWAN_IMAP_BENCH names the STARTTLS address:
//
//	DIWAN_IMAP_BENCH=127.0.0.1:2143 go test -run TestServeForLoadGenerator -timeout 0 ./internal/imap/
func TestServeForLoadGenerator(t *testing.T) {
	addr := os.Getenv("DIWAN_IMAP_BENCH")
	if addr == "" {
		t.Skip("set DIWAN_IMAP_BENCH=host:port to serve for the load generator")
	}
	dir := t.TempDir()
	var d *db.DB
	var err error
	switch os.Getenv("DIWAN_IMAP_BENCH_DB") {
	case "postgres":
		c := testenv.NewCluster(t, true)
		dsn, err := c.CreateDatabase(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		d, err = db.Open(context.Background(), db.Options{Driver: db.Postgres, DSN: dsn})
	default:
		d, err = db.Open(context.Background(), db.Options{Driver: db.SQLite, DSN: filepath.Join(dir, "diwan.db")})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	fs, err := blob.NewFS(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dirSvc := directory.New(d, directory.Options{Logger: log})
	ctx := context.Background()
	if _, err := dirSvc.AddMinistry(ctx, "bench", directory.Ministry{Code: "MOF", NameAR: "وزارة المالية", NameEN: "Finance"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dirSvc.AddDomain(ctx, "bench", "mof.gov.sy", "MOF"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		if _, err := dirSvc.AddUser(ctx, "bench", directory.NewUser{Address: fmt.Sprintf("u%d@mof.gov.sy", i), Name: "bench",
			Ministry: "MOF", Roles: []string{directory.RoleStaff}, Password: "benchpass"}); err != nil {
			t.Fatal(err)
		}
	}
	store, err := mailstore.New(mailstore.Options{DB: d, Blobs: fs, Directory: dirSvc, SpoolDir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, _, err := tlsutil.EnsureSelfSigned(dir, []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	tlsConf, err := tlsutil.Load(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := dimap.New(dimap.Options{Addr: addr, TLS: tlsConf, Store: store, Directory: dirSvc, Logger: log})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	sctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if s := os.Getenv("DIWAN_IMAP_BENCH_FOR"); s != "" {
		dur, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(sctx, dur)
		defer cancel()
	}
	fmt.Fprintf(os.Stderr, "diwan imap: serving %s (STARTTLS) on %s\n", addr, d.Dialect())
	if err := srv.Serve(sctx); err != nil {
		t.Fatal(err)
	}
}

// benchMailbox fills INBOX of user1 with n messages once per benchmark
// and returns a client with INBOX selected; on SQLite and filesystem blobs,
// or DIWAN_IMAP_BENCH_BACKEND=postgres+s3.
func benchMailbox(b *testing.B, n int) (*env, *imapclient.Client) {
	b.Helper()
	e := newEnv(b, envOptions{backend: os.Getenv("DIWAN_IMAP_BENCH_BACKEND")})
	c := e.login(b, user1)
	for i := range n {
		// About 10 KiB, as mailload's messages.
		raw := simpleMsg(fmt.Sprintf("grp-%d report %d", i%100, i), "Sara <sara@mof.gov.sy>", user1, strings.Repeat("body text\r\n", 930))
		appendMsg(b, c, "INBOX", raw, nil)
	}
	selectBox(b, c, "INBOX")
	return e, c
}

// Figures for a 10,000-message mailbox (go test -bench . -run ^$):
// SELECT, UID FETCH 1:* of the headers clients sync with, one message's
// body, and UID SEARCH SUBJECT.
func BenchmarkMailbox10k(b *testing.B) {
	n := benchSize()
	_, c := benchMailbox(b, n)
	b.Run("SELECT", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UID_FETCH_1:*_ENVELOPE", func(b *testing.B) {
		all := imap.UIDSet{{Start: 1, Stop: 0}}
		for b.Loop() {
			msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true}).Collect()
			if err != nil || len(msgs) != n {
				b.Fatalf("%v, %d messages", err, len(msgs))
			}
		}
	})
	b.Run("UID_FETCH_BODY.PEEK[]", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i = i%n + 1
			if _, err := c.Fetch(imap.UIDSetNum(imap.UID(i)), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UID_FETCH_BODY.PEEK[]_500", func(b *testing.B) {
		var set imap.UIDSet
		for i := range 500 {
			set.AddNum(imap.UID(i*(n/500) + 1))
		}
		for b.Loop() {
			msgs, err := c.Fetch(set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
			if err != nil || len(msgs) != 500 {
				b.Fatalf("%v %d", err, len(msgs))
			}
		}
	})
	b.Run("UID_SEARCH_SUBJECT", func(b *testing.B) {
		for b.Loop() {
			d, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "grp-42 "}}}, nil).Wait()
			if err != nil || len(d.AllUIDs()) != n/100 {
				b.Fatalf("%v %d", err, len(d.AllUIDs()))
			}
		}
	})
}

// benchSize is the mailbox size of BenchmarkMailbox10k: 10,000, or
// DIWAN_IMAP_BENCH_N for a quicker look.
func benchSize() int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("DIWAN_IMAP_BENCH_N"), &n); err == nil && n >= 500 {
		return n
	}
	return 10000
}
