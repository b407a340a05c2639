package delivery

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// dsnPart is one part of a parsed notification, its body decoded.
type dsnPart struct {
	typ    string
	params map[string]string
	cte    string
	body   []byte
}

// parseDSN reads a notification with go-message as a mail client would and
// checks the shape RFC 6522 §3 asks of a multipart/report.
func parseDSN(t *testing.T, raw []byte) (mail.Header, []dsnPart) {
	t.Helper()
	return parseDSNParts(t, raw, "text/plain", "message/delivery-status", "text/rfc822-headers")
}

func parseDSNParts(t *testing.T, raw []byte, want ...string) (mail.Header, []dsnPart) {
	t.Helper()
	e, err := gomessage.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read notification: %v\n%s", err, raw)
	}
	typ, params, err := e.Header.ContentType()
	if err != nil || typ != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q %v (%v), want multipart/report; report-type=delivery-status", typ, params, err)
	}
	mr := e.MultipartReader()
	var parts []dsnPart
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		pt, pp, _ := p.Header.ContentType()
		cte := p.Header.Get("Content-Transfer-Encoding")
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("read %s part: %v", pt, err)
		}
		parts = append(parts, dsnPart{typ: pt, params: pp, cte: cte, body: body})
	}
	if len(parts) != len(want) {
		t.Fatalf("%d parts, want %d (%v)", len(parts), len(want), want)
	}
	for i, p := range parts {
		if p.typ != want[i] {
			t.Fatalf("part %d is %s, want %s", i+1, p.typ, want[i])
		}
	}
	return mail.Header{Header: e.Header}, parts
}

// statusBlocks splits a message/delivery-status body into its blocks of
// fields (RFC 3464 §2.1), each read as a header section.
func statusBlocks(t *testing.T, body []byte) []textproto.Header {
	t.Helper()
	var out []textproto.Header
	for _, block := range strings.Split(strings.TrimRight(string(body), "\r\n"), "\r\n\r\n") {
		h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(block + "\r\n\r\n")))
		if err != nil {
			t.Fatalf("read status block %q: %v", block, err)
		}
		out = append(out, h)
	}
	return out
}

var (
	dsnArrival = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	dsnAttempt = time.Date(2026, 3, 1, 9, 31, 5, 0, time.UTC)
	dsnNow     = time.Date(2026, 3, 1, 9, 31, 6, 0, time.UTC)
)

const dsnOriginal = "From: Sami <sami@mof.gov.sy>\r\nTo: rana@moh.gov.sy\r\nSubject: report\r\n" +
	"Message-ID: <m1@mof.gov.sy>\r\n\r\n"

func bounce() DSN {
	return DSN{
		ReportingMTA: "mail.mof.gov.sy", To: "sami@mof.gov.sy", ArrivalDate: dsnArrival,
		OriginalHeader: []byte(dsnOriginal), Now: dsnNow,
		Recipients: []DSNRecipient{{
			Recipient: "rana@moh.gov.sy", Action: "failed", Status: "5.1.1", RemoteMTA: "mail.moh.gov.sy",
			Diagnostic: "550 5.1.1 <rana@moh.gov.sy>: no such user", LastAttempt: dsnAttempt,
		}},
	}
}

