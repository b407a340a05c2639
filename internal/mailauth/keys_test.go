package mailauth_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/mailauth"
	"diwan.gov.sy/diwan/internal/secrets"
)

// clock is a settable clock shared by the Keys of one test ("nodes").
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// hosted is the directory's answer for the domains of these tests.
func hosted(_ context.Context, domain string) (bool, error) {
	switch domain {
	case "mof.gov.sy", "moh.gov.sy", "مالية.gov.sy":
		return true, nil
	}
	return false, nil
}

// newKeys is one node's Keys over d.
func newKeys(d *db.DB, master *secrets.MasterKey, c *clock) *mailauth.Keys {
	return mailauth.NewKeys(d, master, mailauth.KeysOptions{Hosted: hosted, RotationOverlap: 48 * time.Hour, Now: c.Now})
}

func count(t *testing.T, d *db.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := d.Writer().Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// publicKey decodes the p= of a record.
func publicKey(t *testing.T, r mailauth.Record) any {
	t.Helper()
	_, p, ok := strings.Cut(r.TXT, "; p=")
	if !ok {
		t.Fatalf("record %q has no p=", r.TXT)
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		t.Fatalf("p= of %s: %v", r.Selector, err)
	}
	if r.Algorithm == mailauth.AlgorithmEd25519 {
		return ed25519.PublicKey(der)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatalf("p= of %s: %v", r.Selector, err)
	}
	return pub
}

func TestEnsureGeneratesTheDomainKeysOnFirstUseAndKeepsThem(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		k := newKeys(d, secrets.Random(), newClock())
		recs, err := k.Ensure(ctx, "MOF.gov.sy.", false)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 {
			t.Fatalf("first use made %d records, want one RSA key: %+v", len(recs), recs)
		}
		r := recs[0]
		if r.Selector != "d20261206" || r.Algorithm != mailauth.AlgorithmRSA || !r.Active || r.RetiresAt != nil ||
			r.Name != "d20261206._domainkey.mof.gov.sy." || !strings.HasPrefix(r.TXT, "v=DKIM1; k=rsa; p=") {
			t.Fatalf("record %+v", r)
		}
		if pub, ok := publicKey(t, r).(*rsa.PublicKey); !ok || pub.N.BitLen() != 2048 {
			t.Fatalf("p= holds %T, want a 2048-bit RSA key", publicKey(t, r))
		}
		again, err := k.Ensure(ctx, "mof.gov.sy", false)
		if err != nil || len(again) != 1 || again[0] != r {
			t.Fatalf("second Ensure = %+v, %v; want the same record", again, err)
		}

		// --ed25519 adds the second key beside the first (RFC 8463 §3).
		recs, err = k.Ensure(ctx, "mof.gov.sy", true)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0] != r || recs[1].Selector != "d20261206e" || recs[1].Algorithm != mailauth.AlgorithmEd25519 ||
			!strings.HasPrefix(recs[1].TXT, "v=DKIM1; k=ed25519; p=") {
			t.Fatalf("with ed25519: %+v", recs)
		}
		if pub, ok := publicKey(t, recs[1]).(ed25519.PublicKey); !ok || len(pub) != ed25519.PublicKeySize {
			t.Fatalf("p= of the Ed25519 record holds %T", publicKey(t, recs[1]))
		}
		if n := count(t, d, "SELECT count(*) FROM dkim_keys"); n != 2 {
			t.Fatalf("%d keys stored, want 2", n)
		}
		if n := count(t, d, "SELECT count(*) FROM audit_events WHERE action = 'dkim.generate' AND target = 'domain:mof.gov.sy'"); n != 2 {
			t.Fatalf("%d dkim.generate audit events, want 2", n)
		}
	})
}

// RFC 1035 §3.3.14: a TXT record is character-strings of at most 255
// bytes; an RSA-2048 key's record is longer, so it is cut.
func TestRecordIsCutIntoStringsOfAtMost255Bytes(t *testing.T) {
	r := mailauth.Record{Name: "s._domainkey.mof.gov.sy.", TXT: "v=DKIM1; k=rsa; p=" + strings.Repeat("A", 392)}
	parts := r.Strings()
	if len(parts) != 2 || len(parts[0]) != 255 || strings.Join(parts, "") != r.TXT {
		t.Fatalf("Strings() = %d parts of %d bytes", len(parts), len(parts[0]))
	}
	want := `s._domainkey.mof.gov.sy. IN TXT ("` + parts[0] + `" "` + parts[1] + `")`
	if r.String() != want {
		t.Fatalf("String() = %s", r.String())
	}
}

