// Package smtp is Diwan's SMTP front door, on go-smtp: the inbound (MX)
// listener that takes mail from other national servers, and the submission
// listeners (STARTTLS on smtp.submission_addr, implicit TLS on
// smtp.submissions_addr) where staff send mail with AUTH PLAIN or LOGIN.
//
// It translates SMTP into calls on the core: the directory (logins,
// addresses, aliases), the policy (which domains are national, and the
// record of every refusal) and the mail store (Deliver). Mail for other
// national servers is recorded in the relay queue for the delivery worker.
// Every reply it sends is an *smtp.SMTPError with an enhanced status code
// (RFC 2034, RFC 3463); internal errors go to the log, never to a client.
//
// Abuse bounds: each client address has at most smtp.max_connections_per_ip
// connections open on a listener and starts at most smtp.rate_per_minute
// transactions (on submission the user is counted instead); a session
// refused 20 times gets 421. After any 421 nothing more the client sent is
// read or acted on. Every refusal is counted in the metrics; the audit log
// gets them counted per client and reason (policy.RecordRefusal).
//
// Durability: a 250 after DATA means the message is stored and committed
// (Store.Deliver and RelayQueue.Enqueue both return only then); a client
// that vanishes mid-DATA leaves nothing, because the store reads the whole
// message before storing anything and a broken stream is an error.
//
// The package must never hold policy rules itself (it asks policy.Decide),
// open a database or blob store of its own (it is given what it needs), or
// relay mail directly to another server.
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/mailstore"
	"diwan.gov.sy/diwan/internal/policy"
)

// Listener names one of the SMTP front doors.
type Listener string

// The listeners, by role (DESIGN.md §3).
const (
	Inbound     Listener = "inbound"     // MX, port 25 role: no AUTH, STARTTLS offered
	Submission  Listener = "submission"  // port 587 role: STARTTLS required before AUTH
	Submissions Listener = "submissions" // port 465 role: implicit TLS
)

// Directory is what the SMTP listeners need of the directory;
// *directory.Service satisfies it.
type Directory interface {
	// Authenticate checks a login and password; every refusal is
	// directory.ErrInvalidCredentials and is counted towards lockout. The
	// ctx carries directory.WithClient("smtp:IP").
	Authenticate(ctx context.Context, login, password string) (directory.User, error)
	// ResolveAddress returns the users mail to address reaches (users,
	// aliases, postmaster@); directory.ErrNotHosted for a domain not hosted
	// here, directory.ErrNotFound for no such mailbox.
	ResolveAddress(ctx context.Context, address string) ([]int64, error)
	// MaySendAs reports whether the user may use address as sender.
	MaySendAs(ctx context.Context, userID int64, address string) (bool, error)
}

// Policy is the national-mail policy; *policy.Service satisfies it.
type Policy interface {
	// Decide decides a domain (or the domain of an address) for a
	// direction; an error means no decision could be made.
	Decide(ctx context.Context, dir policy.Direction, addressOrDomain string) (policy.Decision, error)
	// RecordRefusal writes a refusal to the audit log.
	RecordRefusal(ctx context.Context, r policy.Refusal) error
}

// Store is the mail store; *mailstore.Store satisfies it.
type Store interface {
	// Deliver stores raw once into the INBOX of every recipient and
	// returns only when that is durable; a read error from raw stores
	// nothing. A *mailstore.DeliveryError reports recipients that did not
	// get it (over quota); mailstore.ErrTooBig a message over the limit.
	Deliver(ctx context.Context, recipients []int64, raw io.Reader) error
	// Usage returns a user's storage use and quota, checked at RCPT.
	Usage(ctx context.Context, userID int64) (mailstore.Usage, error)
}

