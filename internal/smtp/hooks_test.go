package smtp_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/policy"
	"diwan.gov.sy/diwan/internal/smtp"
)

// verifier fails senders of one domain, enforcing.
type verifier struct{ fail string }

func (v verifier) Verify(_ context.Context, env smtp.Envelope, msg io.Reader) (smtp.Verdict, error) {
	if _, err := io.Copy(io.Discard, msg); err != nil {
		return smtp.Verdict{}, err
	}
	if strings.HasSuffix(env.From, "@"+v.fail) {
		return smtp.Verdict{Pass: false, Enforce: true, Rule: "dmarc:reject"}, nil
	}
	return smtp.Verdict{Pass: true}, nil
}

type signer struct{}

func (signer) Sign(_ context.Context, domain string, msg io.Reader) (string, error) {
	io.Copy(io.Discard, msg)
	return "DKIM-Signature: v=1; d=" + domain + "; b=test\r\n", nil
}

// TestSenderVerifierAndSignerPlaces: the places left for SPF/DKIM/DMARC
// (inbound) and DKIM signing (submission) are called with the whole
// message; a failed, enforced check is a 550 5.7.1 refusal, audited.
func TestSenderVerifierAndSignerPlaces(t *testing.T) {
	e := newEnv(t, db.SQLite, func(o *smtp.Options) {
		o.Verifier = verifier{fail: "moct.gov.sy"}
		o.Signer = signer{}
	})
	c := e.inbound()
	c.send("a@moct.gov.sy", []string{"ali@mof.gov.sy"}, message("a@moct.gov.sy", "ali@mof.gov.sy", "v1", "x"), 550, "5.7.1")
	c.send("a@moe.gov.sy", []string{"ali@mof.gov.sy"}, message("a@moe.gov.sy", "ali@mof.gov.sy", "v2", "x"), 250, "")
	if r := e.refusals(); len(r) != 1 || r[0].Details["rule"] != "auth:dmarc:reject" || r[0].Details["reason"] != policy.ReasonPolicy {
		t.Fatalf("refusal events %+v", r)
	}
	s := e.login("ali@mof.gov.sy")
	s.send("ali@mof.gov.sy", []string{"sara@mof.gov.sy", "x@moe.gov.sy"}, message("ali@mof.gov.sy", "sara@mof.gov.sy", "signed", "x"), 250, "")
	box := e.inbox("sara@mof.gov.sy")
	if len(box) != 1 || !strings.HasPrefix(box[0], "DKIM-Signature: v=1; d=mof.gov.sy; b=test\r\nReceived: ") {
		t.Fatalf("signed message: %q", box)
	}
	if p, _ := e.queue.Pending(e.ctx, 0); len(p) != 1 {
		t.Fatalf("relay queue %+v", p)
	}
}
