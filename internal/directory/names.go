package directory

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// idnaProfile is the strict lookup profile of UTS #46 (RFC 5891 §5):
// Unicode mapping (case folding, width, NFC), STD3 ASCII rules (letters,
// digits, hyphen), hyphen and joiner checks, the Bidi rule (RFC 5893), and
// nontransitional processing (IDNA2008: "ß" stays "ß"). Lengths are checked
// by CanonicalDomain itself so that its errors say which limit was passed.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.VerifyDNSLength(false),
)

// Domain name limits in octets of the ASCII (xn--) form, RFC 1035 §2.3.4.
const (
	maxLabelOctets  = 63
	maxDomainOctets = 253 // without the root's trailing dot
	maxLocalOctets  = 64  // RFC 5321 §4.5.3.1.1
)

// CanonicalDomain returns the canonical form of a domain name: Unicode
// (U-labels), lower case after IDNA mapping, without a trailing dot. Two
// spellings of one domain — "MOF.GOV.SY" and "mof.gov.sy.", or "مالية.سوريا"
// and its xn-- form — have the same canonical form, which is what Diwan
// stores and compares.
//
// It refuses, with an *InputError for the field "domain": the empty name, IP
// addresses (v4 or v6, bracketed or not), names with spaces or control
// characters, empty labels, a single label, labels that start or end with a
// hyphen or contain an underscore, labels over 63 octets or names over 253
// octets (counted in the ASCII form), and anything IDNA2008/UTS #46 refuses.
func CanonicalDomain(s string) (string, error) {
	_, uni, err := canonicalDomain(s)
	return uni, err
}

// ASCIIDomain returns the ASCII (A-label, "xn--") form of a domain name in
// any accepted spelling; for an all-ASCII name it is the canonical name.
// This is the form DNS, SMTP without SMTPUTF8 and DKIM use.
func ASCIIDomain(name string) (string, error) {
	ascii, _, err := canonicalDomain(name)
	return ascii, err
}

func canonicalDomain(s string) (ascii, uni string, err error) {
	bad := func(format string, args ...any) (string, string, error) {
		return "", "", inputErr("domain", fmt.Sprintf(format, args...))
	}
	if s == "" {
		return bad("the domain name is empty")
	}
	if !utf8.ValidString(s) {
		return bad("the domain name is not valid UTF-8 text")
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return bad("%s contains a space or a control character", show(s))
		}
	}
	if isIPLiteral(s) {
		return bad("%s is an IP address, not a domain name", show(s))
	}
	name := strings.TrimSuffix(s, ".")
	// First the structural rules on the name as given, for clear messages;
	// then again on the ASCII form, because IDNA mapping can introduce
	// dots and hyphens (U+3002 IDEOGRAPHIC FULL STOP, fullwidth forms).
	if msg := checkLabels(name, false); msg != "" {
		return bad("%s %s", show(s), msg)
	}
	ascii, err = idnaProfile.ToASCII(name)
	if err != nil {
		return bad("%s is not a valid domain name (%s)", show(s), strings.TrimPrefix(err.Error(), "idna: "))
	}
	if msg := checkLabels(ascii, true); msg != "" {
		return bad("%s %s", show(s), msg)
	}
	uni, err = idnaProfile.ToUnicode(ascii)
	if err != nil {
		return bad("%s is not a valid domain name (%s)", show(s), strings.TrimPrefix(err.Error(), "idna: "))
	}
	for _, r := range uni {
		if !idna2008Rune(r) {
			return bad("%s has the character %q (U+%04X), which domain names may not have (IDNA2008)", show(s), r, r)
		}
	}
	return ascii, uni, nil
}

// idna2008Rune approximates the PVALID runes of IDNA2008 (RFC 5892 §2.1,
// §2.2: letters, combining marks, decimal digits) plus the hyphen, the
// dot and the joiners (whose context the IDNA profile checks). UTS #46
// lets symbols such as emoji through ("xn--ls8h" is "💩"); IDNA2008, which
// registries follow, does not.
func idna2008Rune(r rune) bool {
	switch {
	case r == '-' || r == '.' || r == '\u200c' || r == '\u200d':
		return true
	case r < utf8.RuneSelf:
		return 'a' <= r && r <= 'z' || '0' <= r && r <= '9'
	}
	return unicode.In(r, unicode.Ll, unicode.Lu, unicode.Lo, unicode.Lm, unicode.Mn, unicode.Mc, unicode.Nd)
}

// checkLabels applies the host name rules to name (without a trailing dot)
// and returns what is wrong, or "". Octet limits apply to the ASCII form
// only (final).
func checkLabels(name string, final bool) string {
	labels := strings.Split(name, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return "has an empty label (two dots in a row, or a dot at the start)"
		case strings.Contains(l, "_"):
			return "contains an underscore, which host names may not have"
		case strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-"):
			return fmt.Sprintf("has the label %s, which starts or ends with a hyphen", show(l))
		case final && len(l) > maxLabelOctets:
			return fmt.Sprintf("has a label of %d octets; the limit is %d", len(l), maxLabelOctets)
		}
	}
	if !final {
		return ""
	}
	if len(labels) < 2 {
		return "is a single label; a hosted or national domain has at least one dot"
	}
	if len(name) > maxDomainOctets {
		return fmt.Sprintf("is %d octets long; the limit is %d", len(name), maxDomainOctets)
	}
	// RFC 3696 §2: a top-level label is never all-numeric. This also
	// catches IPv4 addresses written with digits that map to ASCII.
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "ends in an all-numeric label, like an IP address"
	}
	return ""
}

