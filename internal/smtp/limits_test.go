package smtp_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/smtp"
)

// sized returns a message of exactly n octets (n ≥ 200).
func sized(n int) string {
	head := "From: <clerk@moct.gov.sy>\r\nTo: <ali@mof.gov.sy>\r\nSubject: size\r\n\r\n"
	var b strings.Builder
	b.WriteString(head)
	for b.Len() < n {
		line := strings.Repeat("x", min(76, n-b.Len()-2))
		if n-b.Len() < 3 {
			line = ""
		}
		b.WriteString(line + "\r\n")
	}
	s := b.String()
	if len(s) != n {
		panic(fmt.Sprintf("sized(%d) made %d", n, len(s)))
	}
	return s
}

// TestSizeLimit (RFC 1870): SIZE is advertised; a declared size over it is
// 552 5.3.4 at MAIL; a message one octet over it is 552 5.3.4 after DATA
// (and BDAT) with nothing stored.
func TestSizeLimit(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := e.inbound()
	c.do(552, "5.3.4", "MAIL FROM:<clerk@moct.gov.sy> SIZE=%d", maxBytes+1)
	c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy> SIZE=%d", maxBytes)
	c.do(250, "", "RCPT TO:<ali@mof.gov.sy>")
	if code, msg := c.data(sized(maxBytes + 1)); code != 552 || !strings.Contains(msg, "5.3.4") {
		t.Fatalf("one octet over: %d %s", code, msg)
	}
	c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
	c.do(250, "", "RCPT TO:<ali@mof.gov.sy>")
	over := sized(maxBytes + 1)
	c.writeRaw(fmt.Sprintf("BDAT %d LAST\r\n%s", len(over), over))
	c.expect(552, "5.3.4")
	e.nothingWritten()
	c.do(250, "", "NOOP") // still in step

	// go-smtp's DATA reader takes at most max-1 octets; BDAT takes max.
	c.send("clerk@moct.gov.sy", []string{"ali@mof.gov.sy"}, sized(maxBytes-1), 250, "")
	c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
	c.do(250, "", "RCPT TO:<ali@mof.gov.sy>")
	exact := sized(maxBytes)
	c.writeRaw(fmt.Sprintf("BDAT %d LAST\r\n%s", len(exact), exact))
	c.expect(250, "")
	if n := len(e.inbox("ali@mof.gov.sy")); n != 2 {
		t.Fatalf("ali has %d messages, want 2", n)
	}
}

// TestRecipientLimit: past smtp.max_recipients, RCPT is 452 4.5.3
// (RFC 5321 §4.5.3.1.10) and the transaction goes on.
func TestRecipientLimit(t *testing.T) {
	e := newEnv(t, db.SQLite, func(o *smtp.Options) { o.MaxRecipients = 2 })
	c := e.inbound()
	c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
	c.do(250, "", "RCPT TO:<ali@mof.gov.sy>")
	c.do(250, "", "RCPT TO:<sara@mof.gov.sy>")
	c.do(452, "4.5.3", "RCPT TO:<full@mof.gov.sy>")
	if code, _ := c.data(message("clerk@moct.gov.sy", "ali@mof.gov.sy", "two", "x")); code != 250 {
		t.Fatal(code)
	}
}

