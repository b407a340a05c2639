package smtp_test

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	netsmtp "net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/policy"
	"diwan.gov.sy/diwan/internal/smtp"
)

// sendNetSMTP submits one message with the standard library's client:
// STARTTLS (RFC 3207), AUTH PLAIN (RFC 4954), MAIL, RCPT, DATA.
func sendNetSMTP(t *testing.T, addr, user, from string, to []string, msg string) error {
	t.Helper()
	c, err := netsmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(netsmtp.PlainAuth("", user, password, "127.0.0.1")); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func replyCode(t *testing.T, err error) (int, string) {
	t.Helper()
	var te *textproto.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T), want an SMTP reply", err, err)
	}
	return te.Code, te.Msg
}

// TestSubmissionDeliversLocallyAndQueuesRelay: a message from ali to a
// local user, an alias and a national address on another server is stored
// once for the local users with a Received field on top and the rest byte
// for byte, and queued for the other server (RFC 6409 submission).
func TestSubmissionDeliversLocallyAndQueuesRelay(t *testing.T) {
	for _, driver := range dbtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver, nil)
			msg := message("ali@mof.gov.sy", "sara@mof.gov.sy", "hello", "مرحبا\r\n.leading dot\r\nend")
			to := []string{"sara@mof.gov.sy", "INFO@mof.gov.sy", "diwan@moct.gov.sy"}
			if err := sendNetSMTP(t, e.addr(smtp.Submission), "ali@mof.gov.sy", "ali@mof.gov.sy", to, msg); err != nil {
				t.Fatal(err)
			}
			for _, u := range []string{"sara@mof.gov.sy", "ali@mof.gov.sy"} {
				box := e.inbox(u)
				if len(box) != 1 {
					t.Fatalf("%s has %d messages, want 1", u, len(box))
				}
				received, rest := withoutReceived(t, box[0])
				if rest != msg {
					t.Fatalf("%s: stored message differs below the Received field:\n%q\nwant\n%q", u, rest, msg)
				}
				for _, want := range []string{"from client.test ([127.0.0.1])", "by mail.mof.gov.sy with UTF8SMTPSA id ", "TLS"} {
					if !strings.Contains(received, want) {
						t.Errorf("Received field %q lacks %q", received, want)
					}
				}
			}
			if n := e.count("SELECT COUNT(*) FROM messages"); n != 1 {
				t.Errorf("%d stored messages, want 1 (stored once)", n)
			}
			pending, err := e.queue.Pending(e.ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) != 1 || pending[0].To != "diwan@moct.gov.sy" || pending[0].Domain != "moct.gov.sy" ||
				pending[0].From != "ali@mof.gov.sy" || pending[0].UserID != e.users["ali@mof.gov.sy"].ID {
				t.Fatalf("relay queue = %+v", pending)
			}
			rc, err := e.blobs.Open(e.ctx, pending[0].BlobKey)
			if err != nil {
				t.Fatal(err)
			}
			queued, _ := io.ReadAll(rc)
			rc.Close()
			if _, rest := withoutReceived(t, string(queued)); rest != msg || int64(len(queued)) != pending[0].Size {
				t.Fatalf("queued message differs: %q", queued)
			}
		})
	}
}

// TestSubmissionRequiresTLSBeforeAuth: no AUTH is offered on the plain
// channel, AUTH there gets go-smtp's 523 5.7.10 (RFC 4954 §4), and
// nothing can be sent without logging in.
func TestSubmissionRequiresTLSBeforeAuth(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := dial(t, e.addr(smtp.Submission))
	caps := c.ehlo()
	if strings.Contains(caps, "AUTH") || !strings.Contains(caps, "STARTTLS") {
		t.Fatalf("EHLO before TLS: %q; want STARTTLS and no AUTH", caps)
	}
	c.do(523, "5.7.10", "AUTH PLAIN %s", plain("ali@mof.gov.sy", password))
	c.do(530, "5.7.0", "MAIL FROM:<ali@mof.gov.sy>")
	c.starttls()
	caps = c.ehlo()
	if !strings.Contains(caps, "AUTH PLAIN LOGIN") || strings.Contains(caps, "STARTTLS") {
		t.Fatalf("EHLO after TLS: %q", caps)
	}
	c.do(530, "5.7.0", "MAIL FROM:<ali@mof.gov.sy>")
	if n := e.count("SELECT COUNT(*) FROM audit_events WHERE action = 'user.login_failed'"); n != 0 {
		t.Fatalf("%d login failures recorded; the credentials before TLS must not even be checked", n)
	}
}