// isIPLiteral reports whether s is an IP address or an address literal
// ("[192.0.2.1]", "[IPv6:2001:db8::1]", RFC 5321 §4.1.3).
func isIPLiteral(s string) bool {
	if strings.HasPrefix(s, "[") || strings.HasSuffix(s, "]") {
		return true
	}
	_, err := netip.ParseAddr(strings.TrimSuffix(s, "."))
	return err == nil
}

// CanonicalAddress splits a mail address into its canonical local part and
// canonical domain (see CanonicalDomain). The stored and compared address
// is local + "@" + domain.
//
// The local part is a dot-atom (RFC 5321 §4.1.2) whose characters may also
// be any non-ASCII UTF-8 (RFC 6531, SMTPUTF8). It is normalised to NFC
// (RFC 6532 §3.1) and its ASCII letters are lower-cased: RFC 5321 lets a
// server treat local parts case-sensitively, but Diwan hosts every mailbox
// it accepts and decides that "Ali@" and "ali@" are one mailbox, as users
// expect. Non-ASCII letters are compared as given: Unicode case folding of
// local parts is not standardised, and Arabic has no case.
//
// It refuses, with an *InputError for the field "address": an empty
// address or part, a quoted local part, "@" in the local part, source
// routes ("@relay:user@domain"), spaces, control and invisible formatting
// characters, a local part over 64 octets, and a bad domain.
func CanonicalAddress(s string) (local, domain string, err error) {
	bad := func(format string, args ...any) (string, string, error) {
		return "", "", inputErr("address", fmt.Sprintf(format, args...))
	}
	if s == "" {
		return bad("the address is empty")
	}
	if !utf8.ValidString(s) {
		return bad("the address is not valid UTF-8 text")
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return bad("%s contains a space or a control character", show(s))
		}
		if unicode.Is(unicode.Cf, r) {
			return bad("%s contains an invisible formatting character (U+%04X)", show(s), r)
		}
	}
	if strings.HasPrefix(s, "@") {
		return bad("%s is a source route; give the plain address", show(s))
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return bad("%s is not an address: it has no @", show(s))
	}
	local, dom := s[:at], s[at+1:]
	switch {
	case local == "":
		return bad("%s has nothing before the @", show(s))
	case dom == "":
		return bad("%s has nothing after the @", show(s))
	case strings.HasPrefix(local, `"`):
		return bad("%s has a quoted local part; Diwan does not accept those", show(s))
	case strings.Contains(local, "@"):
		return bad("%s has an @ in its local part", show(s))
	}
	local = norm.NFC.String(local)
	if len(local) > maxLocalOctets {
		return bad("the local part of %s is %d octets long; the limit is %d", show(s), len(local), maxLocalOctets)
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return bad("the local part of %s has a dot at its start or end, or two in a row", show(s))
	}
	for _, r := range local {
		if r < utf8.RuneSelf && !isAtext(byte(r)) && r != '.' {
			return bad("the local part of %s contains %q, which addresses may not have unquoted", show(s), r)
		}
	}
	domain, err = CanonicalDomain(dom)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			return "", "", inputErr("address", ie.Message)
		}
		return "", "", err
	}
	return asciiLower(local), domain, nil
}

// isAtext reports whether c is an atext character of RFC 5322 §3.2.3.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// BootstrapLogin is the login of the bootstrap administrator, the one
// account whose login is not an address (no domain is hosted yet when it
// is created).
const BootstrapLogin = "admin"

// CanonicalLogin returns the stored form of a login: BootstrapLogin (in any
// ASCII case), or a canonical address "local@domain". Anything else is an
// *InputError for the field "login".
func CanonicalLogin(s string) (string, error) {
	if strings.EqualFold(s, BootstrapLogin) {
		return BootstrapLogin, nil
	}
	local, domain, err := CanonicalAddress(s)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			return "", inputErr("login", ie.Message)
		}
		return "", err
	}
	return local + "@" + domain, nil
}

// canonicalMinistryCode upper-cases an ASCII code and checks it: 2 to 16
// characters of A-Z, 0-9, "_" and "-", starting with a letter or digit.
func canonicalMinistryCode(field, s string) (string, error) {
	code := strings.ToUpper(s)
	if code == "" {
		return "", inputErr(field, "the ministry code is empty")
	}
	if len(code) < 2 || len(code) > 16 {
		return "", inputErr(field, fmt.Sprintf("ministry code %s must have 2 to 16 characters", show(s)))
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		ok := 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || (i > 0 && (c == '_' || c == '-'))
		if !ok {
			return "", inputErr(field, fmt.Sprintf("ministry code %s may have only the letters A-Z, digits, \"_\" and \"-\", and starts with a letter or digit", show(s)))
		}
	}
	return code, nil
}

// cleanText trims and NFC-normalises a name meant for people, and refuses
// an empty one, control characters and more than max characters. what
// names the field in messages ("the English name").
func cleanText(field, what, s string, max int) (string, error) {
	if !utf8.ValidString(s) {
		return "", inputErr(field, what+" is not valid UTF-8 text")
	}
	s = norm.NFC.String(strings.TrimSpace(s))
	if s == "" {
		return "", inputErr(field, what+" is required")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", inputErr(field, what+" contains a control character")
		}
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", inputErr(field, fmt.Sprintf("%s has %d characters; the limit is %d", what, n, max))
	}
	return s, nil
}

// show quotes s for an error message, cut to a readable length.
func show(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		return fmt.Sprintf("%q…", string(r[:max]))
	}
	return fmt.Sprintf("%q", s)
}
