// Package imap is Diwan's IMAP server: an imapserver.Session (go-imap v2) over
// the mail store, authenticating through the directory. It translates IMAP
// commands into mailstore calls and mailstore results and errors into IMAP
// responses, and nothing else: it never opens a database, never parses a
// message (the store parsed it on arrival) and keeps no mail in memory beyond
// the UID list of each selected mailbox and what one command returns.
//
// Listeners: STARTTLS on Options.Addr (port 143 role), implicit TLS on
// Options.TLSAddr (993). LOGIN and AUTHENTICATE PLAIN are refused before TLS
// (imapserver does that as long as the connection it sees is not a
// *tls.Conn, so connections are never wrapped above TLS).
//
// Changes made by other sessions (of this process, or fed in from other nodes
// through mailstore.Feed) reach a session through its selected-mailbox view
// (view.go), which reports them with the sequence numbers the client knows.
package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/prometheus/client_golang/prometheus"

	"diwan.gov.sy/diwan/internal/directory"
)

// Authenticator checks a login and password. *directory.Service satisfies
// it: every refusal is directory.ErrInvalidCredentials and counts towards the
// account's lockout; any other error is a failure of the check itself.
type Authenticator interface {
	Authenticate(ctx context.Context, login, password string) (directory.User, error)
}

// Options configure a Server.
type Options struct {
	// Addr is the STARTTLS listener (imap.addr); TLSAddr the implicit-TLS
	// listener (imap.tls_addr). Empty disables one.
	Addr, TLSAddr string
	// TLS is the server certificate, for STARTTLS and the implicit-TLS port.
	// Without it nobody can log in on Addr and TLSAddr cannot be used.
	TLS       *tls.Config
	Store     Store
	Directory Authenticator
	// AppendLimit is the largest message APPEND accepts (APPENDLIMIT,
	// RFC 7889); 0 means the store's limit (50 MiB by default).
	AppendLimit int64
	// IdleTimeout is how long an authenticated connection may stay silent,
	// in IDLE or not (RFC 9051 §5.4: at least 30 minutes, the default).
	// Before login a connection has imapserver's 30 seconds per command.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds how long Serve waits, after its context ends,
	// for the BYE to reach every client and for commands in flight to end;
	// 0 means 10 seconds.
	ShutdownTimeout time.Duration
	// MaxConnectionsPerIP bounds the connections open from one client
	// address across both listeners (imap.max_connections_per_ip); the
	// connection over it is answered "* BYE" and closed. 0: no bound.
	MaxConnectionsPerIP int
	// MaxConnectionsPerUserIP bounds one user's logged-in connections from
	// one address (imap.max_connections_per_user_ip, Dovecot's
	// mail_max_userip_connections); a login over it is answered
	// NO [LIMIT]. 0: no bound.
	MaxConnectionsPerUserIP int
	// AccountURL is the web page where users change their password
	// (http.base_url + "/account"): a login refused because the password
	// must change names it. "" names the web interface without an address.
	AccountURL string
	// Version is what ID (RFC 2971) answers beside the name "Diwan";
	// "" answers the name alone.
	Version string
	// Registerer receives the IMAP metrics (diwan_imap_*); nil: none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Defaults.
const (
	DefaultIdleTimeout     = 30 * time.Minute
	defaultAppendLimit     = 50 << 20
	defaultShutdownTimeout = 10 * time.Second
)

// capabilities are what the server advertises (besides what imapserver
// adds by itself: SASL-IR, LITERAL-, ENABLE, STARTTLS, AUTH=PLAIN and
// LOGINDISABLED as the state calls for, and APPENDLIMIT=n). Not LITERAL+:
// imapserver cannot take a refused non-synchronising literal back, so it
// closes the connection after an over-limit one (internal/third_party/README.md);
// with LITERAL+ an APPEND over APPENDLIMIT would cost the client its
// connection.
var capabilities = imap.CapSet{
	imap.CapIMAP4rev1:        {},
	imap.CapIMAP4rev2:        {},
	imap.CapIdle:             {},
	imap.CapNamespace:        {},
	imap.CapUIDPlus:          {},
	imap.CapMove:             {},
	imap.CapESearch:          {},
	imap.CapSearchRes:        {},
	imap.CapListExtended:     {},
	imap.CapListStatus:       {},
	imap.CapStatusSize:       {},
	imap.CapSpecialUse:       {},
	imap.CapCreateSpecialUse: {},
	imap.CapChildren:         {},
	imap.CapBinary:           {},
	imap.CapUnselect:         {},
	imap.CapUnauthenticate:   {},
	imap.CapAppendLimit:      {},
	imap.CapUTF8Accept:       {},
	imap.CapID:               {}, // id.go
	imap.CapCondStore:        {}, // condstore.go
	imap.CapQResync:          {}, // qresync.go
	imap.CapQuota:            {}, // quota.go
	"QUOTA=RES-STORAGE":      {},
}

// Server is the IMAP server. Build it with New, bind with Listen, run with
// Serve.
type Server struct {
	o     Options
	log   *slog.Logger
	imap  *imapserver.Server
	limit uint32 // APPENDLIMIT

	// base is the context of every store call; cancelled at the end of
	// shutdown so that nothing outlives Serve.
	base   context.Context
	cancel context.CancelFunc

	plain, implicit net.Listener

	metrics *metrics

	mu       sync.Mutex
	sessions map[*session]struct{}
	closing  bool
	active   sync.WaitGroup // one per live session
	perIP    map[string]int // open connections by client address
	perUser  map[userIP]int // logged-in connections by user and address

	// preAuth, when set (tests only), logs every new connection in as
	// that user without TLS (the fuzz target's front door).
	preAuth *directory.User
}

// New builds a server; it binds nothing until Listen.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = defaultShutdownTimeout
	}
	limit := o.AppendLimit
	if limit <= 0 {
		limit = defaultAppendLimit
	}
	if o.TLS != nil {
		// The certificate is shared with the other listeners, and the
		// HTTPS server adds its own protocols (h2, http/1.1) to the
		// config it is given: a client that offers ALPN "imap" (RFC 7301)
		// would be refused. IMAP gets a copy that names its protocol.
		o.TLS = o.TLS.Clone()
		o.TLS.NextProtos = []string{"imap"}
	}
	s := &Server{
		o:        o,
		log:      o.Logger.With(slog.String("component", "imap")),
		limit:    uint32(min(limit, math.MaxUint32)),
		sessions: make(map[*session]struct{}),
		perIP:    make(map[string]int),
		perUser:  make(map[userIP]int),
		metrics:  newMetrics(),
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: s.newSession,
		Caps:       capabilities,
		Logger:     libLogger{s.log},
		TLSConfig:  o.TLS,
	})
	return s
}

