package mailauth

import (
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-msgauth/authres"
)

// authResults builds the Authentication-Results field (RFC 8601) put on
// top of the stored message, with its CRLF: the authserv-id is this
// server's name; then spf (smtp.mailfrom, or smtp.helo for the null
// sender), one dkim result per signature (header.d, header.i), and dmarc
// (header.from). Every value that came from the client is kept to
// printable characters, so nothing it sent can end the field early.
func (v *Verifier) authResults(res *results) string {
	rs := []authres.Result{v.spfResult(res.spf)}
	switch {
	case res.dkimErr != "":
		rs = append(rs, &authres.DKIMResult{Value: authres.ResultValue(res.dkimErr), Reason: "signature unreadable"})
	case len(res.dkim) == 0:
		rs = append(rs, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range res.dkim {
		rs = append(rs, &authres.DKIMResult{Value: authres.ResultValue(d.result), Reason: printable(d.reason),
			Domain: printable(d.domain), Identifier: printable(d.identifier)})
	}
	rs = append(rs, &authres.DMARCResult{Value: authres.ResultValue(res.dmarc.result), Reason: printable(res.dmarc.reason),
		From: printable(res.from.domain)})
	return fold("Authentication-Results: " + authres.Format(v.authserv, rs))
}

func (v *Verifier) spfResult(o spfOutcome) *authres.SPFResult {
	r := &authres.SPFResult{Value: authres.ResultValue(o.result)}
	if o.mailFrom != "" {
		r.From = printable(o.mailFrom)
	} else {
		r.Helo = o.helo
	}
	return r
}

// fold puts each result on a line of its own (after each ";", where RFC
// 8601 §2.2 allows folding white space) and ends the field with CRLF.
func fold(field string) string {
	parts := strings.Split(field, "; ")
	for i, p := range parts {
		parts[i] = strings.TrimRight(p, " ")
	}
	return strings.Join(parts, ";\r\n\t") + "\r\n"
}

// printable drops control characters, turns ";" (where the field is
// folded) into ",", and cuts s to 200 characters.
func printable(s string) string {
	n := 0
	return strings.Map(func(r rune) rune {
		if n++; n > 200 || r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		if r == ';' {
			return ','
		}
		return r
	}, s)
}
