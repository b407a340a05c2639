package delivery_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"diwan.gov.sy/diwan/internal/delivery"
	"diwan.gov.sy/diwan/internal/testenv"
)

// testCA is a certificate authority made for one test, standing for a
// government CA given in tls.ca_file.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Diwan test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// serverTLS is the TLS configuration of a server named host, its
// certificate issued by ca.
func (ca *testCA) serverTLS(t *testing.T, host string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// received is one transaction a fake remote took.
type received struct {
	helo string
	tls  bool
	from string
	opts smtp.MailOptions
	to   []string
	data []byte
}

// remote is a fake national server: a go-smtp server on 127.0.0.1:0.
type remote struct {
	host string
	addr string
	// mail, rcpt and data, when set, answer MAIL, RCPT and DATA.
	mail func(from string) error
	rcpt func(to string) error
	data func(c *smtp.Conn, r io.Reader) error

	mu    sync.Mutex
	mails int // MAIL commands seen
	got   []received
}

type remoteOptions struct {
	tls      *tls.Config // nil: no STARTTLS
	utf8     bool
	maxBytes int64
}

func startRemote(t *testing.T, host string, o remoteOptions) *remote {
	t.Helper()
	r := &remote{host: host}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &remoteSession{r: r, c: c}, nil
	}))
	srv.Domain = host
	srv.TLSConfig = o.tls
	srv.EnableSMTPUTF8 = o.utf8
	srv.MaxMessageBytes = o.maxBytes
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0) // the failures are the tests' own doing
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	r.addr = l.Addr().String()
	return r
}

func (r *remote) hop() delivery.Hop { return delivery.Hop{Host: r.host, Addr: r.addr, Pref: 10} }

func (r *remote) transactions() (mails int, got []received) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mails, slices.Clone(r.got)
}

type remoteSession struct {
	r   *remote
	c   *smtp.Conn
	cur received
}

func (s *remoteSession) Reset()        { s.cur = received{} }
func (s *remoteSession) Logout() error { return nil }

func (s *remoteSession) Mail(from string, opts *smtp.MailOptions) error {
	s.r.mu.Lock()
	s.r.mails++
	s.r.mu.Unlock()
	_, isTLS := s.c.TLSConnectionState()
	s.cur = received{helo: s.c.Hostname(), tls: isTLS, from: from}
	if opts != nil {
		s.cur.opts = *opts
	}
	if s.r.mail != nil {
		return s.r.mail(from)
	}
	return nil
}

func (s *remoteSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.r.rcpt != nil {
		if err := s.r.rcpt(to); err != nil {
			return err
		}
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *remoteSession) Data(rd io.Reader) error {
	if s.r.data != nil {
		return s.r.data(s.c, rd)
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.r.mu.Lock()
	s.r.got = append(s.r.got, s.cur)
	s.r.mu.Unlock()
	return nil
}

// testMessage has 8-bit octets (UTF-8 Arabic) and a line starting with a
// dot, which SMTP must carry unchanged (RFC 5321 §4.5.2).
var testMessage = []byte("From: =?utf-8?b?2YXYsdmK2YU=?= <sender@mof.gov.sy>\r\n" +
	"To: a@moh.gov.sy, b@moh.gov.sy\r\nSubject: test\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
	"السلام عليكم\r\n.a line that starts with a dot\r\n..and two\r\n")

func openMessage(msg []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(msg)), nil }
}

func newSender(ca *testCA, requireTLS bool) *delivery.Sender {
	return delivery.NewSender(delivery.SenderOptions{
		Hostname: "mail.mof.gov.sy", RootCAs: ca.pool, RequireTLS: requireTLS,
		ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second,
	})
}

func sendCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func envelope(to ...string) delivery.Envelope {
	return delivery.Envelope{From: "sender@mof.gov.sy", To: to, Size: int64(len(testMessage))}
}

