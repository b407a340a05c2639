package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/testenv"
)

// The test binary doubles as the diwan program: run with GO_WANT_DIWAN_MAIN=1
// it is `diwan` itself, so every test below runs the real program as a
// separate process (with the race detector when the tests have it).
func TestMain(m *testing.M) {
	if os.Getenv("GO_WANT_DIWAN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(testenv.Main(m))
}

// instance is one data directory and configuration file.
type instance struct {
	t      testing.TB
	dir    string
	config string
	env    []string
}

// newInstance writes a configuration with every listener but HTTP disabled
// and HTTP on a free loopback port. extra is appended to the YAML; a
// section it names (http, smtp, imap) replaces the default one.
func newInstance(t testing.TB, extra string) *instance {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("data_dir: %s\n", dir)
	for _, d := range []string{
		`http: {addr: "127.0.0.1:0", base_url: "https://localhost:8080"}`,
		`smtp: {inbound_addr: "", submission_addr: "", submissions_addr: ""}`,
		`imap: {addr: "", tls_addr: ""}`,
	} {
		key, _, _ := strings.Cut(d, ":")
		if !strings.Contains(extra, key+":") { // extra may set a section itself
			cfg += d + "\n"
		}
	}
	cfg += extra
	path := filepath.Join(dir, "diwan.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &instance{t: t, dir: dir, config: path}
}

func (in *instance) command(stdin string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GO_WANT_DIWAN_MAIN=1", "DIWAN_CONFIG="+in.config)
	cmd.Env = append(cmd.Env, in.env...)
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

// run runs diwan to completion and returns stdout, stderr and the exit code.
func (in *instance) run(stdin string, args ...string) (string, string, int) {
	in.t.Helper()
	cmd := in.command(stdin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		in.t.Fatalf("run diwan %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// ok runs diwan and fails the test unless it exits 0.
func (in *instance) ok(stdin string, args ...string) string {
	in.t.Helper()
	out, errOut, code := in.run(stdin, args...)
	if code != 0 {
		in.t.Fatalf("diwan %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// fails runs diwan, expects a non-zero exit and a one-line reason on stderr
// containing want.
func (in *instance) fails(want, stdin string, args ...string) {
	in.t.Helper()
	_, errOut, code := in.run(stdin, args...)
	if code == 0 {
		in.t.Fatalf("diwan %s succeeded, want failure mentioning %q", strings.Join(args, " "), want)
	}
	line := strings.TrimSpace(errOut)
	if strings.Count(line, "\n") > 0 {
		in.t.Errorf("diwan %s: reason is not one line:\n%s", strings.Join(args, " "), errOut)
	}
	if !strings.Contains(strings.ToLower(line), strings.ToLower(want)) {
		in.t.Errorf("diwan %s: reason %q does not mention %q", strings.Join(args, " "), line, want)
	}
}

func TestVersionPrintsVersionAndCommit(t *testing.T) {
	in := newInstance(t, "")
	out := in.ok("", "version")
	if !regexp.MustCompile(`^diwan \S+ \(commit \S+\)\n$`).MatchString(out) {
		t.Fatalf("version output %q", out)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	in := newInstance(t, "smtp_typo: 1\n")
	in.fails("smtp_typo", "", "migrate")

	in = newInstance(t, "")
	in.env = []string{"DIWAN_SMTP_MAX_RECIPIENTS=many"}
	in.fails("smtp.max_recipients", "", "migrate")

	in = newInstance(t, "")
	in.fails("no/such/file.yaml", "", "migrate", "--config", "no/such/file.yaml")
}

func TestUnreachableDatabaseNamedInOneLine(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	in := newInstance(t, fmt.Sprintf("database: {driver: postgres, dsn: \"postgres://app:pw@127.0.0.1:%d/x?sslmode=disable&connect_timeout=2\"}\n", port))
	in.fails(fmt.Sprintf("postgres at 127.0.0.1:%d", port), "", "migrate")
}

func TestUnreachableS3NamedInOneLine(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	in := newInstance(t, fmt.Sprintf("blob: {driver: s3, s3: {endpoint: \"127.0.0.1:%d\", bucket: diwan, access_key: a, secret_key: b}}\n", port))
	in.fails(fmt.Sprintf("127.0.0.1:%d", port), "", "migrate")
}

func TestMigrateAppliesThenNothing(t *testing.T) {
	in := newInstance(t, "")
	in.env = []string{"DIWAN_BOOTSTRAP_ADMIN_PASSWORD=first-admin-password"}
	out := in.ok("", "migrate")
	if !strings.Contains(out, "applied diwan 00001_instance.sql") || !strings.Contains(out, "applied river") {
		t.Fatalf("migrate output does not list what it applied:\n%s", out)
	}
	if out := in.ok("", "migrate"); strings.Contains(out, "applied") {
		t.Fatalf("second migrate applied again:\n%s", out)
	}
}

func TestServeRefusesSchemaBehindWithoutAutoMigrate(t *testing.T) {
	in := newInstance(t, "database: {auto_migrate: false}\n")
	in.fails("diwan migrate", "", "serve")
}

// server is a running `diwan serve`.
type server struct {
	cmd    *exec.Cmd
	url    string
	lines  []string // what it printed on stdout up to "ready"
	client *http.Client
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var servingLine = regexp.MustCompile(`diwan: serving (https?://\S+) `)

// serve starts `diwan serve` and waits until it is ready.
func (in *instance) serve() *server {
	in.t.Helper()
	cmd := in.command("", "serve")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		in.t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	in.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var url string
		for sc.Scan() {
			s.lines = append(s.lines, sc.Text())
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				url = m[1]
			}
			if strings.HasPrefix(sc.Text(), "diwan: ready") {
				ready <- url
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case s.url = <-ready:
	case err := <-s.done:
		s.done <- err
		in.t.Fatalf("diwan serve exited before ready: %v\n%s", err, s.stderr.String())
	case <-time.After(60 * time.Second):
		in.t.Fatalf("diwan serve not ready after 60s:\n%s", s.stderr.String())
	}
	s.client = &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // self-signed dev pair
	}
	return s
}

func (s *server) get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := s.client.Get(s.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(t testing.TB) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Fatalf("diwan serve exited with %v after SIGTERM:\n%s", err, s.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("diwan serve did not stop within 30s of SIGTERM")
	}
}

var bootstrapLine = regexp.MustCompile(`(?m)^bootstrap administrator: admin (\S{16,})$`)

// TestDevConfigServes starts the server as `make run` does, on
// configs/dev.yaml, with only the data directory and the listen addresses
// moved (to a temporary directory and free loopback ports): every listener
// the file names must come up.
func TestDevConfigServes(t *testing.T) {
	dev, err := filepath.Abs(filepath.Join("..", "..", "configs", "dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{t: t, dir: t.TempDir(), config: dev}
	in.env = []string{"DIWAN_DATA_DIR=" + in.dir}
	for _, k := range []string{"HTTP_ADDR", "SMTP_INBOUND_ADDR", "SMTP_SUBMISSION_ADDR", "SMTP_SUBMISSIONS_ADDR",
		"IMAP_ADDR", "IMAP_TLS_ADDR"} {
		in.env = append(in.env, "DIWAN_"+k+"=127.0.0.1:0")
	}
	s := in.serve()
	out := strings.Join(s.lines, "\n")
	for _, want := range []string{"smtp inbound on", "smtp submission on", "smtp submissions on",
		"imap (STARTTLS) on", "imap (TLS) on", "(log in at " + s.url + ")"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve on configs/dev.yaml did not print %q:\n%s\n%s", want, out, s.stderr.String())
		}
	}
	// The address printed is the one bound (port 0 was asked for), and the
	// login page answers there.
	if strings.HasSuffix(s.url, ":0") || strings.Contains(out, "log in at https://localhost:8080") {
		t.Errorf("the log-in address is not the bound one:\n%s", out)
	}
	if code, body := s.get(t, "/login"); code != 200 || !strings.Contains(body, `name="csrf_token"`) {
		t.Errorf("GET %s/login = %d", s.url, code)
	}
}

func TestServeBootstrapsOnceAndAnswersHealth(t *testing.T) {
	in := newInstance(t, "")
	s := in.serve()
	if n := len(bootstrapLine.FindAllString(s.stderr.String(), -1)); n != 1 {
		t.Fatalf("bootstrap line printed %d times on first start, want 1:\n%s", n, s.stderr.String())
	}
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("serving %s, want HTTPS", s.url)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := s.get(t, p); code != 200 {
			t.Fatalf("GET %s = %d %s", p, code, body)
		}
	}
	if code, body := s.get(t, "/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("GET /metrics = %d, no go_goroutines", code)
	}
	s.stop(t)
	for _, f := range []string{"tls/cert.pem", "tls/key.pem", "diwan.db"} {
		if _, err := os.Stat(filepath.Join(in.dir, f)); err != nil {
			t.Errorf("after first start: %v", err)
		}
	}

	s = in.serve()
	if bootstrapLine.MatchString(s.stderr.String()) {
		t.Fatalf("bootstrap line printed again on second start:\n%s", s.stderr.String())
	}
	s.stop(t)
}

func TestReadinessFailsWhilePostgresIsStopped(t *testing.T) {
	cluster := testenv.NewCluster(t, false)
	dsn, err := cluster.CreateDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	in := newInstance(t, fmt.Sprintf("database: {driver: postgres, dsn: %q}\n", dsn))
	s := in.serve()
	if code, body := s.get(t, "/readyz"); code != 200 {
		t.Fatalf("readyz = %d %s", code, body)
	}
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	code, body := s.get(t, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "database") {
		t.Fatalf("readyz with PostgreSQL stopped = %d %s, want 503 naming the database", code, body)
	}
	if code, _ := s.get(t, "/healthz"); code != 200 {
		t.Fatalf("healthz with PostgreSQL stopped = %d, want 200 (process is up)", code)
	}
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body = s.get(t, "/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz after PostgreSQL restart = %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop(t)
}

// A request in flight when SIGTERM arrives is answered before the process
// exits, while new connections are refused. The slow request is a readiness
// check waiting on a stalled object store (a relay in front of the real S3
// server that holds every byte until released; nothing but the readiness
// check talks to the store here, so a held byte means the request is being
// handled).
func TestServeStopsGracefullyWithRequestInFlight(t *testing.T) {
	s3 := testenv.S3(t)
	relay := testenv.NewProxy(t, s3.Endpoint)
	in := newInstance(t, fmt.Sprintf("blob: {driver: s3, s3: {endpoint: %q, bucket: %s, access_key: %s, secret_key: %s}}\n",
		relay.Addr(), testenv.Bucket(t), s3.AccessKey, s3.SecretKey))
	s := in.serve()

	relay.Pause()
	type result struct {
		code int
		err  error
	}
	answered := make(chan result, 1)
	go func() {
		resp, err := s.client.Get(s.url + "/readyz")
		if err != nil {
			answered <- result{err: err}
			return
		}
		resp.Body.Close()
		answered <- result{code: resp.StatusCode}
	}()
	select {
	case <-relay.Held():
	case <-time.After(10 * time.Second):
		t.Fatal("readiness check never reached the database")
	}

	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	host := strings.TrimPrefix(s.url, "https://")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", host, time.Second)
		if err != nil {
			break // the listener is closed
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts connections 10s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The readiness check gives up on the database after its own timeout
	// (503) or succeeds once released (200); either way it must be answered
	// before the process exits.
	relay.Resume()
	select {
	case err := <-s.done:
		t.Fatalf("server exited (%v) before answering the request in flight", err)
	case r := <-answered:
		if r.err != nil || (r.code != 200 && r.code != http.StatusServiceUnavailable) {
			t.Fatalf("in-flight request: %d, %v", r.code, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("in-flight request not answered")
	}
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Fatalf("exit after graceful stop: %v\n%s", err, s.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not exit after the in-flight request finished")
	}
}
