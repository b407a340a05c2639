package smtp_test

import (
	"slices"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/policy"
)

// TestInboundDeliversNationalMail: the MX takes mail from a national
// sender for hosted users, over STARTTLS (offered, not required) or not,
// with a Received field on top and the rest byte for byte; the null sender
// is accepted; postmaster@ reaches the administrators.
func TestInboundDeliversNationalMail(t *testing.T) {
	for _, driver := range dbtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver, nil)
			c := e.inbound()
			caps := c.ehlo()
			for _, want := range []string{"STARTTLS", "PIPELINING", "8BITMIME", "CHUNKING", "SMTPUTF8", "SIZE 65536", "ENHANCEDSTATUSCODES"} {
				if !strings.Contains(caps, want) {
					t.Errorf("EHLO lacks %s: %q", want, caps)
				}
			}
			if strings.Contains(caps, "AUTH") {
				t.Errorf("the MX offers AUTH: %q", caps)
			}
			msg := message("clerk@moct.gov.sy", "ali@mof.gov.sy", "inbound", "نص الرسالة")
			c.send("clerk@moct.gov.sy", []string{"ali@mof.gov.sy"}, msg, 250, "2.0.0")

			box := e.inbox("ali@mof.gov.sy")
			if len(box) != 1 {
				t.Fatalf("ali has %d messages, want 1", len(box))
			}
			received, rest := withoutReceived(t, box[0])
			if rest != msg {
				t.Fatalf("stored message differs below Received:\n%q\nwant\n%q", rest, msg)
			}
			for _, want := range []string{"from client.test ([127.0.0.1])", "by mail.mof.gov.sy with ESMTP id ", "for <ali@mof.gov.sy>;"} {
				if !strings.Contains(received, want) {
					t.Errorf("Received %q lacks %q", received, want)
				}
			}

			// Over STARTTLS, a bounce (null sender) to the postmaster.
			c = e.inbound()
			c.starttls()
			bounce := message("mailer-daemon@moct.gov.sy", "postmaster@mof.gov.sy", "bounce", "undeliverable")
			c.send("", []string{"postmaster@mof.gov.sy"}, bounce, 250, "")
			box = e.inbox("admin")
			if len(box) != 1 {
				t.Fatalf("postmaster mail to the administrator: %q", box)
			}
			// The hop's trace names the client's address and the TLS it used.
			received, _ = withoutReceived(t, box[0])
			for _, want := range []string{"from client.test ([127.0.0.1])", "with ESMTPS id", "(TLS 1.3 TLS_"} {
				if !strings.Contains(received, want) {
					t.Errorf("Received over STARTTLS %q lacks %q", received, want)
				}
			}
		})
	}
}

// TestInboundRelayBattery: the MX relays nothing. Every way of naming a
// recipient elsewhere — a foreign or national domain not hosted here,
// %-hacks, bang paths, quoted local parts holding "@", source routes —
// is refused 550 5.7.1, audited as a relay attempt with the client's IP,
// and nothing is stored or queued.
func TestInboundRelayBattery(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := e.inbound()
	c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
	for _, rcpt := range []string{
		"victim@gmail.com",
		"victim@moct.gov.sy",            // national, but not hosted here
		"victim%gmail.com@mof.gov.sy",   // the %-hack
		"gmail.com!victim@mof.gov.sy",   // a bang path
		`"victim@gmail.com"@mof.gov.sy`, // a quoted local part with "@"
		"@mof.gov.sy:victim@gmail.com",  // a source route through us
		"@mof.gov.sy,@x.gov.sy:victim@gmail.com",
	} {
		c.do(550, "5.7.1 Relaying denied", "RCPT TO:<%s>", rcpt)
	}
	c.do(502, "5.5.1", "DATA") // go-smtp: no valid recipient, no DATA
	e.nothingWritten()
	recs := e.refusals()
	for _, r := range recs {
		if r.Details["reason"] == policy.ReasonRelay {
			if r.Actor != "smtp:127.0.0.1" || r.Details["listener"] != "inbound" || r.Details["from"] != "clerk@moct.gov.sy" {
				t.Errorf("relay event %+v", r)
			}
		}
	}
	if relay := refusalCount(recs, policy.ReasonRelay); relay != 7 {
		t.Fatalf("relay events count %d refusals, want 7", relay)
	}
	if got := e.metric(policy.ReasonRelay, "gmail.com"); got != 3 { // the plain one and the two routes
		t.Fatalf("relay metric for gmail.com = %v, want 3", got)
	}
	// The route names a hosted user at the end: RFC 5321 §4.1.1.3 lets the
	// server ignore the route, and the mail is for that user.
	c.do(250, "", "RCPT TO:<@gmail.com:ali@mof.gov.sy>")
	c.do(550, "5.1.1", "RCPT TO:<nobody@mof.gov.sy>")
}