// summary is a result on one line: "to delivered|permanent|temporary status reply".
func summary(rs []delivery.RcptResult) []string {
	var out []string
	for _, r := range rs {
		kind := "temporary"
		switch {
		case r.Delivered:
			kind = "delivered"
		case r.Permanent:
			kind = "permanent"
		}
		out = append(out, fmt.Sprintf("%s %s %s %s", r.To, kind, r.Status, r.Reply))
	}
	return out
}

func wantResults(t *testing.T, rs []delivery.RcptResult, want ...string) {
	t.Helper()
	got := summary(rs)
	if len(got) != len(want) {
		t.Fatalf("results = %q; want %d", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("result %d = %q; want it to start with %q (all: %q)", i, got[i], want[i], got)
		}
	}
}

func TestSendDeliversToEveryRecipientOverVerifiedTLS(t *testing.T) {
	ca := newCA(t)
	r := startRemote(t, "mx.moh.gov.sy", remoteOptions{tls: ca.serverTLS(t, "mx.moh.gov.sy"), utf8: true})
	env := envelope("a@moh.gov.sy", "b@moh.gov.sy")
	rs, mta := newSender(ca, true).Send(sendCtx(t), []delivery.Hop{r.hop()}, env, openMessage(testMessage))
	wantResults(t, rs, "a@moh.gov.sy delivered 2.0.0 250 ", "b@moh.gov.sy delivered 2.0.0 250 ")
	if mta != "mx.moh.gov.sy" {
		t.Errorf("remote MTA = %q; want mx.moh.gov.sy", mta)
	}
	_, got := r.transactions()
	if len(got) != 1 {
		t.Fatalf("remote took %d transactions; want 1", len(got))
	}
	g := got[0]
	if !g.tls || g.helo != "mail.mof.gov.sy" || g.from != "sender@mof.gov.sy" || !slices.Equal(g.to, env.To) {
		t.Errorf("remote saw tls=%v EHLO %q MAIL %q RCPT %q", g.tls, g.helo, g.from, g.to)
	}
	if g.opts.Size != int64(len(testMessage)) || g.opts.Body != smtp.Body8BitMIME || g.opts.UTF8 {
		t.Errorf("MAIL parameters = SIZE %d BODY %q SMTPUTF8 %v; want SIZE %d BODY=8BITMIME", g.opts.Size, g.opts.Body, g.opts.UTF8, len(testMessage))
	}
	if !bytes.Equal(g.data, testMessage) {
		t.Errorf("remote got\n%q\nwant\n%q", g.data, testMessage)
	}
}

// RFC 5321 §3.3: a 550 for one recipient fails that one only; a 4xx
// defers it.
func TestSendFailsOnlyTheRecipientsTheRemoteRefuses(t *testing.T) {
	ca := newCA(t)
	r := startRemote(t, "mx.moh.gov.sy", remoteOptions{tls: ca.serverTLS(t, "mx.moh.gov.sy")})
	r.rcpt = func(to string) error {
		switch to {
		case "nobody@moh.gov.sy":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		case "busy@moh.gov.sy":
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		}
		return nil
	}
	env := envelope("a@moh.gov.sy", "nobody@moh.gov.sy", "busy@moh.gov.sy")
	rs, _ := newSender(ca, true).Send(sendCtx(t), []delivery.Hop{r.hop()}, env, openMessage(testMessage))
	wantResults(t, rs,
		"a@moh.gov.sy delivered 2.0.0",
		"nobody@moh.gov.sy permanent 5.1.1 550 5.1.1 No such user",
		"busy@moh.gov.sy temporary 4.3.0 451 4.3.0 Try again later")
	if _, got := r.transactions(); len(got) != 1 || !slices.Equal(got[0].to, []string{"a@moh.gov.sy"}) || !bytes.Equal(got[0].data, testMessage) {
		t.Fatalf("remote got %d transactions; want one to a@moh.gov.sy with the message", len(got))
	}
}