// Options configure the SMTP listeners. Hostname, the addresses, Directory,
// Policy and Store come from the composition root; zero limits take the
// config defaults.
type Options struct {
	// Hostname is this server's name in the greeting, EHLO and Received
	// (smtp.hostname); an IDN is used in its A-label form.
	Hostname string
	// The listen addresses; empty disables that listener. "127.0.0.1:0"
	// picks a free port (see Addr).
	InboundAddr, SubmissionAddr, SubmissionsAddr string
	// TLS is the server certificate configuration: STARTTLS on inbound and
	// submission, implicit TLS on submissions. Required when a submission
	// listener is enabled; without it inbound offers no STARTTLS.
	TLS *tls.Config

	Directory Directory
	Policy    Policy
	Store     Store
	// Relay records accepted mail for recipients on other national
	// servers; required when a submission listener is enabled.
	Relay RelayQueue
	// Verifier checks SPF/DKIM/DMARC of inbound mail (policy.inbound_auth);
	// nil: no check yet (a later issue fills it).
	Verifier SenderVerifier
	// Signer DKIM-signs submitted mail for its domain; nil: unsigned (a
	// later issue fills it).
	Signer Signer

	MaxMessageBytes int64 // smtp.max_message_bytes; 0 means 50 MiB
	MaxRecipients   int   // smtp.max_recipients; 0 means 500
	// RatePerMinute bounds the mail transactions (MAIL commands) one
	// client starts a minute: each user on submission, each connecting
	// address on inbound (smtp.rate_per_minute); 0: no limit. Counted per
	// process.
	RatePerMinute int
	// MaxConnectionsPerIP bounds the open connections from one client
	// address on each listener (smtp.max_connections_per_ip); one more is
	// answered 421 4.7.0 and closed. 0: no bound.
	MaxConnectionsPerIP int
	// ReadTimeout and WriteTimeout bound each command read and reply
	// written (and the whole DATA transfer); 0 means 5 minutes.
	ReadTimeout, WriteTimeout time.Duration
	// ShutdownTimeout bounds how long Serve lets DATA in progress finish
	// after its context ends; then those sessions get 421. 0 means 30 s.
	ShutdownTimeout time.Duration
	// SpoolDir holds messages over 1 MiB while they are stored for relay;
	// "" is os.TempDir().
	SpoolDir string

	// AccountURL is the web page where users change their password
	// (http.base_url + "/account"): an AUTH refused because the password
	// must change names it. "" names the web interface without an address.
	AccountURL string
	// Registerer receives the SMTP metrics; nil: not exported.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Limits and defaults.
const (
	defaultMaxMessageBytes = 50 << 20
	defaultMaxRecipients   = 500
	defaultTimeout         = 5 * time.Minute
	defaultShutdownTimeout = 30 * time.Second
	// storeTimeout bounds storing one accepted message.
	storeTimeout = 10 * time.Minute
	// lookupTimeout bounds the directory and policy calls of one command.
	lookupTimeout = 30 * time.Second
	// maxRefusals: a session refused this many times is closed (421),
	// which bounds the audit events one connection can cause.
	maxRefusals = 20
	// maxAuthFailures: failed AUTH attempts before the session is closed.
	maxAuthFailures = 3
)

// Server is the set of SMTP listeners. Build it with New, bind with Listen,
// run with Serve.
type Server struct {
	o        Options
	log      *slog.Logger
	hostname string // ASCII
	doors    []*door
	metrics  *metrics
	limiter  *rateLimiter

	// base is the context of every store and directory call; cancelled
	// only at the hard end of Serve.
	base     context.Context
	hardStop context.CancelFunc

	mu      sync.Mutex
	conns   map[*trackedConn]struct{}
	closing bool

	inData atomic.Int64 // Data calls running
}

// door is one listener.
type door struct {
	srv  *Server
	name Listener
	addr string
	gs   *gosmtp.Server
	ln   net.Listener // the bound TCP listener

	perIP map[string]int // open connections by client address; guarded by srv.mu
}

// New checks the options and builds the listeners; nothing is bound until
// Listen.
func New(o Options) (*Server, error) {
	if o.Directory == nil || o.Policy == nil || o.Store == nil {
		return nil, errors.New("smtp: Directory, Policy and Store are required")
	}
	if o.Hostname == "" {
		return nil, errors.New("smtp.hostname is empty; set this server's host name")
	}
	host, err := directory.ASCIIDomain(o.Hostname)
	if err != nil {
		return nil, fmt.Errorf("smtp.hostname %q: %w", o.Hostname, err)
	}
	submission := o.SubmissionAddr != "" || o.SubmissionsAddr != ""
	if submission && o.TLS == nil {
		return nil, errors.New("smtp: the submission listeners need a TLS configuration")
	}
	if submission && o.Relay == nil {
		return nil, errors.New("smtp: the submission listeners need a relay queue")
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = defaultMaxMessageBytes
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = defaultMaxRecipients
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = defaultTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = defaultTimeout
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = defaultShutdownTimeout
	}
	s := &Server{o: o, log: o.Logger, hostname: host, conns: map[*trackedConn]struct{}{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.base, s.hardStop = context.WithCancel(context.Background())
	s.metrics, err = newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	if o.RatePerMinute > 0 {
		s.limiter = newRateLimiter(o.RatePerMinute)
	}
	for _, d := range []struct {
		name Listener
		addr string
	}{{Inbound, o.InboundAddr}, {Submission, o.SubmissionAddr}, {Submissions, o.SubmissionsAddr}} {
		if d.addr == "" {
			continue
		}
		dr := &door{srv: s, name: d.name, addr: d.addr, perIP: map[string]int{}}
		gs := gosmtp.NewServer(dr)
		gs.Domain = host
		// go-smtp's DATA reader accepts at most MaxMessageBytes-1 octets
		// (BDAT accepts MaxMessageBytes); the advertised SIZE is the
		// configured limit.
		gs.MaxMessageBytes = o.MaxMessageBytes
		gs.MaxRecipients = o.MaxRecipients
		gs.ReadTimeout = o.ReadTimeout
		gs.WriteTimeout = o.WriteTimeout
		gs.EnableSMTPUTF8 = true // RFC 6531; enforced in checkAddress
		gs.AllowInsecureAuth = false
		gs.TLSConfig = o.TLS
		gs.ErrorLog = errorLog{log: s.log, listener: d.name}
		dr.gs = gs
		s.doors = append(s.doors, dr)
	}
	return s, nil
}

// Listen binds every enabled listener; a taken port fails here, naming the
// config key.
func (s *Server) Listen() error {
	for _, d := range s.doors {
		ln, err := net.Listen("tcp", d.addr)
		if err != nil {
			for _, o := range s.doors {
				if o.ln != nil {
					o.ln.Close()
					o.ln = nil
				}
			}
			return fmt.Errorf("smtp.%s_addr %s: %w", d.name, d.addr, err)
		}
		d.ln = ln
	}
	return nil
}

// Addr returns where the listener is bound, or nil when it is disabled or
// not bound.
func (s *Server) Addr(l Listener) net.Addr {
	for _, d := range s.doors {
		if d.name == l && d.ln != nil {
			return d.ln.Addr()
		}
	}
	return nil
}

// Addrs returns the bound address of every enabled listener.
func (s *Server) Addrs() map[Listener]net.Addr {
	out := map[Listener]net.Addr{}
	for _, d := range s.doors {
		if d.ln != nil {
			out[d.name] = d.ln.Addr()
		}
	}
	return out
}

// Serve serves every bound listener until ctx ends, then stops gracefully:
// it accepts no more connections, answers idle sessions 421 and closes
// them, and lets DATA in progress finish for up to ShutdownTimeout (then
// those get 421 too, and nothing of theirs is stored). Listen must have
// been called.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, len(s.doors))
	for _, d := range s.doors {
		if d.ln == nil {
			return fmt.Errorf("smtp.%s_addr: Serve called before Listen", d.name)
		}
		var ln net.Listener = &trackingListener{Listener: d.ln, door: d}
		if d.name == Submissions {
			ln = tls.NewListener(ln, s.o.TLS)
		}
		go func() {
			err := d.gs.Serve(ln)
			if err != nil && s.isClosing() {
				err = nil // our own Close of the listener
			}
			if err != nil {
				err = fmt.Errorf("smtp %s listener: %w", d.name, err)
			}
			errc <- err
		}()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
		if first != nil {
			s.log.Error("smtp listener failed; stopping the others", slog.Any("err", first))
		}
	}
	s.shutdown()
	for range len(s.doors) - boolInt(first != nil) {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// shutdown stops accepting, closes idle sessions with 421 as they become
// idle, waits for DATA in progress up to ShutdownTimeout, then closes
// everything and waits (briefly) for the store calls still running.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	for _, d := range s.doors {
		d.ln.Close()
	}
	deadline := time.Now().Add(s.o.ShutdownTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle(false) == 0 || time.Now().After(deadline) {
			break
		}
		<-tick.C
	}
	if n := s.closeIdle(true); n > 0 {
		s.log.Warn("smtp shutdown: closed sessions still receiving a message", slog.Int("sessions", n))
		// Let their 421 go out (each write is bounded by a second).
		for end := time.Now().Add(2 * time.Second); s.open() > 0 && time.Now().Before(end); {
			<-tick.C
		}
	}
	for _, d := range s.doors {
		d.gs.Close()
	}
	// Let store calls already reading to their end commit or fail; then
	// cancel what is left.
	end := time.Now().Add(10 * time.Second)
	for s.inData.Load() > 0 && time.Now().Before(end) {
		<-tick.C
	}
	s.hardStop()
}

// closeIdle sends 421 to and closes every session not receiving a message
// (every session, when all is set) and returns how many remain open.
func (s *Server) closeIdle(all bool) int {
	s.mu.Lock()
	var victims []*trackedConn
	for c := range s.conns {
		if all || !c.inData.Load() {
			victims = append(victims, c)
		}
	}
	n := len(s.conns)
	s.mu.Unlock()
	for _, c := range victims {
		c.goodbye()
	}
	return n
}

func (s *Server) open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// admission is what track says of a new connection.
type admission int

const (
	admitted admission = iota
	shutting           // the server is stopping
	tooMany            // smtp.max_connections_per_ip reached
)

// track registers a new connection and counts it towards its address's
// limit on its listener.
func (s *Server) track(c *trackedConn) admission {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return shutting
	}
	if limit := s.o.MaxConnectionsPerIP; limit > 0 && c.door.perIP[c.ip] >= limit {
		return tooMany
	}
	c.door.perIP[c.ip]++
	s.conns[c] = struct{}{}
	return admitted
}

func (s *Server) untrack(c *trackedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	if n := c.door.perIP[c.ip] - 1; n > 0 {
		c.door.perIP[c.ip] = n
	} else {
		delete(c.door.perIP, c.ip)
	}
	s.mu.Unlock()
}

// trackingListener registers every accepted connection with the server,
// which needs them all to stop gracefully, and turns away one over the
// per-address limit.
type trackingListener struct {
	net.Listener
	door *door
}

func (l *trackingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, srv: l.door.srv, door: l.door, ip: clientIP(c.RemoteAddr())}
		switch l.door.srv.track(tc) {
		case admitted:
			return tc, nil
		case tooMany:
			go l.door.tooMany(c, tc.ip)
		default:
			c.Close() // raced with shutdown
		}
	}
}