// TestInboundRefusesNonNationalSenders: the sender's domain must be
// national; look-alikes of national domains are not.
func TestInboundRefusesNonNationalSenders(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := e.inbound()
	for _, from := range []string{"a@gmail.com", "a@gov.sy.evil.test", "a@evilgov.sy", "a@mof.gov.sy.example.com"} {
		_, domain, _ := strings.Cut(from, "@")
		c.do(550, "5.7.1 Mail from "+domain+" is not accepted by the national mail policy", "MAIL FROM:<%s>", from)
	}
	c.do(553, "5.6.7", "MAIL FROM:<a@g\u043ev.sy>") // non-ASCII without SMTPUTF8
	c.do(550, "5.7.1 Mail from xn--gv-fmc.sy is not accepted", "MAIL FROM:<a@g\u043ev.sy> SMTPUTF8")
	c.do(550, "5.7.1 Mail from xn--gv-fmc.sy is not accepted", "MAIL FROM:<a@xn--gv-fmc.sy>")
	c.do(250, "", "MAIL FROM:<a@moct.gov.sy>")
	c.do(250, "", "RSET")
	c.do(250, "", "MAIL FROM:<a@"+arabic+"> SMTPUTF8")
	e.nothingWritten()
	recs := e.refusals()
	for _, r := range recs {
		if r.Details["reason"] != policy.ReasonPolicy || r.Actor != "smtp:127.0.0.1" {
			t.Errorf("refusal event %+v", r)
		}
	}
	domains := refusedDomains(recs)
	want := []string{"evilgov.sy", "gmail.com", "gov.sy.evil.test", "g\u043ev.sy", "g\u043ev.sy", "mof.gov.sy.example.com"}
	if !slices.Equal(domains, want) {
		t.Fatalf("refused domains %v, want %v", domains, want)
	}
}

// TestInboundNoAuth: AUTH does not exist on the MX, with or without TLS.
func TestInboundNoAuth(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := e.inbound()
	c.do(523, "5.7.10", "AUTH PLAIN %s", plain("ali@mof.gov.sy", password))
	c.starttls()
	c.do(504, "5.7.4", "AUTH PLAIN %s", plain("ali@mof.gov.sy", password))
	if u, _ := e.dir.UserByLogin(e.ctx, "ali@mof.gov.sy"); u.FailedLogins != 0 {
		t.Fatal("the MX checked a password")
	}
}

// TestInboundAliasAndIDN: an alias delivers to its targets; an Arabic
// domain and local part need SMTPUTF8 (RFC 6531) and then work.
func TestInboundAliasAndIDN(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	if _, err := e.dir.AddAlias(e.ctx, actor, "ديوان@"+arabic, []string{"huda@" + arabic, "ali@mof.gov.sy"}); err != nil {
		t.Fatal(err)
	}
	c := e.inbound()
	c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
	c.do(553, "5.6.7", "RCPT TO:<huda@%s>", arabic)
	c.do(250, "", "RSET")
	c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy> SMTPUTF8")
	c.do(553, "5.1.3", "RCPT TO:<huda@m\xffof.gov.sy>") // invalid UTF-8
	c.do(250, "", "RCPT TO:<huda@%s>", arabic)
	c.do(250, "", "RCPT TO:<ديوان@%s>", arabic)
	c.do(250, "", "RCPT TO:<info@mof.gov.sy>") // ali again, through the other alias
	code, msg := c.data(message("clerk@moct.gov.sy", "ديوان@"+arabic, "idn", "x"))
	if code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	if n := len(e.inbox("huda@" + arabic)); n != 1 {
		t.Fatalf("huda has %d messages", n)
	}
	if n := len(e.inbox("ali@mof.gov.sy")); n != 1 {
		t.Fatalf("ali has %d messages, want 1 (named three ways, delivered once)", n)
	}
}
