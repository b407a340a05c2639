package mailauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

	"diwan.gov.sy/diwan/internal/mailauth"
	"diwan.gov.sy/diwan/internal/resolver"
	"diwan.gov.sy/diwan/internal/smtp"
	"diwan.gov.sy/diwan/internal/testenv"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

// rsaKey is one RSA-2048 key for the whole test binary.
func rsaKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		var err error
		if testKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return testKey
}

// dkimRecord is the dnsmasq option publishing the key under selector
// "sel" of domain, as strings of at most 200 octets (RFC 6376 §3.6.2.2).
func dkimRecord(t testing.TB, domain string) string {
	der, err := x509.MarshalPKIXPublicKey(&rsaKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	txt := "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	var parts []string
	for len(txt) > 200 {
		parts, txt = append(parts, `"`+txt[:200]+`"`), txt[200:]
	}
	parts = append(parts, `"`+txt+`"`)
	return "txt-record=sel._domainkey." + domain + "," + strings.Join(parts, ",")
}

// sign signs msg with d=domain, s=sel.
func sign(t testing.TB, domain, msg string) string {
	var b bytes.Buffer
	err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: "sel", Signer: rsaKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func message(from, subject string, bodyBytes int) string {
	body := strings.Repeat(strings.Repeat("x", 76)+"\r\n", max(1, bodyBytes/78))
	return "From: <" + from + ">\r\nTo: <ali@mof.gov.sy>\r\nSubject: " + subject +
		"\r\nDate: Sun, 1 Mar 2026 10:00:00 +0300\r\nMessage-ID: <" + subject + "@test>\r\n\r\n" + body
}

// zone is what the national DNS says of the test domains. The client is
// 127.0.0.1.
//   - moh.gov.sy: SPF allows the client, DKIM key, DMARC p=reject
//   - mod.gov.sy: SPF refuses the client, DKIM key, DMARC p=reject
//   - strict.gov.sy: SPF allows the client, DKIM key, DMARC p=reject
//     with strict alignment
//   - moe.gov.sy: SPF refuses the client, DMARC p=none
//   - mot.gov.sy: SPF refuses the client, no DMARC record
//   - mof.gov.sy (hosted): SPF refuses the client, no DMARC record
//
// Other names under gov.sy do not exist (local=: NXDOMAIN, not REFUSED).
func zone(t testing.TB) testenv.Zone {
	return testenv.Zone{
		"local=/gov.sy/",
		`txt-record=moh.gov.sy,"v=spf1 ip4:127.0.0.1 -all"`, dkimRecord(t, "moh.gov.sy"), `txt-record=_dmarc.moh.gov.sy,"v=DMARC1; p=reject"`,
		`txt-record=mod.gov.sy,"v=spf1 ip4:192.0.2.1 -all"`, dkimRecord(t, "mod.gov.sy"), `txt-record=_dmarc.mod.gov.sy,"v=DMARC1; p=reject"`,
		`txt-record=strict.gov.sy,"v=spf1 ip4:127.0.0.1 -all"`, dkimRecord(t, "strict.gov.sy"),
		`txt-record=_dmarc.strict.gov.sy,"v=DMARC1; p=reject; aspf=s; adkim=s"`,
		`txt-record=moe.gov.sy,"v=spf1 ip4:192.0.2.1 -all"`, `txt-record=_dmarc.moe.gov.sy,"v=DMARC1; p=none"`,
		`txt-record=mot.gov.sy,"v=spf1 ip4:192.0.2.1 -all"`,
		`txt-record=mof.gov.sy,"v=spf1 ip4:192.0.2.25 -all"`,
		`txt-record=relay.moh.gov.sy,"v=spf1 ip4:127.0.0.1 -all"`,
	}
}

func newVerifier(dns, mode string) *mailauth.Verifier {
	return mailauth.NewVerifier(mailauth.VerifierOptions{
		Resolver: resolver.New([]string{dns}),
		Mode:     mode,
		Hostname: "mail.mof.gov.sy",
		Hosted: func(_ context.Context, d string) (bool, error) {
			return d == "mof.gov.sy", nil
		},
		NationalSuffixes: []string{"gov.sy"},
	})
}

// results parses the Authentication-Results field of a verdict into
// "method=result" words with their properties, checking its form.
func results(t *testing.T, field string) (string, map[string]string) {
	t.Helper()
	name, value, ok := strings.Cut(field, ":")
	if !ok || name != "Authentication-Results" || !strings.HasSuffix(value, "\r\n") {
		t.Fatalf("field %q", field)
	}
	id, rs, err := authres.Parse(strings.ReplaceAll(strings.TrimSpace(value), "\r\n\t", " "))
	if err != nil {
		t.Fatalf("parse %q: %v", field, err)
	}
	out := map[string]string{}
	for _, r := range rs {
		switch r := r.(type) {
		case *authres.SPFResult:
			out["spf"] = fmt.Sprintf("%s mailfrom=%s helo=%s", r.Value, r.From, r.Helo)
		case *authres.DKIMResult:
			out["dkim"] += fmt.Sprintf("%s d=%s;", r.Value, r.Domain)
		case *authres.DMARCResult:
			out["dmarc"] = fmt.Sprintf("%s from=%s", r.Value, r.From)
		}
	}
	return id, out
}

// TestVerifierDecidesByDMARCWithAlignment: the verdict and the
// Authentication-Results of each kind of sender (RFC 7489 §3.1, §6.6).
func TestVerifierDecidesByDMARCWithAlignment(t *testing.T) {
	dns := testenv.DNS(t, zone(t))
	ctx := context.Background()
	for _, c := range []struct {
		name, mailFrom, helo, msg string
		mode                      string
		pass, enforce             bool
		rule                      string
		spf, dkim, dmarc          string
	}{
		{"aligned SPF and DKIM", "clerk@moh.gov.sy", "mail.moh.gov.sy", sign(t, "moh.gov.sy", message("clerk@moh.gov.sy", "a", 200)), "",
			true, false, "", "pass mailfrom=clerk@moh.gov.sy helo=", "pass d=moh.gov.sy;", "pass from=moh.gov.sy"},
		{"DKIM of the organisational domain, From of a subdomain", "x@mod.gov.sy", "h", sign(t, "mod.gov.sy", message("clerk@dept.mod.gov.sy", "b", 200)), "",
			true, false, "", "fail mailfrom=x@mod.gov.sy helo=", "pass d=mod.gov.sy;", "pass from=dept.mod.gov.sy"},
		{"SPF of a subdomain, relaxed", "list@relay.moh.gov.sy", "h", message("clerk@moh.gov.sy", "c", 200), "",
			true, false, "", "pass mailfrom=list@relay.moh.gov.sy helo=", "none d=;", "pass from=moh.gov.sy"},
		{"strict alignment refuses the organisational domain", "x@strict.gov.sy", "h", sign(t, "strict.gov.sy", message("clerk@dept.strict.gov.sy", "d", 200)), "",
			false, true, "dmarc:fail p=reject", "pass mailfrom=x@strict.gov.sy helo=", "pass d=strict.gov.sy;", "fail from=dept.strict.gov.sy"},
		{"unaligned DKIM pass under p=reject", "x@mod.gov.sy", "h", sign(t, "moh.gov.sy", message("boss@mod.gov.sy", "e", 200)), "",
			false, true, "dmarc:fail p=reject", "fail mailfrom=x@mod.gov.sy helo=", "pass d=moh.gov.sy;", "fail from=mod.gov.sy"},
		{"the same, reported only", "x@mod.gov.sy", "h", sign(t, "moh.gov.sy", message("boss@mod.gov.sy", "e", 200)), mailauth.ModeReport,
			false, false, "dmarc:fail p=reject", "fail mailfrom=x@mod.gov.sy helo=", "pass d=moh.gov.sy;", "fail from=mod.gov.sy"},
		{"p=none accepts", "x@moe.gov.sy", "h", message("boss@moe.gov.sy", "f", 200), "",
			false, false, "dmarc:fail p=none", "fail mailfrom=x@moe.gov.sy helo=", "none d=;", "fail from=moe.gov.sy"},
		{"no record, SPF fail, no DKIM", "x@mot.gov.sy", "h", message("boss@mot.gov.sy", "g", 200), "",
			false, true, "spf:fail+dkim:none", "fail mailfrom=x@mot.gov.sy helo=", "none d=;", "none from=mot.gov.sy"},
		{"no record, DKIM of another domain passes", "x@mot.gov.sy", "h", sign(t, "moh.gov.sy", message("boss@mot.gov.sy", "h", 200)), "",
			true, false, "", "fail mailfrom=x@mot.gov.sy helo=", "pass d=moh.gov.sy;", "none from=mot.gov.sy"},
		{"a body changed after signing", "x@mod.gov.sy", "h", sign(t, "mod.gov.sy", message("boss@mod.gov.sy", "i", 200)) + "more\r\n", "",
			false, true, "dmarc:fail p=reject", "fail mailfrom=x@mod.gov.sy helo=", "fail d=mod.gov.sy;", "fail from=mod.gov.sy"},
		{"a hosted From, reported only, is refused", "x@moh.gov.sy", "h", message("minister@mof.gov.sy", "j", 200), mailauth.ModeReport,
			false, true, "dmarc:none hosted-from", "pass mailfrom=x@moh.gov.sy helo=", "none d=;", "none from=mof.gov.sy"},
		{"a hosted domain hidden in a second From", "x@moh.gov.sy", "h", "From: <a@moh.gov.sy>\r\n" + message("minister@mof.gov.sy", "k", 200), mailauth.ModeReport,
			false, true, "dmarc:permerror hosted-from", "pass mailfrom=x@moh.gov.sy helo=", "none d=;", "permerror from="},
		{"a bounce: SPF of the HELO name", "", "mail.moh.gov.sy", message("mailer-daemon@moh.gov.sy", "l", 200), "",
			false, true, "dmarc:fail p=reject", "none mailfrom= helo=mail.moh.gov.sy", "none d=;", "fail from=moh.gov.sy"},
		{"a bounce from a HELO name SPF allows", "", "relay.moh.gov.sy", message("mailer-daemon@moh.gov.sy", "m", 200), "",
			true, false, "", "pass mailfrom= helo=relay.moh.gov.sy", "none d=;", "pass from=moh.gov.sy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := newVerifier(dns, c.mode)
			env := smtp.Envelope{Listener: smtp.Inbound, Client: "127.0.0.1", Helo: c.helo, From: c.mailFrom, To: []string{"ali@mof.gov.sy"}}
			got, err := v.Verify(ctx, env, strings.NewReader(c.msg))
			if err != nil {
				t.Fatal(err)
			}
			if got.Pass != c.pass || got.Enforce != c.enforce || got.Rule != c.rule {
				t.Errorf("verdict pass=%v enforce=%v rule=%q, want %v %v %q", got.Pass, got.Enforce, got.Rule, c.pass, c.enforce, c.rule)
			}
			id, rs := results(t, got.Header)
			if id != "mail.mof.gov.sy" || rs["spf"] != c.spf || rs["dkim"] != c.dkim || rs["dmarc"] != c.dmarc {
				t.Errorf("Authentication-Results %q: %s %q, want spf %q dkim %q dmarc %q", got.Header, id, rs, c.spf, c.dkim, c.dmarc)
			}
		})
	}
}

// TestVerifierDefersWhenDNSIsDown: with no DNS server answering, a message
// that would be refused is an error wrapping ErrSenderCheckUnavailable (a
// temporary reply), never a refusal; under report a message of a domain
// not hosted here is accepted with temperror.
func TestVerifierDefersWhenDNSIsDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	env := smtp.Envelope{Listener: smtp.Inbound, Client: "127.0.0.1", Helo: "h", From: "clerk@moh.gov.sy"}
	msg := sign(t, "moh.gov.sy", message("clerk@moh.gov.sy", "a", 200))
	_, err = newVerifier(dead, mailauth.ModeEnforce).Verify(context.Background(), env, strings.NewReader(msg))
	if !errors.Is(err, smtp.ErrSenderCheckUnavailable) {
		t.Fatalf("enforce with DNS down: %v, want ErrSenderCheckUnavailable", err)
	}
	got, err := newVerifier(dead, mailauth.ModeReport).Verify(context.Background(), env, strings.NewReader(msg))
	if err != nil || got.Enforce {
		t.Fatalf("report with DNS down: %+v, %v", got, err)
	}
	if _, rs := results(t, got.Header); rs["spf"] != "temperror mailfrom=clerk@moh.gov.sy helo=" || rs["dkim"] != "temperror d=moh.gov.sy;" || rs["dmarc"] != "temperror from=moh.gov.sy" {
		t.Fatalf("Authentication-Results %q", got.Header)
	}
}

// BenchmarkVerify10KiBSigned: the checks of one 10 KiB message signed
// with RSA-2048, every answer from dnsmasq over TCP (SPF, DKIM key, DMARC).
func BenchmarkVerify10KiBSigned(b *testing.B) {
	dns := testenv.DNS(b, zone(b))
	v := newVerifier(dns, mailauth.ModeEnforce)
	msg := sign(b, "moh.gov.sy", message("clerk@moh.gov.sy", "bench", 10<<10))
	env := smtp.Envelope{Listener: smtp.Inbound, Client: "127.0.0.1", Helo: "mail.moh.gov.sy", From: "clerk@moh.gov.sy"}
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for b.Loop() {
		got, err := v.Verify(context.Background(), env, strings.NewReader(msg))
		if err != nil || !got.Pass {
			b.Fatalf("%+v %v", got, err)
		}
	}
}
