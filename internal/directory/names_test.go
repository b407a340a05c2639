package directory_test

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/net/idna"

	"diwan.gov.sy/diwan/internal/directory"
)

func mustASCII(t testing.TB, s string) string {
	t.Helper()
	a, err := idna.ToASCII(s)
	if err != nil {
		t.Fatalf("idna.ToASCII(%q): %v", s, err)
	}
	return a
}

func wantInputError(t *testing.T, err error, field string) *directory.InputError {
	t.Helper()
	var ie *directory.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error = %v (%T), want *InputError for %q", err, err, field)
	}
	if ie.Field != field {
		t.Fatalf("InputError field = %q (%s), want %q", ie.Field, ie.Message, field)
	}
	return ie
}

func TestCanonicalDomainEquatesSpellingsOfOneDomain(t *testing.T) {
	arabic := "مالية.سوريا"
	tests := []struct {
		a, b, want string
	}{
		{"MOF.GOV.SY", "mof.gov.sy.", "mof.gov.sy"},
		{"Mof.Gov.Sy", "mof.gov.sy", "mof.gov.sy"},
		{"ｍｏｆ．ｇｏｖ．ｓｙ", "mof.gov.sy", "mof.gov.sy"}, // fullwidth forms and full stop
		{arabic, mustASCII(t, arabic), arabic},
		{arabic + ".", strings.ToUpper(mustASCII(t, arabic)), arabic},
		{"وزارة.gov.sy", mustASCII(t, "وزارة.gov.sy"), "وزارة.gov.sy"},
		{"Bücher.gov.sy", "xn--bcher-kva.gov.sy", "bücher.gov.sy"},
	}
	for _, tt := range tests {
		t.Run(tt.a, func(t *testing.T) {
			ca, err := directory.CanonicalDomain(tt.a)
			if err != nil {
				t.Fatalf("CanonicalDomain(%q): %v", tt.a, err)
			}
			cb, err := directory.CanonicalDomain(tt.b)
			if err != nil {
				t.Fatalf("CanonicalDomain(%q): %v", tt.b, err)
			}
			if ca != tt.want || cb != tt.want {
				t.Fatalf("CanonicalDomain(%q) = %q, CanonicalDomain(%q) = %q; want both %q", tt.a, ca, tt.b, cb, tt.want)
			}
		})
	}
}

