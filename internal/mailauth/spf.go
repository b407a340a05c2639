package mailauth

import (
	"context"
	"net"
	"strings"

	"blitiri.com.ar/go/spf"

	"diwan.gov.sy/diwan/internal/smtp"
)

// spfOutcome is the SPF result for the client (RFC 7208).
type spfOutcome struct {
	result string // none, neutral, pass, fail, softfail, temperror, permerror
	// domain is the checked identity's domain (ASCII): the MAIL FROM
	// domain, or the HELO name for the null sender.
	domain string
	// mailFrom is the MAIL FROM address checked; "" when the HELO name was
	// (the null sender).
	mailFrom string
	helo     string // the HELO name as shown
}

// checkSPF checks whether the client may send for the MAIL FROM domain,
// or for the null sender, for its HELO name (RFC 7208 §2.3, §2.4: the
// identity is then postmaster@HELO).
func (v *Verifier) checkSPF(ctx context.Context, env smtp.Envelope) spfOutcome {
	o := spfOutcome{helo: heloShown(env.Helo), mailFrom: env.From}
	sender := env.From
	if sender == "" {
		sender = "postmaster@" + env.Helo
	}
	at := strings.LastIndexByte(sender, '@')
	o.domain = asciiDomain(sender[at+1:])
	ip := net.ParseIP(env.Client)
	if o.domain == "" || ip == nil {
		// An address literal or a bad HELO name: nothing to look up.
		o.result = string(spf.None)
		return o
	}
	sender = sender[:at+1] + o.domain
	res, _ := spf.CheckHostWithSender(ip, asciiDomain(env.Helo), sender,
		spf.WithContext(ctx), spf.WithResolver(v.dns))
	o.result = string(res)
	return o
}

// heloShown keeps the characters of a HELO name that may stand in a
// header field, cut to 64.
func heloShown(h string) string {
	var b strings.Builder
	for i := 0; i < len(h) && b.Len() < 64; i++ {
		c := h[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-:[]_", c) >= 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}
