package delivery

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/net/idna"
)

// DSNRecipient is what a delivery status notification says about one
// recipient (RFC 3464 §2.3).
type DSNRecipient struct {
	Recipient   string    // final recipient address
	Action      string    // "failed" or "delayed"
	Status      string    // "5.1.1", "4.4.1"
	RemoteMTA   string    // "" when none answered
	Diagnostic  string    // the remote's reply ("550 5.1.1 ..."), or Diwan's own reason
	LastAttempt time.Time // zero when never tried
	RetryUntil  time.Time // for "delayed": when it gives up
}

// DSN is a delivery status notification for the sender of one message:
// a bounce (every recipient "failed") or a delay notice.
type DSN struct {
	ReportingMTA   string // smtp.hostname
	To             string // the original envelope sender (the notice goes to them)
	ArrivalDate    time.Time
	OriginalHeader []byte // the original message's header section
	Recipients     []DSNRecipient
	Now            time.Time
}

// dsnTimeLayout is the date-time of RFC 5322 §3.3, as RFC 3464 §2.1.5 asks.
const dsnTimeLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

// Build returns the whole notification (RFC 3464, RFC 6522): a
// multipart/report; report-type=delivery-status from
// MAILER-DAEMON@ReportingMTA with a text/plain part in Arabic then English,
// the message/delivery-status part and the original header as
// text/rfc822-headers, marked Auto-Submitted: auto-replied (RFC 3834).
// The result is 7-bit: the text parts are quoted-printable and a UTF-8
// address is written in the xtext form of RFC 6533 §3; only a UTF-8 To
// address (the sender's own) stays as it is (RFC 6532).
func (d DSN) Build() ([]byte, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if d.Now.IsZero() {
		d.Now = time.Now()
	}
	d.ReportingMTA, d.To = asciiHost(d.ReportingMTA), asciiAddressDomain(d.To)
	h, err := d.header()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := gomessage.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	parts := []struct {
		typ, desc, enc string
		params         map[string]string
		body           []byte
	}{
		{"text/plain", "Notification", "quoted-printable", map[string]string{"charset": "utf-8"}, d.text()},
		{"message/delivery-status", "Delivery report", "7bit", nil, d.status()},
		{"text/rfc822-headers", "Undelivered message headers", "", nil, d.originalHeader()},
	}
	for _, p := range parts {
		if len(p.body) == 0 {
			continue // no original header to return (RFC 3464 §2: the third part is optional)
		}
		if p.enc == "" {
			p.enc, p.params = headerEncoding(p.body)
		}
		var ph gomessage.Header // written bottom up
		ph.Set("Content-Transfer-Encoding", p.enc)
		ph.Set("Content-Description", p.desc)
		ph.SetContentType(p.typ, p.params)
		pw, err := w.CreatePart(ph)
		if err != nil {
			return nil, fmt.Errorf("dsn: %w", err)
		}
		_, err = pw.Write(p.body)
		if cerr := pw.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("dsn: %s part: %w", p.typ, err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	return buf.Bytes(), nil
}

// check refuses a notice that cannot be sent: none goes to the null
// sender (RFC 3464 §2: no DSN for a DSN).
func (d DSN) check() error {
	switch {
	case d.To == "":
		return errors.New("dsn: no notification for the null sender")
	case d.ReportingMTA == "":
		return errors.New("dsn: no reporting MTA")
	case len(d.Recipients) == 0:
		return errors.New("dsn: no recipients")
	}
	for _, r := range d.Recipients {
		if r.Action != "failed" && r.Action != "delayed" {
			return fmt.Errorf("dsn: recipient %q: action %q is neither failed nor delayed", r.Recipient, r.Action)
		}
		if r.Recipient == "" {
			return errors.New("dsn: a recipient without an address")
		}
	}
	return nil
}

// failed reports whether the notice tells of at least one failure (a
// bounce), rather than only delays.
func (d DSN) failed() bool {
	for _, r := range d.Recipients {
		if r.Action == "failed" {
			return true
		}
	}
	return false
}

// header is the notification's own header section.
func (d DSN) header() (mail.Header, error) {
	var nonce [12]byte
	rand.Read(nonce[:])
	id := fmt.Sprintf("dsn.%d.%s@%s", d.Now.Unix(), hex.EncodeToString(nonce[:]), d.ReportingMTA)
	subject := "تعذّر تسليم الرسالة / Undelivered Mail Returned to Sender"
	if !d.failed() {
		subject = "تأخّر تسليم الرسالة / Delayed Mail (still being retried)"
	}
	// RFC 2047 encoded words, one per folded line.
	subject = strings.ReplaceAll(mime.BEncoding.Encode("utf-8", subject), "?= =?", "?=\r\n =?")
	var h mail.Header
	// WriteHeader writes the fields last added first: add them bottom up.
	h.SetContentType("multipart/report", map[string]string{"report-type": "delivery-status",
		"boundary": "dsn-" + hex.EncodeToString(nonce[:])})
	h.AddRaw([]byte("MIME-Version: 1.0\r\n"))
	h.AddRaw([]byte("Auto-Submitted: auto-replied\r\n"))
	if orig := originalMessageID(d.OriginalHeader); orig != "" {
		h.AddRaw([]byte("References: <" + orig + ">\r\n"))
		h.AddRaw([]byte("In-Reply-To: <" + orig + ">\r\n"))
	}
	h.AddRaw([]byte("Message-ID: <" + id + ">\r\n"))
	h.AddRaw([]byte("Subject: " + subject + "\r\n"))
	h.SetAddressList("To", []*mail.Address{{Address: d.To}})
	h.SetAddressList("From", []*mail.Address{{Name: "Mail Delivery System", Address: "MAILER-DAEMON@" + d.ReportingMTA}})
	h.SetDate(d.Now)
	return h, nil
}

// originalMessageID is the Message-ID of the original header, "" when it
// has none or it cannot be read.
func originalMessageID(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	b := append(bytes.TrimRight(raw, "\r\n"), "\r\n\r\n"...)
	th, err := textproto.ReadHeader(bufioReader(b))
	if err != nil {
		return ""
	}
	h := mail.Header{Header: gomessage.Header{Header: th}}
	id, err := h.MessageID()
	if err != nil || !isPrintableASCII(id) || strings.ContainsAny(id, "<>") {
		return ""
	}
	return id
}

// status is the message/delivery-status body (RFC 3464 §2.2, §2.3): the
// per-message fields, then a block per recipient, each block ended by an
// empty line.
func (d DSN) status() []byte {
	var buf bytes.Buffer
	msg := []string{"Reporting-MTA", "dns; " + asciiText(d.ReportingMTA)}
	if !d.ArrivalDate.IsZero() {
		msg = append(msg, "Arrival-Date", d.ArrivalDate.Format(dsnTimeLayout))
	}
	writeFields(&buf, msg)
	for _, r := range d.Recipients {
		writeFields(&buf, r.fields())
	}
	return buf.Bytes()
}

// fields are the per-recipient fields of RFC 3464 §2.3, in its order.
func (r DSNRecipient) fields() []string {
	f := []string{"Final-Recipient", addressType(r.Recipient), "Action", r.Action, "Status", r.status()}
	if r.RemoteMTA != "" {
		f = append(f, "Remote-MTA", "dns; "+asciiHost(r.RemoteMTA))
	}
	if r.Diagnostic != "" {
		f = append(f, "Diagnostic-Code", diagnosticCode(r.Diagnostic))
	}
	if !r.LastAttempt.IsZero() {
		f = append(f, "Last-Attempt-Date", r.LastAttempt.Format(dsnTimeLayout))
	}
	if r.Action == "delayed" && !r.RetryUntil.IsZero() {
		f = append(f, "Will-Retry-Until", r.RetryUntil.Format(dsnTimeLayout))
	}
	return f
}

// status is the recipient's enhanced status code (RFC 3463), 5.0.0 or
// 4.0.0 by its action when it has none that reads as one.
func (r DSNRecipient) status() string {
	s := r.Status
	var a, b, c int
	if n, err := fmt.Sscanf(s, "%d.%d.%d", &a, &b, &c); err == nil && n == 3 && (a == 2 || a == 4 || a == 5) &&
		s == fmt.Sprintf("%d.%d.%d", a, b, c) {
		return s
	}
	if r.Action == "delayed" {
		return "4.0.0"
	}
	return "5.0.0"
}

// addressType is an address with its address type: "rfc822; a@b", or for
// an address with UTF-8 "utf-8; " and the xtext form of RFC 6533 §3, which
// message/delivery-status requires (non-ASCII as \x{HEX}; "\", "+" and "="
// too, and controls and space, which QCHAR excludes).
func addressType(addr string) string {
	if isPrintableASCII(addr) {
		return "rfc822; " + addr
	}
	var b strings.Builder
	b.WriteString("utf-8; ")
	for _, r := range addr {
		if r > 0x20 && r < 0x7f && r != '\\' && r != '+' && r != '=' {
			b.WriteRune(r)
			continue
		}
		fmt.Fprintf(&b, `\x{%X}`, r)
	}
	return b.String()
}

// diagnosticCode is the Diagnostic-Code value: "smtp; " and the remote's
// reply when it is one (a three-digit code first), else Diwan's own reason
// under its own diagnostic type (RFC 3464 §2.3.6, an X- type).
func diagnosticCode(s string) string {
	s = asciiText(s)
	if len(s) > 900 {
		s = s[:900]
	}
	if len(s) >= 3 && isDigits(s[:3]) && (len(s) == 3 || s[3] == ' ' || s[3] == '-') {
		return "smtp; " + s
	}
	return "X-Diwan; " + s
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// writeFields writes name, value pairs as one block of header-style
// fields followed by an empty line, folding a long value at its spaces so
// that lines stay within 78 characters where the words allow.
func writeFields(buf *bytes.Buffer, kv []string) {
	for i := 0; i+1 < len(kv); i += 2 {
		line := kv[i] + ":"
		for _, word := range strings.Fields(kv[i+1]) {
			if len(line)+1+len(word) > 78 && strings.TrimSpace(line) != kv[i]+":" {
				buf.WriteString(line + "\r\n")
				line = " " + word
				continue
			}
			line += " " + word
		}
		buf.WriteString(line + "\r\n")
	}
	buf.WriteString("\r\n")
}

// asciiText is s on one line in printable US-ASCII: line breaks of a
// multi-line reply become spaces and any other byte outside printable
// ASCII becomes "?".
func asciiText(s string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\r\n", " ")), " ")
	var b strings.Builder
	for _, r := range s {
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

// asciiHost is a host name as DNS has it: an internationalised name in
// A-labels (RFC 5890), without a trailing dot; what is not a host name is
// made printable ASCII.
func asciiHost(h string) string {
	h = strings.TrimSuffix(h, ".")
	if a, err := idna.Lookup.ToASCII(h); err == nil {
		return a
	}
	return asciiText(h)
}

// asciiAddressDomain is addr with its domain in A-labels when its local part is
// ASCII, so that the To field stays 7-bit; a UTF-8 local part leaves it
// as it is (RFC 6532).
func asciiAddressDomain(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !isPrintableASCII(addr[:at]) {
		return addr
	}
	if a, err := idna.Lookup.ToASCII(addr[at+1:]); err == nil {
		return addr[:at+1] + a
	}
	return addr
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// originalHeader is the original header section with CRLF line endings
// and without its closing empty line; nil when there is none.
func (d DSN) originalHeader() []byte {
	h := bytes.TrimRight(d.OriginalHeader, "\r\n")
	if len(h) == 0 {
		return nil
	}
	h = bytes.ReplaceAll(h, []byte("\r\n"), []byte("\n"))
	h = bytes.ReplaceAll(h, []byte("\r"), []byte("\n"))
	h = bytes.ReplaceAll(h, []byte("\n"), []byte("\r\n"))
	return append(h, "\r\n"...)
}

// headerEncoding chooses the transfer encoding of the original header:
// 7bit when it is US-ASCII in lines of at most 998 octets (RFC 5322
// §2.1.1), else quoted-printable, with charset utf-8 when it is valid UTF-8
// (RFC 6532 header fields).
func headerEncoding(b []byte) (string, map[string]string) {
	ascii, long := true, false
	for _, line := range bytes.Split(b, []byte("\r\n")) {
		if len(line) > 998 {
			long = true
		}
		for _, c := range line {
			if c >= 0x80 || (c < 0x20 && c != '\t') || c == 0x7f {
				ascii = false
			}
		}
	}
	if ascii && !long {
		return "7bit", nil
	}
	if !ascii && utf8.Valid(b) {
		return "quoted-printable", map[string]string{"charset": "utf-8"}
	}
	return "quoted-printable", nil
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// dsnText holds the sentences of the text part in one language.
type dsnText struct {
	intro, failed, delayed, until, reason, server, headers string
}

// dsnTexts are the text part's languages, Arabic first (RFC 3464 §2.1:
// the first part is for people).
var dsnTexts = []dsnText{{
	intro:   "هذه رسالة آلية من نظام البريد في %s.",
	failed:  "تعذّر تسليم رسالتك إلى العناوين التالية، ولن تُعاد المحاولة:",
	delayed: "لم تُسلَّم رسالتك بعدُ إلى العناوين التالية. ما زال الخادم يحاول تسليمها، فلا حاجة إلى إرسالها مرة أخرى؛ وإن لم تُسلَّم حتى الموعد المذكور فستصلك رسالة بذلك:",
	until:   "تستمر المحاولة حتى: %s",
	reason:  "السبب: %s",
	server:  "الخادم الذي أجاب: %s",
	headers: "ترويسة الرسالة الأصلية مرفقة بهذه الرسالة.",
}, {
	intro:   "This is an automatic message from the mail system at %s.",
	failed:  "Your message could not be delivered to the following addresses. It will not be retried:",
	delayed: "Your message has not been delivered yet to the following addresses. The server is still trying, so there is no need to send it again; if it cannot be delivered by the time shown, you will receive another message:",
	until:   "Still trying until: %s",
	reason:  "Reason: %s",
	server:  "Server that answered: %s",
	headers: "The header of the original message is attached.",
}}

// text is the text/plain part: what happened to each recipient, in plain
// words, in Arabic and then in English.
func (d DSN) text() []byte {
	var b strings.Builder
	for i, t := range dsnTexts {
		if i > 0 {
			b.WriteString("\r\n----------------------------------------\r\n\r\n")
		}
		fmt.Fprintf(&b, t.intro+"\r\n\r\n", d.ReportingMTA)
		for _, action := range []string{"failed", "delayed"} {
			d.textGroup(&b, t, action)
		}
		b.WriteString(t.headers + "\r\n")
	}
	return []byte(b.String())
}

// textGroup writes the recipients with one action under its sentence.
func (d DSN) textGroup(b *strings.Builder, t dsnText, action string) {
	first := true
	for _, r := range d.Recipients {
		if r.Action != action {
			continue
		}
		if first {
			if action == "failed" {
				b.WriteString(t.failed + "\r\n\r\n")
			} else {
				b.WriteString(t.delayed + "\r\n\r\n")
			}
			first = false
		}
		b.WriteString("    " + r.Recipient + "\r\n")
		if r.Diagnostic != "" {
			b.WriteString("        " + fmt.Sprintf(t.reason, oneLine(r.Diagnostic)) + "\r\n")
		}
		if r.RemoteMTA != "" {
			b.WriteString("        " + fmt.Sprintf(t.server, r.RemoteMTA) + "\r\n")
		}
		if action == "delayed" && !r.RetryUntil.IsZero() {
			b.WriteString("        " + fmt.Sprintf(t.until, r.RetryUntil.Format("2006-01-02 15:04 -0700")) + "\r\n")
		}
		b.WriteString("\r\n")
	}
}

// oneLine joins the lines of a multi-line reply.
func oneLine(s string) string { return strings.ToValidUTF8(strings.Join(strings.Fields(s), " "), "?") }