// The reply at the end of DATA is every accepted recipient's (RFC 5321
// §4.2.5): 5xx fails, 4xx defers them; a recipient refused at RCPT keeps
// its own answer.
func TestSendAppliesTheReplyToDATAToEveryAcceptedRecipient(t *testing.T) {
	ca := newCA(t)
	r := startRemote(t, "mx.moh.gov.sy", remoteOptions{tls: ca.serverTLS(t, "mx.moh.gov.sy")})
	r.rcpt = func(to string) error {
		if to == "nobody@moh.gov.sy" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}
		return nil
	}
	for _, tc := range []struct {
		err  *smtp.SMTPError
		want string
	}{
		{&smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Refused by policy"}, "permanent 5.7.1 554 5.7.1 Refused by policy"},
		{&smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Disk full"}, "temporary 4.3.1 452 4.3.1 Disk full"},
	} {
		r.data = func(_ *smtp.Conn, rd io.Reader) error { io.Copy(io.Discard, rd); return tc.err }
		env := envelope("a@moh.gov.sy", "nobody@moh.gov.sy", "b@moh.gov.sy")
		rs, _ := newSender(ca, true).Send(sendCtx(t), []delivery.Hop{r.hop()}, env, openMessage(testMessage))
		wantResults(t, rs, "a@moh.gov.sy "+tc.want, "nobody@moh.gov.sy permanent 5.1.1 550", "b@moh.gov.sy "+tc.want)
	}
}

// The reply to MAIL is every recipient's: 5xx fails, 4xx defers them all
// (RFC 5321 §3.3).
func TestSendAppliesTheReplyToMAILToEveryRecipient(t *testing.T) {
	ca := newCA(t)
	r := startRemote(t, "mx.moh.gov.sy", remoteOptions{tls: ca.serverTLS(t, "mx.moh.gov.sy")})
	for _, tc := range []struct {
		err  *smtp.SMTPError
		want string
	}{
		{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Sender refused"}, "permanent 5.7.1 550 5.7.1 Sender refused"},
		{&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted"}, "temporary 4.7.1 451 4.7.1 Greylisted"},
	} {
		r.mail = func(string) error { return tc.err }
		rs, mta := newSender(ca, true).Send(sendCtx(t), []delivery.Hop{r.hop()}, envelope("a@moh.gov.sy", "b@moh.gov.sy"), openMessage(testMessage))
		wantResults(t, rs, "a@moh.gov.sy "+tc.want, "b@moh.gov.sy "+tc.want)
		if _, got := r.transactions(); len(got) != 0 || mta != "mx.moh.gov.sy" {
			t.Fatalf("remote took %d transactions after refusing MAIL; remote MTA %q", len(got), mta)
		}
	}
}

// busyHop is a listener that greets every connection with 421 and closes
// it (RFC 5321 §3.1), as a server too busy to take mail does.
func busyHop(t *testing.T, host string) delivery.Hop {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "421 4.3.2 "+host+" too busy, try later\r\n")
			c.Close()
		}
	}()
	return delivery.Hop{Host: host, Addr: l.Addr().String(), Pref: 10}
}

func TestSendMovesToTheNextHopAfterA421Greeting(t *testing.T) {
	ca := newCA(t)
	busy := busyHop(t, "mx1.moh.gov.sy")
	r := startRemote(t, "mx2.moh.gov.sy", remoteOptions{tls: ca.serverTLS(t, "mx2.moh.gov.sy")})
	rs, mta := newSender(ca, true).Send(sendCtx(t), []delivery.Hop{busy, r.hop()}, envelope("a@moh.gov.sy"), openMessage(testMessage))
	wantResults(t, rs, "a@moh.gov.sy delivered")
	if mta != "mx2.moh.gov.sy" {
		t.Errorf("remote MTA = %q; want mx2.moh.gov.sy", mta)
	}
	// The only hop greets with 421: temporary, the reply as it was said.
	rs, mta = newSender(ca, true).Send(sendCtx(t), []delivery.Hop{busy}, envelope("a@moh.gov.sy"), openMessage(testMessage))
	wantResults(t, rs, "a@moh.gov.sy temporary 4.3.2 421 4.3.2 mx1.moh.gov.sy too busy")
	if mta != "mx1.moh.gov.sy" {
		t.Errorf("remote MTA = %q; want mx1.moh.gov.sy", mta)
	}
}

