package imap_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/prometheus/client_golang/prometheus"

	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
	dimap "diwan.gov.sy/diwan/internal/imap"
	"diwan.gov.sy/diwan/internal/mailstore"
	"diwan.gov.sy/diwan/internal/testenv"
	"diwan.gov.sy/diwan/internal/tlsutil"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	password = "correct horse battery"
	user1    = "u1@mof.gov.sy"
	user2    = "u2@mof.gov.sy"
)

// Backends: the default one, and the production pair (skipped when
// PostgreSQL or versitygw is missing, failed under CI=true).
const (
	sqliteFS   = "sqlite+fs"
	postgresS3 = "postgres+s3"
)

var backends = []string{sqliteFS, postgresS3}

type envOptions struct {
	backend     string
	appendLimit int64
	idle        time.Duration
	lockout     int
	preAuth     string // log every connection in as this user (fuzzing)
	perIP       int    // MaxConnectionsPerIP
	perUserIP   int    // MaxConnectionsPerUserIP
	serverALPN  []string
	retention   time.Duration // mailstore.Options.ExpungedRetention
}

// env is a running IMAP server on 127.0.0.1 with its store and directory,
// and two users.
type env struct {
	t         testing.TB
	srv       *dimap.Server
	store     *mailstore.Store
	dir       *directory.Service
	starttls  string // STARTTLS listener
	implicit  string // implicit-TLS listener
	clientTLS *tls.Config
	users     map[string]directory.User
	db        *db.DB
	blobs     mailstore.Blobs
	serverTLS *tls.Config
	errors    *errorLog
	metrics   *prometheus.Registry
	cancel    context.CancelFunc
	served    chan error
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.backend == "" {
		o.backend = sqliteFS
	}
	var (
		d     *db.DB
		blobs mailstore.Blobs
	)
	switch o.backend {
	case sqliteFS:
		d = dbtest.Open(t, db.SQLite)
		fs, err := blob.NewFS(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		blobs = fs
	case postgresS3:
		d = dbtest.Open(t, db.Postgres)
		srv := testenv.S3(t)
		s3, err := blob.NewS3(context.Background(), blob.S3Options{
			Endpoint: srv.Endpoint, Bucket: testenv.Bucket(t),
			AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: srv.Region,
		})
		if err != nil {
			t.Fatal(err)
		}
		blobs = s3
	default:
		t.Fatalf("unknown backend %q", o.backend)
	}

	errs := &errorLog{}
	log := slog.New(errs)

	dir := directory.New(d, directory.Options{
		HashParams:       &argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		LockoutThreshold: o.lockout,
		Logger:           slog.New(slog.DiscardHandler),
	})
	ctx := context.Background()
	if _, err := dir.AddMinistry(ctx, "test", directory.Ministry{Code: "MOF", NameAR: "وزارة المالية", NameEN: "Ministry of Finance"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddDomain(ctx, "test", "mof.gov.sy", "MOF"); err != nil {
		t.Fatal(err)
	}
	users := map[string]directory.User{}
	for _, a := range []string{user1, user2} {
		u, err := dir.AddUser(ctx, "test", directory.NewUser{Address: a, Name: a, Ministry: "MOF", Roles: []string{directory.RoleStaff}, Password: password})
		if err != nil {
			t.Fatal(err)
		}
		users[a] = u
	}

	store, err := mailstore.New(mailstore.Options{DB: d, Blobs: blobs, Directory: dir, SpoolDir: t.TempDir(), Logger: log,
		ExpungedRetention: o.retention})
	if err != nil {
		t.Fatal(err)
	}

	certFile, keyFile, _, err := tlsutil.EnsureSelfSigned(t.TempDir(), []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := tlsutil.Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS.NextProtos = o.serverALPN

	reg := prometheus.NewRegistry()
	srv := dimap.New(dimap.Options{
		Addr:                    "127.0.0.1:0",
		TLSAddr:                 "127.0.0.1:0",
		TLS:                     serverTLS,
		Store:                   store,
		Directory:               dir,
		AppendLimit:             o.appendLimit,
		IdleTimeout:             o.idle,
		ShutdownTimeout:         5 * time.Second,
		MaxConnectionsPerIP:     o.perIP,
		MaxConnectionsPerUserIP: o.perUserIP,
		AccountURL:              "https://diwan.example.gov/account",
		Version:                 "test-1.2",
		Registerer:              reg,
		Logger:                  log,
	})
	if o.preAuth != "" {
		srv.SetPreAuth(users[o.preAuth])
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	plain, implicit := srv.Addrs()
	e := &env{
		t: t, srv: srv, store: store, dir: dir,
		starttls: plain.String(), implicit: implicit.String(),
		clientTLS: &tls.Config{InsecureSkipVerify: true},
		users:     users, errors: errs, metrics: reg, served: make(chan error, 1),
		db: d, blobs: blobs, serverTLS: serverTLS,
	}
	sctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.served <- srv.Serve(sctx) }()
	t.Cleanup(func() {
		e.stop()
		if msgs := errs.messages(); len(msgs) > 0 {
			t.Errorf("errors logged by the server:\n%s", strings.Join(msgs, "\n"))
		}
	})
	return e
}

// stop shuts the server down and waits for Serve to return.
func (e *env) stop() {
	e.cancel()
	select {
	case err := <-e.served:
		if err != nil {
			e.t.Errorf("Serve: %v", err)
		}
		e.served <- nil // later calls return at once
	case <-time.After(20 * time.Second):
		e.t.Errorf("Serve did not return after shutdown")
	}
}

// errorLog is a slog handler that keeps error records: a test fails when
// the server logged an error it did not expect. It also keeps the login
// records (message "login"), for the tests of the login log.
type errorLog struct {
	mu     sync.Mutex
	msgs   []string
	logins []map[string]string
	ids    []map[string]string // "client id" records
}

// DIWAN_TEST_LOG=1 prints every record of the server, debug included.
var verbose = os.Getenv("DIWAN_TEST_LOG") != ""

func (h *errorLog) Enabled(_ context.Context, l slog.Level) bool {
	return verbose || l >= slog.LevelInfo
}

func (h *errorLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "login" || r.Message == "client id" {
		attrs := map[string]string{"level": r.Level.String()}
		r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		h.mu.Lock()
		if r.Message == "login" {
			h.logins = append(h.logins, attrs)
		} else {
			h.ids = append(h.ids, attrs)
		}
		h.mu.Unlock()
	}
	if verbose {
		fmt.Fprintf(os.Stderr, "%s %s", r.Level, r.Message)
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(os.Stderr, " %s=%v", a.Key, a.Value); return true })
		fmt.Fprintln(os.Stderr)
	}
	if r.Level < slog.LevelError {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.msgs = append(h.msgs, b.String())
	h.mu.Unlock()
	return nil
}
func (h *errorLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *errorLog) WithGroup(string) slog.Handler      { return h }

// loginRecords returns the attributes of the "login" records so far.
func (h *errorLog) loginRecords() []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]string(nil), h.logins...)
}