// TestSubmissionImplicitTLSWithAuthLogin: the submissions listener speaks
// TLS from the first byte (RFC 8314 §3.3); LOGIN works there, with and
// without an initial response.
func TestSubmissionImplicitTLSWithAuthLogin(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	c := dialTLS(t, e.addr(smtp.Submissions))
	caps := c.ehlo()
	if !strings.Contains(caps, "AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO over implicit TLS: %q", caps)
	}
	c.do(334, b64("Username:"), "AUTH LOGIN")
	c.do(334, b64("Password:"), "%s", b64("ali@mof.gov.sy"))
	c.do(235, "2.0.0", "%s", b64(password))
	c.send("ali@mof.gov.sy", []string{"sara@mof.gov.sy"}, message("ali@mof.gov.sy", "sara@mof.gov.sy", "tls", "x"), 250, "2.0.0")

	c = dialTLS(t, e.addr(smtp.Submissions))
	c.ehlo()
	c.do(334, b64("Password:"), "AUTH LOGIN %s", b64("sara@mof.gov.sy"))
	c.do(235, "2.0.0", "%s", b64(password))
	if n := len(e.inbox("sara@mof.gov.sy")); n != 1 {
		t.Fatalf("sara has %d messages, want 1", n)
	}
}

// TestSubmissionAuthFailuresCountAndClose: refused logins are 535 5.7.8,
// counted by the directory towards lockout and audited with the client's
// IP; the third ends the session with 421.
func TestSubmissionAuthFailuresCountAndClose(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := dial(t, e.addr(smtp.Submission))
	c.ehlo()
	c.starttls()
	c.do(535, "5.7.8", "AUTH PLAIN %s", plain("ali@mof.gov.sy", "wrong password"))
	// An authorization identity other than the login: refused.
	c.do(535, "5.7.8", "AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("sara@mof.gov.sy\x00ali@mof.gov.sy\x00"+password)))
	c.do(501, "5.5.2", "AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("no separators")))
	c.do(421, "4.7.0", "AUTH PLAIN %s", plain("ali@mof.gov.sy", "wrong again"))
	if !c.closed(5 * time.Second) {
		t.Fatal("session not closed after repeated authentication failures")
	}
	u, err := e.dir.UserByLogin(e.ctx, "ali@mof.gov.sy")
	if err != nil || u.FailedLogins != 2 {
		t.Fatalf("ali's failed logins = %d, %v; want 2 counted towards lockout", u.FailedLogins, err)
	}
	recs, err := audit.New(e.d, nil).List(e.ctx, audit.Filter{Action: "user.login_failed", Actor: "smtp:127.0.0.1"})
	if err != nil || len(recs) != 2 {
		t.Fatalf("login_failed events by smtp:127.0.0.1: %d, %v; want 2", len(recs), err)
	}
	if got := e.metric("auth", ""); got != 3 {
		t.Fatalf("auth refusal metric = %v, want 3", got)
	}

}

// DESIGN.md §3a: a user whose password must change (a generated one) is
// refused by a real client's AUTH with 432 4.7.12 naming the web page
// where to change it, on SQLite and PostgreSQL; once changed, AUTH works.
func TestSubmissionRefusesAPasswordThatMustChange(t *testing.T) {
	for _, driver := range dbtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver, nil)
			if err := e.dir.SetPassword(e.ctx, actor, "sara@mof.gov.sy", password, true); err != nil {
				t.Fatal(err)
			}
			auth := func(pw string) error {
				c, err := netsmtp.Dial(e.addr(smtp.Submission))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
					t.Fatal(err)
				}
				return c.Auth(netsmtp.PlainAuth("", "sara@mof.gov.sy", pw, "127.0.0.1"))
			}
			err := auth(password)
			var te *textproto.Error
			if !errors.As(err, &te) || te.Code != 432 || !strings.Contains(te.Msg, "4.7.12") ||
				!strings.Contains(te.Msg, "https://diwan.example.gov/account") {
				t.Fatalf("AUTH with a password that must change: %v, want 432 4.7.12 naming the account page", err)
			}
			if err := e.dir.ChangePassword(e.ctx, "sara@mof.gov.sy", password, "a brand new secret"); err != nil {
				t.Fatal(err)
			}
			if err := auth("a brand new secret"); err != nil {
				t.Fatalf("AUTH after the change: %v", err)
			}
		})
	}
}

