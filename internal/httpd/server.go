// Package httpd is Diwan's HTTP front door: the HTTPS server, its gin
// router and middleware (panic recovery, request logging and metrics,
// security headers), the operator endpoints /healthz, /readyz and /metrics,
// the JSON API /api/v1 with its session cookies, API tokens (both checked
// by the directory) and CSRF defence, and, as it lands, the web UI, all
// registered in one routes function.
//
// The package translates HTTP into calls on the core services and their
// errors into HTTP replies (the JSON error shape of WriteError). It must never
// hold domain rules or SQL, open a database or a blob store itself (it is given what
// it needs by internal/app), or show a client an internal error's text: that
// goes to the log, once, and the client gets a generic sentence.
package httpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/mailauth"
	"diwan.gov.sy/diwan/internal/policy"
	"diwan.gov.sy/diwan/internal/workflow"
)

func init() {
	// Release mode: no route dump and no debug warnings on standard output.
	// gin keeps this in a package variable; setting it once here keeps
	// concurrent New calls (tests) free of data races.
	gin.SetMode(gin.ReleaseMode)
}

// Server timeouts. A request must send its headers within
// readHeaderTimeout. readTimeout and writeTimeout bound a whole request body
// and a whole response; handlers that stream large uploads or downloads
// extend their own deadlines with http.ResponseController.
const (
	readHeaderTimeout      = 10 * time.Second
	readTimeout            = 5 * time.Minute
	writeTimeout           = 5 * time.Minute
	idleTimeout            = 120 * time.Second
	maxHeaderBytes         = 64 << 10
	defaultShutdownTimeout = 15 * time.Second
)

// Check is one dependency that /readyz probes, such as {"database",
// db.Ping} or {"blob store", blob.Ping}. Fn must return promptly once ctx is
// done; it may be called concurrently with itself.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Options configure a Server.
type Options struct {
	// Addr is the TCP address to listen on, e.g. "127.0.0.1:8080"; ":0"
	// picks a free port (see Server.Addr).
	Addr string
	// TLS, when set, makes the server speak HTTPS (HTTP/2 and HTTP/1.1) with
	// this configuration; nil means plain HTTP, for a server behind a
	// TLS-terminating proxy (http.tls: false).
	TLS *tls.Config
	// Checks are the dependencies /readyz probes.
	Checks []Check
	// Gatherer is the registry /metrics exposes (NewRegistry gives one with
	// the Go runtime and process collectors). Nil means a NewRegistry of the
	// server's own.
	Gatherer prometheus.Gatherer
	// Registerer receives the server's HTTP request metrics. Nil means the
	// Gatherer when it is also a Registerer (a *prometheus.Registry is);
	// otherwise the request metrics are not exported.
	Registerer prometheus.Registerer
	// Logger receives request logs and errors. Nil discards them.
	Logger *slog.Logger
	// ShutdownTimeout bounds how long in-flight requests may run on after
	// shutdown starts; then their connections are closed. Zero means 15s.
	ShutdownTimeout time.Duration
	// TrustedProxies are the IPs or CIDRs (http.trusted_proxies) whose
	// X-Forwarded-For header names the client; empty trusts none, and the
	// client is the peer's address.
	TrustedProxies []string
	// MetricsAllow are the IPs or CIDRs (metrics.allow) whose clients may
	// read /metrics; the client's address is the peer's, or the one
	// X-Forwarded-For names when the peer is a trusted proxy. Empty allows
	// no network: only MetricsToken opens /metrics then.
	MetricsAllow []string
	// MetricsToken, when not empty, lets any client read /metrics with
	// "Authorization: Bearer TOKEN" (metrics.token).
	MetricsToken string

	// The JSON API /api/v1 is served when Directory and Workflow are both
	// set; without them the server answers the operator endpoints only.

	// Directory checks logins, keeps the web sessions and API tokens, and
	// lists ministries and users.
	Directory *directory.Service
	// Workflow is the correspondence engine.
	Workflow *workflow.Service
	// Queue is the outbound queue administrators list, retry and drop
	// (GET /api/v1/queue); nil answers those routes 503.
	Queue Queue
	// Policy is the national-mail policy; Audit the audit log, read by
	// administrators and counted for violations.
	Policy *policy.Service
	Audit  *audit.Log
	// DKIM makes and shows the hosted domains' DKIM keys.
	DKIM *mailauth.Keys
	// BaseURL is the absolute URL users reach (http.base_url): its origin
	// is accepted as same-origin behind a proxy, and an https URL makes
	// cookies Secure even when the server itself speaks plain HTTP.
	BaseURL string
	// Status tells the status page (/admin/status) about the process: its
	// listeners, database and blob store checked at the call, its build.
	// It refuses a caller who does not administer the instance with an
	// error wrapping directory.ErrForbidden (the page is then not found).
	// internal/app provides it; nil shows none of that.
	Status func(ctx context.Context, caller directory.Principal) (StatusReport, error)
	// MailSetup is what mail clients are told (mailsetup.go): the mail
	// listeners' public host name and ports. Without a Host the set-up
	// documents answer 404.
	MailSetup MailSetup
}

