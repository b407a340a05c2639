package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/idna"

	"diwan.gov.sy/diwan/internal/delivery"
	"diwan.gov.sy/diwan/internal/resolver"
	"diwan.gov.sy/diwan/internal/testenv"
)

// routeZone is the DNS the route tests ask: dnsmasq answers gov.sy from
// these records alone (NXDOMAIN for any other name under it).
func routeZone(t *testing.T) string {
	idn, err := idna.Lookup.ToASCII("صحة.gov.sy")
	if err != nil {
		t.Fatal(err)
	}
	return testenv.DNS(t, testenv.Zone{
		"local=/gov.sy/",
		// Two hosts of preference 10, a backup of 20.
		"mx-host=moh.gov.sy,mx1.moh.gov.sy,10",
		"mx-host=moh.gov.sy,mx2.moh.gov.sy,10",
		"mx-host=moh.gov.sy,backup.moh.gov.sy,20",
		"host-record=mx1.moh.gov.sy,127.0.0.11",
		"host-record=mx2.moh.gov.sy,127.0.0.12",
		"host-record=backup.moh.gov.sy,127.0.0.13",
		// No MX, an address: the fallback of RFC 5321 §5.1.
		"host-record=plain.gov.sy,127.0.0.21",
		// A null MX (RFC 7505: preference 0, root target) beside an address.
		"dns-rr=null.gov.sy,15,000000",
		"host-record=null.gov.sy,127.0.0.22",
		// A name with neither MX nor address.
		`txt-record=nomail.gov.sy,"v=spf1 -all"`,
		// An MX that is this server; and one where this server is the backup.
		"mx-host=loop.gov.sy,mail.loop.gov.sy,10",
		"host-record=mail.loop.gov.sy,127.0.0.31",
		"mx-host=backed.gov.sy,mail.backed.gov.sy,10",
		"mx-host=backed.gov.sy,mail.loop.gov.sy,20",
		"host-record=mail.backed.gov.sy,127.0.0.32",
		// An IDN, whose records are in A-labels.
		"mx-host=" + idn + ",mail." + idn + ",10",
		"host-record=mail." + idn + ",127.0.0.41",
		// A relay named in delivery.transports.
		"host-record=relay.mod.gov.sy,127.0.0.51",
		// A part of the tree whose server cannot be reached: dnsmasq fails
		// the query.
		"server=/broken.gov.sy/127.0.0.1#1",
	})
}

func isSelf(ip netip.Addr) bool { return ip == netip.MustParseAddr("127.0.0.31") }

func routeCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func addrs(hops []delivery.Hop) []string {
	var out []string
	for _, h := range hops {
		out = append(out, fmt.Sprintf("%s %s %d", h.Host, h.Addr, h.Pref))
	}
	return out
}

// RFC 5321 §5.1: MX hosts by preference, equal preferences in random
// order, each with its addresses on port 25.
func TestRouteOrdersMXByPreferenceAndShufflesEqualOnes(t *testing.T) {
	r := delivery.NewRouter(resolver.New([]string{routeZone(t)}), nil, isSelf)
	ctx := routeCtx(t)
	seen := map[string]bool{}
	for i := 0; i < 64 && len(seen) < 2; i++ {
		hops, err := r.Route(ctx, "moh.gov.sy")
		if err != nil {
			t.Fatal(err)
		}
		got := addrs(hops)
		if len(got) != 3 || got[2] != "backup.moh.gov.sy 127.0.0.13:25 20" {
			t.Fatalf("hops = %q; want the two of preference 10, then backup.moh.gov.sy", got)
		}
		first := slices.Sorted(slices.Values(got[:2]))
		if !slices.Equal(first, []string{"mx1.moh.gov.sy 127.0.0.11:25 10", "mx2.moh.gov.sy 127.0.0.12:25 10"}) {
			t.Fatalf("hops = %q", got)
		}
		seen[got[0]] = true
	}
	if len(seen) != 2 {
		t.Fatalf("in 64 routes the hosts of equal preference always came in the same order: %v", seen)
	}
}

func TestRouteFallsBackToTheDomainsAddressWithoutMX(t *testing.T) {
	r := delivery.NewRouter(resolver.New([]string{routeZone(t)}), nil, isSelf)
	hops, err := r.Route(routeCtx(t), "plain.gov.sy")
	if err != nil || !slices.Equal(addrs(hops), []string{"plain.gov.sy 127.0.0.21:25 0"}) {
		t.Fatalf("Route(plain.gov.sy) = %q, %v; want the domain's own address on port 25", addrs(hops), err)
	}
}

func TestRouteRefusesADomainThatTakesNoMail(t *testing.T) {
	r := delivery.NewRouter(resolver.New([]string{routeZone(t)}), nil, isSelf)
	ctx := routeCtx(t)
	for _, domain := range []string{
		"null.gov.sy",   // RFC 7505 null MX, though it has an address
		"absent.gov.sy", // NXDOMAIN
		"nomail.gov.sy", // exists, neither MX nor address
		"bad..gov.sy",   // not a domain name
	} {
		hops, err := r.Route(ctx, domain)
		if !errors.Is(err, delivery.ErrNoMailDomain) {
			t.Errorf("Route(%s) = %q, %v; want ErrNoMailDomain", domain, addrs(hops), err)
		}
	}
}

