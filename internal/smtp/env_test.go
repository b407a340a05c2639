package smtp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/prometheus/client_golang/prometheus"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/delivery"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/mailstore"
	"diwan.gov.sy/diwan/internal/policy"
	"diwan.gov.sy/diwan/internal/smtp"
	"diwan.gov.sy/diwan/internal/testenv"
	"diwan.gov.sy/diwan/internal/tlsutil"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	actor    = "cli:root"
	password = "correct horse battery"
	// maxBytes is smtp.max_message_bytes in these tests.
	maxBytes = 64 << 10
	arabic   = "مالية.gov.sy" // a hosted IDN domain
)

var cheapParams = &argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// env is one Diwan core (directory, policy, mail store, relay queue) on a
// fresh database and filesystem blob store, with the SMTP listeners
// running on 127.0.0.1.
type env struct {
	t      testing.TB
	ctx    context.Context
	d      *db.DB
	dir    *directory.Service
	pol    *policy.Service
	store  *mailstore.Store
	blobs  blob.Store
	queue  *delivery.Queue
	srv    *smtp.Server
	reg    *prometheus.Registry
	logs   *logRecorder
	users  map[string]directory.User
	cancel context.CancelFunc
	served chan error
}

// newEnv hosts mof.gov.sy and مالية.gov.sy (ministry MOF) with the users
// ali, sara and full@mof.gov.sy, huda@مالية.gov.sy, the bootstrap
// administrator, the alias info@mof.gov.sy → ali; the national suffix is
// gov.sy.
func newEnv(t testing.TB, driver string, tweak func(*smtp.Options)) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), d: dbtest.Open(t, driver), users: map[string]directory.User{},
		reg: prometheus.NewRegistry(), logs: &logRecorder{}}
	e.dir = directory.New(e.d, directory.Options{HashParams: cheapParams, LockoutThreshold: 5})
	if _, _, err := e.dir.EnsureBootstrapAdmin(e.ctx, password); err != nil {
		t.Fatal(err)
	}
	must(e.dir.AddMinistry(e.ctx, actor, directory.Ministry{Code: "MOF", NameAR: "وزارة المالية", NameEN: "Finance"}))(t)
	for _, dom := range []string{"mof.gov.sy", arabic} {
		must(e.dir.AddDomain(e.ctx, actor, dom, "MOF"))(t)
	}
	for _, u := range []string{"ali@mof.gov.sy", "sara@mof.gov.sy", "full@mof.gov.sy", "huda@" + arabic} {
		e.addUser(u)
	}
	must(e.dir.AddAlias(e.ctx, actor, "info@mof.gov.sy", []string{"ali@mof.gov.sy"}))(t)
	admin, err := e.dir.UserByLogin(e.ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	e.users["admin"] = admin

	fs, err := blob.NewFS(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	e.blobs = fs
	e.store, err = mailstore.New(mailstore.Options{DB: e.d, Blobs: fs, Directory: e.dir, MaxMessageBytes: maxBytes + 16<<10, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e.pol, err = policy.New(e.d, policy.Options{NationalSuffixes: []string{"gov.sy"}, Hosted: e.dir})
	if err != nil {
		t.Fatal(err)
	}
	e.queue = delivery.NewQueue(e.d, fs)
	o := smtp.Options{
		Hostname:        "mail.mof.gov.sy",
		InboundAddr:     "127.0.0.1:0",
		SubmissionAddr:  "127.0.0.1:0",
		SubmissionsAddr: "127.0.0.1:0",
		TLS:             serverTLS(t),
		Directory:       e.dir,
		Policy:          e.pol,
		Store:           e.store,
		Relay:           e.queue,
		MaxMessageBytes: maxBytes,
		MaxRecipients:   150,
		ReadTimeout:     30 * time.Second,
		WriteTimeout:    30 * time.Second,
		ShutdownTimeout: 10 * time.Second,
		SpoolDir:        t.TempDir(),
		AccountURL:      "https://diwan.example.gov/account",
		Registerer:      e.reg,
		Logger:          slog.New(e.logs),
	}
	if tweak != nil {
		tweak(&o)
	}
	e.srv, err = smtp.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.served = cancel, make(chan error, 1)
	go func() { e.served <- e.srv.Serve(ctx) }()
	t.Cleanup(func() {
		e.stop()
		if p := e.logs.panics(); p != "" {
			t.Errorf("the server logged a panic: %s", p)
		}
	})
	return e
}

// stop ends Serve and waits for it.
func (e *env) stop() error {
	e.cancel()
	select {
	case err := <-e.served:
		e.served <- err
		return err
	case <-time.After(30 * time.Second):
		e.t.Fatal("Serve did not return")
		return nil
	}
}

// must turns a (value, error) call into a value, failing the test on the
// error: must(f(...))(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func (e *env) addUser(address string, roles ...string) directory.User {
	e.t.Helper()
	if len(roles) == 0 {
		roles = []string{directory.RoleStaff}
	}
	u := must(e.dir.AddUser(e.ctx, actor, directory.NewUser{Address: address, Name: "User", Roles: roles, Password: password}))(e.t)
	e.users[address] = u
	return u
}

var (
	tlsOnce sync.Once
	tlsConf *tls.Config
	tlsErr  error
)

// serverTLS is one self-signed pair for the whole test binary.
func serverTLS(t testing.TB) *tls.Config {
	tlsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "diwan-smtp-tls-")
		if err != nil {
			tlsErr = err
			return
		}
		cert, key, _, err := tlsutil.EnsureSelfSigned(dir, []string{"mail.mof.gov.sy", "127.0.0.1"})
		if err != nil {
			tlsErr = err
			return
		}
		tlsConf, tlsErr = tlsutil.Load(cert, key)
	})
	if tlsErr != nil {
		t.Fatal(tlsErr)
	}
	return tlsConf
}

