package directory

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Throttling by client address.
//
// Failed logins are counted in three places, each for its own purpose:
//
//   - per client address, on any accounts (addressGate, below): in the
//     memory of each node. It guards the node's own CPU against guessing:
//     it is asked before anything else, on every login, flood included, so
//     it must cost no database round trip — counting a flood's refusals in
//     the shared database would move the flood's cost onto it. With n
//     nodes an address gets at most n × AddressMaxFailures tries in a
//     window instead of AddressMaxFailures, still a tiny share of any
//     password space. Measured on 2 busy vCPUs (BenchmarkThrottledRefusal):
//     the refusal of a throttled address costs 0.5 µs (PostgreSQL) to 7 µs
//     (SQLite, its first refusal's audit event spread over the rest), a
//     failure counted in the database 3 to 4 ms.
//   - per account and client address (the login_failures table): in the
//     database, read with the user's row at each login at no extra round
//     trip and written with the failure the password check already
//     records, so every node refuses the same pairs.
//   - per account (users.locked_until): in the database, set only when
//     LockoutAddresses distinct addresses are refused for the account at
//     once, so that one address cannot lock anyone out, the bootstrap
//     administrator included.

// clientAddress is the address a client is counted by: the IP address
// after the protocol in a WithClient value ("imap:203.0.113.5" →
// "203.0.113.5"), IPv6 addresses by their /64 (one subscriber's network:
// an attacker holding one has all its addresses). A client that names no
// address ("system") is counted by its name.
func clientAddress(client string) string {
	_, a, ok := strings.Cut(client, ":")
	if !ok {
		return client
	}
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return a
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}

// maxGateAddresses bounds the addresses the gate tracks; beyond it expired
// ones are dropped, and if it is still full new addresses are not tracked
// (they remain bound by the hash slots and the per-account counts).
const maxGateAddresses = 100_000

// addressGate counts, per client address, the logins that failed within a
// window (LockoutDuration). From half of max on,
// each attempt's answer is delayed, growing to delay; from max on, the
// address is refused before anything is read or checked, each answer
// after delay (pacing a flood's clients), until the window that began
// with its first counted attempt ends. A delay is a
// timer, not work: it holds no CPU, no hash slot and no lock, and other
// addresses never wait for it. An address that has failed also has at
// most slots attempts under way at once, each delayed in its turn, so that
// it cannot take every hash slot from the others and a slowed address's
// checks are spread out rather than queued back to back. An address
// without failures is not held to slots: an office behind one NAT address,
// or a mail client with many connections, logs in side by side (its
// concurrent attempts are not failures and never count towards max).
type addressGate struct {
	max     int // <= 0: no bound
	window  time.Duration
	delay   time.Duration
	slots   int
	suspect int // failures after which an address's checks give way (checkOrder)

	mu sync.Mutex
	m  map[string]*addressCount
}

type addressCount struct {
	start    time.Time     // the window began at the first attempt
	failed   int           // failed attempts in the window
	inflight int           // attempts admitted and not done
	checking int           // attempts past their turn and not done
	checks   chan struct{} // password checks under way from this address
}

func newAddressGate(maxFailures int, window, delay time.Duration, slots, suspectAfter int) *addressGate {
	return &addressGate{max: maxFailures, window: window, delay: delay, slots: max(1, slots),
		suspect: max(1, suspectAfter), m: map[string]*addressCount{}}
}

// attempt is one admitted login of an address.
type attempt struct {
	g        *addressGate
	c        *addressCount // nil: not tracked
	addr     string
	checking bool // counted in c.checking
}

// admit counts a login attempt from addr. refused: the address has failed
// too often and must be answered, after g.delay, without any check;
// otherwise the attempt is admitted, and must take its turn and be done.
func (g *addressGate) admit(addr string, now time.Time) (a attempt, refused bool) {
	a = attempt{g: g, addr: addr}
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.m[addr]
	if c == nil {
		if len(g.m) >= maxGateAddresses {
			g.sweep(now)
		}
		if len(g.m) >= maxGateAddresses {
			return a, false
		}
		c = &addressCount{start: now, checks: make(chan struct{}, g.slots)}
		g.m[addr] = c
	}
	if !now.Before(c.start.Add(g.window)) {
		c.start, c.failed = now, 0
	}
	if g.max > 0 && c.failed >= g.max {
		return a, true
	}
	c.inflight++
	a.c = c
	return a, false
}

// sweep drops addresses whose window has ended and that have nothing under
// way; g.mu is held.
func (g *addressGate) sweep(now time.Time) {
	for addr, c := range g.m {
		if c.inflight == 0 && !now.Before(c.start.Add(g.window)) {
			delete(g.m, addr)
		}
	}
}