func TestASCIIDomainGivesTheALabelForm(t *testing.T) {
	arabic := "مالية.سوريا"
	for in, want := range map[string]string{
		arabic:                 mustASCII(t, arabic),
		mustASCII(t, arabic):   mustASCII(t, arabic),
		"MOF.gov.SY.":          "mof.gov.sy",
		"bücher.gov.sy":        "xn--bcher-kva.gov.sy",
		"وزارة.gov.sy":         mustASCII(t, "وزارة.gov.sy"),
		"XN--BCHER-KVA.gov.sy": "xn--bcher-kva.gov.sy",
	} {
		got, err := directory.ASCIIDomain(in)
		if err != nil || got != want {
			t.Errorf("ASCIIDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if !strings.HasPrefix(mustASCII(t, arabic), "xn--") {
		t.Fatal("test premise: the Arabic name has an xn-- form")
	}
}

func TestCanonicalDomainRefusesWhatIsNotAHostName(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	tests := []struct {
		name, in, want string // want: a substring of the message
	}{
		{"empty", "", "empty"},
		{"space and empty label", "bad domain..sy", "space"},
		{"empty label", "bad..sy", "empty label"},
		{"leading dot", ".mof.gov.sy", "empty label"},
		{"two trailing dots", "mof.gov.sy..", "empty label"},
		{"only a dot", ".", "empty label"},
		{"label over 63 octets", strings.Repeat("a", 300) + ".gov.sy", "limit is 63"},
		{"label of 64 octets", strings.Repeat("a", 64) + ".sy", "limit is 63"},
		{"Arabic label over 63 octets in ASCII", strings.Repeat("م", 60) + ".sy", "limit is 63"},
		{"name over 253 octets", strings.Join([]string{label63, label63, label63, label63}, "."), "limit is 253"},
		{"IPv4", "192.168.1.1", "IP address"},
		{"IPv4 with dot", "192.168.1.1.", "IP address"},
		{"IPv4 bracketed", "[192.168.1.1]", "IP address"},
		{"IPv6", "::1", "IP address"},
		{"IPv6 bracketed", "[::1]", "IP address"},
		{"IPv6 literal", "[IPv6:2001:db8::1]", "IP address"},
		{"IPv6 full", "2001:db8::1", "IP address"},
		{"numeric top label", "mof.gov.123", "all-numeric"},
		{"single label", "localhost", "single label"},
		{"single label with dot", "sy.", "single label"},
		{"leading hyphen", "-mof.gov.sy", "hyphen"},
		{"trailing hyphen", "mof-.gov.sy", "hyphen"},
		{"underscore", "mo_f.gov.sy", "underscore"},
		{"underscore label", "_dmarc.gov.sy", "underscore"},
		{"at sign", "ali@mof.gov.sy", "not a valid domain"},
		{"slash", "mof.gov.sy/x", "not a valid domain"},
		{"bad punycode", "xn--zz-.gov.sy", "hyphen"},
		{"ASCII punycode", "xn--mof-.gov.sy", "hyphen"},
		{"punycode of a symbol", "xn--ls8h.gov.sy", "may not have"},
		{"symbol", "\u2665.gov.sy", "may not have"},
		{"bad punycode digits", "xn--99999999999.sy", "not a valid domain"},
		{"hyphens in positions 3 and 4", "ab--cd.gov.sy", "not a valid domain"},
		{"invalid UTF-8", "\xffmof.gov.sy", "UTF-8"},
		{"control character", "mof.gov.sy\x00", "control"},
		{"tab", "mof\t.gov.sy", "space"},
		{"mixed direction label", "abcمالية.sy", "not a valid domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := directory.CanonicalDomain(tt.in)
			if err == nil {
				t.Fatalf("CanonicalDomain(%q) = %q, want an error", tt.in, got)
			}
			ie := wantInputError(t, err, "domain")
			if !strings.Contains(ie.Message, tt.want) {
				t.Fatalf("CanonicalDomain(%q) error %q does not say %q", tt.in, ie.Message, tt.want)
			}
			if _, err := directory.ASCIIDomain(tt.in); err == nil {
				t.Fatalf("ASCIIDomain(%q) accepted it", tt.in)
			}
		})
	}
}

func TestCanonicalDomainAcceptsTheLimits(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	name253 := strings.Join([]string{label63, label63, label63, strings.Repeat("b", 61)}, ".")
	if len(name253) != 253 {
		t.Fatalf("test premise: %d octets", len(name253))
	}
	for _, in := range []string{name253, name253 + ".", label63 + ".sy", "a.sy", "mof-1.gov.sy", "1.gov.sy"} {
		if got, err := directory.CanonicalDomain(in); err != nil || got != strings.TrimSuffix(in, ".") {
			t.Errorf("CanonicalDomain(%q) = %q, %v", in, got, err)
		}
	}
}

func TestCanonicalAddressAccepts(t *testing.T) {
	arabic := "مالية.سوريا"
	tests := []struct {
		in, local, domain string
	}{
		{"ali@mof.gov.sy", "ali", "mof.gov.sy"},
		{"Ali@MOF.GOV.SY.", "ali", "mof.gov.sy"},
		{"ALI.Hassan+tag@mof.gov.sy", "ali.hassan+tag", "mof.gov.sy"},
		{"علي@" + arabic, "علي", arabic},
		{"علي@" + mustASCII(t, arabic), "علي", arabic},
		{"ÉLISE@mof.gov.sy", "Élise", "mof.gov.sy"},    // only ASCII letters are folded
		{"e\u0301@mof.gov.sy", "\u00e9", "mof.gov.sy"}, // NFC
		{"o'brien!#$%&*/=?^_`{|}~-@mof.gov.sy", "o'brien!#$%&*/=?^_`{|}~-", "mof.gov.sy"},
		{strings.Repeat("a", 64) + "@mof.gov.sy", strings.Repeat("a", 64), "mof.gov.sy"},
	}
	for _, tt := range tests {
		local, domain, err := directory.CanonicalAddress(tt.in)
		if err != nil || local != tt.local || domain != tt.domain {
			t.Errorf("CanonicalAddress(%q) = %q, %q, %v; want %q, %q", tt.in, local, domain, err, tt.local, tt.domain)
		}
	}
}

func TestCanonicalAddressRefuses(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty"},
		{"no at", "ali", "no @"},
		{"empty local", "@mof.gov.sy", "source route"},
		{"empty domain", "ali@", "nothing after"},
		{"quoted", `"ali"@mof.gov.sy`, "quoted"},
		{"quoted with at", `"a@b"@mof.gov.sy`, "quoted"},
		{"at in local", "a@b@mof.gov.sy", "@ in its local part"},
		{"source route", "@relay.gov.sy:ali@mof.gov.sy", "source route"},
		{"source route list", "@a.sy,@b.sy:ali@mof.gov.sy", "source route"},
		{"space", "ali hassan@mof.gov.sy", "space"},
		{"NUL", "ali\x00@mof.gov.sy", "control"},
		{"CRLF", "ali\r\n@mof.gov.sy", "control"},
		{"DEL", "ali\x7f@mof.gov.sy", "control"},
		{"C1 control", "ali\u0085@mof.gov.sy", "control"},
		{"zero-width space", "a\u200bli@mof.gov.sy", "invisible"},
		{"right-to-left mark", "\u200fعلي@mof.gov.sy", "invisible"},
		{"local over 64 octets", strings.Repeat("a", 65) + "@mof.gov.sy", "limit is 64"},
		{"Arabic local over 64 octets", strings.Repeat("ع", 33) + "@mof.gov.sy", "limit is 64"},
		{"leading dot", ".ali@mof.gov.sy", "dot"},
		{"trailing dot", "ali.@mof.gov.sy", "dot"},
		{"two dots", "a..li@mof.gov.sy", "dot"},
		{"parenthesis", "ali(x)@mof.gov.sy", "may not have"},
		{"backslash", `a\li@mof.gov.sy`, "may not have"},
		{"angle brackets", "<ali@mof.gov.sy>", "may not have"},
		{"IP literal", "ali@[192.168.1.1]", "IP address"},
		{"single label domain", "ali@localhost", "single label"},
		{"bad domain", "ali@bad..sy", "empty label"},
		{"invalid UTF-8", "al\xffi@mof.gov.sy", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, d, err := directory.CanonicalAddress(tt.in)
			if err == nil {
				t.Fatalf("CanonicalAddress(%q) = %q, %q; want an error", tt.in, l, d)
			}
			ie := wantInputError(t, err, "address")
			if !strings.Contains(ie.Message, tt.want) {
				t.Fatalf("CanonicalAddress(%q) error %q does not say %q", tt.in, ie.Message, tt.want)
			}
		})
	}
}