func TestSendDeliversThroughTheSecondHopWhenTheFirstRefusesConnections(t *testing.T) {
	ca := newCA(t)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	closed := delivery.Hop{Host: "mx1.moh.gov.sy", Addr: fmt.Sprintf("127.0.0.1:%d", port), Pref: 10}
	r := startRemote(t, "mx2.moh.gov.sy", remoteOptions{tls: ca.serverTLS(t, "mx2.moh.gov.sy")})
	rs, mta := newSender(ca, true).Send(sendCtx(t), []delivery.Hop{closed, r.hop()}, envelope("a@moh.gov.sy"), openMessage(testMessage))
	wantResults(t, rs, "a@moh.gov.sy delivered")
	if _, got := r.transactions(); mta != "mx2.moh.gov.sy" || len(got) != 1 || !bytes.Equal(got[0].data, testMessage) {
		t.Fatalf("remote MTA %q, second hop got %d transactions", mta, len(got))
	}
	rs, mta = newSender(ca, true).Send(sendCtx(t), []delivery.Hop{closed}, envelope("a@moh.gov.sy"), openMessage(testMessage))
	wantResults(t, rs, "a@moh.gov.sy temporary 4.4.1 connect to mx1.moh.gov.sy")
	if mta != "" {
		t.Errorf("remote MTA = %q when none answered; want \"\"", mta)
	}
}

// While delivery.require_tls is on, a hop without STARTTLS is a temporary
// failure of that hop, and the next is tried.
func TestSendRequiresSTARTTLSAndTriesTheNextHop(t *testing.T) {
	ca := newCA(t)
	plain := startRemote(t, "mx1.moh.gov.sy", remoteOptions{})
	r := startRemote(t, "mx2.moh.gov.sy", remoteOptions{tls: ca.serverTLS(t, "mx2.moh.gov.sy")})
	rs, mta := newSender(ca, true).Send(sendCtx(t), []delivery.Hop{plain.hop(), r.hop()}, envelope("a@moh.gov.sy"), openMessage(testMessage))
	wantResults(t, rs, "a@moh.gov.sy delivered")
	if mails, _ := plain.transactions(); mails != 0 || mta != "mx2.moh.gov.sy" {
		t.Fatalf("the hop without STARTTLS saw %d MAIL; remote MTA %q", mails, mta)
	}
	rs, _ = newSender(ca, true).Send(sendCtx(t), []delivery.Hop{plain.hop()}, envelope("a@moh.gov.sy"), openMessage(testMessage))
	wantResults(t, rs, "a@moh.gov.sy temporary 4.7.4 TLS required: mx1.moh.gov.sy does not offer STARTTLS")
	// Not required: sent in plain text.
	rs, _ = newSender(ca, false).Send(sendCtx(t), []delivery.Hop{plain.hop()}, envelope("a@moh.gov.sy"), openMessage(testMessage))
	wantResults(t, rs, "a@moh.gov.sy delivered")
	if _, got := plain.transactions(); len(got) != 1 || got[0].tls || got[0].helo != "mail.mof.gov.sy" {
		t.Fatalf("plain remote got %+v", got)
	}
}

