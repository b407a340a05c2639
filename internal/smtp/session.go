package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-message/textproto"
	gosmtp "github.com/emersion/go-smtp"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/mailstore"
	"diwan.gov.sy/diwan/internal/policy"
	"diwan.gov.sy/diwan/internal/spool"
)

// NewSession starts a session at HELO/EHLO (again after STARTTLS).
func (d *door) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	tc := trackedOf(c.Conn())
	if tc == nil {
		return nil, errTemporary // not one of our listeners' connections
	}
	if d.srv.isClosing() {
		tc.hangUpAfterReply()
		return nil, errShuttingDown
	}
	s := &session{srv: d.srv, door: d, c: c, conn: c.Conn(), tc: tc, helo: c.Hostname(), client: clientIP(c.Conn().RemoteAddr())}
	if st, ok := c.TLSConnectionState(); ok {
		s.tls = &st
	}
	tc.sess.Store(s)
	d.srv.metrics.sessions.WithLabelValues(string(d.name)).Inc()
	if d.name == Inbound {
		return s, nil // no AUTH on the MX
	}
	return authSession{s}, nil
}

// session is one SMTP session between HELO/EHLO and QUIT, STARTTLS or the
// end of the connection. Its methods are called by go-smtp on the
// connection's goroutine, except Data for BDAT (its own goroutine, while
// the connection's goroutine reads chunks); mu guards the transaction that
// both see.
type session struct {
	srv    *Server
	door   *door
	c      *gosmtp.Conn
	conn   net.Conn // replies go over it (the TLS connection after STARTTLS)
	tc     *trackedConn
	client string // the client's IP address
	tls    *tls.ConnectionState

	user      *directory.User // after AUTH; never changes once set
	authFails int
	refusals  atomic.Int32

	mu   sync.Mutex
	helo string
	tx   transaction
}

// transaction is the state of one mail transaction, MAIL to DATA.
type transaction struct {
	mail  bool     // MAIL accepted
	from  string   // canonical envelope sender; "" for <>
	utf8  bool     // SMTPUTF8
	size  int64    // SIZE= declared, 0 when not
	rcpts []string // accepted recipients, canonical, in order
	local []int64  // users to deliver to, no duplicates
	relay []string // recipients on other national servers
}

func (s *session) submission() bool { return s.door.name != Inbound }

// ctx bounds one command's lookups.
func (s *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.srv.base, lookupTimeout)
}

// Reset ends the mail transaction (RSET, a new EHLO, after DATA's reply).
func (s *session) Reset() {
	s.mu.Lock()
	s.tx = transaction{}
	s.helo = s.c.Hostname() // a new EHLO may have named another host
	s.mu.Unlock()
	s.tc.inData.Store(false)
}

// Logout ends the session (QUIT, STARTTLS, connection closed).
func (s *session) Logout() error {
	s.tc.sess.CompareAndSwap(s, nil)
	s.tc.inData.Store(false)
	s.srv.metrics.sessions.WithLabelValues(string(s.door.name)).Dec()
	return nil
}

// after passes a command's reply on to go-smtp: a 421 ends the connection
// as soon as it is written (RFC 5321 §3.8), so that nothing the client
// pipelined after the command is acted on.
func (s *session) after(err error) error {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) && se.Code == 421 {
		s.tc.hangUpAfterReply()
	}
	return err
}

// ended reports that the session answered 421: go-smtp may still hand over
// commands it read before the connection closed, and they are not run.
func (s *session) ended() bool { return s.tc.hangup.Load() }

// Mail starts a transaction (see mail).
func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	if s.ended() {
		return errEnded
	}
	return s.after(s.mail(from, opts))
}

// Rcpt names a recipient (see rcpt).
func (s *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if s.ended() {
		return errEnded
	}
	return s.after(s.rcpt(to, opts))
}

// Data receives the message (see data).
func (s *session) Data(r io.Reader) error {
	if s.ended() {
		return errEnded
	}
	return s.after(s.data(r))
}

// rateKey names the client the rate limit counts: the user on
// submission, the connecting address on inbound.
func (s *session) rateKey() string {
	if s.user != nil {
		return "user:" + strconv.FormatInt(s.user.ID, 10)
	}
	return "ip:" + s.client
}

