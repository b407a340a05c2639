package delivery

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// SenderOptions is how the Sender speaks to other national servers.
type SenderOptions struct {
	Hostname   string         // smtp.hostname: EHLO
	RootCAs    *x509.CertPool // system pool + tls.ca_file
	RequireTLS bool
	// ConnectTimeout bounds the TCP connection, CommandTimeout each
	// command's reply (the greeting, the end of DATA) and each write.
	ConnectTimeout, CommandTimeout time.Duration
}

// Sender delivers a message to the hops of one domain over SMTP (RFC
// 5321) with STARTTLS (RFC 3207), using go-smtp's client.
//
// go-smtp's client sends one command and waits for its reply: it does
// not pipeline (RFC 2920), and PIPELINING is not used here, since that
// would mean writing MAIL and RCPT by hand beside the library.
type Sender struct {
	o SenderOptions
}

// NewSender returns a sender with o; a zero timeout is RFC 5321's
// (§4.5.3.2): 5 minutes, and 30 seconds to connect.
func NewSender(o SenderOptions) *Sender {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 30 * time.Second
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 5 * time.Minute
	}
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	return &Sender{o: o}
}

// Envelope is one transaction: a sender and recipients of one domain.
type Envelope struct {
	From string   // "" for <>
	To   []string // all of one domain
	UTF8 bool     // needs SMTPUTF8
	Size int64
}

// RcptResult is the remote's answer for one recipient. Where the remote
// gave none (no connection, TLS that is required and missing, a message
// over its SIZE) Reply is Diwan's own reason, without a reply code.
type RcptResult struct {
	To        string
	Delivered bool
	Permanent bool   // 5xx: bounce; otherwise retry
	Reply     string // "550 5.1.1 No such user" as the remote said it
	Status    string // enhanced status "5.1.1" (derived from the basic code when absent)
}

// hopError is a failure that sends the Sender on to the next hop: the hop
// could not be reached, did not greet with 220, refused EHLO, or did not
// give the TLS that is required. It is temporary for the transaction.
type hopError struct {
	reply    string
	status   string
	answered bool // the remote said something: it is the Remote-MTA
}

func (e *hopError) Error() string { return e.reply }

// Send tries hops in order until one takes the transaction (connection
// failures, a greeting other than 220, a refused EHLO and, while TLS is
// required, a hop without STARTTLS or with a certificate that does not
// verify move to the next hop); open returns the message each time it is
// needed. Every recipient of env gets a result, in env.To's order;
// remoteMTA names the host that answered ("" when none did).
func (s *Sender) Send(ctx context.Context, hops []Hop, env Envelope, open func() (io.ReadCloser, error)) (results []RcptResult, remoteMTA string) {
	if len(env.To) == 0 {
		return nil, ""
	}
	last := &hopError{reply: "no server to try for the domain", status: "4.4.4"}
	for _, hop := range hops {
		if ctx.Err() != nil {
			last = &hopError{reply: "delivery stopped: " + ctx.Err().Error(), status: "4.4.7"}
			break
		}
		res, err := s.attempt(ctx, hop, env, open)
		if err == nil {
			return res.list(env.To), hopName(hop)
		}
		last = err
		if err.answered {
			remoteMTA = hopName(hop)
		} else {
			remoteMTA = ""
		}
	}
	r := make(outcome, len(env.To))
	r.fail(env.To, last.reply, last.status, false)
	return r.list(env.To), remoteMTA
}

// hopName is the hop's host name, or its IP when it was given as one.
func hopName(h Hop) string {
	if h.Host != "" {
		return h.Host
	}
	if ap, err := netip.ParseAddrPort(h.Addr); err == nil {
		return ap.Addr().String()
	}
	return h.Addr
}

// outcome collects the results of one transaction by recipient.
type outcome map[string]RcptResult

func (o outcome) fail(to []string, reply, status string, permanent bool) {
	for _, t := range to {
		o[t] = RcptResult{To: t, Permanent: permanent, Reply: reply, Status: status}
	}
}

