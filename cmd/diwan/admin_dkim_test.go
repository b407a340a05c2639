package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/smtp"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-msgauth/dkim"

	"diwan.gov.sy/diwan/internal/resolver"
	"diwan.gov.sy/diwan/internal/testenv"
)

// dkimRecord is one record `admin domain dkim` printed.
type dkimRecord struct {
	comment string   // the comment line above it
	name    string   // "d20261206._domainkey.mof.gov.sy."
	strings []string // the TXT record's character-strings
}

var (
	recordLine = regexp.MustCompile(`^(\S+\._domainkey\.\S+\.) IN TXT \((.*)\)$`)
	txtString  = regexp.MustCompile(`"([^"]*)"`)
)

// parseDKIM reads the output of `admin domain dkim`: comment lines and zone
// file lines, nothing else.
func parseDKIM(t *testing.T, out string) []dkimRecord {
	t.Helper()
	var recs []dkimRecord
	comment := ""
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if strings.HasPrefix(l, "; ") {
			comment = l
			continue
		}
		m := recordLine.FindStringSubmatch(l)
		if m == nil || comment == "" {
			t.Fatalf("not a record after a comment: %q in\n%s", l, out)
		}
		r := dkimRecord{comment: comment, name: m[1]}
		for _, s := range txtString.FindAllStringSubmatch(m[2], -1) {
			if len(s[1]) > 255 {
				t.Fatalf("a TXT string of %d bytes (RFC 1035 allows 255): %s", len(s[1]), l)
			}
			r.strings = append(r.strings, s[1])
		}
		recs = append(recs, r)
		comment = ""
	}
	return recs
}

func (r dkimRecord) selector() string { s, _, _ := strings.Cut(r.name, "."); return s }

// zone is the dnsmasq configuration publishing recs.
func dkimZone(recs []dkimRecord) testenv.Zone {
	var z testenv.Zone
	for _, r := range recs {
		z = append(z, fmt.Sprintf(`txt-record=%s,"%s"`, strings.TrimSuffix(r.name, "."), strings.Join(r.strings, `","`)))
	}
	return z
}

func auditCount(t *testing.T, in *instance) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(in.ok("", "admin", "audit", "verify"), "ok %d events", &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// `diwan admin domain dkim` generates a domain's key on first use and
// prints its TXT record, then the same record; --ed25519 adds a second
// key; --rotate makes new keys and prints the old ones with the date until
// which they stay published. Every key made is an audit event; a domain
// not hosted is refused in one line.
func TestAdminDomainDKIMGeneratesRotatesAndPrintsRecords(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			// On PostgreSQL with dkim.rotation_overlap set, on SQLite with
			// its default.
			extra, overlap := "", 168*time.Hour
			if driver == "postgres" {
				extra = fmt.Sprintf("database: {driver: postgres, dsn: %q}\ndkim: {rotation_overlap: 36h}\n", testenv.Postgres(t))
				overlap = 36 * time.Hour
			}
			in := newInstance(t, extra)
			in.ok("", "admin", "ministry", "add", "MOF", "--name-ar", "وزارة المالية", "--name-en", "Ministry of Finance")
			in.ok("", "admin", "domain", "add", "mof.gov.sy", "--ministry", "MOF")
			before := auditCount(t, in)

			first := in.ok("", "admin", "domain", "dkim", "mof.gov.sy")
			recs := parseDKIM(t, first)
			if len(recs) != 1 || !regexp.MustCompile(`^d\d{8}$`).MatchString(recs[0].selector()) ||
				recs[0].name != recs[0].selector()+"._domainkey.mof.gov.sy." || len(recs[0].strings) != 2 ||
				!strings.HasPrefix(recs[0].strings[0], "v=DKIM1; k=rsa; p=") || !strings.Contains(recs[0].comment, "rsa-sha256, active") {
				t.Fatalf("first use printed:\n%s", first)
			}
			if again := in.ok("", "admin", "domain", "dkim", "MOF.GOV.SY"); again != first {
				t.Fatalf("second run printed another record:\n%s\nwant\n%s", again, first)
			}

			both := parseDKIM(t, in.ok("", "admin", "domain", "dkim", "mof.gov.sy", "--ed25519"))
			if len(both) != 2 || !slices.Equal(both[0].strings, recs[0].strings) || both[1].selector() != recs[0].selector()+"e" ||
				!strings.HasPrefix(both[1].strings[0], "v=DKIM1; k=ed25519; p=") {
				t.Fatalf("--ed25519 printed %+v", both)
			}

			rotatedAt := time.Now()
			out := in.ok("", "admin", "domain", "dkim", "mof.gov.sy", "--rotate")
			rotated := parseDKIM(t, out)
			if len(rotated) != 4 || rotated[0].selector() != recs[0].selector()+"-2" || rotated[1].selector() != recs[0].selector()+"-2e" ||
				rotated[2].selector() != both[0].selector() || rotated[3].selector() != both[1].selector() {
				t.Fatalf("--rotate printed:\n%s", out)
			}
			for _, r := range rotated[2:] {
				m := regexp.MustCompile(`retiring: keep it published until (\S+), then remove it`).FindStringSubmatch(r.comment)
				if m == nil {
					t.Fatalf("retiring record without its end: %q", r.comment)
				}
				end, err := time.Parse(time.RFC3339, m[1])
				if d := end.Sub(rotatedAt); err != nil || d < overlap-time.Hour || d > overlap+time.Hour {
					t.Fatalf("retires at %s, want dkim.rotation_overlap (%s) after the rotation", m[1], overlap)
				}
			}
			if shown := in.ok("", "admin", "domain", "dkim", "mof.gov.sy"); shown != out {
				t.Fatalf("after the rotation the domain's records are\n%s\nwant\n%s", shown, out)
			}
			if n := auditCount(t, in) - before; n != 3 {
				t.Fatalf("%d audit events for generate, generate Ed25519 and rotate; want 3", n)
			}

			in.fails("domain moh.gov.sy: domain not hosted here", "", "admin", "domain", "dkim", "moh.gov.sy")
			in.fails("not hosted", "", "admin", "domain", "dkim", "moh.gov.sy", "--rotate")
			in.fails("domain", "", "admin", "domain", "dkim", "bad domain..sy")
			if n := auditCount(t, in) - before; n != 3 {
				t.Fatalf("refused commands wrote %d audit events", n-3)
			}
		})
	}
}