// mail starts a transaction. Submission: the user must be logged in, within
// the rate limit, and allowed to send as the address (own, or an alias to
// them); the null sender is allowed, its header From is checked at DATA.
// Inbound: the client's address must be within the rate limit, and the
// sender's domain national (the null sender always is, for bounces and
// receipts).
func (s *session) mail(from string, opts *gosmtp.MailOptions) error {
	s.mu.Lock()
	s.tx = transaction{utf8: opts.UTF8, size: opts.Size}
	s.mu.Unlock()
	if s.submission() && s.user == nil {
		return s.refuse(refusal{reason: "auth_required"}, errAuthRequired)
	}
	if s.srv.limiter != nil && !s.srv.limiter.allow(s.rateKey()) {
		return s.refuse(refusal{reason: "rate"}, errRateLimited)
	}
	var a address
	if from != "" {
		var r *gosmtp.SMTPError
		if a, _, r = checkAddress(from, opts.UTF8, false); r != nil {
			return s.refuse(refusal{reason: "syntax"}, r)
		}
	}
	ctx, cancel := s.ctx()
	defer cancel()
	switch {
	case s.submission() && from != "" && a.addr != s.user.Login:
		ok, err := s.srv.o.Directory.MaySendAs(ctx, s.user.ID, a.addr)
		if err != nil {
			return s.temporary("check sender", err)
		}
		if !ok {
			return s.refuse(refusal{reason: policy.ReasonSpoofing, rule: "spoofing:envelope-sender", from: a.addr, domain: a.domain},
				errSendAs(a.addr))
		}
	case !s.submission() && from != "":
		dec, err := s.srv.o.Policy.Decide(ctx, policy.Inbound, a.domain)
		if err != nil {
			return s.temporary("decide sender domain", err)
		}
		if !dec.Allow {
			return s.refuse(refusal{reason: policy.ReasonPolicy, rule: dec.Rule, from: a.addr, domain: dec.Domain}, decisionReply(dec))
		}
		// SPF, DKIM and DMARC need the message: see Options.Verifier, at DATA.
	}
	s.mu.Lock()
	s.tx.mail, s.tx.from = true, a.addr
	s.mu.Unlock()
	return nil
}

// rcpt decides one recipient when it is named (RFC 5321 §3.3). Submission:
// a non-national domain is refused by the policy (550 5.7.1 naming it); a
// hosted one must exist (550 5.1.1) and have room (552 5.2.2); a national
// one elsewhere is accepted for the relay queue. Inbound: the recipient
// must be hosted here (550 5.7.1 otherwise: no open relay), exist and have
// room.
func (s *session) rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.mu.Lock()
	tx := s.tx
	s.mu.Unlock()
	a, relayTrick, r := checkAddress(to, tx.utf8, true)
	if relayTrick {
		return s.refuse(refusal{reason: policy.ReasonRelay, rule: "relay:routed-address", from: tx.from, to: to}, r)
	}
	if r != nil {
		return s.refuse(refusal{reason: "syntax"}, r)
	}
	if slices.Contains(tx.rcpts, a.addr) {
		return nil // named twice: delivered once
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if s.submission() {
		dec, err := s.srv.o.Policy.Decide(ctx, policy.Outbound, a.domain)
		if err != nil {
			return s.temporary("decide recipient domain", err)
		}
		if !dec.Allow {
			return s.refuse(refusal{reason: policy.ReasonPolicy, rule: dec.Rule, from: tx.from, to: a.addr, domain: dec.Domain}, decisionReply(dec))
		}
	}
	ids, err := s.srv.o.Directory.ResolveAddress(ctx, a.addr)
	var ie *directory.InputError
	switch {
	case errors.Is(err, directory.ErrNotHosted) && s.submission():
		// National, on another server: for the relay queue.
		s.mu.Lock()
		s.tx.rcpts = append(s.tx.rcpts, a.addr)
		s.tx.relay = append(s.tx.relay, a.addr)
		s.mu.Unlock()
		return nil
	case errors.Is(err, directory.ErrNotHosted):
		ascii, _ := directory.ASCIIDomain(a.domain)
		return s.refuse(refusal{reason: policy.ReasonRelay, rule: "relay:not-hosted", from: tx.from, to: a.addr, domain: a.domain},
			errRelayDenied(ascii))
	case errors.Is(err, directory.ErrNotFound):
		return s.refuse(refusal{reason: "unknown_recipient", from: tx.from, to: a.addr, domain: a.domain}, errUnknownUser)
	case errors.As(err, &ie):
		return s.refuse(refusal{reason: "syntax"}, errBadRecipient)
	case err != nil:
		return s.temporary("resolve recipient", err)
	}
	ids = s.withRoom(ctx, ids, tx.size)
	if len(ids) == 0 {
		return s.refuse(refusal{reason: "quota", from: tx.from, to: a.addr, domain: a.domain}, errMailboxFull)
	}
	s.mu.Lock()
	s.tx.rcpts = append(s.tx.rcpts, a.addr)
	for _, id := range ids {
		if !slices.Contains(s.tx.local, id) {
			s.tx.local = append(s.tx.local, id)
		}
	}
	s.mu.Unlock()
	return nil
}

