package mailauth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/smtp"
)

// The modes of policy.inbound_auth.
const (
	ModeEnforce = "enforce" // refuse what fails (550 5.7.26)
	ModeReport  = "report"  // accept, and say so in Authentication-Results
)

const (
	// maxSignatures bounds the DKIM signatures checked in one message
	// (each costs a DNS query and a public-key operation).
	maxSignatures = 5
	// maxHeaderBytes bounds the header section kept to find From; the SMTP
	// listener refuses larger header sections before a verifier sees them.
	maxHeaderBytes = 1 << 20
	// checkTimeout bounds the DNS queries of one message (up to ten for
	// SPF, one per DKIM signature, one or two for DMARC).
	checkTimeout = 30 * time.Second
)

// VerifierOptions configure a Verifier.
type VerifierOptions struct {
	// Resolver answers the TXT (SPF, DKIM keys, DMARC), MX and A/AAAA
	// queries: resolver.New(dns.servers).
	Resolver *net.Resolver
	// Mode is policy.inbound_auth: ModeEnforce or ModeReport ("" is
	// enforce).
	Mode string
	// Hostname is the authserv-id of the Authentication-Results field
	// (smtp.hostname).
	Hostname string
	// Hosted reports whether a domain is hosted here: a message whose From
	// is a hosted domain must pass DMARC in either mode. An error is a
	// temporary failure of the check.
	Hosted func(ctx context.Context, domain string) (bool, error)
	// NationalSuffixes (policy.national_suffixes) bound organisational
	// domains for DMARC's relaxed alignment: under a national suffix the
	// organisational domain is that suffix and one label more
	// (mof.gov.sy for mail.mof.gov.sy under gov.sy); elsewhere the last
	// two labels. Diwan carries no public-suffix list: only national
	// domains reach the check.
	NationalSuffixes []string
}

// Verifier checks the sender of inbound mail: SPF of the client for the
// MAIL FROM domain (the HELO name for the null sender, RFC 7208 §2.3),
// the DKIM signatures (RFC 6376), and DMARC (RFC 7489) for the domain of
// the header From. It satisfies smtp.SenderVerifier.
//
// The decision, as Verdict.Enforce (refuse) and Verdict.Pass:
//   - the From domain publishes DMARC: pass when SPF or DKIM passes for a
//     domain aligned with it (the record's aspf/adkim); a failure is
//     refused under enforce when the policy is reject or quarantine,
//     accepted under p=none;
//   - no DMARC record: refused under enforce when neither SPF nor any
//     DKIM signature passes;
//   - a From of a domain hosted here must pass DMARC whatever the mode
//     and the record (no local spoofing);
//   - a DNS failure that could change a refusal is an error wrapping
//     smtp.ErrSenderCheckUnavailable (a temporary reply).
//
// The pct= tag of a DMARC record is not sampled: a failing message is
// always treated by the policy.
type Verifier struct {
	o        VerifierOptions
	enforce  bool
	authserv string
	suffixes []string // ASCII, without dots at the ends
	dns      lookups
}

// NewVerifier builds a Verifier.
func NewVerifier(o VerifierOptions) *Verifier {
	v := &Verifier{o: o, enforce: o.Mode != ModeReport, authserv: asciiDomain(o.Hostname)}
	if v.o.Resolver == nil {
		v.o.Resolver = net.DefaultResolver
	}
	v.dns = lookups{r: v.o.Resolver}
	for _, s := range o.NationalSuffixes {
		if a := asciiDomain(s); a != "" {
			v.suffixes = append(v.suffixes, a)
		}
	}
	return v
}

// results is what the checks of one message found.
type results struct {
	spf     spfOutcome
	dkim    []dkimOutcome
	dkimErr string       // a DKIM check that could not start: "permerror"
	from    headerFrom   // the header From
	dmarc   dmarcOutcome // filled by evaluate
	hosted  bool         // the From domain is hosted here
	tempErr bool         // some DNS answer was missing
}

