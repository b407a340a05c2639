package smtp_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
)

// TestLogLinesForMessagesAndLogins: as postmasters expect of Postfix and
// Dovecot, every message received is one log line (the id of its Received
// field, sender, recipients, size, TLS, listener, client, user, result),
// every refusal one line with its reason and reply, and every AUTH one
// line (protocol, user, address, result).
func TestLogLinesForMessagesAndLogins(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	msg := message("clerk@moct.gov.sy", "ali@mof.gov.sy", "logged", "x")
	c := e.inbound()
	c.send("clerk@moct.gov.sy", []string{"ali@mof.gov.sy", "sara@mof.gov.sy"}, msg, 250, "")
	c.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
	c.do(550, "5.1.1", "RCPT TO:<nobody@mof.gov.sy>")
	c.do(250, "", "RCPT TO:<ali@mof.gov.sy>")
	if code, _ := c.data(sized(maxBytes + 1)); code != 552 {
		t.Fatalf("oversized message: %d", code)
	}

	s := dial(t, e.addr("submission"))
	s.ehlo()
	s.starttls()
	s.do(535, "5.7.8", "AUTH PLAIN %s", plain("ali@mof.gov.sy", "wrong password"))
	s.do(235, "2.0.0", "AUTH PLAIN %s", plain("ali@mof.gov.sy", password))
	s.send("ali@mof.gov.sy", []string{"sara@mof.gov.sy"}, message("ali@mof.gov.sy", "sara@mof.gov.sy", "sub", "y"), 250, "")

	logs := e.logs.text()
	received, _ := withoutReceived(t, e.inbox("ali@mof.gov.sy")[0])
	id := regexp.MustCompile(`with ESMTP id (\w+)`).FindStringSubmatch(received)
	if id == nil {
		t.Fatalf("no id in %q", received)
	}
	for _, want := range []string{
		fmt.Sprintf("INFO smtp: message accepted id=%s listener=inbound client=127.0.0.1 helo=client.test user= from=<clerk@moct.gov.sy> "+
			"to=ali@mof.gov.sy,sara@mof.gov.sy recipients=2 size=%d tls=none result=accepted reply=250 2.0.0 OK", id[1], len(msg)),
		"INFO smtp: refused reason=unknown_recipient rule= listener=inbound client=127.0.0.1 user= from=clerk@moct.gov.sy to=nobody@mof.gov.sy domain=mof.gov.sy header= reply=550 5.1.1 No such mailbox here",
		"listener=inbound client=127.0.0.1 helo=client.test user= from=<clerk@moct.gov.sy> to=ali@mof.gov.sy recipients=1",
		"tls=none result=refused reply=552 5.3.4 Message exceeds the maximum size",
		"INFO smtp: login protocol=smtp user=ali@mof.gov.sy client=127.0.0.1 listener=submission tls=TLS 1.3 result=failed: invalid credentials",
		"INFO smtp: login protocol=smtp user=ali@mof.gov.sy client=127.0.0.1 listener=submission tls=TLS 1.3 result=ok",
		"user=ali@mof.gov.sy from=<ali@mof.gov.sy> to=sara@mof.gov.sy recipients=1",
		"tls=TLS 1.3 result=accepted",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("no log line with %q in:\n%s", want, logs)
		}
	}
}