// withRoom keeps the users whose quota leaves room for the message (its
// declared SIZE, or one octet). The store checks again when it delivers.
func (s *session) withRoom(ctx context.Context, ids []int64, size int64) []int64 {
	out := ids[:0:0]
	for _, id := range ids {
		u, err := s.srv.o.Store.Usage(ctx, id)
		if err != nil {
			s.srv.log.Warn("smtp: quota check failed; left to delivery", slog.Int64("user_id", id), slog.Any("err", err))
			out = append(out, id)
			continue
		}
		if u.Quota > 0 && u.Bytes+max(size, 1) > u.Quota {
			continue
		}
		out = append(out, id)
	}
	return out
}

// data receives the message and stores it: a 250 only once it is
// committed in the store (and the relay queue).
func (s *session) data(r io.Reader) error {
	s.tc.inData.Store(true)
	s.srv.inData.Add(1)
	defer s.srv.inData.Add(-1)
	s.mu.Lock()
	tx := s.tx
	tx.rcpts, tx.local, tx.relay = slices.Clone(tx.rcpts), slices.Clone(tx.local), slices.Clone(tx.relay)
	helo := s.helo
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(s.srv.base, storeTimeout)
	defer cancel()
	id := newID()
	var check func([]byte) error
	if s.submission() {
		check = func(h []byte) error { return s.checkHeader(ctx, tx, h) }
	}
	size := &countingReader{r: r}
	filter := newFilter(size, check, s.tc.eof.Load)
	msg := io.MultiReader(strings.NewReader(s.received(id, helo, tx)), filter)
	started := time.Now()
	err := s.store(ctx, tx, helo, msg)
	if err == nil {
		s.srv.metrics.accepted(s.door.name, len(tx.local), len(tx.relay))
	} else {
		err = s.dataError(id, tx, err, filter.lost)
	}
	s.logMessage(id, helo, tx, size.n, err, time.Since(started))
	return err
}