func (o outcome) reply(to []string, err error) {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		o.fail(to, "connection lost: "+err.Error(), "4.4.2", false)
		return
	}
	for _, t := range to {
		o[t] = RcptResult{To: t, Permanent: se.Code >= 500, Reply: replyText(se.Code, se.EnhancedCode, se.Message),
			Status: status(se.Code, se.EnhancedCode)}
	}
}

func (o outcome) list(to []string) []RcptResult {
	out := make([]RcptResult, len(to))
	for i, t := range to {
		r, ok := o[t]
		if !ok {
			r = RcptResult{To: t, Reply: "not attempted", Status: "4.4.2"}
		}
		out[i] = r
	}
	return out
}

// replyText is a reply on one line as the remote said it.
func replyText(code int, enh smtp.EnhancedCode, msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if enh[0] > 0 {
		return fmt.Sprintf("%d %d.%d.%d %s", code, enh[0], enh[1], enh[2], msg)
	}
	return fmt.Sprintf("%d %s", code, msg)
}

// status is the enhanced status code of a reply: the one given when its
// class agrees with the basic code (RFC 3463 §2), else X.0.0.
func status(code int, enh smtp.EnhancedCode) string {
	class := code / 100
	if enh[0] == class {
		return fmt.Sprintf("%d.%d.%d", enh[0], enh[1], enh[2])
	}
	return fmt.Sprintf("%d.0.0", class)
}

// attempt runs one transaction on hop. A *hopError means the hop did not
// take it; otherwise every recipient has a result.
func (s *Sender) attempt(ctx context.Context, hop Hop, env Envelope, open func() (io.ReadCloser, error)) (outcome, *hopError) {
	c, done, herr := s.connect(ctx, hop)
	if herr != nil {
		return nil, herr
	}
	defer done()
	res := make(outcome, len(env.To))
	if reply, status := s.refuse(c, hopName(hop), env, open); reply != "" {
		res.fail(env.To, reply, status, status[0] == '5')
		c.Quit()
		return res, nil
	}
	if err := c.Mail(env.From, &smtp.MailOptions{Size: env.Size, UTF8: env.UTF8}); err != nil {
		res.reply(env.To, err)
		c.Quit()
		return res, nil
	}
	accepted, ok := rcpts(c, env.To, res)
	if !ok || len(accepted) == 0 {
		c.Quit()
		return res, nil
	}
	if data(c, accepted, open, res) {
		c.Quit()
	}
	return res, nil
}

// refuse checks the transaction against what the remote announced, before
// anything is sent: its SIZE (RFC 1870), SMTPUTF8 (RFC 6531 §3.4) and
// 8BITMIME (RFC 6152 §3: without it 8-bit octets may not be sent, and
// Diwan does not convert). It returns our reason (no SMTP reply code:
// the remote said none) and status, or "".
func (s *Sender) refuse(c *smtp.Client, name string, env Envelope, open func() (io.ReadCloser, error)) (reason, status string) {
	if max, ok := c.MaxMessageSize(); ok && max > 0 && env.Size > int64(max) {
		return fmt.Sprintf("message of %d octets is larger than the %d %s accepts (SIZE)", env.Size, max, name), "5.3.4"
	}
	if ok, _ := c.Extension("SMTPUTF8"); env.UTF8 && !ok {
		return name + " does not accept internationalised addresses (no SMTPUTF8)", "5.6.7"
	}
	if ok, _ := c.Extension("8BITMIME"); ok || env.UTF8 {
		return "", ""
	}
	eight, err := has8Bit(open)
	if err != nil {
		return "the queued message cannot be read: " + err.Error(), "4.3.0"
	}
	if eight {
		return "the message has 8-bit octets and " + name + " does not accept them (no 8BITMIME)", "5.6.3"
	}
	return "", ""
}