// Verify checks a message; see Verifier. It reads the message up to the
// end of its signed parts (the header section at least). An error that
// does not wrap smtp.ErrSenderCheckUnavailable comes from reading msg or
// from Hosted. The DNS queries of one message take at most checkTimeout
// together; what is not answered by then is a temporary error.
func (v *Verifier) Verify(ctx context.Context, env smtp.Envelope, msg io.Reader) (smtp.Verdict, error) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	spfc := make(chan spfOutcome, 1)
	go func() { spfc <- v.checkSPF(ctx, env) }()
	br := bufio.NewReader(msg)
	head, err := readHeader(br)
	if err != nil && !errors.Is(err, errHeaderTooLarge) {
		return smtp.Verdict{}, fmt.Errorf("read message: %w", err)
	}
	var res results
	rd := &readTap{r: br}
	if err == nil {
		res.dkim, res.dkimErr = v.checkDKIM(ctx, io.MultiReader(bytes.NewReader(head), rd))
	} else {
		res.dkimErr = "permerror"
	}
	res.spf = <-spfc
	if rd.err != nil {
		return smtp.Verdict{}, fmt.Errorf("read message: %w", rd.err)
	}
	res.from = parseFrom(head)
	if err := v.evaluate(ctx, &res); err != nil {
		return smtp.Verdict{}, err
	}
	verdict := v.verdict(&res)
	if !verdict.Pass && verdict.Enforce && res.tempErr {
		// A missing DNS answer might have made it pass: try again later.
		return smtp.Verdict{}, fmt.Errorf("sender checks of %s: %w", res.from.domain, smtp.ErrSenderCheckUnavailable)
	}
	return verdict, nil
}

// dkimOutcome is the result of one DKIM signature.
type dkimOutcome struct {
	domain, identifier string // d=, i=
	result             string // pass, fail, permerror, temperror
	reason             string
}

// checkDKIM verifies the DKIM signatures of the message (at most
// maxSignatures), looking the keys up through the resolver.
func (v *Verifier) checkDKIM(ctx context.Context, r io.Reader) ([]dkimOutcome, string) {
	verifs, err := dkim.VerifyWithOptions(r, &dkim.VerifyOptions{LookupTXT: v.dns.txt(ctx), MaxVerifications: maxSignatures})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return nil, "permerror"
	}
	out := make([]dkimOutcome, 0, len(verifs))
	for _, vf := range verifs {
		o := dkimOutcome{domain: strings.ToLower(strings.TrimSuffix(vf.Domain, ".")), identifier: vf.Identifier, result: "pass"}
		switch {
		case vf.Err == nil:
		case dkim.IsTempFail(vf.Err):
			o.result = "temperror"
		case dkim.IsPermFail(vf.Err):
			o.result, o.reason = "permerror", strings.TrimPrefix(vf.Err.Error(), "dkim: ")
		default:
			o.result, o.reason = "fail", strings.TrimPrefix(vf.Err.Error(), "dkim: ")
		}
		out = append(out, o)
	}
	return out, ""
}

// dmarcOutcome is the DMARC evaluation of the From domain.
type dmarcOutcome struct {
	result string       // pass, fail, none, temperror, permerror
	policy dmarc.Policy // the policy that applies to the From domain; "" without a record
	reason string
}

// evaluate looks up the DMARC record of the From domain and decides DMARC
// for it, and whether the From domain is hosted here.
func (v *Verifier) evaluate(ctx context.Context, res *results) error {
	res.tempErr = res.spf.result == "temperror"
	for _, d := range res.dkim {
		res.tempErr = res.tempErr || d.result == "temperror"
	}
	hosted, err := v.anyHosted(ctx, res.from)
	if err != nil {
		return fmt.Errorf("is the From domain %q hosted: %w", res.from.domain, err)
	}
	res.hosted = hosted
	if res.from.domain == "" {
		res.dmarc = dmarcOutcome{result: "permerror", reason: res.from.problem}
		return nil
	}
	rec, policy, err := v.lookupDMARC(ctx, res.from.domain)
	aspf, adkim := dmarc.AlignmentMode(dmarc.AlignmentRelaxed), dmarc.AlignmentMode(dmarc.AlignmentRelaxed)
	if rec != nil {
		aspf, adkim = rec.SPFAlignment, rec.DKIMAlignment
	}
	aligned := res.spf.result == "pass" && v.aligned(res.spf.domain, res.from.domain, aspf)
	for _, d := range res.dkim {
		aligned = aligned || d.result == "pass" && v.aligned(d.domain, res.from.domain, adkim)
	}
	switch {
	case aligned:
		res.dmarc = dmarcOutcome{result: "pass", policy: policy}
	case dmarc.IsTempFail(err):
		res.dmarc, res.tempErr = dmarcOutcome{result: "temperror"}, true
	case errors.Is(err, dmarc.ErrNoPolicy):
		res.dmarc = dmarcOutcome{result: "none"}
	case err != nil:
		// A record that cannot be parsed counts as none (RFC 7489 §6.6.3).
		res.dmarc = dmarcOutcome{result: "permerror", reason: strings.TrimPrefix(err.Error(), "dmarc: ")}
	default:
		res.dmarc = dmarcOutcome{result: "fail", policy: policy, reason: "p=" + string(policy)}
	}
	return nil
}