// done ends an attempt: a failure stays counted, anything else (success,
// an error of the server) is not held against the address.
func (a *attempt) done(failed bool) {
	if a.c == nil {
		return
	}
	a.g.mu.Lock()
	defer a.g.mu.Unlock()
	a.c.inflight--
	if a.checking {
		a.c.checking--
	}
	if failed {
		a.c.failed++
	}
}

// errAddressRefused is turn's answer to an attempt whose address reached
// max failures while it waited for its turn.
var errAddressRefused = errors.New("address throttled")

// turn waits for the attempt's turn and says whether its password check
// is to give way to others' (suspect: the address has failed as often as
// g.suspect, LockoutThreshold, within the window; see checkOrder).
//
// An address that has not failed goes straight on while fewer than slots
// of its attempts are being checked, and its other attempts take turns:
// many clients behind one address (an office's NAT, a mail client's
// connections) all log in, and are never refused for it, while the first
// wave of a flood from a fresh address holds no more hash slots than any
// one address may. Otherwise the attempt waits until fewer than
// slots of the address's attempts hold a turn; then an address that has
// failed is refused (errAddressRefused) when its failures and the checks
// under way could reach max — so a flood of concurrent attempts gets no
// more than max checks in a window — and, from half of max failures on,
// waits a delay growing linearly to g.delay at max: turns run one after
// another, so a slowed address's attempts are spread out rather than
// queued back to back. release ends the turn.
func (a *attempt) turn(ctx context.Context) (release func(), suspect bool, err error) {
	if a.c == nil {
		return func() {}, false, nil
	}
	a.g.mu.Lock()
	if a.c.failed == 0 && a.c.checking < a.g.slots {
		a.c.checking++
		a.checking = true
		a.g.mu.Unlock()
		return func() {}, false, nil
	}
	a.g.mu.Unlock()
	select {
	case a.c.checks <- struct{}{}:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	release = func() { <-a.c.checks }
	a.g.mu.Lock()
	failed := a.c.failed
	if a.g.max > 0 && failed > 0 && failed+a.c.checking >= a.g.max {
		a.g.mu.Unlock()
		release()
		return nil, false, errAddressRefused
	}
	a.c.checking++
	a.checking = true
	a.g.mu.Unlock()
	if half := a.g.max / 2; a.g.max > 0 && failed > 0 && failed >= half {
		d := a.g.delay * time.Duration(min(failed, a.g.max)-half+1) / time.Duration(a.g.max-half)
		if err := pause(ctx, min(d, a.g.delay)); err != nil {
			release()
			return nil, false, err
		}
	}
	return release, failed >= a.g.suspect, nil
}

// checkOrder lets the password checks of addresses that have failed
// (suspect) use only the time that the other checks leave idle: one at a
// time, none while another check runs, and none within grace of the end
// of another (an honest client's next check, a moment later, then finds
// the CPU free rather than sharing it). A flood, from one address or
// many, then slows an honest login by at most one of its checks, and
// honest logins never wait for it. Under a steady stream of honest logins
// suspect checks wait (their callers' contexts bound the wait).
type checkOrder struct {
	grace func() time.Duration

	mu        sync.Mutex
	clean     int           // checks running for addresses without failures
	suspect   bool          // a suspect check is running
	lastClean time.Time     // when the last clean check ended
	changed   chan struct{} // closed (and replaced) when either falls
}

func newCheckOrder(grace func() time.Duration) *checkOrder {
	return &checkOrder{grace: grace, changed: make(chan struct{})}
}

// take waits for the turn of a check; release ends it.
func (o *checkOrder) take(ctx context.Context, suspect bool) (release func(), err error) {
	o.mu.Lock()
	if !suspect {
		o.clean++
		o.mu.Unlock()
		return func() {
			o.fall(func() { o.clean--; o.lastClean = time.Now() })
		}, nil
	}
	for {
		var wait <-chan time.Time
		if o.clean == 0 && !o.suspect {
			idle := time.Until(o.lastClean.Add(o.grace()))
			if idle <= 0 {
				break
			}
			t := time.NewTimer(idle)
			defer t.Stop()
			wait = t.C
		}
		ch := o.changed
		o.mu.Unlock()
		select {
		case <-ch:
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		o.mu.Lock()
	}
	o.suspect = true
	o.mu.Unlock()
	return func() { o.fall(func() { o.suspect = false }) }, nil
}

func (o *checkOrder) fall(change func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	change()
	close(o.changed)
	o.changed = make(chan struct{})
}

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