// A certificate that does not verify against the system roots and
// tls.ca_file, or names another host, fails the hop while TLS is
// required; otherwise TLS is opportunistic (RFC 7435).
func TestSendRefusesACertificateThatDoesNotVerify(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	for _, tc := range []struct {
		name string
		tls  *tls.Config
	}{
		{"unknown authority", other.serverTLS(t, "mx.moh.gov.sy")},
		{"another host's name", ca.serverTLS(t, "mx.mof.gov.sy")},
	} {
		r := startRemote(t, "mx.moh.gov.sy", remoteOptions{tls: tc.tls})
		rs, _ := newSender(ca, true).Send(sendCtx(t), []delivery.Hop{r.hop()}, envelope("a@moh.gov.sy"), openMessage(testMessage))
		wantResults(t, rs, "a@moh.gov.sy temporary 4.7.5 TLS required: certificate of mx.moh.gov.sy does not verify")
		if mails, _ := r.transactions(); mails != 0 {
			t.Fatalf("%s: remote saw %d MAIL over TLS that does not verify", tc.name, mails)
		}
		rs, _ = newSender(ca, false).Send(sendCtx(t), []delivery.Hop{r.hop()}, envelope("a@moh.gov.sy"), openMessage(testMessage))
		wantResults(t, rs, "a@moh.gov.sy delivered")
		if _, got := r.transactions(); len(got) != 1 || !got[0].tls {
			t.Fatalf("%s, TLS not required: remote got %+v; want one transaction over TLS", tc.name, got)
		}
	}
}

// RFC 1870: a message larger than the remote's SIZE is not sent; the
// failure is permanent (5.3.4).
func TestSendRefusesAMessageOverTheRemoteSizeWithoutSendingIt(t *testing.T) {
	ca := newCA(t)
	r := startRemote(t, "mx.moh.gov.sy", remoteOptions{tls: ca.serverTLS(t, "mx.moh.gov.sy"), maxBytes: 100})
	opened := 0
	open := func() (io.ReadCloser, error) { opened++; return openMessage(testMessage)() }
	rs, mta := newSender(ca, true).Send(sendCtx(t), []delivery.Hop{r.hop()}, envelope("a@moh.gov.sy", "b@moh.gov.sy"), open)
	want := fmt.Sprintf("permanent 5.3.4 message of %d octets is larger than the 100 mx.moh.gov.sy accepts", len(testMessage))
	wantResults(t, rs, "a@moh.gov.sy "+want, "b@moh.gov.sy "+want)
	if mails, _ := r.transactions(); mails != 0 || opened != 0 || mta != "mx.moh.gov.sy" {
		t.Fatalf("remote saw %d MAIL, message opened %d times, remote MTA %q; want nothing sent", mails, opened, mta)
	}
}

// RFC 6531 §3.4: an envelope that needs SMTPUTF8 is not sent to a server
// without it (5.6.7); with it, MAIL carries SMTPUTF8.
func TestSendRefusesAUTF8EnvelopeToAServerWithoutSMTPUTF8(t *testing.T) {
	ca := newCA(t)
	r := startRemote(t, "mx.moh.gov.sy", remoteOptions{tls: ca.serverTLS(t, "mx.moh.gov.sy")})
	env := envelope("مدير@moh.gov.sy")
	env.From, env.UTF8 = "مرسل@mof.gov.sy", true
	rs, _ := newSender(ca, true).Send(sendCtx(t), []delivery.Hop{r.hop()}, env, openMessage(testMessage))
	wantResults(t, rs, "مدير@moh.gov.sy permanent 5.6.7 mx.moh.gov.sy does not accept internationalised addresses")
	if mails, _ := r.transactions(); mails != 0 {
		t.Fatalf("remote without SMTPUTF8 saw %d MAIL", mails)
	}
	u := startRemote(t, "mx.moh.gov.sy", remoteOptions{tls: ca.serverTLS(t, "mx.moh.gov.sy"), utf8: true})
	rs, _ = newSender(ca, true).Send(sendCtx(t), []delivery.Hop{u.hop()}, env, openMessage(testMessage))
	wantResults(t, rs, "مدير@moh.gov.sy delivered")
	if _, got := u.transactions(); len(got) != 1 || !got[0].opts.UTF8 || got[0].from != env.From || !slices.Equal(got[0].to, env.To) {
		t.Fatalf("remote with SMTPUTF8 got %+v", got)
	}
}