// store delivers to the local recipients and queues the relayed ones.
// Without relay recipients, verifier or signer the message streams into
// the store; otherwise it is spooled once and read for each.
func (s *session) store(ctx context.Context, tx transaction, helo string, msg io.Reader) (err error) {
	verify := !s.submission() && s.srv.o.Verifier != nil
	sign := s.submission() && s.srv.o.Signer != nil
	if len(tx.relay) == 0 && !verify && !sign {
		return s.srv.o.Store.Deliver(ctx, tx.local, msg)
	}
	sp, err := spool.Read(msg, spool.Options{Limit: s.srv.o.MaxMessageBytes + maxTraceBytes, Memory: memorySpool,
		Dir: s.srv.o.SpoolDir, Pattern: "diwan-smtp-*"})
	if errors.Is(err, spool.ErrTooBig) {
		return errTooBig
	}
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			sp.Lend() // a failed store may still be reading it
		}
		sp.Close()
	}()
	prefix := ""
	if verify {
		// The Authentication-Results field goes on top.
		if prefix, err = s.verify(ctx, tx, helo, sp); err != nil {
			return err
		}
	}
	if sign {
		// DKIM signing (a later issue): the signature field goes on top.
		_, domain, _ := strings.Cut(tx.from, "@")
		sig, err := s.srv.o.Signer.Sign(ctx, domain, sp.Reader())
		if err != nil {
			return err
		}
		prefix = sig
	}
	withPrefix := func() io.Reader { return s.stored(sp, prefix, verify) }
	if len(tx.local) > 0 {
		if err := s.srv.o.Store.Deliver(ctx, tx.local, withPrefix()); err != nil {
			var de *mailstore.DeliveryError
			if !errors.As(err, &de) || len(de.Delivered) == 0 || len(tx.relay) == 0 {
				return err
			}
			// Some local recipients got it: the relayed ones must too.
			s.partial(de)
		}
	}
	if len(tx.relay) > 0 {
		m := RelayMessage{From: tx.from, To: tx.relay, UTF8: tx.utf8}
		if s.user != nil {
			m.UserID = s.user.ID
		}
		if err := s.srv.o.Relay.Enqueue(ctx, m, withPrefix(), int64(len(prefix))+sp.Size()); err != nil {
			return err
		}
	}
	return nil
}

// stored is the message as it is stored: the spool with prefix (the DKIM
// signature, or the Authentication-Results field) on top; on inbound,
// without the Authentication-Results fields that claim this server.
func (s *session) stored(sp *spool.Spool, prefix string, verified bool) io.Reader {
	if prefix == "" {
		// The spool itself: a file section the blob store can send
		// without buffering it.
		return sp.Reader()
	}
	if verified {
		// Inbound (never relayed: no size is declared for it).
		return io.MultiReader(strings.NewReader(prefix), &withoutOwnResults{msg: sp.Reader(), authserv: s.srv.hostname})
	}
	return sp.ReaderWithPrefix(prefix)
}

// verify runs the sender checks of inbound mail (policy.inbound_auth) and
// returns the Authentication-Results field to put on top. A failure the
// verifier enforces is refused 550 5.7.26 (RFC 7372) naming the check,
// and audited; a DNS failure is a temporary 451 4.4.3.
func (s *session) verify(ctx context.Context, tx transaction, helo string, sp *spool.Spool) (string, error) {
	v, err := s.srv.o.Verifier.Verify(ctx, Envelope{Listener: s.door.name, Client: s.client, Helo: helo,
		From: tx.from, To: tx.rcpts, TLS: s.tls != nil}, sp.Reader())
	if errors.Is(err, ErrSenderCheckUnavailable) {
		s.srv.metrics.refused("auth_temporary", "")
		s.srv.log.Warn("smtp: sender checks unavailable; message deferred", slog.String("client", s.client),
			slog.String("from", tx.from), slog.Any("err", err))
		return "", errAuthUnavailable
	}
	if err != nil {
		return "", err
	}
	if v.Pass || !v.Enforce {
		if !v.Pass {
			s.srv.log.Info("smtp: sender authentication failed (report only)", slog.String("client", s.client),
				slog.String("from", tx.from), slog.String("header_from", v.From), slog.String("rule", v.Rule))
		}
		return v.Header, nil
	}
	_, domain, _ := strings.Cut(tx.from, "@")
	if _, d, err := directory.CanonicalAddress(v.From); err == nil {
		domain = d // the header From's domain is the one DMARC judged
	}
	return "", s.refuse(refusal{reason: policy.ReasonPolicy, rule: v.Rule, from: tx.from, domain: domain, header: v.From},
		errSenderAuth(v.Rule))
}

// partial logs the local recipients that did not get a message others got.
// Without a bounce (the delivery issue brings DSNs) the message is still
// answered 250: a retry would duplicate it for those who have it.
func (s *session) partial(de *mailstore.DeliveryError) {
	ids := make([]int64, len(de.Failed))
	for i, f := range de.Failed {
		ids[i] = f.UserID
	}
	s.srv.metrics.refused("delivery_failed", "")
	s.srv.log.Error("smtp: message not delivered to some local recipients", slog.String("listener", string(s.door.name)),
		slog.Any("user_ids", ids), slog.Any("err", de))
}

