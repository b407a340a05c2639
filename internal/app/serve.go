package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/httpd"
	"diwan.gov.sy/diwan/internal/imap"
	"diwan.gov.sy/diwan/internal/mailauth"
	"diwan.gov.sy/diwan/internal/resolver"
	"diwan.gov.sy/diwan/internal/smtp"
	"diwan.gov.sy/diwan/internal/tlsutil"
)

// listener is one protocol front door started by Serve: it is bound before
// anything is served (so a taken port fails start-up) and serves until its
// context ends, then stops gracefully.
type listener interface {
	Serve(ctx context.Context) error
}

// serveGCPercent is the garbage collector's target of a serving process
// when GOGC is not set.
const serveGCPercent = 200

// Serve runs every enabled listener until ctx is cancelled (SIGINT/SIGTERM),
// then stops accepting, lets in-flight work finish (bounded) and closes the
// database last. Start-up problems are returned as one-line errors.
func Serve(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout, stderr io.Writer) error {
	started := time.Now()
	if _, set := os.LookupEnv("GOGC"); !set {
		// The server's live heap is small (tens of MiB) and mostly short
		// lived message buffers; collecting at 3× instead of 2× the live
		// heap takes about 7% less CPU per delivered message for a few
		// tens of MiB more. GOGC still overrides it.
		debug.SetGCPercent(serveGCPercent)
	}
	// The directories serve writes into, made by serve itself: made by an
	// admin command run as another user, they might not be writable.
	dirs, err := PrepareDataDirs(cfg)
	if err != nil {
		return err
	}
	e, err := Open(ctx, cfg, log, cfg.Database.AutoMigrate, logWriter{log})
	if err != nil {
		return err
	}
	defer e.Close() // the database closes last, after every listener stopped

	if err := e.Bootstrap(ctx, stderr); err != nil {
		return err
	}
	log.Info("data directories writable", slog.Any("dirs", dirs))
	fmt.Fprintf(stdout, "diwan: writable: %s\n", strings.Join(dirs, ", "))
	tlsConf, err := serverTLS(cfg)
	if err != nil {
		return err
	}

	// Background work that lives as long as the process.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(5)
	go func() { defer wg.Done(); e.Audit.Run(bg) }()
	go func() { defer wg.Done(); e.Policy.KeepSummaryWarm(bg) }()
	go func() { defer wg.Done(); e.Mail.RunSweeper(bg, 10*time.Minute) }()
	go func() { defer wg.Done(); sweepUploads(bg, e, time.Hour) }()
	go func() { defer wg.Done(); e.Directory.RunRefusals(bg) }()
	defer func() { stopBG(); wg.Wait() }()

	queue, self, stopQueue, err := newDelivery(ctx, e)
	if err != nil {
		return err
	}
	defer stopQueue()

	status := newStatusReporter(e, started)
	var listeners []listener
	if cfg.HTTP.Addr != "" {
		srv, err := startHTTP(e, tlsConf, stdout, queue, status)
		if err != nil {
			return err
		}
		listeners = append(listeners, srv)
	}
	if cfg.SMTP.InboundAddr != "" || cfg.SMTP.SubmissionAddr != "" || cfg.SMTP.SubmissionsAddr != "" {
		srv, err := startSMTP(bg, &wg, e, tlsConf, stdout, queue)
		if err != nil {
			return err
		}
		self.Set(srv.Addrs()[smtp.Inbound])
		status.boundSMTP(srv.Addrs())
		listeners = append(listeners, srv)
	}
	if cfg.IMAP.Addr != "" || cfg.IMAP.TLSAddr != "" {
		srv, err := startIMAP(e, tlsConf, stdout)
		if err != nil {
			return err
		}
		starttls, implicit := srv.Addrs()
		status.bound(httpd.ListenerIMAP, starttls)
		status.bound(httpd.ListenerIMAPS, implicit)
		listeners = append(listeners, srv)
	}

	if err := queue.Start(bg); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	log.Info("ready", slog.Duration("startup", time.Since(started)))
	fmt.Fprintf(stdout, "diwan: ready in %s\n", time.Since(started).Round(time.Millisecond))

	errs := make(chan error, len(listeners))
	for _, l := range listeners {
		go func(l listener) { errs <- l.Serve(ctx) }(l)
	}
	var firstErr error
	for range listeners {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	log.Info("stopped")
	return firstErr
}

// serverTLS loads the configured certificate, or the self-signed pair under
// data_dir (generated on first start).
func serverTLS(cfg *config.Config) (*tls.Config, error) {
	certFile, keyFile := cfg.TLS.CertFile, cfg.TLS.KeyFile
	if certFile == "" {
		hosts := []string{cfg.SMTP.Hostname}
		if u, err := url.Parse(cfg.HTTP.BaseURL); err == nil && u.Hostname() != "" {
			hosts = append(hosts, u.Hostname())
		}
		if h, _, err := net.SplitHostPort(cfg.HTTP.Addr); err == nil && h != "" {
			hosts = append(hosts, h)
		}
		var err error
		certFile, keyFile, _, err = tlsutil.EnsureSelfSigned(cfg.DataDir, hosts)
		if err != nil {
			return nil, fmt.Errorf("self-signed TLS pair under %s: %w", cfg.DataDir, err)
		}
	}
	return tlsutil.Load(certFile, keyFile)
}

// logWriter sends the lines written to it (migrations applied at start-up)
// to the log.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

// sweepUploads removes, every interval, the blobs of attachment uploads that
// never became attachments (a crash between store and commit) once they are
// a day old.
func sweepUploads(ctx context.Context, e *Env, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := e.Workflow.SweepUploads(ctx, time.Now().Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
			e.Log.Error("sweep unfinished uploads", slog.Any("error", err))
		} else if n > 0 {
			e.Log.Info("swept unfinished uploads", slog.Int("removed", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// startHTTP starts the HTTPS server (the API, the operator endpoints, the
// web UI); status tells its status page about the process.
func startHTTP(e *Env, tlsConf *tls.Config, stdout io.Writer, queue httpd.Queue, status *statusReporter) (listener, error) {
	cfg, log := e.Config, e.Log
	var httpTLS *tls.Config
	if cfg.HTTP.TLS {
		// A copy of its own: net/http writes HTTP/2 into the config it
		// serves (http2ConfigureServer) while the mail listeners' TLS
		// handshakes read theirs.
		httpTLS = tlsConf.Clone()
	}
	srv := httpd.New(httpd.Options{
		Addr: cfg.HTTP.Addr,
		TLS:  httpTLS,
		Checks: []httpd.Check{
			{Name: "database", Fn: e.DB.Ping},
			{Name: "blob store", Fn: e.Blob.Ping},
		},
		Gatherer:        e.Metrics,
		Logger:          log,
		ShutdownTimeout: cfg.HTTP.ShutdownTimeout.Duration(),
		TrustedProxies:  cfg.HTTP.TrustedProxies,
		MetricsAllow:    cfg.Metrics.Allow,
		MetricsToken:    cfg.Metrics.Token,
		Directory:       e.Directory,
		Workflow:        e.Workflow,
		Queue:           queue,
		Policy:          e.Policy,
		Audit:           e.Audit,
		DKIM:            DKIMKeys(e),
		BaseURL:         cfg.HTTP.BaseURL,
		MailSetup:       mailSetup(cfg),
		Status:          status.Report,
	})
	if err := srv.Listen(); err != nil {
		return nil, fmt.Errorf("http.addr %s: %w", cfg.HTTP.Addr, err)
	}
	role := httpd.ListenerHTTPS
	if httpTLS == nil {
		role = httpd.ListenerHTTP
	}
	status.bound(role, srv.Addr())
	scheme := "https"
	if httpTLS == nil {
		scheme = "http"
	}
	log.Info("http listening", slog.String("addr", srv.Addr().String()))
	fmt.Fprintf(stdout, "diwan: serving %s://%s (log in at %s)\n", scheme, srv.Addr(), LoginURL(scheme, srv.Addr(), cfg.HTTP.BaseURL))
	return srv, nil
}

// startSMTP binds the SMTP listeners; the policy's refusal counter runs in
// wg until bg ends.
func startSMTP(bg context.Context, wg *sync.WaitGroup, e *Env, tlsConf *tls.Config, stdout io.Writer, relay smtp.RelayQueue) (*smtp.Server, error) {
	cfg := e.Config
	pol := e.Policy
	// Refusals are counted into one audit event per client and reason
	// a minute; what is counted at shutdown is written when bg ends,
	// after the listeners stopped and before the database closes.
	wg.Add(1)
	go func() { defer wg.Done(); pol.RunRefusals(bg) }()
	srv, err := smtp.New(smtp.Options{
		Hostname:            cfg.SMTP.Hostname,
		InboundAddr:         cfg.SMTP.InboundAddr,
		SubmissionAddr:      cfg.SMTP.SubmissionAddr,
		SubmissionsAddr:     cfg.SMTP.SubmissionsAddr,
		TLS:                 tlsConf,
		Directory:           smtpDirectory(e),
		Policy:              pol,
		Store:               e.Mail,
		Relay:               relay,
		Verifier:            newVerifier(cfg, e.Directory),
		Signer:              newSigner(e),
		MaxMessageBytes:     cfg.SMTP.MaxMessageBytes,
		MaxRecipients:       cfg.SMTP.MaxRecipients,
		RatePerMinute:       cfg.SMTP.RatePerMinute,
		MaxConnectionsPerIP: cfg.SMTP.MaxConnectionsPerIP,
		ReadTimeout:         cfg.SMTP.ReadTimeout.Duration(),
		WriteTimeout:        cfg.SMTP.WriteTimeout.Duration(),
		SpoolDir:            SpoolDir(cfg),
		AccountURL:          accountURL(cfg),
		Registerer:          e.Metrics,
		Logger:              e.Log,
	})
	if err != nil {
		return nil, err
	}
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	addrs := srv.Addrs()
	for _, l := range []smtp.Listener{smtp.Inbound, smtp.Submission, smtp.Submissions} {
		if a := addrs[l]; a != nil {
			fmt.Fprintf(stdout, "diwan: smtp %s on %s\n", l, a)
		}
	}
	return srv, nil
}

// hostedDomains is what the sender checks ask of the directory.
type hostedDomains interface {
	IsHosted(ctx context.Context, domain string) (bool, error)
}

// newVerifier builds the sender checks of port 25 (SPF, DKIM, DMARC) on
// the resolver of dns.servers, deciding as policy.inbound_auth says.
func newVerifier(cfg *config.Config, dir hostedDomains) smtp.SenderVerifier {
	return mailauth.NewVerifier(mailauth.VerifierOptions{
		Resolver:         resolver.New(cfg.DNS.Servers),
		Mode:             cfg.Policy.InboundAuth,
		Hostname:         cfg.SMTP.Hostname,
		Hosted:           dir.IsHosted,
		NationalSuffixes: cfg.Policy.NationalSuffixes,
	})
}

// DKIMKeys are the hosted domains' DKIM keys, as serve signs with them and
// `diwan admin domain dkim` shows them.
func DKIMKeys(e *Env) *mailauth.Keys {
	return mailauth.NewKeys(e.DB, e.MasterKey, mailauth.KeysOptions{
		Hosted:          e.Directory.IsHosted,
		RotationOverlap: e.Config.DKIM.RotationOverlap.Duration(),
	})
}

// newSigner DKIM-signs submitted mail with its sender domain's keys,
// generating a domain's key with its first message.
func newSigner(e *Env) smtp.Signer { return mailauth.NewSigner(DKIMKeys(e)) }

// startIMAP binds the IMAP listeners.
func startIMAP(e *Env, tlsConf *tls.Config, stdout io.Writer) (*imap.Server, error) {
	cfg := e.Config
	isrv := imap.New(imap.Options{
		Addr:                    cfg.IMAP.Addr,
		TLSAddr:                 cfg.IMAP.TLSAddr,
		TLS:                     tlsConf,
		Store:                   e.Mail,
		Directory:               e.Directory,
		AppendLimit:             cfg.IMAPAppendLimit(),
		IdleTimeout:             cfg.IMAP.IdleTimeout.Duration(),
		MaxConnectionsPerIP:     cfg.IMAP.MaxConnectionsPerIP,
		MaxConnectionsPerUserIP: cfg.IMAP.MaxConnectionsPerUserIP,
		AccountURL:              accountURL(cfg),
		Version:                 Version,
		Registerer:              e.Metrics,
		Logger:                  e.Log,
	})
	if err := isrv.Listen(); err != nil {
		return nil, fmt.Errorf("imap.addr %q / imap.tls_addr %q: %w", cfg.IMAP.Addr, cfg.IMAP.TLSAddr, err)
	}
	starttls, implicit := isrv.Addrs()
	if starttls != nil {
		fmt.Fprintf(stdout, "diwan: imap (STARTTLS) on %s\n", starttls)
	}
	if implicit != nil {
		fmt.Fprintf(stdout, "diwan: imap (TLS) on %s\n", implicit)
	}
	return isrv, nil
}

// accountURL is the web page where users change their password
// (http.base_url + "/account"), named by the mail listeners when they
// refuse a password that must change; "" without a base URL.
func accountURL(cfg *config.Config) string {
	if cfg.HTTP.BaseURL == "" {
		return ""
	}
	return strings.TrimRight(cfg.HTTP.BaseURL, "/") + "/account"
}

// LoginURL is the address to open in a browser to log in, for the HTTP
// listener bound at addr: the configured base URL when it names that
// scheme and port (its host name is the certificate's), else the bound
// address itself, an unspecified one (":8080", "0.0.0.0:8080") written as
// localhost. So "127.0.0.1:0" gives the port actually taken, and the base
// URL of a proxy in front does not hide where this process listens.
func LoginURL(scheme string, addr net.Addr, baseURL string) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return scheme + "://" + addr.String()
	}
	port := strconv.Itoa(tcp.Port)
	if u, err := url.Parse(baseURL); err == nil && u.Scheme == scheme && u.Hostname() != "" && urlPort(u) == port {
		return strings.TrimRight(baseURL, "/")
	}
	host := "localhost"
	if tcp.IP != nil && !tcp.IP.IsUnspecified() {
		host = tcp.IP.String()
	}
	hostport := net.JoinHostPort(host, port)
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		hostport = strings.TrimSuffix(hostport, ":"+port)
	}
	return scheme + "://" + hostport
}

// urlPort is the port of u, the scheme's default when it names none.
func urlPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch u.Scheme {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}
