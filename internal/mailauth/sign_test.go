package mailauth_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/mailauth"
	"diwan.gov.sy/diwan/internal/resolver"
	"diwan.gov.sy/diwan/internal/secrets"
	"diwan.gov.sy/diwan/internal/testenv"
)

const testMessage = "From: Ali <ali@mof.gov.sy>\r\nTo: sara@moh.gov.sy\r\nSubject: =?UTF-8?B?2YXZiNin2LLZhtip?=\r\n" +
	"Date: Sun, 06 Dec 2026 09:30:00 +0300\r\nMessage-ID: <1@mof.gov.sy>\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n\r\nمرحبا  \r\n\r\n"

// publish serves the records on a real DNS server (dnsmasq) and returns
// the resolver of dns.servers pointed at it, as Diwan's verifier uses it.
func publish(t *testing.T, recs []mailauth.Record) func(string) ([]string, error) {
	t.Helper()
	var zone testenv.Zone
	for _, r := range recs {
		zone = append(zone, fmt.Sprintf(`txt-record=%s,"%s"`, strings.TrimSuffix(r.Name, "."), strings.Join(r.Strings(), `","`)))
	}
	res := resolver.New([]string{testenv.DNS(t, zone)})
	return func(name string) ([]string, error) { return res.LookupTXT(context.Background(), name) }
}

// verify checks every DKIM signature of msg with go-msgauth and returns
// the verifications.
func verify(t *testing.T, msg string, lookup func(string) ([]string, error)) []*dkim.Verification {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(strings.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return vs
}

var selectorTag = regexp.MustCompile(`[;\s]s=([^;\s]+)`)

// selectors lists the s= of the signature fields sig.
func selectors(sig string) []string {
	var out []string
	for _, m := range selectorTag.FindAllStringSubmatch(sig, -1) {
		out = append(out, m[1])
	}
	return out
}

// A message signed here verifies with go-msgauth against the TXT records
// Ensure returns, served by a real DNS server through internal/resolver:
// RSA (RFC 6376) and Ed25519 (RFC 8463), for an ASCII and an IDN domain.
func TestSignedMailVerifiesAgainstThePublishedRecords(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		k := newKeys(d, secrets.Random(), newClock())
		recs, err := k.Ensure(ctx, "mof.gov.sy", true)
		if err != nil {
			t.Fatal(err)
		}
		idn, err := k.Ensure(ctx, "مالية.gov.sy", false)
		if err != nil {
			t.Fatal(err)
		}
		lookup := publish(t, append(recs, idn...))
		s := mailauth.NewSigner(k)

		sig, err := s.Sign(ctx, "mof.gov.sy", strings.NewReader(testMessage))
		if err != nil {
			t.Fatal(err)
		}
		if got := selectors(sig); !slices.Equal(got, []string{"d20261206", "d20261206e"}) || !strings.HasSuffix(sig, "\r\n") {
			t.Fatalf("signature fields %q: selectors %v, want the RSA and the Ed25519 key's, ending in CRLF", sig, got)
		}
		vs := verify(t, sig+testMessage, lookup)
		if len(vs) != 2 {
			t.Fatalf("%d verifications, want 2", len(vs))
		}
		for _, v := range vs {
			if v.Err != nil || v.Domain != "mof.gov.sy" {
				t.Fatalf("verification %+v: %v", v, v.Err)
			}
			if n := slices.IndexFunc(v.HeaderKeys, func(h string) bool { return strings.EqualFold(h, "from") }); n < 0 || !strings.EqualFold(v.HeaderKeys[n+1], "from") {
				t.Fatalf("signed header fields %v: want From twice (oversigned)", v.HeaderKeys)
			}
		}
		// relaxed/relaxed: whitespace changes on the way still verify; a
		// changed subject or a second From does not.
		relaxed := strings.Replace(sig+testMessage, "Subject: ", "Subject:   ", 1)
		for _, v := range verify(t, relaxed, lookup) {
			if v.Err != nil {
				t.Fatalf("relaxed canonicalisation: %v", v.Err)
			}
		}
		for _, forged := range []string{
			strings.Replace(sig+testMessage, "Subject: =?UTF-8?B?2YXZiNin2LLZhtip?=", "Subject: urgent", 1),
			strings.Replace(sig+testMessage, "From: Ali", "From: boss@mof.gov.sy\r\nFrom: Ali", 1),
		} {
			for _, v := range verify(t, forged, lookup) {
				if v.Err == nil {
					t.Fatalf("a changed message verifies:\n%s", forged)
				}
			}
		}

		idnSig, err := s.Sign(ctx, "مالية.gov.sy", strings.NewReader(testMessage))
		if err != nil {
			t.Fatal(err)
		}
		vs = verify(t, idnSig+testMessage, lookup)
		if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "xn--mgbe4fc1a.gov.sy" {
			t.Fatalf("IDN domain: %+v", vs[0])
		}
	})
}

func TestSignerSignsNothingForADomainNotHosted(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := mailauth.NewSigner(newKeys(d, secrets.Random(), newClock()))
		for _, dom := range []string{"gmail.com", "", "not a domain"} {
			sig, err := s.Sign(context.Background(), dom, strings.NewReader(testMessage))
			if sig != "" || err != nil {
				t.Fatalf("Sign(%q) = %q, %v; want nothing", dom, sig, err)
			}
		}
		if n := count(t, d, "SELECT count(*) FROM dkim_keys"); n != 0 {
			t.Fatalf("%d keys made for domains not hosted", n)
		}
	})
}