// has8Bit reports whether the message has an octet above 127.
func has8Bit(open func() (io.ReadCloser, error)) (bool, error) {
	rc, err := open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := rc.Read(buf)
		for _, b := range buf[:n] {
			if b >= 0x80 {
				return true, nil
			}
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// rcpts sends RCPT for each recipient (RFC 5321 §3.3): a 5xx fails that
// recipient only, a 4xx defers it. It returns the accepted ones; ok false
// means the connection is gone, and every recipient without an answer,
// or accepted, is deferred.
func rcpts(c *smtp.Client, to []string, res outcome) (accepted []string, ok bool) {
	for i, t := range to {
		err := c.Rcpt(t, nil)
		if err == nil {
			accepted = append(accepted, t)
			continue
		}
		if se := (*smtp.SMTPError)(nil); errors.As(err, &se) {
			res.reply([]string{t}, err)
			continue
		}
		res.reply(append(accepted, to[i:]...), err)
		return nil, false
	}
	return accepted, true
}

// data sends the message to the accepted recipients; the reply to DATA or
// to its end applies to all of them. It reports whether the connection is
// still in a state to say QUIT.
func data(c *smtp.Client, accepted []string, open func() (io.ReadCloser, error), res outcome) bool {
	rc, err := open()
	if err != nil {
		res.fail(accepted, "the queued message cannot be read: "+err.Error(), "4.3.0", false)
		return true
	}
	defer rc.Close()
	w, err := c.Data()
	if err != nil {
		res.reply(accepted, err)
		return true
	}
	src := &readErr{r: rc}
	if _, err := io.Copy(w, src); err != nil {
		// Never end a message that was not read whole: closing without the
		// final dot makes the remote drop the transaction.
		if src.err != nil {
			err = src.err
		}
		res.fail(accepted, "message not sent whole: "+err.Error(), "4.4.2", false)
		return false
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		res.reply(accepted, err)
		return true
	}
	reply := "250 " + strings.Join(strings.Fields(resp.StatusText), " ")
	st := "2.0.0"
	if f := strings.Fields(resp.StatusText); len(f) > 0 && strings.HasPrefix(f[0], "2.") && strings.Count(f[0], ".") == 2 {
		st = f[0]
	}
	for _, t := range accepted {
		res[t] = RcptResult{To: t, Delivered: true, Reply: reply, Status: st}
	}
	return true
}

// readErr remembers the error of the message's reader, to tell it from
// the connection's.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// connect dials hop, reads its greeting, says EHLO and starts TLS when
// the hop offers it (RFC 3207), and returns a client ready for MAIL and
// the function that closes it. Until then a cancelled ctx closes the
// connection.
func (s *Sender) connect(ctx context.Context, hop Hop) (*smtp.Client, func(), *hopError) {
	d := net.Dialer{Timeout: s.o.ConnectTimeout}
	raw, err := d.DialContext(ctx, "tcp", hop.Addr)
	if err != nil {
		return nil, nil, &hopError{reply: fmt.Sprintf("connect to %s [%s]: %v", hopName(hop), hop.Addr, err), status: "4.4.1"}
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	done := func() { stop(); raw.Close() }
	conn := &timedConn{Conn: raw, timeout: s.o.CommandTimeout}
	c, herr := s.hello(conn, hop)
	if herr == nil {
		c, herr = s.startTLS(ctx, c, conn, hop)
	}
	if herr != nil {
		done()
		return nil, nil, herr
	}
	return c, done, nil
}

// hello reads the greeting and says EHLO (HELO when EHLO is refused)
// as smtp.hostname.
func (s *Sender) hello(conn net.Conn, hop Hop) (*smtp.Client, *hopError) {
	c := smtp.NewClient(conn)
	c.CommandTimeout, c.SubmissionTimeout = s.o.CommandTimeout, s.o.CommandTimeout
	if err := c.Hello(s.o.Hostname); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			st := status(se.Code, se.EnhancedCode)
			return nil, &hopError{reply: replyText(se.Code, se.EnhancedCode, se.Message), status: "4" + st[1:], answered: true}
		}
		return nil, &hopError{reply: fmt.Sprintf("greeting of %s [%s]: %v", hopName(hop), hop.Addr, err), status: "4.4.2"}
	}
	return c, nil
}

// startTLS runs STARTTLS when c's remote offers it and returns the client
// to go on with. While TLS is required, a remote without STARTTLS or
// whose certificate does not verify against RootCAs for the hop's name is
// a hopError; otherwise TLS is opportunistic (RFC 7435): the certificate
// is not checked and a refused STARTTLS goes on in plain text.
//
// go-smtp v0.25.1 has no STARTTLS for an open client (only
// NewClientStartTLS, which says EHLO as "localhost"), so the command is
// sent here, on the connection c has left idle after EHLO, and a new
// client takes over the TLS connection.
func (s *Sender) startTLS(ctx context.Context, c *smtp.Client, conn *timedConn, hop Hop) (*smtp.Client, *hopError) {
	name := hopName(hop)
	if ok, _ := c.Extension("STARTTLS"); !ok {
		if s.o.RequireTLS {
			c.Quit()
			return nil, &hopError{reply: "TLS required: " + name + " does not offer STARTTLS", status: "4.7.4", answered: true}
		}
		return c, nil
	}
	if code, msg, err := conn.command("STARTTLS", 220); err != nil {
		reply := fmt.Sprintf("TLS required: STARTTLS at %s: %v", name, err)
		if code != 0 {
			reply = fmt.Sprintf("TLS required: %s refused STARTTLS: %d %s", name, code, strings.Join(strings.Fields(msg), " "))
		}
		if code == 0 || s.o.RequireTLS {
			return nil, &hopError{reply: reply, status: "4.7.4", answered: code != 0}
		}
		return c, nil // RFC 3207 §4: refused, the session goes on as it was
	}
	cfg := &tls.Config{ServerName: name, RootCAs: s.o.RootCAs, MinVersion: tls.VersionTLS12}
	if !s.o.RequireTLS {
		cfg.InsecureSkipVerify = true // opportunistic TLS, RFC 7435 §3
	}
	hctx, cancel := context.WithTimeout(ctx, s.o.CommandTimeout)
	defer cancel()
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(hctx); err != nil {
		reply := fmt.Sprintf("TLS with %s: %v", name, err)
		if s.o.RequireTLS {
			reply = fmt.Sprintf("TLS required: certificate of %s does not verify: %v", name, err)
		}
		return nil, &hopError{reply: reply, status: "4.7.5", answered: true}
	}
	// The new client reads a greeting before its EHLO; none comes after
	// STARTTLS (RFC 3207 §4.2), so it is given a 220 in its place.
	tc2 := &greetedConn{Conn: tc, r: io.MultiReader(strings.NewReader("220 "+name+"\r\n"), tc)}
	return s.hello(tc2, hop)
}

// timedConn bounds every write by the command timeout: go-smtp's client
// sets deadlines around commands, not while it writes the message.
type timedConn struct {
	net.Conn
	timeout time.Duration
}

func (c *timedConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// command sends one command line and reads its reply an octet at a time,
// so that nothing after the reply (the TLS handshake) is consumed. code
// is 0 when no reply was read.
func (c *timedConn) command(line string, want int) (code int, msg string, err error) {
	c.Conn.SetDeadline(time.Now().Add(c.timeout))
	defer c.Conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(c.Conn, line+"\r\n"); err != nil {
		return 0, "", err
	}
	code, msg, err = textproto.NewReader(bufio.NewReader(octetReader{c.Conn})).ReadResponse(want)
	var te *textproto.Error
	if err != nil && !errors.As(err, &te) {
		code = 0
	}
	return code, msg, err
}

// octetReader reads one octet per call.
type octetReader struct{ r io.Reader }

func (o octetReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

// greetedConn is a connection whose first octets are r's.
type greetedConn struct {
	net.Conn
	r io.Reader
}

func (g *greetedConn) Read(p []byte) (int, error) { return g.r.Read(p) }