// tooMany answers a connection over smtp.max_connections_per_ip with 421
// in place of the greeting (RFC 5321 §3.1) and closes it; on the implicit
// TLS listener the reply goes over TLS.
func (d *door) tooMany(c net.Conn, ip string) {
	defer c.Close()
	d.srv.metrics.refused("connections", "")
	d.srv.log.Warn("smtp: connection refused: too many connections from the address", slog.String("listener", string(d.name)),
		slog.String("client", ip), slog.Int("limit", d.srv.o.MaxConnectionsPerIP))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if d.name == Submissions {
		tc := tls.Server(c, d.srv.o.TLS)
		if err := tc.Handshake(); err != nil {
			return
		}
		c = tc
	}
	io.WriteString(c, replyLine(errTooManyConnections))
}

// trackedConn is an accepted TCP connection, below any TLS.
type trackedConn struct {
	net.Conn
	srv  *Server
	door *door
	ip   string // the client's address
	// sess is the session of the connection, set at EHLO/HELO and cleared
	// at Logout (STARTTLS, close); its conn is the one replies go over.
	sess   atomic.Pointer[session]
	inData atomic.Bool // between DATA/BDAT and the reply to it
	eof    atomic.Bool // the client closed its side
	// hangup: the reply being written is a 421; the connection closes as
	// soon as it is written. ended: it was, and the session is over.
	hangup atomic.Bool
	ended  atomic.Bool
	bye    sync.Once
	closed sync.Once
}

