package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-msgauth/dkim"

	"diwan.gov.sy/diwan/internal/app"
	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/policy"
	"diwan.gov.sy/diwan/internal/testenv"
)

var (
	dkimKeyOnce sync.Once
	dkimKey     *rsa.PrivateKey
)

// senderKey is the RSA-2048 key the other national servers of these tests
// sign with (one for the test binary).
func senderKey() *rsa.PrivateKey {
	dkimKeyOnce.Do(func() {
		var err error
		if dkimKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return dkimKey
}

// dkimTXT is the dnsmasq option publishing senderKey as selector "sel" of
// domain, in strings of at most 200 octets.
func dkimTXT(t *testing.T, domain string) string {
	der, err := x509.MarshalPKIXPublicKey(&senderKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	txt := "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	var parts []string
	for len(txt) > 200 {
		parts, txt = append(parts, `"`+txt[:200]+`"`), txt[200:]
	}
	return "txt-record=sel._domainkey." + domain + "," + strings.Join(append(parts, `"`+txt+`"`), ",")
}

// nationalDNS serves the records of the senders of these tests; the
// client is 127.0.0.1. moh.gov.sy: SPF, DKIM and DMARC p=reject all in
// order. mod.gov.sy: DKIM key and p=reject, but SPF does not list the
// client. mot.gov.sy: SPF -all for another address, no DMARC record.
// mof.gov.sy (hosted by the node): SPF of its own server, p=reject.
func nationalDNS(t *testing.T) string {
	return testenv.DNS(t, testenv.Zone{
		"local=/gov.sy/",
		`txt-record=moh.gov.sy,"v=spf1 ip4:127.0.0.1 -all"`, dkimTXT(t, "moh.gov.sy"), `txt-record=_dmarc.moh.gov.sy,"v=DMARC1; p=reject"`,
		`txt-record=mod.gov.sy,"v=spf1 ip4:192.0.2.1 -all"`, dkimTXT(t, "mod.gov.sy"), `txt-record=_dmarc.mod.gov.sy,"v=DMARC1; p=reject"`,
		`txt-record=mot.gov.sy,"v=spf1 ip4:192.0.2.1 -all"`,
		`txt-record=mof.gov.sy,"v=spf1 ip4:192.0.2.25 -all"`, `txt-record=_dmarc.mof.gov.sy,"v=DMARC1; p=reject"`,
	})
}

// letter is a message from one sender to ali, DKIM-signed by signer when
// it is not "".
func letter(t *testing.T, from, subject, signer string) string {
	msg := "From: <" + from + ">\r\nTo: <ali@mof.gov.sy>\r\nSubject: " + subject +
		"\r\nDate: Sun, 1 Mar 2026 10:00:00 +0300\r\nMessage-ID: <" + subject + "@test>\r\n\r\nنص الرسالة\r\n"
	if signer == "" {
		return msg
	}
	var b bytes.Buffer
	if err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: signer, Selector: "sel", Signer: senderKey()}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// deliver sends msg to ali on the node's port 25 as another national
// server would (EHLO, STARTTLS; net/smtp asks SMTPUTF8) and returns the reply to the end of DATA
// (nil for 250).
func (n *node) deliver(t *testing.T, mailFrom, msg string) error {
	t.Helper()
	c, err := smtp.Dial(n.inbound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mail.moh.gov.sy"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(insecure); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(mailFrom); err != nil {
		return err
	}
	if err := c.Rcpt("ali@mof.gov.sy"); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	io.WriteString(w, msg)
	return w.Close()
}

// wantReply checks an SMTP reply of deliver.
func wantReply(t *testing.T, err error, code int, text string) {
	t.Helper()
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != code || !strings.Contains(te.Msg, text) {
		t.Fatalf("reply %v, want %d %q", err, code, text)
	}
}

// inbox reads ali's INBOX over IMAP: every message, whole.
func (n *node) inbox(t *testing.T) []string {
	t.Helper()
	c := n.imapLogin(t, "ali@mof.gov.sy", aliPassword)
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1, sel.NumMessages), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.BodySection[0].Bytes))
	}
	return out
}

// authResults is the Authentication-Results field on top of a stored
// message, unfolded, and checks the Received field right below it: the
// client's address and the TLS of this hop.
func authResults(t *testing.T, raw string) string {
	t.Helper()
	if !strings.HasPrefix(raw, "Authentication-Results: mail.mof.gov.sy;") {
		t.Fatalf("message does not start with Authentication-Results:\n%s", raw)
	}
	end := strings.Index(raw, "\r\nReceived: ")
	if end < 0 {
		t.Fatalf("no Received field below Authentication-Results:\n%s", raw)
	}
	rest := raw[end+2:]
	received := rest[:strings.Index(rest, ";\r\n\t")]
	for _, want := range []string{"from mail.moh.gov.sy ([127.0.0.1])", "by mail.mof.gov.sy with UTF8SMTPS id ", "(TLS 1.3 "} {
		if !strings.Contains(received, want) {
			t.Errorf("Received %q lacks %q", received, want)
		}
	}
	return strings.ReplaceAll(raw[:end], "\r\n\t", " ")
}