// A message of header fields only (RFC 5322 §3.5: the body is optional)
// is signed as one with an empty body.
func TestSignerSignsAMessageWithoutBody(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	k := newKeys(d, secrets.Random(), newClock())
	recs, err := k.Ensure(context.Background(), "mof.gov.sy", true)
	if err != nil {
		t.Fatal(err)
	}
	lookup := publish(t, recs)
	for _, msg := range []string{"From: ali@mof.gov.sy\r\nSubject: x\r\n", "From: ali@mof.gov.sy\r\nSubject: x"} {
		sig, err := mailauth.NewSigner(k).Sign(context.Background(), "mof.gov.sy", strings.NewReader(msg))
		if err != nil {
			t.Fatalf("%q: %v", msg, err)
		}
		whole := sig + strings.TrimSuffix(msg, "\r\n") + "\r\n\r\n"
		for _, v := range verify(t, whole, lookup) {
			if v.Err != nil {
				t.Fatalf("%q: %v", msg, v.Err)
			}
		}
	}
}

// After a rotation the new keys sign and the old ones stay published,
// with their retirement, until it passes.
func TestRotateSignsWithNewKeysAndKeepsTheOldPublishedUntilTheyRetire(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		c := newClock()
		k := newKeys(d, secrets.Random(), c)
		old, err := k.Ensure(ctx, "mof.gov.sy", true)
		if err != nil {
			t.Fatal(err)
		}
		c.Add(time.Hour)
		recs, err := k.Rotate(ctx, "mof.gov.sy")
		if err != nil {
			t.Fatal(err)
		}
		retires := c.Now().Add(48 * time.Hour)
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%s %s %v", r.Selector, r.Algorithm, r.Active))
			if !r.Active && (r.RetiresAt == nil || !r.RetiresAt.Equal(retires)) {
				t.Fatalf("retiring record %s retires at %v, want %v", r.Selector, r.RetiresAt, retires)
			}
		}
		want := []string{"d20261206-2 rsa-sha256 true", "d20261206-2e ed25519-sha256 true",
			"d20261206 rsa-sha256 false", "d20261206e ed25519-sha256 false"}
		if !slices.Equal(got, want) {
			t.Fatalf("after rotation: %v, want %v", got, want)
		}
		if recs[2].TXT != old[0].TXT || recs[3].TXT != old[1].TXT {
			t.Fatal("the retiring records are not the old keys'")
		}
		sig, err := mailauth.NewSigner(k).Sign(ctx, "mof.gov.sy", strings.NewReader(testMessage))
		if err != nil || !slices.Equal(selectors(sig), []string{"d20261206-2", "d20261206-2e"}) {
			t.Fatalf("signed after rotation with %v (%v), want the new keys", selectors(sig), err)
		}
		for _, v := range verify(t, sig+testMessage, publish(t, recs)) {
			if v.Err != nil {
				t.Fatal(v.Err)
			}
		}
		if n := count(t, d, "SELECT count(*) FROM audit_events WHERE action = 'dkim.rotate'"); n != 1 {
			t.Fatalf("%d dkim.rotate events, want 1", n)
		}

		c.Add(48*time.Hour + time.Second)
		recs, err = k.Ensure(ctx, "mof.gov.sy", false)
		if err != nil || len(recs) != 2 || recs[0].Selector != "d20261206-2" || recs[1].Selector != "d20261206-2e" {
			t.Fatalf("after the overlap: %+v, %v; want only the new keys", recs, err)
		}
	})
}

// A rotation on another node reaches a node's signer within a minute; until
// then the signer uses the keys it holds decrypted.
func TestSignerTakesARotationOnAnotherNodeWithinAMinute(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		master, c := secrets.Random(), newClock()
		here, there := mailauth.NewSigner(newKeys(d, master, c)), newKeys(d, master, c)
		sign := func() []string {
			t.Helper()
			sig, err := here.Sign(ctx, "mof.gov.sy", strings.NewReader(testMessage))
			if err != nil {
				t.Fatal(err)
			}
			return selectors(sig)
		}
		if got := sign(); !slices.Equal(got, []string{"d20261206"}) {
			t.Fatalf("first message signed with %v", got)
		}
		if _, err := there.Rotate(ctx, "mof.gov.sy"); err != nil {
			t.Fatal(err)
		}
		c.Add(30 * time.Second)
		if got := sign(); !slices.Equal(got, []string{"d20261206"}) {
			t.Fatalf("30 s after the rotation signed with %v, want the cached key", got)
		}
		c.Add(31 * time.Second)
		if got := sign(); !slices.Equal(got, []string{"d20261206-2"}) {
			t.Fatalf("61 s after the rotation signed with %v, want the new key", got)
		}
	})
}

// BenchmarkSign is the cost of signing a 10 KiB message with a domain's
// cached keys.
func BenchmarkSign(b *testing.B) {
	body := bytes.Repeat([]byte("نص الرسالة، سطر من سبعين حرفاً تقريباً، في جسم الرسالة.\r\n"), 10<<10/100)
	msg := append([]byte(strings.TrimSuffix(testMessage, "مرحبا  \r\n\r\n")), body...)
	for _, ed := range []bool{false, true} {
		name := "rsa"
		if ed {
			name = "rsa+ed25519"
		}
		b.Run(fmt.Sprintf("%s/%dKiB", name, len(msg)>>10), func(b *testing.B) {
			d := dbtest.Open(b, db.SQLite)
			k := newKeys(d, secrets.Random(), newClock())
			if _, err := k.Ensure(context.Background(), "mof.gov.sy", ed); err != nil {
				b.Fatal(err)
			}
			s := mailauth.NewSigner(k)
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := s.Sign(context.Background(), "mof.gov.sy", bytes.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