// A connection lost in the middle of a transaction defers every recipient
// that had no final answer.
func TestSendDefersEveryRecipientWhenTheConnectionDropsDuringDATA(t *testing.T) {
	ca := newCA(t)
	r := startRemote(t, "mx.moh.gov.sy", remoteOptions{tls: ca.serverTLS(t, "mx.moh.gov.sy")})
	r.rcpt = func(to string) error {
		if to == "nobody@moh.gov.sy" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}
		return nil
	}
	r.data = func(c *smtp.Conn, rd io.Reader) error {
		io.ReadFull(rd, make([]byte, 10))
		c.Conn().Close()
		return errors.New("dropped")
	}
	big := append(bytes.Repeat([]byte("0123456789abcdef\r\n"), 64*1024), testMessage...)
	env := envelope("a@moh.gov.sy", "nobody@moh.gov.sy", "b@moh.gov.sy")
	env.Size = int64(len(big))
	rs, _ := newSender(ca, true).Send(sendCtx(t), []delivery.Hop{r.hop()}, env, openMessage(big))
	wantResults(t, rs, "a@moh.gov.sy temporary 4.4.2", "nobody@moh.gov.sy permanent 5.1.1", "b@moh.gov.sy temporary 4.4.2")
}

// A cancelled context (the worker stopping) ends an attempt at once, even
// on a remote that never answers.
func TestSendStopsWhenTheContextEnds(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn // never greeted
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	silent := delivery.Hop{Host: "mx.moh.gov.sy", Addr: l.Addr().String()}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	rs, _ := newSender(newCA(t), true).Send(ctx, []delivery.Hop{silent, silent}, envelope("a@moh.gov.sy"), openMessage(testMessage))
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Send returned %v after its context ended", d)
	}
	wantResults(t, rs, "a@moh.gov.sy temporary")
}

// scripted is a hand-written SMTP server for what go-smtp's server cannot
// be made to do (go without 8BITMIME), recording every command line.
type scripted struct {
	host string
	addr string
	ext  []string    // EHLO keywords besides STARTTLS
	tls  *tls.Config // nil: no STARTTLS
	// refuseTLS answers STARTTLS with 454 (RFC 3207 §4).
	refuseTLS bool

	mu    sync.Mutex
	lines []string
}

func startScripted(t *testing.T, host string, ext []string, tlsConfig *tls.Config) *scripted {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{host: host, addr: l.Addr().String(), ext: ext, tls: tlsConfig}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *scripted) hop() delivery.Hop { return delivery.Hop{Host: s.host, Addr: s.addr} }

func (s *scripted) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lines)
}

func (s *scripted) serve(c net.Conn) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 %s ESMTP", s.host)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.lines = append(s.lines, line)
		s.mu.Unlock()
		verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
		switch verb {
		case "EHLO":
			ext := s.ext
			if _, isTLS := c.(*tls.Conn); s.tls != nil && !isTLS {
				ext = append(slices.Clone(ext), "STARTTLS")
			}
			tp.PrintfLine("250-%s", s.host)
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				tp.PrintfLine("250%s%s", sep, e)
			}
		case "STARTTLS":
			if s.refuseTLS {
				tp.PrintfLine("454 4.7.0 TLS not available now")
				continue
			}
			tp.PrintfLine("220 2.0.0 ready")
			c = tls.Server(c, s.tls)
			tp = textproto.NewConn(c)
		case "MAIL", "RCPT":
			tp.PrintfLine("250 2.0.0 ok")
		case "DATA":
			tp.PrintfLine("354 go ahead")
			if _, err := tp.ReadDotBytes(); err != nil {
				return
			}
			tp.PrintfLine("250 2.0.0 queued")
		case "QUIT":
			tp.PrintfLine("221 2.0.0 bye")
			return
		default:
			tp.PrintfLine("502 5.5.1 not here")
		}
	}
}

