package httpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/tlsutil"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// testServer is a Server serving on 127.0.0.1:0 until the test ends.
type testServer struct {
	srv    *Server
	url    string
	client *http.Client
	cancel context.CancelFunc
	served chan error
	logs   *syncBuffer
}

// startTLS starts a server with a freshly generated self-signed pair and a
// client that trusts exactly that certificate. setup runs before serving
// (routes for the test go there).
func startTLS(t testing.TB, o Options, setup func(*Server)) *testServer {
	t.Helper()
	certFile, keyFile, _, err := tlsutil.EnsureSelfSigned(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	o.TLS, err = tlsutil.Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("cannot add the generated certificate to a pool")
	}
	client := &http.Client{
		Timeout: waitTimeout,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
		},
	}
	return start(t, o, "https", client, setup)
}

// startPlain starts a server without TLS.
func startPlain(t testing.TB, o Options, setup func(*Server)) *testServer {
	t.Helper()
	o.TLS = nil
	client := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{}}
	return start(t, o, "http", client, setup)
}

func start(t testing.TB, o Options, scheme string, client *http.Client, setup func(*Server)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	o.Addr = "127.0.0.1:0"
	srv := New(o)
	if setup != nil {
		setup(srv)
	}
	if srv.Addr() != nil {
		t.Fatal("Addr before Listen is not nil")
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{
		srv:    srv,
		url:    scheme + "://" + srv.Addr().String(),
		client: client,
		cancel: cancel,
		served: make(chan error, 1),
		logs:   logs,
	}
	go func() { ts.served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		client.CloseIdleConnections()
		select {
		case err := <-ts.served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Error("Serve did not return after the context was cancelled")
		}
	})
	return ts
}

// get fetches path and returns the response with its body read.
func (ts *testServer) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := ts.client.Get(ts.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp, body
}

// syncBuffer is an io.Writer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func wantJSON(t *testing.T, resp *http.Response, body []byte, status int, want string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if got := strings.TrimSpace(string(body)); got != want {
		t.Errorf("body %s, want %s", got, want)
	}
}

func TestHealthzAnswersOKWithSecurityHeaders(t *testing.T) {
	ts := startTLS(t, Options{Checks: []Check{{"database", func(context.Context) error {
		return errors.New("down") // liveness never looks at dependencies
	}}}}, nil)
	resp, body := ts.get(t, "/healthz")
	wantJSON(t, resp, body, http.StatusOK, `{"status":"ok"}`)
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2 over TLS", resp.Proto)
	}
	for h, want := range map[string]string{
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "same-origin",
		"X-Frame-Options":           "DENY",
		"Strict-Transport-Security": "max-age=31536000",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
}

func TestPlainHTTPSendsNoHSTS(t *testing.T) {
	ts := startPlain(t, Options{}, nil)
	resp, body := ts.get(t, "/healthz")
	wantJSON(t, resp, body, http.StatusOK, `{"status":"ok"}`)
	if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("Strict-Transport-Security over plain HTTP: %q", got)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options: %q", got)
	}
}