// Listen registers the metrics and binds the enabled listeners. It fails
// when an address is taken, when TLSAddr is set without a certificate, or
// when the registerer holds other collectors under the same names.
func (s *Server) Listen() error {
	if s.o.TLSAddr != "" && s.o.TLS == nil {
		return errors.New("implicit TLS listener without a TLS certificate")
	}
	if s.o.Registerer != nil {
		if err := s.metrics.register(s.o.Registerer); err != nil {
			return fmt.Errorf("imap metrics: %w", err)
		}
	}
	if s.o.Addr != "" {
		ln, err := net.Listen("tcp", s.o.Addr)
		if err != nil {
			return err
		}
		s.plain = timeoutListener{ln, s.o.IdleTimeout}
	}
	if s.o.TLSAddr != "" {
		ln, err := net.Listen("tcp", s.o.TLSAddr)
		if err != nil {
			if s.plain != nil {
				s.plain.Close()
			}
			return err
		}
		s.implicit = tls.NewListener(timeoutListener{ln, s.o.IdleTimeout}, s.o.TLS)
	}
	return nil
}

// Addrs returns the bound addresses of the STARTTLS and the implicit-TLS
// listeners; nil for one that is disabled or not bound yet.
func (s *Server) Addrs() (starttls, implicitTLS net.Addr) {
	if s.plain != nil {
		starttls = s.plain.Addr()
	}
	if s.implicit != nil {
		implicitTLS = s.implicit.Addr()
	}
	return starttls, implicitTLS
}

// Serve serves the bound listeners until ctx ends, then stops accepting,
// sends BYE to every session (imapserver's own Close drops connections
// without one), waits up to ShutdownTimeout for them to end and closes
// whatever is left. It returns nil after a shutdown, or the error of a
// listener that failed.
func (s *Server) Serve(ctx context.Context) error {
	var lns []net.Listener
	for _, ln := range []net.Listener{s.plain, s.implicit} {
		if ln != nil {
			lns = append(lns, ln)
		}
	}
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- s.imap.Serve(ln) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		lns = lns[1:] // that one has returned
		if err != nil {
			err = fmt.Errorf("imap listener: %w", err)
		}
	}
	s.shutdown()
	for range lns {
		<-errc
	}
	return err
}

