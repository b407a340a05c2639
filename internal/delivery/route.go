package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// ErrNoMailDomain: the domain does not exist, has neither MX nor address
// records, or says it takes no mail (RFC 7505 null MX). Permanent.
var ErrNoMailDomain = errors.New("domain does not accept mail")

// ErrLoop: the route leads back to this server (RFC 5321 §5.1).
// Permanent.
var ErrLoop = errors.New("mail for the domain loops back to this server")

// smtpPort is where MX hosts and the address fallback are reached.
const smtpPort = 25

// Hop is one server to try for a domain, in order.
type Hop struct {
	Host string // the MX or transport host name, without trailing dot ("" when an IP was given)
	Addr string // ip:port to dial
	Pref int
}

// Router finds the servers that take a domain's mail: the configured
// transports first, else DNS through the one resolver of dns.servers.
type Router struct {
	resolver   *net.Resolver
	transports map[string]string // A-label domain or ".suffix" → host:port
	self       func(netip.Addr) bool
}

// NewRouter returns a router over r. transports is delivery.transports:
// "moh.gov.sy" routes that domain exactly, ".mod.gov.sy" it and its
// subdomains,
// to a host:port (a name resolved through r, or an IP). self reports
// whether an address is one of this server's own (loop detection); nil
// means none is.
func NewRouter(r *net.Resolver, transports map[string]string, self func(netip.Addr) bool) *Router {
	t := make(map[string]string, len(transports))
	for k, v := range transports {
		dot := strings.HasPrefix(k, ".")
		name, err := asciiDomain(strings.TrimPrefix(k, "."))
		if err != nil {
			name = strings.ToLower(strings.TrimPrefix(k, "."))
		}
		if dot {
			name = "." + name
		}
		t[name] = v
	}
	if self == nil {
		self = func(netip.Addr) bool { return false }
	}
	return &Router{resolver: r, transports: t, self: self}
}

// Route returns the hops for domain, most preferred first:
// delivery.transports first (exact, then the longest ".suffix" rule), else
// the MX hosts by preference, equal preferences in random order (RFC 5321
// §5.1), else the domain's own A/AAAA addresses on port 25. A domain that
// does not exist or publishes a null MX (RFC 7505) is ErrNoMailDomain; a
// route to this server itself is ErrLoop; both are permanent. Any other
// error (SERVFAIL, a timeout) is temporary.
func (r *Router) Route(ctx context.Context, domain string) ([]Hop, error) {
	name, err := asciiDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a domain name: %v", ErrNoMailDomain, domain, err)
	}
	var hops []Hop
	if target, ok := r.transport(name); ok {
		hops, err = r.transportHops(ctx, target)
	} else {
		hops, err = r.dnsHops(ctx, name)
	}
	if err != nil {
		return nil, err
	}
	return r.dropSelf(name, hops)
}

// transport returns the configured route for domain: the exact rule, else
// the longest suffix rule (".mod.gov.sy" is that domain and every
// subdomain, as delivery.transports is documented).
func (r *Router) transport(domain string) (string, bool) {
	if t, ok := r.transports[domain]; ok {
		return t, true
	}
	for rest := domain; rest != ""; {
		if t, ok := r.transports["."+rest]; ok {
			return t, true
		}
		_, rest, _ = strings.Cut(rest, ".")
	}
	return "", false
}

// transportHops resolves a transport's host:port.
func (r *Router) transportHops(ctx context.Context, target string) ([]Hop, error) {
	host, p, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("transport %q: %w", target, err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("transport %q: bad port", target)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []Hop{{Addr: netip.AddrPortFrom(ip.Unmap(), uint16(port)).String()}}, nil
	}
	name, err := asciiDomain(host)
	if err != nil {
		return nil, fmt.Errorf("transport %q: %w", target, err)
	}
	ips, err := r.resolver.LookupNetIP(ctx, "ip", name)
	if err != nil {
		// The operator named this host: a lookup failure is theirs to fix,
		// never a reason to bounce.
		return nil, fmt.Errorf("transport %s: %w", name, err)
	}
	return hostHops(name, uint16(port), 0, ips), nil
}