func TestRouteReportsDNSTroubleAsTemporary(t *testing.T) {
	ctx := routeCtx(t)
	r := delivery.NewRouter(resolver.New([]string{routeZone(t)}), nil, isSelf)
	if hops, err := r.Route(ctx, "broken.gov.sy"); err == nil || errors.Is(err, delivery.ErrNoMailDomain) || errors.Is(err, delivery.ErrLoop) {
		t.Errorf("Route(broken.gov.sy) under SERVFAIL = %q, %v; want a temporary error", addrs(hops), err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dead := delivery.NewRouter(resolver.New([]string{fmt.Sprintf("127.0.0.1:%d", port)}), nil, isSelf)
	if hops, err := dead.Route(ctx, "moh.gov.sy"); err == nil || errors.Is(err, delivery.ErrNoMailDomain) {
		t.Errorf("Route with no DNS server reachable = %q, %v; want a temporary error", addrs(hops), err)
	}
}

// RFC 5321 §5.1: this server and every host it prefers no less are
// dropped; when nothing is left the mail would loop.
func TestRouteDetectsAnMXThatIsThisServer(t *testing.T) {
	r := delivery.NewRouter(resolver.New([]string{routeZone(t)}), nil, isSelf)
	ctx := routeCtx(t)
	if hops, err := r.Route(ctx, "loop.gov.sy"); !errors.Is(err, delivery.ErrLoop) {
		t.Errorf("Route(loop.gov.sy) = %q, %v; want ErrLoop", addrs(hops), err)
	}
	hops, err := r.Route(ctx, "backed.gov.sy")
	if err != nil || !slices.Equal(addrs(hops), []string{"mail.backed.gov.sy 127.0.0.32:25 10"}) {
		t.Errorf("Route(backed.gov.sy), this server its backup = %q, %v; want only the primary", addrs(hops), err)
	}
	tr := delivery.NewRouter(resolver.New([]string{routeZone(t)}), map[string]string{"moh.gov.sy": "127.0.0.31:25"}, isSelf)
	if hops, err := tr.Route(ctx, "moh.gov.sy"); !errors.Is(err, delivery.ErrLoop) {
		t.Errorf("Route through a transport to this server = %q, %v; want ErrLoop", addrs(hops), err)
	}
}

func TestRouteAsksDNSForAnIDNInALabels(t *testing.T) {
	r := delivery.NewRouter(resolver.New([]string{routeZone(t)}), nil, isSelf)
	hops, err := r.Route(routeCtx(t), "صحة.gov.sy")
	if err != nil || len(hops) != 1 || hops[0].Addr != "127.0.0.41:25" || hops[0].Host != "mail.xn--ogbhx.gov.sy" {
		t.Fatalf("Route(صحة.gov.sy) = %q, %v; want mail.<A-label> 127.0.0.41:25", addrs(hops), err)
	}
}

// delivery.transports: the exact rule first, then the longest suffix rule
// (which covers the domain itself), before any MX.
func TestRouteFollowsTransportsBeforeMX(t *testing.T) {
	transports := map[string]string{
		"moh.gov.sy":       "10.1.2.3:2525",
		".mod.gov.sy":      "relay.mod.gov.sy:25",
		".army.mod.gov.sy": "[::1]:26",
		".صحة.gov.sy":      "10.9.9.9:25",
	}
	r := delivery.NewRouter(resolver.New([]string{routeZone(t)}), transports, isSelf)
	ctx := routeCtx(t)
	for domain, want := range map[string]string{
		"moh.gov.sy":            " 10.1.2.3:2525 0",
		"MOH.gov.sy.":           " 10.1.2.3:2525 0",
		"mod.gov.sy":            "relay.mod.gov.sy 127.0.0.51:25 0",
		"navy.mod.gov.sy":       "relay.mod.gov.sy 127.0.0.51:25 0",
		"army.mod.gov.sy":       " [::1]:26 0",
		"unit1.army.mod.gov.sy": " [::1]:26 0",
		"mail.xn--ogbhx.gov.sy": " 10.9.9.9:25 0",
	} {
		hops, err := r.Route(ctx, domain)
		if err != nil || !slices.Equal(addrs(hops), []string{want}) {
			t.Errorf("Route(%s) = %q, %v; want %q", domain, addrs(hops), err, want)
		}
	}
	// Not covered by a rule: the MX as usual.
	if hops, err := r.Route(ctx, "plain.gov.sy"); err != nil || len(hops) != 1 || hops[0].Addr != "127.0.0.21:25" {
		t.Errorf("Route(plain.gov.sy) = %q, %v", addrs(hops), err)
	}
}