func (e *env) addr(l smtp.Listener) string { return e.srv.Addr(l).String() }

// inbox returns the raw messages in the user's INBOX, in UID order.
func (e *env) inbox(login string) []string {
	e.t.Helper()
	u, ok := e.users[login]
	if !ok {
		e.t.Fatalf("no user %s in the test", login)
	}
	sel, err := e.store.Select(e.ctx, u.ID, mailstore.Inbox)
	if errors.Is(err, mailstore.ErrNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	var keys []string
	err = e.store.Fetch(e.ctx, u.ID, sel.ID, sel.UIDs, mailstore.FetchOptions{}, func(mi *mailstore.MessageInfo) error {
		keys = append(keys, mi.BlobKey)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		rc, err := e.store.OpenRaw(e.ctx, k, 0, -1)
		if err != nil {
			e.t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// count runs a COUNT query.
func (e *env) count(q string, args ...any) int64 {
	e.t.Helper()
	var n int64
	if err := e.d.Writer().Raw(q, args...).Scan(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	return n
}

// nothingStored checks that no mailbox holds a message and nothing is
// queued for relay. (A message the store refused after storing its blob,
// over quota, leaves that blob unreferenced for the store's sweep.)
func (e *env) nothingStored() {
	e.t.Helper()
	if n := e.count("SELECT COUNT(*) FROM mailbox_messages"); n != 0 {
		e.t.Errorf("%d messages in mailboxes, want none", n)
	}
	if n := e.count("SELECT COUNT(*) FROM messages WHERE refs > 0"); n != 0 {
		e.t.Errorf("%d referenced messages, want none", n)
	}
	if n := e.count("SELECT COUNT(*) FROM relay_queue"); n != 0 {
		e.t.Errorf("%d relay entries, want none", n)
	}
}

// nothingWritten checks nothingStored and that the store was never reached:
// no message row and no blob at all.
func (e *env) nothingWritten() {
	e.t.Helper()
	e.nothingStored()
	if n := e.count("SELECT COUNT(*) FROM messages"); n != 0 {
		e.t.Errorf("%d message rows, want none", n)
	}
	var keys []string
	if err := e.blobs.List(e.ctx, "", func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		e.t.Fatal(err)
	}
	if len(keys) != 0 {
		e.t.Errorf("blobs stored: %v, want none", keys)
	}
}

// refusals returns the policy.refused events, newest first, once the
// refusals still counted towards their next event are written.
func (e *env) refusals() []audit.Record {
	e.t.Helper()
	if err := e.pol.FlushRefusals(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	recs, err := audit.New(e.d, nil).List(e.ctx, audit.Filter{Action: policy.ActionRefused, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// refusalCount is how many refusals of the reason ("" for any) the
// events stand for (each counts those of one client and reason).
func refusalCount(recs []audit.Record, reason string) int {
	n := 0
	for _, r := range recs {
		if reason == "" || r.Details["reason"] == reason {
			f, _ := r.Details["count"].(float64)
			n += int(f)
		}
	}
	return n
}

// refusedDomains lists the domain of every refusal the events count, once
// per refusal.
func refusedDomains(recs []audit.Record) []string {
	var out []string
	for _, r := range recs {
		doms, _ := r.Details["domains"].(map[string]any)
		if len(doms) == 0 {
			f, _ := r.Details["count"].(float64)
			for range int(f) {
				out = append(out, r.Details["domain"].(string))
			}
			continue
		}
		for d, n := range doms {
			for range int(n.(float64)) {
				out = append(out, d)
			}
		}
	}
	slices.Sort(out)
	return out
}

// metric reads a refusal counter.
func (e *env) metric(reason, domain string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "diwan_smtp_refusals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["reason"] == reason && labels["domain"] == domain {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// client is a raw SMTP client: it sends exactly what a test says and reads
// replies, for the cases a well-behaved client library cannot produce.
type client struct {
	t    testing.TB
	conn net.Conn
	tp   *textproto.Conn
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: conn, tp: textproto.NewConn(conn)}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c.expect(220, "")
	return c
}

// dialTLS connects to the implicit-TLS listener.
func dialTLS(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: conn, tp: textproto.NewConn(conn)}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c.expect(220, "")
	return c
}

// read reads one reply (all its lines).
func (c *client) read() (int, string) {
	c.t.Helper()
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil {
		var te *textproto.Error
		if !errors.As(err, &te) {
			c.t.Fatalf("read reply: %v", err)
		}
	}
	return code, msg
}

// cmd sends one command line and reads its reply.
func (c *client) cmd(format string, args ...any) (int, string) {
	c.t.Helper()
	if err := c.tp.PrintfLine(format, args...); err != nil {
		c.t.Fatalf("send %q: %v", fmt.Sprintf(format, args...), err)
	}
	return c.read()
}

// expect reads a reply and checks its code and that it contains want.
func (c *client) expect(code int, want string) string {
	c.t.Helper()
	got, msg := c.read()
	if got != code || !strings.Contains(msg, want) {
		c.t.Fatalf("reply %d %q, want %d containing %q", got, msg, code, want)
	}
	return msg
}

// do sends a command and expects the reply.
func (c *client) do(code int, want, format string, args ...any) string {
	c.t.Helper()
	got, msg := c.cmd(format, args...)
	if got != code || !strings.Contains(msg, want) {
		c.t.Fatalf("%s: reply %d %q, want %d containing %q", fmt.Sprintf(format, args...), got, msg, code, want)
	}
	return msg
}

func (c *client) ehlo() string { c.t.Helper(); return c.do(250, "", "EHLO client.test") }

func (c *client) starttls() {
	c.t.Helper()
	c.do(220, "", "STARTTLS")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn, c.tp = tc, textproto.NewConn(tc)
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	c.ehlo()
}

func plain(login, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + login + "\x00" + pw))
}

// login opens an authenticated submission session over STARTTLS.
func (e *env) login(user string) *client {
	e.t.Helper()
	c := dial(e.t, e.addr(smtp.Submission))
	c.ehlo()
	c.starttls()
	c.do(235, "2.0.0", "AUTH PLAIN %s", plain(user, password))
	return c
}

// inbound opens a session on the MX listener.
func (e *env) inbound() *client {
	e.t.Helper()
	c := dial(e.t, e.addr(smtp.Inbound))
	c.ehlo()
	return c
}

// writeRaw writes bytes as they are.
func (c *client) writeRaw(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// data sends DATA and the message (dot-stuffed, CRLF line ends as given)
// and returns the final reply.
func (c *client) data(msg string) (int, string) {
	c.t.Helper()
	c.do(354, "", "DATA")
	w := c.tp.DotWriter()
	if _, err := io.WriteString(w, msg); err != nil {
		c.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		c.t.Fatal(err)
	}
	return c.read()
}

// send runs one mail transaction and expects the final reply code.
func (c *client) send(from string, to []string, msg string, code int, want string) {
	c.t.Helper()
	c.do(250, "", "MAIL FROM:<%s>", from)
	for _, r := range to {
		c.do(250, "", "RCPT TO:<%s>", r)
	}
	got, reply := c.data(msg)
	if got != code || !strings.Contains(reply, want) {
		c.t.Fatalf("DATA: reply %d %q, want %d containing %q", got, reply, code, want)
	}
}

// closed reports whether the server has closed the connection (reading
// until EOF or an error, at most for d).
func (c *client) closed(d time.Duration) bool {
	c.conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.conn)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}

// message builds a message with CRLF line ends.
func message(from, to, subject, body string) string {
	return "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject +
		"\r\nDate: Sun, 1 Mar 2026 10:00:00 +0300\r\nMessage-ID: <" + subject + "@test>\r\n\r\n" + body + "\r\n"
}

// withoutReceived splits a delivered message into its top Received field
// and the rest.
func withoutReceived(t testing.TB, raw string) (received, rest string) {
	t.Helper()
	if !strings.HasPrefix(raw, "Received: ") {
		t.Fatalf("message does not start with Received:\n%s", raw)
	}
	r := bufio.NewReader(strings.NewReader(raw))
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(line)
		next, err := r.Peek(1)
		if err != nil || (next[0] != ' ' && next[0] != '\t') {
			break
		}
	}
	received = b.String()
	return received, raw[len(received):]
}

// logRecorder is a slog handler that keeps what a test may inspect.
type logRecorder struct {
	mu      sync.Mutex
	records []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	l.mu.Lock()
	l.records = append(l.records, b.String())
	l.mu.Unlock()
	return nil
}

// text is every record so far, one a line.
func (l *logRecorder) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.records, "\n")
}

func (l *logRecorder) panics() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if strings.Contains(r, "panic") {
			return r
		}
	}
	return ""
}