// Server is the HTTP(S) server. Build it with New, add routes with Router,
// bind with Listen and run with Serve.
type Server struct {
	opts    Options
	log     *slog.Logger
	engine  *gin.Engine
	metrics *httpMetrics
	http    *http.Server
	ln      net.Listener

	metricsGuard metricsGuard // who may read /metrics

	baseOrigin string // origin of Options.BaseURL; "" when none

	checkTimeout time.Duration // bound of each readiness check; tests shorten it

	ui *ui // the web UI's pages and texts

	orgNames uiOrgCache      // the organisation's names the UI shows, kept a few seconds
	counters uiCountersCache // each user's navigation counters, kept a few seconds
}

// New builds a server with its middleware and the operator routes. Nothing
// is bound until Listen.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = defaultShutdownTimeout
	}
	if o.Gatherer == nil {
		reg := NewRegistry()
		o.Gatherer = reg
		if o.Registerer == nil {
			o.Registerer = reg
		}
	}
	if o.Registerer == nil {
		if r, ok := o.Gatherer.(prometheus.Registerer); ok {
			o.Registerer = r
		}
	}
	s := &Server{
		opts:    o,
		log:     o.Logger,
		metrics: newHTTPMetrics(o.Registerer),

		metricsGuard: newMetricsGuard(o.MetricsAllow, o.MetricsToken, o.Logger),

		checkTimeout: checkTimeout,
	}
	if origin, ok := originOf(o.BaseURL); ok {
		s.baseOrigin = origin
	}
	loc := time.UTC
	if o.Workflow != nil {
		loc = o.Workflow.Location()
	}
	u, err := newUI(loc)
	if err != nil {
		// The templates and texts are embedded: a broken one is a defect
		// of the build, which the package's tests catch.
		panic("httpd: web UI: " + err.Error())
	}
	s.ui = u
	s.engine = s.newEngine()
	s.http = &http.Server{
		Handler:           s.engine,
		TLSConfig:         o.TLS,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// net/http's own messages are mostly failed TLS handshakes from
		// clients that refuse a self-signed certificate, and scanners.
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	return s
}

// newEngine builds the gin engine: middleware, the not-found reply and the
// routes.
func (s *Server) newEngine() *gin.Engine {
	e := gin.New()
	// Only the configured proxies are believed: otherwise the client IP is
	// the peer's address, never an X-Forwarded-For a client wrote. The
	// configuration validated the list; an entry gin still refuses leaves
	// no proxy trusted.
	if err := e.SetTrustedProxies(s.opts.TrustedProxies); err != nil {
		s.log.Error("http.trusted_proxies refused; trusting no proxy", slog.Any("error", err))
		_ = e.SetTrustedProxies(nil)
	}
	e.Use(s.observe, securityHeaders(s.opts.TLS != nil), s.recovery, s.lingerOnRefusal)
	// A path that exists with another method is answered 405 with an Allow
	// header (RFC 9110 §15.5.6), any other unmatched request 404; both in
	// the JSON error shape, never gin's plain-text defaults.
	e.HandleMethodNotAllowed = true
	e.NoMethod(s.noMethod)
	e.NoRoute(s.noRoute)
	s.routes(e)
	return e
}

// Router returns the gin engine, for adding routes. Routes must be added
// before Serve.
func (s *Server) Router() *gin.Engine { return s.engine }

// Listen binds the address, so that the caller knows it (and a taken port
// fails start-up) before anything is served. Calling it twice is an error.
func (s *Server) Listen() error {
	if s.ln != nil {
		return errors.New("httpd: already listening")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// Addr is the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve serves until ctx is done (it calls Listen first if the caller did
// not), then shuts down gracefully: the listener closes at once, so new
// connections are refused; idle connections close; requests in flight may
// finish within ShutdownTimeout, after which their connections are closed.
// It returns nil after a shutdown, whether graceful or forced (a forced one
// is logged as a warning), and the error when serving fails.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	served := make(chan error, 1)
	go func() {
		if s.opts.TLS != nil {
			// ServeTLS clones TLSConfig and adds HTTP/2 to it; the
			// certificate is already in the config.
			served <- s.http.ServeTLS(s.ln, "", "")
		} else {
			served <- s.http.Serve(s.ln)
		}
	}()

	select {
	case err := <-served:
		return fmt.Errorf("http serve %s: %w", s.ln.Addr(), err)
	case <-ctx.Done():
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(shutdownCtx); err != nil {
		s.log.Warn("http shutdown: in-flight requests cut off",
			slog.String("addr", s.ln.Addr().String()),
			slog.Duration("timeout", s.opts.ShutdownTimeout),
			slog.Any("error", err))
		s.http.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http serve %s: %w", s.ln.Addr(), err)
	}
	return nil
}