// shutdown says BYE to every session and closes everything.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.closing = true
	live := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		live = append(live, sess)
	}
	s.mu.Unlock()

	for _, ln := range []net.Listener{s.plain, s.implicit} {
		if ln != nil {
			ln.Close()
		}
	}

	// RFC 9051 §7.1.5: BYE before the server closes the connection. Bye
	// waits for a response being written to finish, so send them all at
	// once and give up on slow readers after the timeout.
	deadline := time.Now().Add(s.o.ShutdownTimeout)
	byes := make(chan struct{}, len(live))
	for _, sess := range live {
		go func() {
			_ = sess.conn.Bye("Diwan IMAP server shutting down")
			byes <- struct{}{}
		}()
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
wait:
	for range live {
		select {
		case <-byes:
		case <-timer.C:
			s.log.Warn("shutdown: some clients did not take their BYE in time")
			break wait
		}
	}
	s.cancel() // commands still running give up their store calls
	_ = s.imap.Close()

	done := make(chan struct{})
	go func() { s.active.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(deadline) + time.Second):
		s.log.Warn("shutdown: sessions still running after the timeout")
	}
}

// newSession is imapserver's hook for a new connection. A connection over
// the per-address limit is answered BYE (RFC 9051 §7.1.5) and closed.
func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	nc := c.NetConn()
	sess := &session{srv: s, conn: c, remote: remoteIP(nc), out: rawConn(nc), listener: listenerSTARTTLS}
	if _, ok := nc.(*tls.Conn); ok {
		sess.listener = listenerTLS
	}
	s.metrics.started.WithLabelValues(sess.listener).Inc()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Diwan IMAP server shutting down"}
	}
	if max := s.o.MaxConnectionsPerIP; max > 0 && s.perIP[sess.remote] >= max {
		s.mu.Unlock()
		s.metrics.refusals.WithLabelValues("connections_per_ip").Inc()
		s.log.Info("connection refused: too many from one address", slog.String("client", sess.remote), slog.Int("limit", max))
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Too many connections from your address"}
	}
	s.perIP[sess.remote]++
	s.sessions[sess] = struct{}{}
	s.active.Add(1)
	s.mu.Unlock()
	s.metrics.sessions.WithLabelValues(sess.listener).Inc()

	sess.ctx, sess.cancel = context.WithCancel(s.base)
	if s.preAuth != nil {
		if err := sess.begin(*s.preAuth); err != nil {
			sess.Close()
			return nil, nil, err
		}
		return sess, &imapserver.GreetingData{PreAuth: true}, nil
	}
	return sess, nil, nil
}

// ended is called once by session.Close.
func (s *Server) ended(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	if s.perIP[sess.remote]--; s.perIP[sess.remote] <= 0 {
		delete(s.perIP, sess.remote)
	}
	s.mu.Unlock()
	s.metrics.sessions.WithLabelValues(sess.listener).Dec()
	s.active.Done()
}

// userIP keys the logged-in connections of one user from one address.
type userIP struct {
	user int64
	ip   string
}

// holdUser counts one more logged-in connection of user from ip; false
// when that would pass MaxConnectionsPerUserIP.
func (s *Server) holdUser(user int64, ip string) bool {
	k := userIP{user, ip}
	s.mu.Lock()
	defer s.mu.Unlock()
	if max := s.o.MaxConnectionsPerUserIP; max > 0 && s.perUser[k] >= max {
		return false
	}
	s.perUser[k]++
	return true
}

// releaseUser undoes one holdUser.
func (s *Server) releaseUser(user int64, ip string) {
	k := userIP{user, ip}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUser[k]--; s.perUser[k] <= 0 {
		delete(s.perUser, k)
	}
}

// Sessions returns the number of live sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func remoteIP(c net.Conn) string {
	if c == nil {
		return ""
	}
	addr := c.RemoteAddr()
	if addr == nil {
		return ""
	}
	if host, _, err := net.SplitHostPort(addr.String()); err == nil {
		return host
	}
	return addr.String()
}

// libLogger turns imapserver's Printf lines into structured log records:
// connection noise (a client that went away) at debug level; "handling X
// command" lines at warning level (they come from commands the library
// could not parse, such as an unknown SEARCH key, which it answers with
// NO [SERVERBUG], and from writes to clients that went away: this package
// logs its own failures itself); anything else — a panic it recovered — at
// error level.
type libLogger struct{ log *slog.Logger }

func (l libLogger) Printf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	switch {
	case strings.HasPrefix(msg, "failed to read command"),
		strings.HasPrefix(msg, "failed to write greeting"),
		strings.HasPrefix(msg, "accept error"):
		l.log.Debug(msg)
	case strings.HasPrefix(msg, "handling "):
		l.log.Warn(msg)
	default:
		l.log.Error(msg)
	}
}