// fetchRaw returns the whole of message seq of the selected mailbox.
func fetchRaw(t *testing.T, s *server, login, password string, seq uint32) string {
	t.Helper()
	ic, _ := s.openInbox(t, login, password)
	defer ic.Logout()
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := ic.Fetch(imap.SeqSetNum(seq), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch message %d: %v", seq, err)
	}
	return string(msgs[0].FindBodySection(section))
}

// submit sends one message on the submission listener.
func submit(t *testing.T, s *server, from, password, to, msg string) {
	t.Helper()
	c, err := smtp.Dial(s.addrOf(t, "smtp submission"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", from, password, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	c.Quit()
}

// verifiedSelectors checks raw's DKIM signatures with go-msgauth against
// the records served by a real DNS server through internal/resolver, and
// returns the selectors of those that verify for mof.gov.sy; any that
// does not verify fails the test.
func verifiedSelectors(t *testing.T, raw string, recs []dkimRecord) []string {
	t.Helper()
	res := resolver.New([]string{testenv.DNS(t, dkimZone(recs))})
	var mu sync.Mutex // go-msgauth looks up the signatures' keys in parallel
	var queried []string
	vs, err := dkim.VerifyWithOptions(strings.NewReader(raw), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		mu.Lock()
		queried = append(queried, name)
		mu.Unlock()
		return res.LookupTXT(context.Background(), name)
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != "mof.gov.sy" {
			t.Fatalf("signature of %s: %v\n%s", v.Domain, v.Err, raw)
		}
	}
	if len(vs) == 0 {
		t.Fatalf("the message has no DKIM signature:\n%s", raw)
	}
	var sels []string
	for _, q := range queried {
		sel, _, _ := strings.Cut(q, ".")
		sels = append(sels, sel)
	}
	slices.Sort(sels)
	return sels
}

// A message submitted on the submission port arrives DKIM-signed with the
// domain's active keys (RSA and Ed25519), and the signatures verify
// against the records `admin domain dkim` printed, served by DNS. After a
// rotation new mail is signed with the new keys, and mail signed before
// it still verifies against the records then printed.
func TestSubmittedMailIsDKIMSignedWithTheDomainActiveKeys(t *testing.T) {
	in := newInstance(t, `smtp: {hostname: mail.mof.gov.sy, inbound_addr: "", submission_addr: "127.0.0.1:0", submissions_addr: ""}
imap: {addr: "127.0.0.1:0", tls_addr: ""}
`)
	in.ok("", "admin", "ministry", "add", "MOF", "--name-ar", "وزارة المالية", "--name-en", "Ministry of Finance")
	in.ok("", "admin", "domain", "add", "mof.gov.sy", "--ministry", "MOF")
	in.ok("ali password long\n", "admin", "user", "add", "ali@mof.gov.sy", "--name", "Ali", "--ministry", "MOF", "--role", "staff", "--password-stdin")
	in.ok("sara password long\n", "admin", "user", "add", "sara@mof.gov.sy", "--name", "Sara", "--ministry", "MOF", "--role", "staff", "--password-stdin")
	recs := parseDKIM(t, in.ok("", "admin", "domain", "dkim", "mof.gov.sy", "--ed25519"))
	msg := func(n int) string {
		return fmt.Sprintf("From: Ali <ali@mof.gov.sy>\r\nTo: sara@mof.gov.sy\r\nSubject: =?UTF-8?B?%s?=\r\nMessage-ID: <%d@mof.gov.sy>\r\n"+
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nمرحبا %d\r\n", b64("موازنة العام القادم"), n, n)
	}

	s := in.serve()
	submit(t, s, "ali@mof.gov.sy", "ali password long", "sara@mof.gov.sy", msg(1))
	first := fetchRaw(t, s, "sara@mof.gov.sy", "sara password long", 1)
	if got, want := verifiedSelectors(t, first, recs), []string{recs[0].selector(), recs[1].selector()}; !slices.Equal(got, want) {
		t.Fatalf("signed with %v, want %v", got, want)
	}
	s.stop(t)

	rotated := parseDKIM(t, in.ok("", "admin", "domain", "dkim", "mof.gov.sy", "--rotate"))
	s = in.serve()
	submit(t, s, "ali@mof.gov.sy", "ali password long", "sara@mof.gov.sy", msg(2))
	second := fetchRaw(t, s, "sara@mof.gov.sy", "sara password long", 2)
	if got, want := verifiedSelectors(t, second, rotated), []string{rotated[0].selector(), rotated[1].selector()}; !slices.Equal(got, want) {
		t.Fatalf("after rotation signed with %v, want the new keys %v", got, want)
	}
	if got := verifiedSelectors(t, first, rotated); !slices.Equal(got, []string{recs[0].selector(), recs[1].selector()}) {
		t.Fatalf("mail signed before the rotation verified with %v", got)
	}
}