// TestSmugglingSequencesNeverEndAMessage: "\n.\n", "\r.\n", "\n.\r\n" and
// bare LF or CR in a message do not end it early (only CRLF.CRLF does):
// the commands smuggled after them are never run, the message is refused
// as a whole with one reply, and the session stays in step.
func TestSmugglingSequencesNeverEndAMessage(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	smuggled := "MAIL FROM:<clerk@moct.gov.sy>\r\nRCPT TO:<sara@mof.gov.sy>\r\nDATA\r\nFrom: <x@moct.gov.sy>\r\n\r\nsmuggled\r\n.\r\n"
	for _, seq := range []string{"\n.\n", "\r.\n", "\n.\r\n", "\r\n.\n"} {
		c := e.inbound()
		c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
		c.do(250, "", "RCPT TO:<ali@mof.gov.sy>")
		c.do(354, "", "DATA")
		c.writeRaw("From: <clerk@moct.gov.sy>\r\nSubject: smuggle\r\n\r\nfirst" + seq + smuggled)
		if code, msg := c.read(); code != 554 || !strings.Contains(msg, "5.6.0") {
			t.Fatalf("%q: %d %s, want one 554 5.6.0 for the whole message", seq, code, msg)
		}
		c.do(250, "", "NOOP")
		c.do(221, "", "QUIT")
	}
	for _, body := range []string{"bare LF\nhere", "bare CR\rhere"} {
		c := e.inbound()
		c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
		c.do(250, "", "RCPT TO:<ali@mof.gov.sy>")
		c.do(354, "", "DATA")
		c.writeRaw("Subject: x\r\n\r\n" + body + "\r\n.\r\n")
		c.expect(554, "5.6.0")
	}
	e.nothingWritten()

	// "\r\n.\r" then text: go-smtp's DATA reader drops the CR after a
	// leading dot, so the message reads on (one message, CRLF throughout)
	// to the real end; the smuggled commands are still never run.
	c := e.inbound()
	c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
	c.do(250, "", "RCPT TO:<ali@mof.gov.sy>")
	c.do(354, "", "DATA")
	c.writeRaw("From: <clerk@moct.gov.sy>\r\nSubject: smuggle\r\n\r\nfirst\r\n.\r" + smuggled)
	c.expect(250, "")
	c.do(250, "", "NOOP")
	box := e.inbox("ali@mof.gov.sy")
	if len(box) != 1 || !strings.Contains(box[0], "\r\nsmuggled\r\n") || strings.Contains(strings.ReplaceAll(box[0], "\r\n", ""), "\r") {
		t.Fatalf("ali's message: %q", box)
	}
	if got := len(e.inbox("sara@mof.gov.sy")); got != 0 {
		t.Fatal("a smuggled message was delivered")
	}
}

// TestLongLines: a header line of 998 octets passes; 999 (or a longer
// body line, up to and past go-smtp's own 2000) is refused, nothing stored.
func TestLongLines(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := e.inbound()
	field := func(n int) string { return "X-Long: " + strings.Repeat("a", n-len("X-Long: ")) }
	ok := "From: <clerk@moct.gov.sy>\r\n" + field(998) + "\r\n\r\nbody\r\n"
	c.send("clerk@moct.gov.sy", []string{"ali@mof.gov.sy"}, ok, 250, "")
	for _, m := range []string{
		"From: <clerk@moct.gov.sy>\r\n" + field(999) + "\r\n\r\nbody\r\n",
		"From: <clerk@moct.gov.sy>\r\n\r\n" + strings.Repeat("b", 1500) + "\r\n",
		"From: <clerk@moct.gov.sy>\r\n\r\n" + strings.Repeat("b", 5000) + "\r\n",
	} {
		c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
		c.do(250, "", "RCPT TO:<sara@mof.gov.sy>")
		c.do(354, "", "DATA")
		c.writeRaw(m + ".\r\n")
		code, msg := c.read()
		if code != 554 || !strings.Contains(msg, "5.6.0") {
			t.Fatalf("long line: %d %s", code, msg)
		}
		if len(m) > 2500 {
			break // go-smtp ends the session after a line over its limit
		}
		c.do(250, "", "NOOP")
	}
	if n := len(e.inbox("sara@mof.gov.sy")); n != 0 {
		t.Fatalf("sara has %d messages", n)
	}
}

// TestReadTimeout: a client that says nothing gets 421 4.4.2 and is
// disconnected (go-smtp has no timeout unless set).
func TestReadTimeout(t *testing.T) {
	e := newEnv(t, db.SQLite, func(o *smtp.Options) { o.ReadTimeout = 200 * time.Millisecond })
	c := e.inbound()
	c.expect(421, "4.4.2")
	if !c.closed(5 * time.Second) {
		t.Fatal("not disconnected")
	}
}

