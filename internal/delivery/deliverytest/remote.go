// Package deliverytest holds what tests of the outbound queue share: a
// fake national mail server on loopback whose answers the test sets, and
// a parser of the bounces the queue writes.
package deliverytest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Remote is a fake national mail server: a go-smtp server on
// 127.0.0.1:0 without TLS, whose answers the test sets, keeping what it
// took.
type Remote struct {
	Addr string

	mu    sync.Mutex
	rcpt  func(to string) *smtp.SMTPError
	data  func() *smtp.SMTPError
	got   []Received
	mails []time.Time
}

// Received is one message the remote took.
type Received struct {
	From string
	To   []string
	Raw  []byte
}

// NewRemote starts a remote that takes everything until Set says
// otherwise; it stops when the test ends.
func NewRemote(t testing.TB) *Remote {
	t.Helper()
	r := &Remote{}
	s := smtp.NewServer(r)
	s.Domain = "mail.moh.gov.sy"
	s.ReadTimeout, s.WriteTimeout = 30*time.Second, 30*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Addr = ln.Addr().String()
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return r
}

// Set changes the answers: rcpt answers RCPT TO, data the end of DATA
// (nil, or a nil reply: 250).
func (r *Remote) Set(rcpt func(to string) *smtp.SMTPError, data func() *smtp.SMTPError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rcpt, r.data = rcpt, data
}

// Messages returns what the remote took, in order.
func (r *Remote) Messages() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.got...)
}

// Mails returns when each MAIL FROM arrived.
func (r *Remote) Mails() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.mails...)
}

// Reply is a reply with an enhanced code.
func Reply(code int, enh smtp.EnhancedCode, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

func (r *Remote) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{r: r}, nil }

type session struct {
	r    *Remote
	from string
	to   []string
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.r.mu.Lock()
	s.r.mails = append(s.r.mails, time.Now())
	s.r.mu.Unlock()
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.r.mu.Lock()
	f := s.r.rcpt
	s.r.mu.Unlock()
	if f != nil {
		if e := f(to); e != nil {
			return e
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.r.data != nil {
		if e := s.r.data(); e != nil {
			return e
		}
	}
	s.r.got = append(s.r.got, Received{From: s.from, To: s.to, Raw: raw})
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// Report is what a bounce says: its per-recipient fields by
// Final-Recipient address.
type Report struct {
	Recipients map[string]textproto.MIMEHeader
}

// ParseDSN parses raw as a multipart/report; report-type=delivery-status
// (RFC 3462, RFC 3464) and returns its per-recipient fields.
func ParseDSN(raw []byte) (Report, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Report{}, err
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		return Report{}, fmt.Errorf("content type %q, want multipart/report; report-type=delivery-status", m.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return Report{}, fmt.Errorf("no message/delivery-status part: %v", err)
		}
		if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct == "message/delivery-status" {
			return parseStatus(p)
		}
	}
}

// parseStatus reads the per-message fields, then each recipient's.
func parseStatus(r io.Reader) (Report, error) {
	tp := textproto.NewReader(bufio.NewReader(r))
	if _, err := tp.ReadMIMEHeader(); err != nil {
		return Report{}, err
	}
	rep := Report{Recipients: map[string]textproto.MIMEHeader{}}
	for {
		h, err := tp.ReadMIMEHeader()
		if len(h) > 0 {
			_, addr, _ := strings.Cut(h.Get("Final-Recipient"), ";")
			rep.Recipients[strings.TrimSpace(addr)] = h
		}
		if err != nil {
			if len(rep.Recipients) == 0 {
				return rep, fmt.Errorf("no recipient in the report: %v", err)
			}
			return rep, nil
		}
	}
}