func TestCanonicalLoginIsAdminOrAnAddress(t *testing.T) {
	for in, want := range map[string]string{"admin": "admin", "ADMIN": "admin", "Ali@MOF.gov.sy": "ali@mof.gov.sy"} {
		if got, err := directory.CanonicalLogin(in); err != nil || got != want {
			t.Errorf("CanonicalLogin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "root", "admin ", "admin@", " admin"} {
		_, err := directory.CanonicalLogin(in)
		if err == nil {
			t.Errorf("CanonicalLogin(%q) accepted", in)
			continue
		}
		wantInputError(t, err, "login")
	}
}

func TestGeneratePasswordIsLongReadableAndRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		p := directory.GeneratePassword()
		if len(p) < 16 {
			t.Fatalf("generated password %q has %d characters, want at least 16", p, len(p))
		}
		for _, c := range p {
			if strings.ContainsRune("0O1lI", c) || c > 127 || c <= ' ' {
				t.Fatalf("generated password %q has the ambiguous or unprintable %q", p, c)
			}
		}
		if seen[p] {
			t.Fatalf("generated password %q twice", p)
		}
		seen[p] = true
	}
}

// Canonical forms are fixed points, and the ASCII and Unicode forms name
// the same domain.
func FuzzCanonicalDomain(f *testing.F) {
	for _, s := range []string{"mof.gov.sy", "MOF.GOV.SY.", "مالية.سوريا", "xn--bcher-kva.gov.sy", "bad domain..sy", "[::1]", "a.b", "ｍｏｆ．ｓｙ", "a\u3002b.sy"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		canon, err := directory.CanonicalDomain(s)
		if err != nil {
			var ie *directory.InputError
			if !errors.As(err, &ie) || ie.Field != "domain" {
				t.Fatalf("CanonicalDomain(%q) error %v is not an InputError for domain", s, err)
			}
			return
		}
		again, err := directory.CanonicalDomain(canon)
		if err != nil || again != canon {
			t.Fatalf("CanonicalDomain(%q) = %q, but CanonicalDomain(%q) = %q, %v", s, canon, canon, again, err)
		}
		ascii, err := directory.ASCIIDomain(s)
		if err != nil {
			t.Fatalf("ASCIIDomain(%q): %v (CanonicalDomain accepted it)", s, err)
		}
		if len(ascii) > 253 {
			t.Fatalf("ASCIIDomain(%q) = %d octets", s, len(ascii))
		}
		if back, err := directory.CanonicalDomain(ascii); err != nil || back != canon {
			t.Fatalf("CanonicalDomain(ASCIIDomain(%q) = %q) = %q, %v; want %q", s, ascii, back, err, canon)
		}
	})
}

func FuzzCanonicalAddress(f *testing.F) {
	for _, s := range []string{"ali@mof.gov.sy", "Ali@MOF.GOV.SY.", "علي@مالية.سوريا", `"a"@b.sy`, "@a:b@c.sy", "a@b@c.sy"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		local, domain, err := directory.CanonicalAddress(s)
		if err != nil {
			return
		}
		l2, d2, err := directory.CanonicalAddress(local + "@" + domain)
		if err != nil || l2 != local || d2 != domain {
			t.Fatalf("CanonicalAddress(%q) = %q@%q, not a fixed point: %q@%q, %v", s, local, domain, l2, d2, err)
		}
	})
}