// TestSubmissionRefusesNonNationalRecipients: each recipient is decided at
// RCPT; a foreign one gets the policy's 550 5.7.1 naming its domain, is
// audited and counted, and the national ones of the same message go
// through (local delivery and the relay queue).
func TestSubmissionRefusesNonNationalRecipients(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := e.login("ali@mof.gov.sy")
	c.do(250, "", "MAIL FROM:<ali@mof.gov.sy> SMTPUTF8")
	c.do(250, "", "RCPT TO:<sara@mof.gov.sy>")
	c.do(550, "5.7.1 Delivery to gmail.com is not permitted by the national mail policy", "RCPT TO:<friend@GMAIL.com>")
	for _, r := range []struct{ to, domain string }{
		{"x@gov.sy.evil.test", "gov.sy.evil.test"},
		{"x@evilgov.sy", "evilgov.sy"},
		{"x@mof.gov.sy.example.com", "mof.gov.sy.example.com"},
		{"x@g\u043ev.sy", "xn--gv-fmc.sy"},
		{"x@moct.g\u043ev.sy", "moct.xn--gv-fmc.sy"},
	} {
		c.do(550, "5.7.1 Delivery to "+r.domain+" is not permitted", "RCPT TO:<%s>", r.to)
	}
	c.do(250, "", "RCPT TO:<registry@moct.gov.sy>")
	code, msg := c.data(message("ali@mof.gov.sy", "sara@mof.gov.sy", "mixed", "body"))
	if code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	if n := len(e.inbox("sara@mof.gov.sy")); n != 1 {
		t.Fatalf("sara has %d messages, want 1", n)
	}
	if p, _ := e.queue.Pending(e.ctx, 0); len(p) != 1 || p[0].To != "registry@moct.gov.sy" {
		t.Fatalf("relay queue = %+v", p)
	}
	recs := e.refusals()
	if n := refusalCount(recs, ""); n != 6 {
		t.Fatalf("refusal events count %d refusals, want 6", n)
	}
	gmail := recs[len(recs)-1]
	if gmail.Actor != "user:ali@mof.gov.sy" || gmail.Target != "domain:gmail.com" || gmail.Details["reason"] != policy.ReasonPolicy ||
		gmail.Details["rule"] != "default" || gmail.Details["to"] != "friend@gmail.com" || gmail.Details["client"] != "127.0.0.1" ||
		gmail.Details["listener"] != "submission" {
		t.Fatalf("refusal event = %+v", gmail)
	}
	if got := e.metric(policy.ReasonPolicy, "gmail.com"); got != 1 {
		t.Fatalf("policy refusal metric for gmail.com = %v, want 1", got)
	}
	if got := e.metric(policy.ReasonPolicy, "g\u043ev.sy"); got != 1 {
		t.Fatalf("policy refusal metric for the look-alike = %v, want 1", got)
	}
}

// TestSubmissionRuleChangeApplies: an administrator's deny rule on a
// national domain refuses it at the next RCPT in this process.
func TestSubmissionRuleChangeApplies(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	if _, err := e.pol.Deny(e.ctx, actor, ".moct.gov.sy", "suspended"); err != nil {
		t.Fatal(err)
	}
	c := e.login("ali@mof.gov.sy")
	c.do(250, "", "MAIL FROM:<ali@mof.gov.sy>")
	c.do(550, "5.7.1 Delivery to moct.gov.sy is not permitted", "RCPT TO:<a@moct.gov.sy>")
	if r := e.refusals(); len(r) != 1 || r[0].Details["rule"] != "deny:.moct.gov.sy" {
		t.Fatalf("refusal events = %+v", r)
	}
}