func TestReadyzReadyWhenEveryCheckPasses(t *testing.T) {
	// Each check waits for the other: both pass only if they run concurrently.
	a, b := make(chan struct{}), make(chan struct{})
	meet := func(mine, theirs chan struct{}) func(context.Context) error {
		return func(ctx context.Context) error {
			close(mine)
			select {
			case <-theirs:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	ts := startTLS(t, Options{Checks: []Check{
		{"database", meet(a, b)},
		{"blob store", meet(b, a)},
	}}, nil)
	resp, body := ts.get(t, "/readyz")
	wantJSON(t, resp, body, http.StatusOK, `{"status":"ready"}`)
}

func TestReadyzNamesFailingChecks(t *testing.T) {
	ignoresCtx := make(chan struct{})
	t.Cleanup(func() { close(ignoresCtx) })
	ts := startTLS(t, Options{Checks: []Check{
		{"database", func(context.Context) error {
			return errors.New("ping postgres://app:s3cret@db.internal:5432/diwan:\n  dial tcp 10.0.0.5:5432: connect: connection refused")
		}},
		{"blob store", func(context.Context) error { return nil }},
		{"slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		{"stuck", func(context.Context) error { <-ignoresCtx; return nil }},
		{"panics", func(context.Context) error { panic("boom") }},
	}}, func(s *Server) { s.checkTimeout = 50 * time.Millisecond })

	resp, body := ts.get(t, "/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 (body %s)", resp.StatusCode, body)
	}
	var got struct {
		Status  string `json:"status"`
		Failing []struct {
			Name  string `json:"name"`
			Error string `json:"error"`
		} `json:"failing"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if got.Status != "unavailable" {
		t.Errorf("status %q, want unavailable", got.Status)
	}
	var names []string
	for _, f := range got.Failing {
		names = append(names, f.Name)
		if f.Error == "" || strings.ContainsAny(f.Error, "\r\n") {
			t.Errorf("%s: error %q, want one non-empty line", f.Name, f.Error)
		}
	}
	if want := "database,slow,stuck,panics"; strings.Join(names, ",") != want {
		t.Errorf("failing %q, want %s", names, want)
	}
	db := got.Failing[0].Error
	if strings.Contains(db, "s3cret") {
		t.Errorf("password shown: %q", db)
	}
	if !strings.Contains(db, "connection refused") {
		t.Errorf("database error %q lost its cause", db)
	}
	if !strings.Contains(got.Failing[2].Error, "50ms") {
		t.Errorf("stuck check error %q does not say it timed out", got.Failing[2].Error)
	}
	if !strings.Contains(ts.logs.String(), "readiness check failed") {
		t.Error("failing check not logged")
	}
}

func TestMetricsExposeRuntimeAndRequestCounters(t *testing.T) {
	reg := NewRegistry()
	ts := startTLS(t, Options{Gatherer: reg, MetricsAllow: []string{"127.0.0.0/8"}}, nil)
	ts.get(t, "/healthz")
	ts.get(t, "/healthz")
	ts.get(t, "/no/such/page")

	var body string
	waitFor(t, "request counters in /metrics", func() bool {
		resp, b := ts.get(t, "/metrics")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/metrics status %d", resp.StatusCode)
		}
		body = string(b)
		return strings.Contains(body, `diwan_http_requests_total{method="GET",route="/healthz",status="200"} 2`)
	})
	for _, want := range []string{
		"go_goroutines ",
		"process_open_fds ",
		`diwan_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`diwan_http_request_duration_seconds_count{method="GET",route="/healthz"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "/no/such/page") {
		t.Error("an unmatched path became a label value")
	}
}

func TestServersShareOneRegistry(t *testing.T) {
	reg := NewRegistry()
	a := New(Options{Gatherer: reg})
	b := New(Options{Gatherer: reg})
	if a.metrics.requests != b.metrics.requests {
		t.Error("second server did not reuse the registered request counter")
	}
}

func TestUnknownRouteIsJSONNotFoundAndOtherMethod405(t *testing.T) {
	ts := startTLS(t, Options{}, nil)
	resp, body := ts.get(t, "/no/such/page")
	wantJSON(t, resp, body, http.StatusNotFound, `{"error":{"code":"not_found","message":"not found"}}`)
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("404 without security headers: X-Content-Type-Options %q", got)
	}

	resp, err := ts.client.Post(ts.url+"/healthz", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// A path that exists with another method: 405 naming the methods.
	wantJSON(t, resp, b, http.StatusMethodNotAllowed, `{"error":{"code":"method_not_allowed","message":"POST is not a method of this path; it takes GET"}}`)
	if allow := resp.Header.Get("Allow"); allow != "GET" {
		t.Errorf("Allow %q, want GET", allow)
	}
}

func TestWriteErrorNamesTheField(t *testing.T) {
	ts := startTLS(t, Options{}, func(s *Server) {
		s.Router().GET("/bad", func(c *gin.Context) {
			WriteError(c, http.StatusBadRequest, "invalid", "subject is required", "subject")
		})
	})
	resp, body := ts.get(t, "/bad")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d", resp.StatusCode)
	}
	var got map[string]map[string]string
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	want := map[string]string{"code": "invalid", "message": "subject is required", "field": "subject"}
	for k, v := range want {
		if got["error"][k] != v {
			t.Errorf("error.%s = %q, want %q (body %s)", k, got["error"][k], v, body)
		}
	}
}

func TestPanicIsJSONInternalErrorAndServerGoesOn(t *testing.T) {
	ts := startTLS(t, Options{}, func(s *Server) {
		s.Router().GET("/panic", func(*gin.Context) { panic("handler bug: secret detail") })
	})
	resp, body := ts.get(t, "/panic")
	wantJSON(t, resp, body, http.StatusInternalServerError, `{"error":{"code":"internal","message":"internal error"}}`)
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("500 without security headers")
	}

	resp, body = ts.get(t, "/healthz")
	wantJSON(t, resp, body, http.StatusOK, `{"status":"ok"}`)

	logs := ts.logs.String()
	if n := strings.Count(logs, "panic serving request"); n != 1 {
		t.Errorf("panic logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs, "handler bug: secret detail") || !strings.Contains(logs, "server_test.go") {
		t.Errorf("panic log lacks the value or the stack:\n%s", logs)
	}
	if !strings.Contains(logs, "status=500") {
		t.Errorf("request log lacks the 500:\n%s", logs)
	}
}

func TestPanicAfterResponseStartedAbortsResponse(t *testing.T) {
	ts := startTLS(t, Options{}, func(s *Server) {
		s.Router().GET("/half", func(c *gin.Context) {
			c.Status(http.StatusOK)
			c.Writer.WriteString("partial")
			c.Writer.Flush()
			panic("bug after the response started")
		})
	})
	resp, err := ts.client.Get(ts.url + "/half")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("a response cut short by a panic was read as complete")
	}
	resp, body := ts.get(t, "/healthz")
	wantJSON(t, resp, body, http.StatusOK, `{"status":"ok"}`)
}

func TestListenTwiceAndTakenAddressFail(t *testing.T) {
	s := New(Options{Addr: "127.0.0.1:0"})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	defer s.ln.Close()
	if err := s.Listen(); err == nil {
		t.Error("second Listen succeeded")
	}
	other := New(Options{Addr: s.Addr().String()})
	if err := other.Listen(); err == nil {
		other.ln.Close()
		t.Errorf("Listen on the taken address %s succeeded", s.Addr())
	}
}

// blockingRoute registers GET path, whose handler signals entered and then
// waits for release before answering 200 "done".
func blockingRoute(path string, entered chan<- struct{}, release <-chan struct{}) func(*Server) {
	return func(s *Server) {
		s.Router().GET(path, func(c *gin.Context) {
			entered <- struct{}{}
			<-release
			c.String(http.StatusOK, "done")
		})
	}
}

type result struct {
	status int
	body   string
	err    error
}

func (ts *testServer) getAsync(path string) <-chan result {
	out := make(chan result, 1)
	go func() {
		resp, err := ts.client.Get(ts.url + path)
		if err != nil {
			out <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- result{status: resp.StatusCode, body: string(b), err: err}
	}()
	return out
}

// waitRefused waits until a new TCP connection to the server is refused.
func (ts *testServer) waitRefused(t *testing.T) {
	t.Helper()
	addr := ts.srv.Addr().String()
	waitFor(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
}

func TestShutdownLetsInFlightRequestFinish(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB, Options, func(*Server)) *testServer
	}{{"https", startTLS}, {"http", startPlain}} {
		t.Run(tc.name, func(t *testing.T) {
			entered, release := make(chan struct{}, 1), make(chan struct{})
			ts := tc.start(t, Options{ShutdownTimeout: waitTimeout}, blockingRoute("/slow", entered, release))

			res := ts.getAsync("/slow")
			select {
			case <-entered:
			case r := <-res:
				t.Fatalf("request ended before the handler ran: %+v", r)
			case <-time.After(waitTimeout):
				t.Fatal("handler never started")
			}

			ts.cancel()
			ts.waitRefused(t)
			select {
			case err := <-ts.served:
				t.Fatalf("Serve returned (%v) with a request in flight", err)
			default:
			}

			close(release)
			select {
			case r := <-res:
				if r.err != nil || r.status != http.StatusOK || r.body != "done" {
					t.Errorf("in-flight request: status %d body %q err %v; want 200 done", r.status, r.body, r.err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("in-flight request did not finish")
			}
			select {
			case err := <-ts.served:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
				ts.served <- nil // for the cleanup
			case <-time.After(waitTimeout):
				t.Fatal("Serve did not return after the last request finished")
			}
		})
	}
}

func TestShutdownIsBoundedByTimeout(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	t.Cleanup(func() { close(release) }) // let the abandoned handler goroutine end
	const timeout = 100 * time.Millisecond
	ts := startTLS(t, Options{ShutdownTimeout: timeout}, blockingRoute("/stuck", entered, release))

	res := ts.getAsync("/stuck")
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatal("handler never started")
	}

	began := time.Now()
	ts.cancel()
	select {
	case err := <-ts.served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		ts.served <- nil // for the cleanup
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return although the handler never finishes")
	}
	if took := time.Since(began); took < timeout {
		t.Errorf("Serve returned after %s, before the shutdown timeout %s", took, timeout)
	}
	select {
	case r := <-res:
		if r.err == nil {
			t.Errorf("cut-off request succeeded: status %d body %q", r.status, r.body)
		}
	case <-time.After(waitTimeout):
		t.Fatal("client of the cut-off request never heard back")
	}
	if !strings.Contains(ts.logs.String(), "in-flight requests cut off") {
		t.Error("forced shutdown not logged")
	}
}

func TestOperatorText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"dial tcp: refused", "dial tcp: refused"},
		{"line one\nline two\r\n\tthree", "line one line two three"},
		{"open postgres://app:pw@db:5432/x failed", "open postgres://app:xxxxx@db:5432/x failed"},
		{"s3 http://KEY:SECRET@127.0.0.1:7070/bucket", "s3 http://KEY:xxxxx@127.0.0.1:7070/bucket"},
		{strings.Repeat("é", 300), strings.Repeat("é", maxCheckError) + "…"},
	} {
		if got := operatorText(errors.New(tc.in)); got != tc.want {
			t.Errorf("operatorText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
