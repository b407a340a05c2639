package main

import (
	"crypto/tls"
	"encoding/base64"
	"net/smtp"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// addrOf finds the address a "diwan: <what> on ADDR" line announced.
func (s *server) addrOf(t testing.TB, what string) string {
	t.Helper()
	re := regexp.MustCompile(`^diwan: ` + regexp.QuoteMeta(what) + ` on (\S+)$`)
	for _, l := range s.lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatalf("diwan serve did not announce %q:\n%s", what, strings.Join(s.lines, "\n"))
	return ""
}

// openInbox logs in over IMAP with STARTTLS (trusting the self-signed pair
// of data_dir) and selects the INBOX; the client closes with the test.
func (s *server) openInbox(t *testing.T, login, password string) (*imapclient.Client, *imap.SelectData) {
	t.Helper()
	ic, err := imapclient.DialStartTLS(s.addrOf(t, "imap (STARTTLS)"), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close() })
	if err := ic.Login(login, password).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := ic.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return ic, sel
}

// Mail submitted on the submission port reaches the recipient's INBOX over
// IMAP, in the real program; a recipient outside the national domains is
// refused at RCPT and the refusal shows in the violations report.
func TestSubmittedMailReadOverIMAP(t *testing.T) {
	in := newInstance(t, `smtp: {hostname: mail.mof.gov.sy, inbound_addr: "", submission_addr: "127.0.0.1:0", submissions_addr: ""}
imap: {addr: "127.0.0.1:0", tls_addr: ""}
`)
	in.ok("", "admin", "ministry", "add", "MOF", "--name-ar", "وزارة المالية", "--name-en", "Ministry of Finance")
	in.ok("", "admin", "domain", "add", "mof.gov.sy", "--ministry", "MOF")
	in.ok("ali password long\n", "admin", "user", "add", "ali@mof.gov.sy", "--name", "Ali", "--ministry", "MOF", "--role", "staff", "--password-stdin")
	in.ok("sara password long\n", "admin", "user", "add", "sara@mof.gov.sy", "--name", "Sara", "--ministry", "MOF", "--role", "staff", "--password-stdin")
	s := in.serve()
	insecure := &tls.Config{InsecureSkipVerify: true} // the self-signed pair of data_dir

	c, err := smtp.Dial(s.addrOf(t, "smtp submission"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(insecure); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "ali@mof.gov.sy", "ali password long", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("ali@mof.gov.sy"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("victim@gmail.com"); err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "5.7.1") || !strings.Contains(err.Error(), "gmail.com") {
		t.Fatalf("RCPT to a foreign domain: %v, want 550 5.7.1 naming gmail.com", err)
	}
	if err := c.Rcpt("sara@mof.gov.sy"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	subject := "موازنة العام القادم"
	msg := "From: Ali <ali@mof.gov.sy>\r\nTo: sara@mof.gov.sy\r\nSubject: =?UTF-8?B?" +
		b64(subject) + "?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nمرحبا\r\n"
	if _, err := w.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	c.Quit()

	ic, sel := s.openInbox(t, "sara@mof.gov.sy", "sara password long")
	if sel.NumMessages != 1 {
		t.Fatalf("INBOX has %d messages, want 1", sel.NumMessages)
	}
	msgs, err := ic.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Envelope.Subject != subject {
		t.Fatalf("fetched %+v, want subject %q", msgs, subject)
	}
	if err := ic.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
	s.stop(t)

	if out := in.ok("", "admin", "policy", "violations", "--since", "1h"); !strings.Contains(out, "gmail.com") {
		t.Fatalf("violations report lacks the refused domain:\n%s", out)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