// TestSubmissionRefusesForgedSenders: the envelope sender must be an
// address the user may send as (own, or an alias to them), and the header
// From must match it; each refusal is audited as spoofing and nothing is
// stored.
func TestSubmissionRefusesForgedSenders(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := e.login("ali@mof.gov.sy")
	c.do(550, "5.7.1 You may not send as <sara@mof.gov.sy>", "MAIL FROM:<sara@mof.gov.sy>")
	c.do(550, "5.7.1", "MAIL FROM:<postmaster@mof.gov.sy>")
	c.do(550, "5.7.1", "MAIL FROM:<ali@moct.gov.sy>")
	c.do(553, "5.1.7", "MAIL FROM:<a..b@mof.gov.sy>")

	// Envelope right, header From someone else's.
	c.do(250, "", "MAIL FROM:<ali@mof.gov.sy>")
	c.do(250, "", "RCPT TO:<sara@mof.gov.sy>")
	code, msg := c.data(message("minister@mof.gov.sy", "sara@mof.gov.sy", "forged", "x"))
	if code != 550 || !strings.Contains(msg, "5.7.1 The From header <minister@mof.gov.sy> does not match the envelope sender <ali@mof.gov.sy>") {
		t.Fatalf("forged header From: %d %s", code, msg)
	}
	// Two From fields, or none.
	for _, m := range []string{
		"From: <ali@mof.gov.sy>\r\nFrom: <sara@mof.gov.sy>\r\nSubject: two\r\n\r\nx\r\n",
		"Subject: none\r\n\r\nx\r\n",
		"From: ali@mof.gov.sy, sara@mof.gov.sy\r\nSubject: list\r\n\r\nx\r\n",
	} {
		c.do(250, "", "MAIL FROM:<ali@mof.gov.sy>")
		c.do(250, "", "RCPT TO:<sara@mof.gov.sy>")
		if code, msg := c.data(m); code != 550 || !strings.Contains(msg, "5.7.1") {
			t.Fatalf("From %q: %d %s", m, code, msg)
		}
	}
	e.nothingWritten()

	// The alias ali receives may be his sender; header From in another
	// spelling of the same address is the same address.
	c.do(250, "", "MAIL FROM:<info@mof.gov.sy>")
	c.do(250, "", "RCPT TO:<sara@mof.gov.sy>")
	if code, msg := c.data("From: =?utf-8?b?2LnZhNmK?= <INFO@Mof.Gov.Sy>\r\nSubject: alias\r\n\r\nx\r\n"); code != 250 {
		t.Fatalf("alias sender: %d %s", code, msg)
	}
	// The null sender (receipts): the header From must be the user's.
	c.send("", []string{"sara@mof.gov.sy"}, message("ali@mof.gov.sy", "sara@mof.gov.sy", "mdn", "x"), 250, "")
	c.do(250, "", "MAIL FROM:<>")
	c.do(250, "", "RCPT TO:<sara@mof.gov.sy>")
	if code, msg := c.data(message("sara@mof.gov.sy", "sara@mof.gov.sy", "mdn2", "x")); code != 550 {
		t.Fatalf("null sender with another's From: %d %s", code, msg)
	}
	if n := len(e.inbox("sara@mof.gov.sy")); n != 2 {
		t.Fatalf("sara has %d messages, want 2", n)
	}
	recs := e.refusals()
	for _, r := range recs {
		if r.Details["reason"] == policy.ReasonSpoofing {
			if r.Actor != "user:ali@mof.gov.sy" {
				t.Errorf("spoofing event actor %q", r.Actor)
			}
		}
	}
	if spoofing := refusalCount(recs, policy.ReasonSpoofing); spoofing != 8 {
		t.Fatalf("spoofing events count %d refusals, want 8", spoofing)
	}
}

// TestSubmissionUnknownAndFullMailboxes: a hosted address without a
// mailbox is 550 5.1.1 at RCPT; a full mailbox 552 5.2.2 at RCPT, or at
// DATA when this message is what does not fit, storing nothing.
func TestSubmissionUnknownAndFullMailboxes(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := e.login("ali@mof.gov.sy")
	c.do(250, "", "MAIL FROM:<ali@mof.gov.sy>")
	c.do(550, "5.1.1", "RCPT TO:<nobody@mof.gov.sy>")
	c.do(250, "", "RSET")

	if err := e.dir.SetQuota(e.ctx, actor, "full@mof.gov.sy", 4096); err != nil {
		t.Fatal(err)
	}
	big := message("ali@mof.gov.sy", "full@mof.gov.sy", "big", strings.Repeat("0123456789abcdef\r\n", 400))
	c.do(250, "", "MAIL FROM:<ali@mof.gov.sy>")
	c.do(250, "", "RCPT TO:<full@mof.gov.sy>")
	if code, msg := c.data(big); code != 552 || !strings.Contains(msg, "5.2.2") {
		t.Fatalf("over quota at DATA: %d %s", code, msg)
	}
	e.nothingStored()
	c.do(250, "", "MAIL FROM:<ali@mof.gov.sy> SIZE=8000")
	c.do(552, "5.2.2", "RCPT TO:<full@mof.gov.sy>")
	c.do(250, "", "RSET")
	c.send("ali@mof.gov.sy", []string{"full@mof.gov.sy"}, message("ali@mof.gov.sy", "full@mof.gov.sy", "small", "x"), 250, "")
	if err := e.dir.SetQuota(e.ctx, actor, "full@mof.gov.sy", 10); err != nil {
		t.Fatal(err)
	}
	c.do(250, "", "MAIL FROM:<ali@mof.gov.sy>")
	c.do(552, "5.2.2", "RCPT TO:<full@mof.gov.sy>")
}

// TestSubmissionRateLimit: past smtp.rate_per_minute (a burst of a
// sixth), MAIL is refused for now with 451 4.7.1.
func TestSubmissionRateLimit(t *testing.T) {
	e := newEnv(t, db.SQLite, func(o *smtp.Options) { o.RatePerMinute = 12 })
	c := e.login("ali@mof.gov.sy")
	c.do(250, "", "MAIL FROM:<ali@mof.gov.sy>")
	c.do(250, "", "RSET")
	c.do(250, "", "MAIL FROM:<ali@mof.gov.sy>")
	c.do(250, "", "RSET")
	c.do(451, "4.7.1", "MAIL FROM:<ali@mof.gov.sy>")
	// Another user has a bucket of their own.
	o := e.login("sara@mof.gov.sy")
	o.do(250, "", "MAIL FROM:<sara@mof.gov.sy>")
}