// Read notes the client's end of stream: go-smtp takes a BDAT chunk cut
// short by the end of the connection as complete (io.Copy from a
// LimitReader sees a clean EOF), so the filter asks before it lets a
// message end. After a 421 it reads nothing more: the session is over.
func (c *trackedConn) Read(p []byte) (int, error) {
	if c.ended.Load() {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.eof.Store(true)
	}
	return n, err
}

// SetReadDeadline fails after a 421. go-smtp sets a read deadline before
// it reads each command (ReadTimeout is always set), so its command loop
// ends there, without running the commands it had already buffered.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	if c.ended.Load() {
		return net.ErrClosed
	}
	return c.Conn.SetReadDeadline(t)
}

// Write writes a reply (below TLS, a record holding it). After a 421
// nothing more goes out and nothing more is read or acted on: the session
// ends once that reply is written, whatever the client pipelined after
// the command it answers (RFC 5321 §3.8: the server closes after 421).
func (c *trackedConn) Write(p []byte) (int, error) {
	if c.ended.Load() {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Write(p)
	if c.hangup.Load() {
		c.ended.Store(true)
		c.linger()
	}
	return n, err
}

// Bounds of what is thrown away after a 421 before the connection closes.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 1 << 20
)

// linger ends the connection after its last reply: the end of our side
// (FIN) goes out at once; what the client still sends (the commands it
// pipelined) is read and thrown away for a moment, up to a bound, and then
// the connection closes. Closing with unread input at once would make the
// TCP stack answer with a reset, which can destroy the reply before the
// client reads it.
func (c *trackedConn) linger() {
	tc, ok := c.Conn.(*net.TCPConn)
	if !ok {
		c.closeNow()
		return
	}
	tc.CloseWrite()
	go func() {
		tc.SetReadDeadline(time.Now().Add(lingerTime))
		io.CopyN(io.Discard, tc, lingerBytes)
		c.closeNow()
	}()
}