// dnsHops finds the MX hosts of domain, or its own addresses when it has
// no MX (RFC 5321 §5.1).
func (r *Router) dnsHops(ctx context.Context, domain string) ([]Hop, error) {
	mxs, err := r.resolver.LookupMX(ctx, domain)
	if len(mxs) == 0 && err != nil && !notFound(err) {
		return nil, fmt.Errorf("MX %s: %w", domain, err)
	}
	if len(mxs) == 0 {
		return r.addressHops(ctx, domain)
	}
	if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
		return nil, fmt.Errorf("%w: %s publishes a null MX (RFC 7505)", ErrNoMailDomain, domain)
	}
	return r.mxHops(ctx, domain, mxs)
}

// addressHops is the fallback of RFC 5321 §5.1: the domain itself as the
// only host, on port 25.
func (r *Router) addressHops(ctx context.Context, domain string) ([]Hop, error) {
	ips, err := r.resolver.LookupNetIP(ctx, "ip", domain)
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%w: %s has no MX and no address", ErrNoMailDomain, domain)
		}
		return nil, fmt.Errorf("address %s: %w", domain, err)
	}
	return hostHops(domain, smtpPort, 0, ips), nil
}

// mxHops orders the MX hosts by preference, shuffling equal ones (RFC
// 5321 §5.1), and resolves each; a host that does not resolve is skipped.
// When none resolves the error is temporary: the domain exists, its
// administrators can still mend its hosts within delivery.max_age.
func (r *Router) mxHops(ctx context.Context, domain string, mxs []*net.MX) ([]Hop, error) {
	mxs = slices.Clone(mxs)
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	var hops []Hop
	var errs []error
	for _, mx := range mxs {
		host := strings.ToLower(strings.TrimSuffix(mx.Host, "."))
		if host == "" {
			continue // a null MX beside real ones: not a host to try
		}
		ips, err := r.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			errs = append(errs, fmt.Errorf("MX %s of %s: %w", host, domain, err))
			continue
		}
		hops = append(hops, hostHops(host, smtpPort, int(mx.Pref), ips)...)
	}
	if len(hops) == 0 {
		return nil, fmt.Errorf("no MX host of %s resolves: %w", domain, errors.Join(errs...))
	}
	return hops, nil
}

// dropSelf applies RFC 5321 §5.1: when this server is among the hops, it
// and every hop it prefers no less are dropped; nothing left is a loop.
func (r *Router) dropSelf(domain string, hops []Hop) ([]Hop, error) {
	selfPref, found := 0, false
	for _, h := range hops {
		ap, err := netip.ParseAddrPort(h.Addr)
		if err == nil && r.self(ap.Addr().Unmap()) && (!found || h.Pref < selfPref) {
			selfPref, found = h.Pref, true
		}
	}
	if !found {
		return hops, nil
	}
	kept := slices.DeleteFunc(hops, func(h Hop) bool { return h.Pref >= selfPref })
	if len(kept) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrLoop, domain)
	}
	return kept, nil
}

func hostHops(host string, port uint16, pref int, ips []netip.Addr) []Hop {
	hops := make([]Hop, 0, len(ips))
	for _, ip := range ips {
		hops = append(hops, Hop{Host: host, Addr: netip.AddrPortFrom(ip.Unmap(), port).String(), Pref: pref})
	}
	return hops
}

// asciiDomain returns domain in lower case A-labels (IDNA 2008, as asked
// of DNS), without a trailing dot.
func asciiDomain(domain string) (string, error) {
	d := strings.TrimSuffix(strings.TrimSpace(domain), ".")
	if d == "" {
		return "", errors.New("empty")
	}
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "", err
	}
	if len(a) > 253 {
		return "", errors.New("longer than 253 octets")
	}
	for _, label := range strings.Split(a, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("label %q: empty or longer than 63 octets", label)
		}
	}
	return strings.ToLower(a), nil
}

// notFound reports whether a lookup found no such name or no record of
// the type asked (NXDOMAIN, NODATA), as opposed to a failure to find out.
func notFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}