// dataError turns a failed DATA into its reply. lost is what cut the
// message short on the client's side, if anything did: only then is the
// connection to blame. Any other failure is this server's (the blob store
// or the database down or slow): 451 4.3.0, logged as an error, so the
// sender tries again later.
func (s *session) dataError(id string, tx transaction, err, lost error) error {
	var se *gosmtp.SMTPError
	var de *mailstore.DeliveryError
	switch {
	case errors.As(err, &se):
		// Our own refusals (content, header From, sender authentication;
		// recorded where they were made) and go-smtp's size limit.
		if se == gosmtp.ErrDataTooLarge {
			s.srv.metrics.refused("size", "")
			return errTooBig
		}
		return se
	case errors.Is(err, mailstore.ErrTooBig):
		s.srv.metrics.refused("size", "")
		return errTooBig
	case errors.As(err, &de) && len(de.Delivered) > 0:
		s.partial(de)
		return nil
	case errors.As(err, &de) && errors.Is(err, mailstore.ErrOverQuota):
		s.srv.metrics.refused("quota", "")
		return errMailboxFull
	case lost != nil, errors.Is(err, gosmtp.ErrDataReset):
		s.srv.log.Info("smtp: message not received: connection lost", slog.String("id", id), slog.String("client", s.client), slog.Any("err", err))
		return errConnection
	case s.srv.base.Err() != nil:
		return errShuttingDown
	}
	s.srv.metrics.refused("temporary", "")
	s.srv.log.Error("smtp: message not stored", slog.String("id", id), slog.String("listener", string(s.door.name)),
		slog.String("client", s.client), slog.String("user", s.login()), slog.Int("recipients", len(tx.rcpts)), slog.Any("err", err))
	return errLocalProblem
}

// checkHeader checks the header section of a submitted message once it
// has arrived: exactly one From address, equal to the envelope sender (or,
// for the null sender, one the user may send as); a Sender field, if any,
// holds one address the user may send as (the rule of MAIL FROM); and no
// display name shows an address other than its field's. Inbound mail is
// stored as it came (the sender checks of Options.Verifier read it whole).
func (s *session) checkHeader(ctx context.Context, tx transaction, raw []byte) error {
	h, err := parseHeader(raw)
	if err != nil {
		s.srv.metrics.refused("content", "")
		return errHeaderSyntax
	}
	from, ok := headerFrom(h)
	if !ok {
		return s.refuse(refusal{reason: policy.ReasonSpoofing, rule: "spoofing:header-from", from: tx.from}, errFromHeader)
	}
	local, domain, err := directory.CanonicalAddress(from)
	if err != nil {
		return s.refuse(refusal{reason: policy.ReasonSpoofing, rule: "spoofing:header-from", from: tx.from, header: from}, errFromHeader)
	}
	canon := local + "@" + domain
	if tx.from != "" && canon != tx.from {
		return s.refuse(refusal{reason: policy.ReasonSpoofing, rule: "spoofing:header-from", from: tx.from, header: canon, domain: domain},
			errFromMismatch(canon, tx.from))
	}
	if tx.from == "" {
		ok, err = s.srv.o.Directory.MaySendAs(ctx, s.user.ID, canon)
		if err != nil {
			return s.temporary("check header From", err)
		}
		if !ok {
			return s.refuse(refusal{reason: policy.ReasonSpoofing, rule: "spoofing:header-from", header: canon, domain: domain}, errSendAs(canon))
		}
	}
	if other := foreignAddressInName(headerField(h, "From").name, canon); other != "" {
		return s.refuse(refusal{reason: policy.ReasonSpoofing, rule: "spoofing:display-name", from: tx.from, header: other, domain: domain},
			errDisplayName("From", other))
	}
	return s.checkSender(ctx, tx, h, canon)
}