// RFC 3464 §2.2, §2.3: the per-message fields, then the recipient's, in
// this order; the headers of RFC 3834 and RFC 5322 on top.
func TestDSNBounceReportsTheRemoteAnswerLineByLine(t *testing.T) {
	raw, err := bounce().Build()
	if err != nil {
		t.Fatal(err)
	}
	h, parts := parseDSN(t, raw)
	want := "Reporting-MTA: dns; mail.mof.gov.sy\r\n" +
		"Arrival-Date: Sun, 01 Mar 2026 09:30:00 +0000\r\n" +
		"\r\n" +
		"Final-Recipient: rfc822; rana@moh.gov.sy\r\n" +
		"Action: failed\r\n" +
		"Status: 5.1.1\r\n" +
		"Remote-MTA: dns; mail.moh.gov.sy\r\n" +
		"Diagnostic-Code: smtp; 550 5.1.1 <rana@moh.gov.sy>: no such user\r\n" +
		"Last-Attempt-Date: Sun, 01 Mar 2026 09:31:05 +0000\r\n" +
		"\r\n"
	if got := string(parts[1].body); got != want {
		t.Errorf("delivery-status:\n%s\nwant:\n%s", got, want)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "MAILER-DAEMON@mail.mof.gov.sy" || from[0].Name != "Mail Delivery System" {
		t.Errorf("From %v (%v)", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != "sami@mof.gov.sy" {
		t.Errorf("To %v (%v)", to, err)
	}
	subject, err := h.Subject()
	if err != nil || !strings.Contains(subject, "تعذّر تسليم الرسالة") || !strings.Contains(subject, "Undelivered Mail") {
		t.Errorf("Subject %q (%v): want Arabic and English", subject, err)
	}
	if !strings.Contains(string(raw), "Subject: =?utf-8?b?") {
		t.Errorf("Subject is not RFC 2047 encoded:\n%s", raw)
	}
	checkTopFields(t, h)
	text := string(parts[0].body)
	ar, en := strings.Index(text, "ولن تُعاد المحاولة"), strings.Index(text, "It will not be retried")
	if ar < 0 || en < 0 || ar > en {
		t.Errorf("text part: want Arabic (%d) then English (%d):\n%s", ar, en, text)
	}
	if strings.Count(text, "rana@moh.gov.sy>: no such user") != 2 || parts[0].params["charset"] != "utf-8" {
		t.Errorf("text part (charset %q) does not give the reason in both languages:\n%s", parts[0].params["charset"], text)
	}
	if got := string(parts[2].body); got != strings.TrimSuffix(dsnOriginal, "\r\n") {
		t.Errorf("rfc822-headers part:\n%q\nwant\n%q", got, dsnOriginal)
	}
}

func checkTopFields(t *testing.T, h mail.Header) {
	t.Helper()
	if got := h.Get("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("Auto-Submitted %q", got)
	}
	if got := h.Get("MIME-Version"); got != "1.0" {
		t.Errorf("MIME-Version %q", got)
	}
	if date, err := h.Date(); err != nil || !date.Equal(dsnNow) {
		t.Errorf("Date %v (%v), want %v", date, err, dsnNow)
	}
	if id, err := h.MessageID(); err != nil || !strings.HasSuffix(id, "@mail.mof.gov.sy") {
		t.Errorf("Message-ID %q (%v)", id, err)
	}
	if ids, err := h.MsgIDList("In-Reply-To"); err != nil || len(ids) != 1 || ids[0] != "m1@mof.gov.sy" {
		t.Errorf("In-Reply-To %v (%v)", ids, err)
	}
}

// A delay notice (RFC 3464 §2.3.3 "delayed") says until when it is tried.
func TestDSNDelayNoticeSaysUntilWhenItIsRetried(t *testing.T) {
	d := bounce()
	until := dsnArrival.Add(72 * time.Hour)
	d.Recipients = []DSNRecipient{{Recipient: "rana@moh.gov.sy", Action: "delayed", Status: "4.4.1",
		Diagnostic: "connect to mail.moh.gov.sy: connection refused", LastAttempt: dsnAttempt, RetryUntil: until}}
	raw, err := d.Build()
	if err != nil {
		t.Fatal(err)
	}
	h, parts := parseDSN(t, raw)
	blocks := statusBlocks(t, parts[1].body)
	if len(blocks) != 2 {
		t.Fatalf("%d status blocks, want 2", len(blocks))
	}
	r := blocks[1]
	for k, v := range map[string]string{"Action": "delayed", "Status": "4.4.1", "Remote-MTA": "",
		"Will-Retry-Until": "Wed, 04 Mar 2026 09:30:00 +0000",
		"Diagnostic-Code":  "X-Diwan; connect to mail.moh.gov.sy: connection refused"} {
		if got := r.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	subject, _ := h.Subject()
	if !strings.Contains(subject, "Delayed Mail") || !strings.Contains(subject, "تأخّر") {
		t.Errorf("Subject %q", subject)
	}
	text := string(parts[0].body)
	for _, s := range []string{"Still trying until: 2026-03-04 09:30 +0000", "تستمر المحاولة حتى: 2026-03-04 09:30 +0000"} {
		if !strings.Contains(text, s) {
			t.Errorf("text part lacks %q:\n%s", s, text)
		}
	}
	if strings.Contains(text, "will not be retried") {
		t.Errorf("a delay notice says it gives up:\n%s", text)
	}
}

// xtextAddr decodes the utf-8-addr-xtext of RFC 6533 §3.
func xtextAddr(t *testing.T, s string) string {
	t.Helper()
	re := regexp.MustCompile(`\\x\{([0-9A-F]{1,6})\}`)
	return re.ReplaceAllStringFunc(s, func(m string) string {
		n, err := strconv.ParseUint(re.FindStringSubmatch(m)[1], 16, 32)
		if err != nil {
			t.Fatalf("xtext %q: %v", m, err)
		}
		return string(rune(n))
	})
}

// RFC 6533 §3: an SMTPUTF8 address is of type utf-8, in message/delivery-status
// as utf-8-addr-xtext; the text part names it as it is.
func TestDSNWritesUTF8RecipientAsRFC6533Xtext(t *testing.T) {
	d := bounce()
	d.Recipients = []DSNRecipient{
		{Recipient: "سامي+أ=ب@وزارة.gov.sy", Action: "failed", Status: "5.6.7",
			Diagnostic: "SMTPUTF8 not offered by the remote server"},
		d.Recipients[0],
	}
	raw, err := d.Build()
	if err != nil {
		t.Fatal(err)
	}
	_, parts := parseDSN(t, raw)
	blocks := statusBlocks(t, parts[1].body)
	fr := blocks[1].Get("Final-Recipient")
	typ, addr, _ := strings.Cut(fr, "; ")
	if typ != "utf-8" || strings.ContainsAny(addr, "+=") || !isPrintableASCII(addr) {
		t.Fatalf("Final-Recipient %q: want utf-8; and xtext", fr)
	}
	if got := xtextAddr(t, addr); got != d.Recipients[0].Recipient {
		t.Errorf("xtext decodes to %q, want %q", got, d.Recipients[0].Recipient)
	}
	if got := blocks[2].Get("Final-Recipient"); got != "rfc822; rana@moh.gov.sy" {
		t.Errorf("second Final-Recipient %q", got)
	}
	if strings.Count(string(parts[0].body), d.Recipients[0].Recipient) != 2 {
		t.Errorf("text part does not name %s in both languages", d.Recipients[0].Recipient)
	}
}

// The original header comes back as it was, even with raw UTF-8 (RFC 6532)
// and a line over 998 octets, inside a 7-bit part.
func TestDSNReturnsOriginalHeaderWithNonASCIIAndLongLines(t *testing.T) {
	long := "X-Long: " + strings.Repeat("a", 1500)
	orig := "From: سامي <sami@mof.gov.sy>\r\nSubject: تقرير الربع الأول\r\n" + long +
		"\nReferences: <a@b>\r\n <c@d>\r\n\r\n"
	d := bounce()
	d.OriginalHeader = []byte(orig)
	raw, err := d.Build()
	if err != nil {
		t.Fatal(err)
	}
	_, parts := parseDSN(t, raw)
	p := parts[2]
	if p.cte != "quoted-printable" || p.params["charset"] != "utf-8" {
		t.Errorf("rfc822-headers part: encoding %q charset %q", p.cte, p.params["charset"])
	}
	want := "From: سامي <sami@mof.gov.sy>\r\nSubject: تقرير الربع الأول\r\n" + long + "\r\nReferences: <a@b>\r\n <c@d>\r\n"
	if string(p.body) != want {
		t.Errorf("original header:\n%q\nwant\n%q", p.body, want)
	}
	checkSevenBit(t, raw)
}

// checkSevenBit: RFC 2045 §2.7 7bit data: US-ASCII, CRLF line ends only,
// lines of at most 998 octets (RFC 5322 §2.1.1), no NUL.
func checkSevenBit(t *testing.T, raw []byte) {
	t.Helper()
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 {
			t.Errorf("line %d has %d octets", i+1, len(line))
		}
		for _, c := range line {
			if c >= 0x80 || c == 0 || c == '\r' || c == '\n' {
				t.Fatalf("line %d has octet %#x:\n%s", i+1, c, line)
			}
		}
	}
}

func TestDSNIsSevenBitMIME(t *testing.T) {
	delayed := bounce()
	delayed.Recipients[0].Action, delayed.Recipients[0].RetryUntil = "delayed", dsnNow.Add(time.Hour)
	utf8Rcpt := bounce()
	utf8Rcpt.Recipients[0].Recipient = "رنا@moh.gov.sy"
	idn := bounce()
	idn.ReportingMTA, idn.To, idn.Recipients[0].RemoteMTA = "بريد.gov.sy", "sami@وزارة.gov.sy", "مخدم.moh.gov.sy."
	garbled := bounce()
	garbled.Recipients[0].Diagnostic = "550-5.1.1 first line\r\n550 5.1.1 second\x00 line \xff" + strings.Repeat(" word", 400)
	for name, d := range map[string]DSN{"failed": bounce(), "delayed": delayed, "utf8": utf8Rcpt, "idn": idn, "garbled": garbled} {
		t.Run(name, func(t *testing.T) {
			raw, err := d.Build()
			if err != nil {
				t.Fatal(err)
			}
			checkSevenBit(t, raw)
			parseDSN(t, raw)
		})
	}
}

// A multi-line reply is one field; Diwan's own reason (no remote answered)
// is not dressed as an SMTP reply; a missing status follows the action.
func TestDSNDiagnosticOfMultiLineReplyAndOwnReason(t *testing.T) {
	d := bounce()
	d.Recipients = []DSNRecipient{
		{Recipient: "a@moh.gov.sy", Action: "failed", Status: "5.7.1", RemoteMTA: "mx.moh.gov.sy",
			Diagnostic: "550-5.7.1 policy\r\n550 5.7.1 refused"},
		{Recipient: "b@moh.gov.sy", Action: "failed", Diagnostic: "denied by the national mail rule .moh.gov.sy"},
	}
	raw, err := d.Build()
	if err != nil {
		t.Fatal(err)
	}
	_, parts := parseDSN(t, raw)
	blocks := statusBlocks(t, parts[1].body)
	if got := blocks[1].Get("Diagnostic-Code"); got != "smtp; 550-5.7.1 policy 550 5.7.1 refused" {
		t.Errorf("multi-line reply: %q", got)
	}
	if got := blocks[2].Get("Diagnostic-Code"); got != "X-Diwan; denied by the national mail rule .moh.gov.sy" {
		t.Errorf("own reason: %q", got)
	}
	if got := blocks[2].Get("Status"); got != "5.0.0" {
		t.Errorf("status without one given: %q, want 5.0.0", got)
	}
	if blocks[2].Has("Remote-MTA") || blocks[2].Has("Last-Attempt-Date") {
		t.Errorf("fields for a remote that never answered: %v", blocks[2])
	}
}

// Without the original header (it could not be read) the notice goes
// without its third part rather than with an empty one.
func TestDSNWithoutOriginalHeaderHasTwoParts(t *testing.T) {
	d := bounce()
	d.OriginalHeader = []byte("\r\n")
	raw, err := d.Build()
	if err != nil {
		t.Fatal(err)
	}
	h, _ := parseDSNParts(t, raw, "text/plain", "message/delivery-status")
	if h.Has("In-Reply-To") {
		t.Errorf("In-Reply-To without an original header: %q", h.Get("In-Reply-To"))
	}
	checkSevenBit(t, raw)
}

// RFC 3464 §2: no notification to the null sender; nothing it cannot say.
func TestDSNRefusesNullSenderAndUnknownAction(t *testing.T) {
	null := bounce()
	null.To = ""
	relayed := bounce()
	relayed.Recipients[0].Action = "relayed"
	none := bounce()
	none.Recipients = nil
	for name, d := range map[string]DSN{"null sender": null, "action": relayed, "no recipients": none} {
		if raw, err := d.Build(); err == nil {
			t.Errorf("%s: built\n%s", name, raw)
		}
	}
}