// TestPipeliningAndChunking: the envelope sent in one go (RFC 2920) and
// the message in BDAT chunks (RFC 3030) arrive intact.
func TestPipeliningAndChunking(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := e.inbound()
	msg := message("clerk@moct.gov.sy", "ali@mof.gov.sy", "chunks", "part one\r\npart two")
	half := len(msg) / 2
	c.writeRaw("MAIL FROM:<clerk@moct.gov.sy> BODY=8BITMIME\r\nRCPT TO:<ali@mof.gov.sy>\r\nRCPT TO:<sara@mof.gov.sy>\r\n" +
		fmt.Sprintf("BDAT %d\r\n%s", half, msg[:half]) + fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg)-half, msg[half:]))
	for _, want := range []int{250, 250, 250, 250, 250} {
		c.expect(want, "")
	}
	for _, u := range []string{"ali@mof.gov.sy", "sara@mof.gov.sy"} {
		box := e.inbox(u)
		if len(box) != 1 {
			t.Fatalf("%s has %d messages", u, len(box))
		}
		if _, rest := withoutReceived(t, box[0]); rest != msg {
			t.Fatalf("%s: %q", u, rest)
		}
	}
	// Pipelined DATA.
	c.writeRaw("MAIL FROM:<clerk@moct.gov.sy>\r\nRCPT TO:<ali@mof.gov.sy>\r\nDATA\r\n")
	c.expect(250, "")
	c.expect(250, "")
	c.expect(354, "")
	c.writeRaw(msg + ".\r\n")
	c.expect(250, "")
}

// TestHundredRecipientsStoredOnce: one message to 100 local users is one
// stored message referenced from 100 inboxes.
func TestHundredRecipientsStoredOnce(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	var to []string
	for i := range 100 {
		a := fmt.Sprintf("u%03d@mof.gov.sy", i)
		e.addUser(a)
		to = append(to, a)
	}
	c := e.login("ali@mof.gov.sy")
	c.send("ali@mof.gov.sy", to, message("ali@mof.gov.sy", "all@mof.gov.sy", "circular", "to everyone"), 250, "")
	if n := e.count("SELECT COUNT(*) FROM messages"); n != 1 {
		t.Fatalf("%d message rows, want 1", n)
	}
	if n := e.count("SELECT COUNT(*) FROM mailbox_messages"); n != 100 {
		t.Fatalf("%d mailbox entries, want 100", n)
	}
	if n := len(e.inbox("u099@mof.gov.sy")); n != 1 {
		t.Fatal(n)
	}
}

// TestClientVanishingMidDataLeavesNothing: a connection that drops in the
// middle of DATA (or of BDAT chunks) stores nothing at all.
func TestClientVanishingMidDataLeavesNothing(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := e.inbound()
	c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
	c.do(250, "", "RCPT TO:<ali@mof.gov.sy>")
	c.do(354, "", "DATA")
	c.writeRaw("From: <clerk@moct.gov.sy>\r\nSubject: cut\r\n\r\n" + strings.Repeat("line\r\n", 2000))
	c.conn.Close()

	b := e.inbound()
	b.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
	b.do(250, "", "RCPT TO:<ali@mof.gov.sy>")
	b.writeRaw("BDAT 100\r\n" + strings.Repeat("x", 100))
	b.expect(250, "")
	b.writeRaw("BDAT 1000 LAST\r\nonly some")
	b.conn.Close()

	waitFor(t, 5*time.Second, "sessions to end", func() bool {
		return e.sessions() == 0
	})
	e.nothingWritten()
}

// sessions reads the open-sessions gauge.
func (e *env) sessions() float64 {
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "diwan_smtp_sessions" {
			for _, m := range mf.GetMetric() {
				n += m.GetGauge().GetValue()
			}
		}
	}
	return n
}

// TestTooManyRefusalsEndTheSession: a client refused 20 times in one
// session (here, probing for mailboxes) gets 421 and is disconnected,
// which bounds what one connection can cost the audit log.
func TestTooManyRefusalsEndTheSession(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := e.inbound()
	c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
	for i := range 19 {
		c.do(550, "5.1.1", "RCPT TO:<probe%d@mof.gov.sy>", i)
	}
	c.do(421, "4.7.0", "RCPT TO:<probe-last@mof.gov.sy>")
	if !c.closed(5 * time.Second) {
		t.Fatal("session not closed")
	}
	if got := e.metric("unknown_recipient", "mof.gov.sy"); got != 20 {
		t.Fatalf("unknown_recipient metric = %v, want 20", got)
	}
}
