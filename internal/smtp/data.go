package smtp

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	gosmtp "github.com/emersion/go-smtp"
)

const (
	// maxLineOctets is the longest line of a message without its CRLF
	// (RFC 5322 §2.1.1).
	maxLineOctets = 998
	// maxHeaderOctets bounds the header section kept for checks.
	maxHeaderOctets = 1 << 20
	// maxTraceBytes is room for the trace fields this server adds on top
	// of a message of the maximum size.
	maxTraceBytes = 16 << 10
	// memorySpool is the largest message spooled in memory for relay.
	memorySpool = 1 << 20
)

// filter passes a message through while checking it as it streams:
// lines end with CRLF (a bare CR or LF — the stuff of SMTP smuggling — is
// refused, never taken as a line end), no line is over 998 octets, and the
// header section, once complete, passes check. A failed check is returned
// as the read error, so the store keeps nothing; go-smtp drains the rest of
// the DATA so the session stays in step.
type filter struct {
	r        io.Reader
	check    func(header []byte) error
	vanished func() bool // the client closed the connection
	header   []byte
	inHeader bool
	lineLen  int
	prevCR   bool
	err      error
	// lost is the error that cut the message short on the client's side
	// (the connection broke, timed out or closed mid-message, BDAT was
	// reset); nil while the client delivered what it sent. It tells a
	// failed transfer from a failed store, whose errors may be network
	// errors too (S3, PostgreSQL).
	lost error
}

func newFilter(r io.Reader, check func([]byte) error, vanished func() bool) *filter {
	return &filter{r: r, check: check, vanished: vanished, inHeader: true}
}

func (f *filter) Read(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	n, err := f.r.Read(p)
	var se *gosmtp.SMTPError
	switch {
	case errors.Is(err, gosmtp.ErrTooLongLine):
		err = errLongLine // go-smtp's own line limit, in DATA
	case err != nil && err != io.EOF && !errors.As(err, &se):
		f.lost = err
	}
	for i := 0; i < n; i++ {
		if !f.inHeader && !f.prevCR {
			// In the body only line ends and lengths matter: skip to
			// the next CR or LF.
			run := lineRun(p[i:n])
			if f.lineLen += run; f.lineLen > maxLineOctets {
				f.err = errLongLine
				return 0, f.err
			}
			if i += run; i == n {
				break
			}
		}
		if e := f.scan(p[i]); e != nil {
			f.err = e
			return 0, e
		}
	}
	if err == io.EOF {
		switch {
		case f.vanished != nil && f.vanished():
			// The end came from the connection, not from the client's
			// protocol: a cut BDAT chunk. A message is complete only
			// while the client still waits for the reply.
			f.err = errConnection
			f.lost = io.ErrUnexpectedEOF
		case f.prevCR:
			f.err = errBareNewline
		case f.inHeader:
			// A message that is all header. Its last line may lack CRLF:
			// go-smtp's DATA reader never yields that (the CRLF before the
			// final dot is part of the message), BDAT may.
			if f.lineLen > 0 {
				f.header = append(f.header, '\r', '\n')
			}
			f.err = f.endHeader()
		}
		if f.err != nil {
			return 0, f.err
		}
	}
	if err != nil {
		f.err = err
	}
	return n, err
}

// lineRun is the length of b before its first CR or LF.
func lineRun(b []byte) int {
	k := bytes.IndexByte(b, '\r')
	if k < 0 {
		k = len(b)
	}
	if j := bytes.IndexByte(b[:k], '\n'); j >= 0 {
		return j
	}
	return k
}

func (f *filter) scan(c byte) error {
	if f.prevCR {
		if c != '\n' {
			return errBareNewline
		}
		f.prevCR = false
		if f.inHeader {
			if f.lineLen == 0 {
				return f.endHeader() // the blank line
			}
			f.header = append(f.header, '\r', '\n')
		}
		f.lineLen = 0
		return nil
	}
	switch c {
	case '\r':
		f.prevCR = true
		return nil
	case '\n':
		return errBareNewline
	}
	f.lineLen++
	if f.lineLen > maxLineOctets {
		return errLongLine
	}
	if f.inHeader {
		if len(f.header) >= maxHeaderOctets {
			return errHeaderSize
		}
		f.header = append(f.header, c)
	}
	return nil
}

// endHeader runs the header check once the blank line (or the end) came;
// f.header holds the field lines, each with its CRLF.
func (f *filter) endHeader() error {
	f.inHeader = false
	h := append(f.header, '\r', '\n')
	f.header = nil
	if f.check == nil {
		return nil
	}
	return f.check(h)
}

// parseHeader parses a header section (ending with its blank line).
func parseHeader(raw []byte) (textproto.Header, error) {
	return textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
}

// headerFrom returns the one address of the one From field, or false.
func headerFrom(h textproto.Header) (string, bool) {
	if len(h.Values("From")) != 1 {
		return "", false
	}
	mh := mail.Header{Header: message.Header{Header: h}}
	list, err := mh.AddressList("From")
	if err != nil || len(list) != 1 {
		return "", false
	}
	return list[0].Address, true
}

// received builds the Received field this server puts on top of every
// message (RFC 5321 §4.4; "with" types of RFC 3848 and RFC 6531).
func (s *session) received(id, helo string, tx transaction) string {
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(heloShown(helo))
	b.WriteString(" (")
	b.WriteString(addressLiteral(s.client))
	b.WriteString(")\r\n\tby ")
	b.WriteString(s.srv.hostname)
	b.WriteString(" with ")
	proto := "ESMTP"
	if tx.utf8 {
		proto = "UTF8SMTP"
	}
	if s.tls != nil {
		proto += "S"
	}
	if s.user != nil {
		proto += "A"
	}
	b.WriteString(proto)
	b.WriteString(" id ")
	b.WriteString(id)
	if s.tls != nil {
		fmt.Fprintf(&b, "\r\n\t(%s %s)", tls.VersionName(s.tls.Version), tls.CipherSuiteName(s.tls.CipherSuite))
	}
	if len(tx.rcpts) == 1 && (tx.utf8 || isASCII(tx.rcpts[0])) {
		b.WriteString("\r\n\tfor <")
		b.WriteString(tx.rcpts[0])
		b.WriteString(">")
	}
	b.WriteString(";\r\n\t")
	b.WriteString(time.Now().Format(time.RFC1123Z))
	b.WriteString("\r\n")
	return b.String()
}

// heloShown keeps the characters of a HELO name that belong in a domain or
// address literal, cut to 64; the client chose it, so nothing else goes
// into the header.
func heloShown(h string) string {
	var b strings.Builder
	for i := 0; i < len(h) && b.Len() < 64; i++ {
		c := h[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-:[]_", c) >= 0 {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

// addressLiteral is the RFC 5321 §4.1.3 form of an IP address.
func addressLiteral(ip string) string {
	if a := net.ParseIP(ip); a != nil && a.To4() == nil {
		return "[IPv6:" + ip + "]"
	}
	return "[" + ip + "]"
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID names one accepted message in the Received field and the logs.
func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}