// idRecords returns the attributes of the "client id" records so far.
func (h *errorLog) idRecords() []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]string(nil), h.ids...)
}

func (h *errorLog) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.msgs...)
}

// dial connects to the implicit-TLS listener without logging in.
func (e *env) dial(t testing.TB, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(e.implicit, &imapclient.Options{TLSConfig: e.clientTLS, UnilateralDataHandler: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login returns a client logged in as user.
func (e *env) login(t testing.TB, user string) *imapclient.Client {
	t.Helper()
	return e.loginWith(t, user, nil)
}

func (e *env) loginWith(t testing.TB, user string, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	c := e.dial(t, h)
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("LOGIN %s: %v", user, err)
	}
	return c
}

// selectBox selects a mailbox and returns its data.
func selectBox(t testing.TB, c *imapclient.Client, name string) *imap.SelectData {
	t.Helper()
	d, err := c.Select(name, nil).Wait()
	if err != nil {
		t.Fatalf("SELECT %s: %v", name, err)
	}
	return d
}

// appendMsg appends raw to mailbox and returns the APPENDUID data.
func appendMsg(t testing.TB, c *imapclient.Client, mailbox, raw string, o *imap.AppendOptions) *imap.AppendData {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(raw)), o)
	if _, err := cmd.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND to %s: %v", mailbox, err)
	}
	return d
}