// refusalRules lists the rules of the node's policy.refused audit events.
func refusalRules(t *testing.T, cfg *config.Config) []string {
	t.Helper()
	ctx := context.Background()
	e, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler), false, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	recs, err := e.Audit.List(ctx, audit.Filter{Action: policy.ActionRefused})
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, r := range recs {
		if r.Details["reason"] != policy.ReasonPolicy || r.Actor != "smtp:127.0.0.1" {
			t.Errorf("refusal event %+v", r)
		}
		rules = append(rules, r.Details["rule"].(string))
	}
	return rules
}

// TestInboundEnforcesSenderAuthentication: under policy.inbound_auth
// enforce, port 25 stores what passes DMARC with the results on top
// (read back over IMAP), and refuses 550 5.7.26 a forged sender of a
// hosted domain and a sender whose SPF fails without DKIM or DMARC, each
// audited; DKIM aligned with the From passes though SPF fails.
func TestInboundEnforcesSenderAuthentication(t *testing.T) {
	dns := nationalDNS(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b, func(c *config.Config) { c.DNS.Servers = []string{dns} })
			if err := n.deliver(t, "clerk@moh.gov.sy", letter(t, "clerk@moh.gov.sy", "pass", "moh.gov.sy")); err != nil {
				t.Fatal(err)
			}
			wantReply(t, n.deliver(t, "minister@mof.gov.sy", letter(t, "minister@mof.gov.sy", "forged", "")), 550,
				"5.7.26 Message refused: the sender's domain does not authenticate it (dmarc:fail hosted-from)")
			wantReply(t, n.deliver(t, "clerk@mot.gov.sy", letter(t, "clerk@mot.gov.sy", "nodmarc", "")), 550,
				"5.7.26 Message refused: the sender's domain does not authenticate it (spf:fail+dkim:none)")
			if err := n.deliver(t, "list@mod.gov.sy", letter(t, "clerk@mod.gov.sy", "dkimonly", "mod.gov.sy")); err != nil {
				t.Fatal(err)
			}
			box := n.inbox(t)
			if len(box) != 2 {
				t.Fatalf("ali has %d messages, want 2", len(box))
			}
			for i, want := range []string{
				"spf=pass smtp.mailfrom=clerk@moh.gov.sy; dkim=pass header.d=moh.gov.sy header.i=@moh.gov.sy; dmarc=pass header.from=moh.gov.sy",
				"spf=fail smtp.mailfrom=list@mod.gov.sy; dkim=pass header.d=mod.gov.sy header.i=@mod.gov.sy; dmarc=pass header.from=mod.gov.sy",
			} {
				if ar := authResults(t, box[i]); !strings.Contains(ar, want) {
					t.Errorf("message %d: %q lacks %q", i+1, ar, want)
				}
			}
			rules := strings.Join(refusalRules(t, n.cfg), ",")
			// One audit event per client and reason a minute: the first
			// refusal is written at once and names its rule.
			if rules != "dmarc:fail hosted-from" {
				t.Fatalf("refusal rules %q", rules)
			}
		})
	}
}

// TestInboundReportsButNeverAcceptsForgedHostedSenders: under
// policy.inbound_auth report, a message failing DMARC is stored with
// dmarc=fail, but one whose From is a domain hosted here is still refused.
func TestInboundReportsButNeverAcceptsForgedHostedSenders(t *testing.T) {
	dns := nationalDNS(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b, func(c *config.Config) {
				c.DNS.Servers = []string{dns}
				c.Policy.InboundAuth = "report"
			})
			if err := n.deliver(t, "list@mod.gov.sy", letter(t, "minister@mod.gov.sy", "forged", "")); err != nil {
				t.Fatal(err)
			}
			wantReply(t, n.deliver(t, "minister@mof.gov.sy", letter(t, "minister@mof.gov.sy", "hosted", "")), 550,
				"5.7.26 Message refused: the sender's domain does not authenticate it (dmarc:fail hosted-from)")
			box := n.inbox(t)
			if len(box) != 1 {
				t.Fatalf("ali has %d messages, want 1", len(box))
			}
			want := "spf=fail smtp.mailfrom=list@mod.gov.sy; dkim=none; dmarc=fail reason=\"p=reject\" header.from=mod.gov.sy"
			if ar := authResults(t, box[0]); !strings.Contains(ar, want) {
				t.Errorf("%q lacks %q", ar, want)
			}
			if rules := refusalRules(t, n.cfg); len(rules) != 1 || rules[0] != "dmarc:fail hosted-from" {
				t.Fatalf("refusal rules %q", rules)
			}
		})
	}
}

// TestInboundDefersWhenDNSIsDown: with dns.servers unreachable the sender
// checks cannot be made: 451 4.4.3 (the sending server tries again), and
// nothing is stored.
func TestInboundDefersWhenDNSIsDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b, func(c *config.Config) { c.DNS.Servers = []string{dead} })
			wantReply(t, n.deliver(t, "clerk@moh.gov.sy", letter(t, "clerk@moh.gov.sy", "pass", "moh.gov.sy")), 451, "4.4.3")
			if box := n.inbox(t); len(box) != 0 {
				t.Fatalf("ali has %d messages, want none", len(box))
			}
		})
	}
}