// RFC 5321 §4.1.1.1 and RFC 3207 §4.2: EHLO names this server, before
// STARTTLS and again after it.
func TestSendSaysEHLOAsTheHostnameBeforeAndAfterSTARTTLS(t *testing.T) {
	ca := newCA(t)
	s := startScripted(t, "mx.moh.gov.sy", []string{"8BITMIME", "SIZE 100000"}, ca.serverTLS(t, "mx.moh.gov.sy"))
	rs, _ := newSender(ca, true).Send(sendCtx(t), []delivery.Hop{s.hop()}, envelope("a@moh.gov.sy"), openMessage(testMessage))
	wantResults(t, rs, "a@moh.gov.sy delivered 2.0.0 250 2.0.0 queued")
	want := []string{
		"EHLO mail.mof.gov.sy", "STARTTLS", "EHLO mail.mof.gov.sy",
		fmt.Sprintf("MAIL FROM:<sender@mof.gov.sy> BODY=8BITMIME SIZE=%d", len(testMessage)),
		"RCPT TO:<a@moh.gov.sy>", "DATA", "QUIT",
	}
	if got := s.commands(); !slices.Equal(got, want) {
		t.Fatalf("commands = %q; want %q", got, want)
	}
}

// RFC 6152 §3: 8-bit octets go only to a server that offers 8BITMIME;
// Diwan does not convert, so the failure is permanent (5.6.3).
func TestSendRefuses8BitMessageToAServerWithout8BITMIME(t *testing.T) {
	s := startScripted(t, "mx.moh.gov.sy", []string{"SIZE 100000"}, nil)
	ca := newCA(t)
	rs, _ := newSender(ca, false).Send(sendCtx(t), []delivery.Hop{s.hop()}, envelope("a@moh.gov.sy"), openMessage(testMessage))
	wantResults(t, rs, "a@moh.gov.sy permanent 5.6.3 the message has 8-bit octets and mx.moh.gov.sy does not accept them")
	if got := s.commands(); !slices.Equal(got, []string{"EHLO mail.mof.gov.sy", "QUIT"}) {
		t.Fatalf("commands = %q; want EHLO and QUIT only", got)
	}
	ascii := []byte("From: sender@mof.gov.sy\r\nTo: a@moh.gov.sy\r\nSubject: plain\r\n\r\nHello\r\n")
	env := envelope("a@moh.gov.sy")
	env.Size = int64(len(ascii))
	rs, _ = newSender(ca, false).Send(sendCtx(t), []delivery.Hop{s.hop()}, env, openMessage(ascii))
	wantResults(t, rs, "a@moh.gov.sy delivered")
	if got := s.commands(); !slices.Contains(got, fmt.Sprintf("MAIL FROM:<sender@mof.gov.sy> SIZE=%d", len(ascii))) {
		t.Fatalf("commands = %q; want MAIL without BODY=8BITMIME", got)
	}
}

// RFC 3207 §4: a refused STARTTLS fails the hop while TLS is required;
// otherwise the session goes on in plain text.
func TestSendHandlesARefusedSTARTTLS(t *testing.T) {
	ca := newCA(t)
	s := startScripted(t, "mx.moh.gov.sy", []string{"8BITMIME"}, ca.serverTLS(t, "mx.moh.gov.sy"))
	s.refuseTLS = true
	rs, mta := newSender(ca, true).Send(sendCtx(t), []delivery.Hop{s.hop()}, envelope("a@moh.gov.sy"), openMessage(testMessage))
	wantResults(t, rs, "a@moh.gov.sy temporary 4.7.4 TLS required: mx.moh.gov.sy refused STARTTLS: 454 4.7.0 TLS not available now")
	if got := s.commands(); slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, "MAIL") }) || mta != "mx.moh.gov.sy" {
		t.Fatalf("commands = %q, remote MTA %q; want no MAIL", got, mta)
	}
	rs, _ = newSender(ca, false).Send(sendCtx(t), []delivery.Hop{s.hop()}, envelope("a@moh.gov.sy"), openMessage(testMessage))
	wantResults(t, rs, "a@moh.gov.sy delivered")
}