// checkSender checks the Sender field (RFC 5322 §3.6.2) of a submitted
// message: when present, one address that is the From address, the
// user's own, or one MaySendAs allows; its display name shows no other.
func (s *session) checkSender(ctx context.Context, tx transaction, h textproto.Header, from string) error {
	m := headerField(h, "Sender")
	if !m.present {
		return nil
	}
	if !m.ok {
		return s.refuse(refusal{reason: policy.ReasonSpoofing, rule: "spoofing:header-sender", from: tx.from}, errSenderHeader)
	}
	local, domain, err := directory.CanonicalAddress(m.addr)
	if err != nil {
		return s.refuse(refusal{reason: policy.ReasonSpoofing, rule: "spoofing:header-sender", from: tx.from, header: m.addr}, errSenderHeader)
	}
	canon := local + "@" + domain
	if canon != from && canon != s.user.Login {
		ok, err := s.srv.o.Directory.MaySendAs(ctx, s.user.ID, canon)
		if err != nil {
			return s.temporary("check header Sender", err)
		}
		if !ok {
			return s.refuse(refusal{reason: policy.ReasonSpoofing, rule: "spoofing:header-sender", from: tx.from, header: canon, domain: domain},
				errSenderNotYours(canon))
		}
	}
	if other := foreignAddressInName(m.name, canon); other != "" {
		return s.refuse(refusal{reason: policy.ReasonSpoofing, rule: "spoofing:display-name", from: tx.from, header: other, domain: domain},
			errDisplayName("Sender", other))
	}
	return nil
}

// refusal is what refuse records.
type refusal struct {
	reason                   string // a policy.Reason* (audited) or a metric-only reason
	rule                     string
	from, to, domain, header string
}

// refuse counts a refusal (metric by reason and domain), records policy,
// relay and spoofing refusals in the audit log (which counts them per
// client and reason a minute), logs it, and returns the reply — or, at
// maxRefusals in the session, 421 and the end of the session.
func (s *session) refuse(r refusal, rep *gosmtp.SMTPError) error {
	s.srv.metrics.refused(r.reason, r.domain)
	switch r.reason {
	case policy.ReasonPolicy, policy.ReasonRelay, policy.ReasonSpoofing:
		ref := policy.Refusal{Reason: r.reason, Rule: r.rule, Listener: string(s.door.name), User: s.login(),
			Client: s.client, From: r.from, To: r.to, Domain: r.domain, Header: r.header}
		ctx, cancel := s.ctx()
		err := s.srv.o.Policy.RecordRefusal(ctx, ref)
		cancel()
		if err != nil {
			// The refusal stands; the log keeps what the audit log lost.
			s.srv.log.Error("smtp: refusal not recorded", slog.Any("refusal", ref), slog.Any("err", err))
		}
	}
	last := s.refusals.Add(1) >= maxRefusals
	if last {
		rep = errTooManyRefusals
	}
	s.srv.log.Info("smtp: refused", slog.String("reason", r.reason), slog.String("rule", r.rule),
		slog.String("listener", string(s.door.name)), slog.String("client", s.client), slog.String("user", s.login()),
		slog.String("from", r.from), slog.String("to", r.to), slog.String("domain", r.domain),
		slog.String("header", r.header), slog.String("reply", replyText(rep)))
	return rep
}

// temporary logs an internal failure and answers 451.
func (s *session) temporary(what string, err error) error {
	if s.srv.base.Err() != nil {
		return errShuttingDown
	}
	s.srv.metrics.refused("temporary", "")
	s.srv.log.Error("smtp: "+what, slog.String("listener", string(s.door.name)), slog.String("client", s.client),
		slog.String("user", s.login()), slog.Any("err", err))
	return errTemporary
}

func (s *session) login() string {
	if s.user == nil {
		return ""
	}
	return s.user.Login
}

// decisionReply is the policy's refusal as an SMTP reply.
func decisionReply(d policy.Decision) *gosmtp.SMTPError {
	var e [3]int
	parts := strings.SplitN(d.Enhanced, ".", 3)
	for i := range parts {
		for _, c := range parts[i] {
			e[i] = e[i]*10 + int(c-'0')
		}
	}
	return reply(d.Code, e[0], e[1], e[2], d.Message)
}

func clientIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