func TestEnsureRefusesADomainNotHostedAndMakesNoKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		k := newKeys(d, secrets.Random(), newClock())
		if _, err := k.Ensure(ctx, "gmail.com", true); !errors.Is(err, directory.ErrNotHosted) {
			t.Fatalf("Ensure(gmail.com) = %v, want ErrNotHosted", err)
		}
		if _, err := k.Rotate(ctx, "gmail.com"); !errors.Is(err, directory.ErrNotHosted) {
			t.Fatalf("Rotate(gmail.com) = %v, want ErrNotHosted", err)
		}
		var ie *directory.InputError
		if _, err := k.Ensure(ctx, "not a domain", false); !errors.As(err, &ie) {
			t.Fatalf("Ensure(not a domain) = %v, want an input error", err)
		}
		if n := count(t, d, "SELECT count(*) FROM dkim_keys"); n != 0 {
			t.Fatalf("%d keys stored for refused domains", n)
		}
	})
}

// Two nodes signing a domain's first messages at the same moment both find
// no key; one key is made, and both sign with it.
func TestConcurrentFirstUseOnTwoNodesMakesOneKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		master, c := secrets.Random(), newClock()
		nodes := []*mailauth.Keys{newKeys(d, master, c), newKeys(d, master, c)}
		const n = 6
		selectors := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				recs, err := nodes[i%2].Ensure(context.Background(), "mof.gov.sy", i%3 == 0)
				errs[i] = err
				if err == nil && len(recs) > 0 {
					selectors[i] = recs[0].Selector
				}
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || selectors[i] != "d20261206" {
				t.Fatalf("Ensure %d: selector %q, %v", i, selectors[i], errs[i])
			}
		}
		if got := count(t, d, "SELECT count(*) FROM dkim_keys WHERE algorithm = 'rsa-sha256'"); got != 1 {
			t.Fatalf("%d RSA keys made, want 1", got)
		}
		if got := count(t, d, "SELECT count(*) FROM dkim_keys WHERE algorithm = 'ed25519-sha256'"); got != 1 {
			t.Fatalf("%d Ed25519 keys made, want 1", got)
		}
	})
}

// The private key in the database is sealed: it is no key as it stands,
// it does not open under another master key, and moved to another domain's
// row it does not open either.
func TestPrivateKeyIsStoredSealedUnderTheMasterKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		master, c := secrets.Random(), newClock()
		recs, err := newKeys(d, master, c).Ensure(ctx, "mof.gov.sy", false)
		if err != nil {
			t.Fatal(err)
		}
		var stored []byte
		if err := d.Writer().Raw("SELECT private_key FROM dkim_keys").Row().Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if _, err := x509.ParsePKCS8PrivateKey(stored); err == nil {
			t.Fatal("the stored private key parses as a plain PKCS #8 key")
		}
		modulus := publicKey(t, recs[0]).(*rsa.PublicKey).N.Bytes()
		if bytes.Contains(stored, modulus[:32]) || bytes.Contains(stored, []byte("PRIVATE KEY")) {
			t.Fatal("the stored private key holds the key's plain bytes")
		}
		msg := strings.NewReader("From: ali@mof.gov.sy\r\nSubject: x\r\n\r\nbody\r\n")
		if sig, err := mailauth.NewSigner(newKeys(d, master, c)).Sign(ctx, "mof.gov.sy", msg); err != nil || sig == "" {
			t.Fatalf("Sign with the right master key = %q, %v", sig, err)
		}
		_, err = mailauth.NewSigner(newKeys(d, secrets.Random(), c)).Sign(ctx, "mof.gov.sy", msg)
		if err == nil || !strings.Contains(err.Error(), "master key") {
			t.Fatalf("Sign under another master key = %v, want an error naming the master key", err)
		}
		if err := d.Writer().Exec("UPDATE dkim_keys SET domain = 'moh.gov.sy'").Error; err != nil {
			t.Fatal(err)
		}
		if _, err := mailauth.NewSigner(newKeys(d, master, c)).Sign(ctx, "moh.gov.sy", msg); err == nil {
			t.Fatal("a key moved to another domain's row still signs")
		}
	})
}
