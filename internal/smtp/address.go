package smtp

import (
	"strings"
	"unicode/utf8"

	gosmtp "github.com/emersion/go-smtp"

	"diwan.gov.sy/diwan/internal/directory"
)

// address is a checked envelope address.
type address struct {
	addr   string // canonical "local@domain"
	local  string
	domain string // canonical (Unicode) domain
}

// checkAddress checks an envelope address as go-smtp parsed it (brackets,
// source route and quotes removed) and returns its canonical form, or the
// reply refusing it:
//
//   - invalid UTF-8, or an address that is not a plain dot-atom address on a
//     valid domain: 553 5.1.7 (sender) / 5.1.3 (recipient);
//   - non-ASCII without SMTPUTF8 on MAIL: 553 5.6.7 (RFC 6531 §3.5);
//   - for recipients, a local part holding "@", "%" or "!" — what is left
//     of a quoted "victim@example.com"@hosted, the %-hack
//     victim%example.com@hosted, or a bang path — is a relay attempt
//     (relay true), refused 550 5.7.1 whatever the domain.
//
// Source routes ("@hosted:victim@example.com") reach here as the final
// address: go-smtp drops the route, as RFC 5321 §4.1.1.3 lets a server do,
// so they are decided as the address they name.
func checkAddress(raw string, utf8OK, recipient bool) (a address, relay bool, refusal *gosmtp.SMTPError) {
	bad := errBadSender
	if recipient {
		bad = errBadRecipient
	}
	if !utf8.ValidString(raw) {
		return a, false, bad
	}
	if !utf8OK && !isASCII(raw) {
		return a, false, errBadUTF8Addr
	}
	if recipient {
		if at := strings.LastIndexByte(raw, '@'); at > 0 && strings.ContainsAny(raw[:at], "@%!") {
			return a, true, errRelayTrick
		}
	}
	local, domain, err := directory.CanonicalAddress(raw)
	if err != nil {
		return a, false, bad
	}
	return address{addr: local + "@" + domain, local: local, domain: domain}, false, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
