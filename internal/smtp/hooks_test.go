package smtp_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/policy"
	"diwan.gov.sy/diwan/internal/smtp"
)

// verifier fails senders of one domain, enforcing, and defers those of
// another (DNS down); it puts its field on top of what it passes.
type verifier struct{ fail, unavailable string }

func (v verifier) Verify(_ context.Context, env smtp.Envelope, msg io.Reader) (smtp.Verdict, error) {
	if _, err := io.Copy(io.Discard, msg); err != nil {
		return smtp.Verdict{}, err
	}
	switch {
	case strings.HasSuffix(env.From, "@"+v.fail):
		return smtp.Verdict{Pass: false, Enforce: true, Rule: "dmarc:fail p=reject", From: "boss@" + v.fail}, nil
	case v.unavailable != "" && strings.HasSuffix(env.From, "@"+v.unavailable):
		return smtp.Verdict{}, fmt.Errorf("dmarc: %w", smtp.ErrSenderCheckUnavailable)
	}
	return smtp.Verdict{Pass: true, Header: "Authentication-Results: mail.mof.gov.sy; spf=pass smtp.mailfrom=" + env.From + "\r\n"}, nil
}

type signer struct{}

func (signer) Sign(_ context.Context, domain string, msg io.Reader) (string, error) {
	io.Copy(io.Discard, msg)
	return "DKIM-Signature: v=1; d=" + domain + "; b=test\r\n", nil
}

// TestSenderVerifierAndSignerPlaces: the places left for SPF/DKIM/DMARC
// (inbound) and DKIM signing (submission) are called with the whole
// message; a failed, enforced check is a 550 5.7.26 refusal naming the
// check, audited with it; a DNS failure is 451 4.4.3 and stores nothing;
// what passes is stored with the verifier's field on top of Received.
func TestSenderVerifierAndSignerPlaces(t *testing.T) {
	e := newEnv(t, db.SQLite, func(o *smtp.Options) {
		o.Verifier = verifier{fail: "moct.gov.sy", unavailable: "mot.gov.sy"}
		o.Signer = signer{}
	})
	c := e.inbound()
	c.send("a@moct.gov.sy", []string{"ali@mof.gov.sy"}, message("a@moct.gov.sy", "ali@mof.gov.sy", "v1", "x"), 550,
		"5.7.26 Message refused: the sender's domain does not authenticate it (dmarc:fail p=reject)")
	c.send("a@mot.gov.sy", []string{"ali@mof.gov.sy"}, message("a@mot.gov.sy", "ali@mof.gov.sy", "v0", "x"), 451, "4.4.3")
	e.nothingWritten()
	c.send("a@moe.gov.sy", []string{"ali@mof.gov.sy"}, message("a@moe.gov.sy", "ali@mof.gov.sy", "v2", "x"), 250, "")
	r := e.refusals()
	if len(r) != 1 || r[0].Details["rule"] != "dmarc:fail p=reject" || r[0].Details["reason"] != policy.ReasonPolicy ||
		r[0].Details["header_from"] != "boss@moct.gov.sy" || r[0].Details["domain"] != "moct.gov.sy" {
		t.Fatalf("refusal events %+v", r)
	}
	box := e.inbox("ali@mof.gov.sy")
	if len(box) != 1 || !strings.HasPrefix(box[0], "Authentication-Results: mail.mof.gov.sy; spf=pass smtp.mailfrom=a@moe.gov.sy\r\nReceived: ") {
		t.Fatalf("verified message: %q", box)
	}
	if got := e.metric("auth_temporary", ""); got != 1 {
		t.Fatalf("auth_temporary refusals = %v, want 1", got)
	}
	s := e.login("ali@mof.gov.sy")
	s.send("ali@mof.gov.sy", []string{"sara@mof.gov.sy", "x@moe.gov.sy"}, message("ali@mof.gov.sy", "sara@mof.gov.sy", "signed", "x"), 250, "")
	box = e.inbox("sara@mof.gov.sy")
	if len(box) != 1 || !strings.HasPrefix(box[0], "DKIM-Signature: v=1; d=mof.gov.sy; b=test\r\nReceived: ") {
		t.Fatalf("signed message: %q", box)
	}
	if p, _ := e.queue.Pending(e.ctx, 0); len(p) != 1 {
		t.Fatalf("relay queue %+v", p)
	}
}

// TestInboundDropsForgedAuthenticationResults: Authentication-Results
// fields that a sender wrote in this server's name (its host name, in any
// case, after a comment, folded) are deleted from what is stored (RFC 8601
// §5); those of other servers stay, and the rest is byte for byte.
func TestInboundDropsForgedAuthenticationResults(t *testing.T) {
	e := newEnv(t, db.SQLite, func(o *smtp.Options) { o.Verifier = verifier{} })
	forged := "Authentication-Results: mail.mof.gov.sy; dmarc=pass header.from=mof.gov.sy\r\n" +
		"Authentication-Results: (trust me) MAIL.MOF.GOV.SY;\r\n\tdkim=pass header.d=mof.gov.sy\r\n" +
		"Authentication-Results:mail.mof.gov.sy;spf=pass\r\n"
	kept := "Authentication-Results: mail.moh.gov.sy; spf=pass smtp.mailfrom=a@moh.gov.sy\r\n" +
		"X-Note: Authentication-Results: mail.mof.gov.sy; dmarc=pass\r\n"
	msg := message("a@moh.gov.sy", "ali@mof.gov.sy", "ar", "Authentication-Results: mail.mof.gov.sy; in the body")
	c := e.inbound()
	c.send("a@moh.gov.sy", []string{"ali@mof.gov.sy"}, forged+kept+msg, 250, "")
	box := e.inbox("ali@mof.gov.sy")
	if len(box) != 1 {
		t.Fatalf("ali has %d messages", len(box))
	}
	own := "Authentication-Results: mail.mof.gov.sy; spf=pass smtp.mailfrom=a@moh.gov.sy\r\n"
	if !strings.HasPrefix(box[0], own) {
		t.Fatalf("stored message does not start with this server's field: %q", box[0])
	}
	_, rest := withoutReceived(t, strings.TrimPrefix(box[0], own))
	if rest != kept+msg {
		t.Fatalf("stored below Received:\n%q\nwant\n%q", rest, kept+msg)
	}
}