// lookupDMARC finds the record for the From domain: its own, else its
// organisational domain's, whose sp= (else p=) then applies (RFC 7489
// §6.6.3).
func (v *Verifier) lookupDMARC(ctx context.Context, domain string) (*dmarc.Record, dmarc.Policy, error) {
	opts := &dmarc.LookupOptions{LookupTXT: v.dns.txt(ctx)}
	rec, err := dmarc.LookupWithOptions(domain, opts)
	if err == nil {
		return rec, rec.Policy, nil
	}
	org := v.orgDomain(domain)
	if !errors.Is(err, dmarc.ErrNoPolicy) || org == domain {
		return nil, "", err
	}
	rec, err = dmarc.LookupWithOptions(org, opts)
	if err != nil {
		return nil, "", err
	}
	if rec.SubdomainPolicy != "" {
		return rec, rec.SubdomainPolicy, nil
	}
	return rec, rec.Policy, nil
}

// aligned reports whether two domains are aligned in the mode (RFC 7489
// §3.1): equal (strict), or of one organisational domain (relaxed).
func (v *Verifier) aligned(a, b string, mode dmarc.AlignmentMode) bool {
	if a == "" || b == "" {
		return false
	}
	if a == b {
		return true
	}
	return mode != dmarc.AlignmentStrict && v.orgDomain(a) == v.orgDomain(b)
}

// orgDomain is the organisational domain of an ASCII domain: under a
// national suffix, the suffix and one label more (the longest suffix
// wins); elsewhere the last two labels.
func (v *Verifier) orgDomain(d string) string {
	best := ""
	for _, s := range v.suffixes {
		if strings.HasSuffix(d, "."+s) && len(s) > len(best) {
			best = s
		}
	}
	if best != "" {
		rest := strings.TrimSuffix(d, "."+best)
		return rest[strings.LastIndexByte(rest, '.')+1:] + "." + best
	}
	labels := strings.Split(d, ".")
	if len(labels) <= 2 {
		return d
	}
	return strings.Join(labels[len(labels)-2:], ".")
}