// Close closes the connection; after a 421 linger does, once it is done.
func (c *trackedConn) Close() error {
	if c.ended.Load() {
		return nil
	}
	return c.closeNow()
}

func (c *trackedConn) closeNow() error {
	var err error
	c.closed.Do(func() {
		c.srv.untrack(c)
		err = c.Conn.Close()
	})
	return err
}

// goodbye answers 421 (when the session's channel is known) and closes the
// connection, without waiting on a slow client.
func (c *trackedConn) goodbye() {
	c.bye.Do(func() {
		s := c.sess.Load()
		if s == nil {
			c.Close()
			return
		}
		go func() {
			s.conn.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(s.conn, replyLine(errShuttingDown))
			c.Close()
		}()
	})
}

// hangUpAfterReply closes the connection once the reply now being made is
// written, and ends the session: a command go-smtp already buffered is
// not acted on (see session.ended).
func (c *trackedConn) hangUpAfterReply() { c.hangup.Store(true) }

// trackedOf finds the trackedConn below a connection go-smtp hands over.
func trackedOf(nc net.Conn) *trackedConn {
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	tc, _ := nc.(*trackedConn)
	return tc
}

// errorLog sends go-smtp's own messages (connection errors, TLS handshake
// failures, recovered panics) to slog.
type errorLog struct {
	log      *slog.Logger
	listener Listener
}

func (l errorLog) Printf(format string, v ...any) { l.print(fmt.Sprintf(format, v...)) }
func (l errorLog) Println(v ...any)               { l.print(fmt.Sprintln(v...)) }

func (l errorLog) print(msg string) {
	msg = strings.TrimSpace(msg)
	level := slog.LevelInfo
	if strings.HasPrefix(msg, "panic") {
		level = slog.LevelError
	}
	l.log.Log(context.Background(), level, "smtp: "+msg, slog.String("listener", string(l.listener)))
}