// fetch runs FETCH and collects the answers.
//
// The session that selects a mailbox after messages arrive owns their
// \Recent flag (recent_test.go tests it): fetch leaves \Recent out of the
// flags it returns, for the tests of everything else.
func fetch(t testing.TB, c *imapclient.Client, set imap.NumSet, o *imap.FetchOptions) []*imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(set, o).Collect()
	if err != nil {
		t.Fatalf("FETCH %v: %v", set, err)
	}
	for _, m := range msgs {
		m.Flags = withoutRecent(m.Flags)
	}
	return msgs
}

// imapCode returns the response code of an *imap.Error, "" otherwise.
func imapCode(err error) imap.ResponseCode {
	if e, ok := err.(*imap.Error); ok {
		return e.Code
	}
	return ""
}

func imapType(err error) imap.StatusResponseType {
	if e, ok := err.(*imap.Error); ok {
		return e.Type
	}
	return ""
}

// eventually waits for cond with a deadline (no sleeps in tests).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// raw is a line-level IMAP connection for what the client library will not
// send: malformed commands, cut literals.
type raw struct {
	t   testing.TB
	c   net.Conn
	r   *bufio.Reader
	tag int
}

// rawTLS connects to the implicit-TLS port and reads the greeting.
func (e *env) rawTLS(t testing.TB) *raw {
	t.Helper()
	c, err := tls.Dial("tcp", e.implicit, e.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	return newRaw(t, c)
}

// rawPlain connects to the STARTTLS port (cleartext) and reads the
// greeting.
func (e *env) rawPlain(t testing.TB) *raw {
	t.Helper()
	c, err := net.Dial("tcp", e.starttls)
	if err != nil {
		t.Fatal(err)
	}
	return newRaw(t, c)
}

func newRaw(t testing.TB, c net.Conn) *raw {
	t.Helper()
	r := &raw{t: t, c: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	if line := r.line(); !strings.HasPrefix(line, "* OK") {
		t.Fatalf("greeting: %q", line)
	}
	return r
}

func (r *raw) line() string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := r.r.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v (after %q)", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(s)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// cmd sends one tagged command line and returns the untagged lines and the
// tagged status line without its tag.
func (r *raw) cmd(line string) (untagged []string, status string) {
	r.t.Helper()
	r.tag++
	tag := fmt.Sprintf("t%d", r.tag)
	r.send(tag + " " + line + "\r\n")
	return r.until(tag)
}

func (r *raw) until(tag string) (untagged []string, status string) {
	r.t.Helper()
	for {
		l := r.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
}

func (r *raw) login(user string) {
	r.t.Helper()
	if _, st := r.cmd(fmt.Sprintf("LOGIN %s %q", user, password)); !strings.HasPrefix(st, "OK") {
		r.t.Fatalf("LOGIN: %s", st)
	}
}

// secondNode starts another IMAP server with its own mail store on the
// same database and blob store, as a second node of a cluster does, and
// returns its implicit-TLS address.
func (e *env) secondNode(t testing.TB) string {
	t.Helper()
	store, err := mailstore.New(mailstore.Options{DB: e.db, Blobs: e.blobs, Directory: e.dir, SpoolDir: t.TempDir(), Logger: slog.New(e.errors)})
	if err != nil {
		t.Fatal(err)
	}
	srv := dimap.New(dimap.Options{TLSAddr: "127.0.0.1:0", TLS: e.serverTLS, Store: store, Directory: e.dir,
		ShutdownTimeout: 5 * time.Second, Logger: slog.New(e.errors)})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-served
	})
	_, implicit := srv.Addrs()
	return implicit.String()
}