// anyHosted reports whether the From domain, or for a From that names no
// single domain any domain written in it, is hosted here.
func (v *Verifier) anyHosted(ctx context.Context, f headerFrom) (bool, error) {
	if v.o.Hosted == nil {
		return false, nil
	}
	domains := f.mentioned
	if f.domain != "" {
		domains = []string{f.domain}
	}
	for _, d := range domains {
		ok, err := v.o.Hosted(ctx, d)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// verdict turns the results into the SMTP listener's verdict and the
// Authentication-Results field.
func (v *Verifier) verdict(res *results) smtp.Verdict {
	out := smtp.Verdict{Header: v.authResults(res), From: res.from.address}
	switch {
	case res.dmarc.result == "pass":
		out.Pass = true
	case res.hosted:
		out.Enforce, out.Rule = true, "dmarc:"+res.dmarc.result+" hosted-from"
	case res.dmarc.result == "fail":
		out.Enforce = v.enforce && res.dmarc.policy != dmarc.PolicyNone
		out.Rule = "dmarc:fail p=" + string(res.dmarc.policy)
	case res.from.domain == "":
		out.Enforce, out.Rule = v.enforce, "dmarc:permerror from"
	default: // no usable DMARC record: SPF or DKIM must pass, aligned or not
		out.Pass = res.spf.result == "pass" || res.dkimPassed()
		out.Enforce = v.enforce
		out.Rule = "spf:" + res.spf.result + "+dkim:" + res.dkimSummary()
	}
	if out.Pass {
		out.Enforce, out.Rule = false, ""
	}
	return out
}

func (r *results) dkimPassed() bool {
	for _, d := range r.dkim {
		if d.result == "pass" {
			return true
		}
	}
	return false
}

// dkimSummary is the best DKIM result: pass, else fail, temperror,
// permerror, none.
func (r *results) dkimSummary() string {
	if r.dkimErr != "" {
		return r.dkimErr
	}
	best := "none"
	rank := map[string]int{"none": 0, "permerror": 1, "temperror": 2, "fail": 3, "pass": 4}
	for _, d := range r.dkim {
		if rank[d.result] > rank[best] {
			best = d.result
		}
	}
	return best
}

// headerFrom is the author of a message as DMARC sees it (RFC 7489
// §6.6.1): one From field with one address.
type headerFrom struct {
	address string // the one address; "" when there is not exactly one
	domain  string // its domain, ASCII, lower case
	problem string // why there is none
	// mentioned are the domains written in the From fields, when they
	// hold no single address (looked up as hosted).
	mentioned []string
}

// parseFrom reads the From of a header section.
func parseFrom(raw []byte) headerFrom {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return headerFrom{problem: "header unreadable", mentioned: mentionedDomains(raw)}
	}
	values := h.Values("From")
	if len(values) != 1 {
		return headerFrom{problem: fmt.Sprintf("%d From fields", len(values)), mentioned: mentionedDomains([]byte(strings.Join(values, " ")))}
	}
	list, err := (&mail.Header{Header: message.Header{Header: h}}).AddressList("From")
	if err != nil || len(list) != 1 {
		return headerFrom{problem: "From is not one address", mentioned: mentionedDomains([]byte(values[0]))}
	}
	at := strings.LastIndexByte(list[0].Address, '@')
	d := asciiDomain(list[0].Address[at+1:])
	if at < 0 || d == "" {
		return headerFrom{problem: "From has no valid domain", mentioned: mentionedDomains([]byte(values[0]))}
	}
	return headerFrom{address: list[0].Address, domain: d}
}

// mentionedDomains returns the (at most 10) names that follow an "@" in
// raw: what a reader could take for the author's domain.
func mentionedDomains(raw []byte) []string {
	var out []string
	for _, part := range bytes.Split(raw, []byte("@"))[1:] {
		end := bytes.IndexFunc(part, func(r rune) bool { return strings.ContainsRune(" \t\r\n<>()[],;:\"'", r) })
		if end >= 0 {
			part = part[:end]
		}
		if d := asciiDomain(string(part)); d != "" && len(out) < 10 {
			out = append(out, d)
		}
	}
	return out
}

// asciiDomain is the lower-case ASCII form of a domain, "" when it is not
// a valid one.
func asciiDomain(d string) string {
	a, err := directory.ASCIIDomain(strings.TrimSuffix(d, "."))
	if err != nil {
		return ""
	}
	return strings.ToLower(a)
}

// lookups asks the resolver, with its errors as the libraries need them:
// a DNS failure other than "no such name or record" is temporary. (Go's
// resolver marks a server that cannot be reached as temporary only when
// the dial error is a *net.OpError; resolver.New's is not.)
type lookups struct{ r *net.Resolver }

func (l lookups) txt(ctx context.Context) func(string) ([]string, error) {
	return func(name string) ([]string, error) { return l.LookupTXT(ctx, name) }
}

func (l lookups) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := l.r.LookupTXT(ctx, name)
	return v, temporary(err)
}

func (l lookups) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := l.r.LookupMX(ctx, name)
	return v, temporary(err)
}

func (l lookups) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	v, err := l.r.LookupIPAddr(ctx, host)
	return v, temporary(err)
}

func (l lookups) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := l.r.LookupAddr(ctx, addr)
	return v, temporary(err)
}

// temporary marks a DNS error that is not "not found" as temporary.
func temporary(err error) error {
	var de *net.DNSError
	if err == nil || !errors.As(err, &de) {
		if err != nil {
			return &net.DNSError{Err: err.Error(), IsTemporary: true}
		}
		return nil
	}
	if de.IsNotFound || de.IsTemporary || de.IsTimeout {
		return de
	}
	c := *de
	c.IsTemporary = true
	return &c
}

var errHeaderTooLarge = errors.New("header section too large")

// readHeader reads the header section of a message, with its blank line
// (or to the end of a message that is all header), up to maxHeaderBytes.
func readHeader(br *bufio.Reader) ([]byte, error) {
	var head []byte
	for len(head) < maxHeaderBytes {
		line, err := br.ReadSlice('\n')
		head = append(head, line...)
		if string(line) == "\r\n" || string(line) == "\n" || err == io.EOF {
			return head, nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return head, err
		}
	}
	return head, errHeaderTooLarge
}

// readTap remembers a read error of the message, which the DKIM library
// would take for a broken signature.
type readTap struct {
	r   io.Reader
	err error
}

func (t *readTap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}
