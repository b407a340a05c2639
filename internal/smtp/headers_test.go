package smtp_test

import (
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/policy"
)

// TestSubmissionRefusesSenderOfAnotherAddress: a Sender field (RFC 5322
// §3.6.2) must name an address the user may send as, by the rule of MAIL
// FROM (own, or an alias to them); another is 550 5.7.1 naming the
// header, audited as spoofing, and nothing is stored.
func TestSubmissionRefusesSenderOfAnotherAddress(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := e.login("ali@mof.gov.sy")
	body := "Subject: on behalf\r\n\r\nx\r\n"
	for _, h := range []struct{ fields, want string }{
		{"From: <ali@mof.gov.sy>\r\nSender: <sara@mof.gov.sy>\r\n", "5.7.1 The Sender header <sara@mof.gov.sy> is not an address you may send as"},
		{"From: <ali@mof.gov.sy>\r\nSender: Minister <minister@mof.gov.sy>\r\n", "5.7.1 The Sender header <minister@mof.gov.sy>"},
		{"From: <ali@mof.gov.sy>\r\nSender: <ali@mof.gov.sy>\r\nSender: <sara@mof.gov.sy>\r\n", "5.7.1 The Sender header must hold exactly one address"},
		{"From: <ali@mof.gov.sy>\r\nSender: ali@mof.gov.sy, sara@mof.gov.sy\r\n", "5.7.1 The Sender header must hold exactly one address"},
		{"From: <ali@mof.gov.sy>\r\nSender: not an address\r\n", "5.7.1 The Sender header must hold exactly one address"},
	} {
		c.do(250, "", "MAIL FROM:<ali@mof.gov.sy>")
		c.do(250, "", "RCPT TO:<sara@mof.gov.sy>")
		if code, msg := c.data(h.fields + body); code != 550 || !strings.Contains(msg, h.want) {
			t.Fatalf("%q: %d %s, want 550 %s", h.fields, code, msg, h.want)
		}
	}
	e.nothingWritten()
	// His own address, an alias to him, the From address: accepted.
	for _, h := range []string{
		"From: <ali@mof.gov.sy>\r\nSender: <ALI@mof.gov.sy>\r\n",
		"From: <ali@mof.gov.sy>\r\nSender: Info desk <info@mof.gov.sy>\r\n",
	} {
		c.send("ali@mof.gov.sy", []string{"sara@mof.gov.sy"}, h+body, 250, "")
	}
	c.send("info@mof.gov.sy", []string{"sara@mof.gov.sy"}, "From: <info@mof.gov.sy>\r\nSender: <ali@mof.gov.sy>\r\n"+body, 250, "")
	if n := len(e.inbox("sara@mof.gov.sy")); n != 3 {
		t.Fatalf("sara has %d messages, want 3", n)
	}
	recs := e.refusals()
	if n := refusalCount(recs, policy.ReasonSpoofing); n != 5 {
		t.Fatalf("spoofing events count %d refusals, want 5", n)
	}
	if rule := recs[len(recs)-1].Details["rule"]; rule != "spoofing:header-sender" {
		t.Fatalf("rule %v, want spoofing:header-sender", rule)
	}
}

// TestSubmissionRefusesAddressInDisplayName: a display name that shows
// readers another address than its field's ("boss@mof.gov.sy"
// <ali@mof.gov.sy>, also encoded, or with a full-width at sign) is 550
// 5.7.1; a name holding the field's own address, or none, passes.
func TestSubmissionRefusesAddressInDisplayName(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := e.login("ali@mof.gov.sy")
	body := "Subject: name\r\n\r\nx\r\n"
	for _, from := range []string{
		`"boss@mof.gov.sy" <ali@mof.gov.sy>`,
		`"Minister (minister@mof.gov.sy)" <ali@mof.gov.sy>`,
		`=?utf-8?q?boss=40mof=2Egov=2Esy?= <ali@mof.gov.sy>`,
		"\"boss\uFF20mof.gov.sy\" <ali@mof.gov.sy>",
		`"Ali <sara@mof.gov.sy>" <ali@mof.gov.sy>`,
	} {
		c.do(250, "", "MAIL FROM:<ali@mof.gov.sy>")
		c.do(250, "", "RCPT TO:<sara@mof.gov.sy>")
		code, msg := c.data("From: " + from + "\r\n" + body)
		if code != 550 || !strings.Contains(msg, "5.7.1 The display name of the From header shows another address") {
			t.Fatalf("From: %s: %d %s", from, code, msg)
		}
	}
	c.do(250, "", "MAIL FROM:<ali@mof.gov.sy>")
	c.do(250, "", "RCPT TO:<sara@mof.gov.sy>")
	if code, msg := c.data("From: <ali@mof.gov.sy>\r\nSender: \"boss@mof.gov.sy\" <ali@mof.gov.sy>\r\n" + body); code != 550 ||
		!strings.Contains(msg, "5.7.1 The display name of the Sender header shows another address <boss@mof.gov.sy>") {
		t.Fatalf("Sender display name: %d %s", code, msg)
	}
	e.nothingWritten()
	for _, from := range []string{
		`"ali@mof.gov.sy" <ali@mof.gov.sy>`,
		`"Ali Hasan (ALI@mof.gov.sy)" <ali@mof.gov.sy>`,
		`=?utf-8?b?2LnZhNmK?= <ali@mof.gov.sy>`,
		`"Ali @ Finance" <ali@mof.gov.sy>`,
	} {
		c.send("ali@mof.gov.sy", []string{"sara@mof.gov.sy"}, "From: "+from+"\r\n"+body, 250, "")
	}
	recs := e.refusals()
	if n := refusalCount(recs, policy.ReasonSpoofing); n != 6 {
		t.Fatalf("spoofing events count %d refusals, want 6", n)
	}
	if first := recs[len(recs)-1]; first.Details["rule"] != "spoofing:display-name" || first.Details["header_from"] != "boss@mof.gov.sy" {
		t.Fatalf("first event %+v", first.Details)
	}
}
