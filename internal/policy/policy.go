// Package policy holds the national-mail-only policy: which mail domains are
// national (DESIGN.md §4), the administrators' allow and deny rules that
// decide it, and the record of every refusal the policy causes.
//
// A domain is national when it is hosted here, matches an allow rule or a
// policy.national_suffixes entry — unless a deny rule matches it: deny wins.
// "gov.sy" names that exact domain, ".gov.sy" the domain and every
// subdomain, never "evilgov.sy" or "gov.sy.example.com". Domains are compared
// in their canonical form (directory.CanonicalDomain: IDNA, case-folded, no
// trailing dot). A label that mixes scripts, such as Latin with a Cyrillic
// look-alike in one label ("gоv.sy"), is never national unless a rule names
// that exact domain or it is hosted here; labels of different scripts side
// by side ("وزارة.gov.sy") are fine.
//
// Decide answers from an in-memory snapshot, so it costs map lookups, not
// queries. Every rule change bumps a version row in its transaction; each
// Service checks that version at most once per RefreshInterval (250 ms)
// when asked for a decision and reloads the rules when it moved, so a
// change made by any process sharing the database applies everywhere
// within a quarter of a second and a load (BenchmarkRuleChangeInAnotherProcess
// on PostgreSQL: half within 131 ms, all within 249 ms, where a 1 s
// interval took 546 ms and up to 928 ms). The check is one read of one
// row by its key, four times a second at most; polling it needs no
// connection of its own (as LISTEN/NOTIFY would) and works on SQLite alike.
//
// The package knows no protocol: Decision carries the SMTP reply as plain
// numbers and text for the adapters to send. It must never import go-smtp,
// go-imap or gin, and never let a refusal go unrecorded (RecordRefusal, which
// counts the refusals of one client and reason into one event a minute).
package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/directory"
)

// Direction says which side of the mail a decided domain is on; it selects
// the wording of the SMTP reply.
type Direction int

const (
	// Outbound: a recipient of mail our users send (submission, relay).
	Outbound Direction = iota + 1
	// Inbound: the sender of mail other servers bring us (MX).
	Inbound
)

func (d Direction) String() string {
	switch d {
	case Outbound:
		return "outbound"
	case Inbound:
		return "inbound"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// Decision is the policy's answer for one domain.
type Decision struct {
	Allow bool
	// Domain is the canonical domain decided ("" when it was not valid).
	Domain string
	// Rule says what decided: "deny:PATTERN" or "allow:PATTERN" (a rule in
	// the database), "suffix:.gov.sy" (policy.national_suffixes),
	// "hosted:DOMAIN", "mixed-script" (a label mixing scripts that no rule
	// names exactly), "default" (nothing makes it national), "invalid".
	Rule string
	// The SMTP reply for the decision: 250 2.1.5 / 2.1.0 when allowed;
	// 550 5.7.1 when refused by the policy; 553 5.1.3 / 5.1.7 when the
	// domain is not a valid domain name. Message is one line of ASCII.
	Code     int
	Enhanced string
	Message  string
}

// Hosted lists the domains hosted here; *directory.Service satisfies it.
type Hosted interface {
	// Domains returns every hosted domain (canonical names).
	Domains(ctx context.Context) ([]directory.Domain, error)
}

// Options configure a Service.
type Options struct {
	// NationalSuffixes are policy.national_suffixes: each ("gov.sy" or
	// ".gov.sy", the same) makes the domain and its subdomains national.
	NationalSuffixes []string
	// Hosted lists the hosted domains, which are always national.
	Hosted Hosted
	// RefreshInterval is how often the rule version is checked; 0 means
	// DefaultRefreshInterval. Hosted domains are reloaded every
	// hostedRefresh (5 s), or every interval when that is longer.
	RefreshInterval time.Duration
	// Audit seals the audit events of rule changes and refusals
	// (internal/app builds it from the master key). Nil writes unsealed
	// events, which the audit linker refuses: only for tests that never
	// link.
	Audit *audit.Sealer
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultRefreshInterval is how often a Service checks whether the rules
// changed, unless Options say otherwise: the bound on how long a change
// made by another process takes to apply here (DESIGN.md §4).
const DefaultRefreshInterval = 250 * time.Millisecond

// hostedRefresh is how often the hosted domains are reloaded.
const hostedRefresh = 5 * time.Second

// Service is the policy: rules, decisions and the record of refusals. It is
// safe for concurrent use.
type Service struct {
	db       *db.DB
	audit    *audit.Sealer
	hosted   Hosted
	suffixes map[string]string // canonical domain → "suffix:.DOMAIN"
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	snap      atomic.Pointer[snapshot]
	checkedAt atomic.Int64 // unix nanoseconds of the last version check
	refresh   sync.Mutex   // one refresh at a time

	names nameCache

	refusals *audit.Tally // refusals summed towards their next audit event
	closed   closedCache  // the refusal counts of days that ended (counts_read.go)
}

// snapshot is one consistent view of the rules and hosted domains.
type snapshot struct {
	version   int64
	exact     map[string]loaded // "gov.sy" rules by domain
	suffix    map[string]loaded // ".gov.sy" rules by domain (without the dot)
	hosted    map[string]bool
	domainsAt time.Time
}

// loaded is a rule in a snapshot, with its Decision.Rule text made once.
type loaded struct {
	Rule
	label string // "allow:.gov.sy", "deny:evil.sy"
}

// New returns the policy on d. It fails on an invalid national suffix,
// naming the key; it does not touch the database until first used.
func New(d *db.DB, o Options) (*Service, error) {
	s := &Service{db: d, audit: o.Audit, hosted: o.Hosted, interval: o.RefreshInterval, now: o.Now, log: o.Logger,
		suffixes: map[string]string{}}
	if s.interval <= 0 {
		s.interval = DefaultRefreshInterval
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.refusals = audit.NewTally(s.writeRefusal, s.now)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, e := range o.NationalSuffixes {
		canon, err := directory.CanonicalDomain(strings.TrimPrefix(strings.TrimSpace(e), "."))
		if err != nil {
			return nil, fmt.Errorf("policy.national_suffixes: %q: %w", e, err)
		}
		s.suffixes[canon] = "suffix:." + canon
	}
	s.names.init()
	return s, nil
}

// Decide decides whether mail may pass to (Outbound) or from (Inbound) the
// domain of addressOrDomain ("ali@mof.gov.sy" or "mof.gov.sy"; for an
// address, the part after the last "@"). An error means the rules could not
// be read at all (a stale snapshot is used rather than failing); the caller
// answers a temporary failure.
func (s *Service) Decide(ctx context.Context, dir Direction, addressOrDomain string) (Decision, error) {
	domain := addressOrDomain
	if i := strings.LastIndexByte(domain, '@'); i >= 0 {
		domain = domain[i+1:]
	}
	n := s.names.get(domain)
	if n.err != nil {
		return invalid(dir), nil
	}
	snap, err := s.current(ctx)
	if err != nil {
		return Decision{}, err
	}
	return decide(snap, s.suffixes, dir, n), nil
}

// decide applies the rules to a canonical domain: deny wins over
// everything; then hosted, exact allow; a mixed-script label stops there;
// then the most specific suffix allow or configured suffix.
func decide(snap *snapshot, suffixes map[string]string, dir Direction, n name) Decision {
	d := n.canon
	if r, ok := snap.exact[d]; ok && r.Action == Deny {
		return refuse(dir, n, r.label)
	}
	for p := d; ; {
		if r, ok := snap.suffix[p]; ok && r.Action == Deny {
			return refuse(dir, n, r.label)
		}
		i := strings.IndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[i+1:]
	}
	if snap.hosted[d] {
		return allow(dir, d, "hosted:"+d)
	}
	if r, ok := snap.exact[d]; ok {
		return allow(dir, d, r.label)
	}
	if n.mixed {
		return refuse(dir, n, "mixed-script")
	}
	for p := d; ; {
		if r, ok := snap.suffix[p]; ok {
			return allow(dir, d, r.label)
		}
		if e, ok := suffixes[p]; ok {
			return allow(dir, d, e)
		}
		i := strings.IndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[i+1:]
	}
	return refuse(dir, n, "default")
}

func allow(dir Direction, domain, rule string) Decision {
	dec := Decision{Allow: true, Domain: domain, Rule: rule, Code: 250}
	if dir == Inbound {
		dec.Enhanced, dec.Message = "2.1.0", "Sender domain accepted"
	} else {
		dec.Enhanced, dec.Message = "2.1.5", "Recipient domain accepted"
	}
	return dec
}

// refuse names the domain in its A-label form: replies stay ASCII whatever
// the client negotiated.
func refuse(dir Direction, n name, rule string) Decision {
	dec := Decision{Domain: n.canon, Rule: rule, Code: 550, Enhanced: "5.7.1"}
	if dir == Inbound {
		dec.Message = "Mail from " + n.ascii + " is not accepted by the national mail policy"
	} else {
		dec.Message = "Delivery to " + n.ascii + " is not permitted by the national mail policy"
	}
	return dec
}

func invalid(dir Direction) Decision {
	if dir == Inbound {
		return Decision{Rule: "invalid", Code: 553, Enhanced: "5.1.7", Message: "The sender's domain is not a valid domain name"}
	}
	return Decision{Rule: "invalid", Code: 553, Enhanced: "5.1.3", Message: "The recipient's domain is not a valid domain name"}
}

// current returns the snapshot, refreshed when the last check is older than
// the interval. Only one caller refreshes; the others go on with the
// snapshot they have (the first caller of all waits for it).
func (s *Service) current(ctx context.Context) (*snapshot, error) {
	snap := s.snap.Load()
	now := s.now()
	if snap != nil && now.UnixNano()-s.checkedAt.Load() < int64(s.interval) {
		return snap, nil
	}
	if snap != nil {
		if !s.refresh.TryLock() {
			return snap, nil
		}
	} else {
		s.refresh.Lock()
	}
	defer s.refresh.Unlock()
	if cur := s.snap.Load(); cur != nil && now.UnixNano()-s.checkedAt.Load() < int64(s.interval) {
		return cur, nil // refreshed while we waited
	}
	next, err := s.load(ctx, s.snap.Load(), now)
	if err != nil {
		if snap != nil {
			s.log.Error("policy refresh failed; deciding with the rules loaded before", slog.Any("err", err))
			s.checkedAt.Store(now.UnixNano()) // try again after an interval, not at once
			return snap, nil
		}
		return nil, fmt.Errorf("load policy rules: %w", err)
	}
	s.snap.Store(next)
	s.checkedAt.Store(now.UnixNano())
	return next, nil
}

// Refresh reloads the rules and hosted domains now.
func (s *Service) Refresh(ctx context.Context) error {
	s.refresh.Lock()
	defer s.refresh.Unlock()
	now := s.now()
	next, err := s.load(ctx, nil, now)
	if err != nil {
		return fmt.Errorf("load policy rules: %w", err)
	}
	s.snap.Store(next)
	s.checkedAt.Store(now.UnixNano())
	return nil
}

// invalidate makes the next Decide check the version (after a local change).
func (s *Service) invalidate() { s.checkedAt.Store(0) }

// load builds a snapshot, reusing what did not change since prev.
func (s *Service) load(ctx context.Context, prev *snapshot, now time.Time) (*snapshot, error) {
	var version int64
	if err := s.db.Writer().WithContext(ctx).Table("policy_state").Select("version").Where("id = ?", 1).Scan(&version).Error; err != nil {
		return nil, err
	}
	next := &snapshot{version: version}
	if prev != nil && prev.version == version {
		next.exact, next.suffix = prev.exact, prev.suffix
	} else {
		rules, err := s.rules(ctx)
		if err != nil {
			return nil, err
		}
		next.exact, next.suffix = map[string]loaded{}, map[string]loaded{}
		for _, r := range rules {
			l := loaded{Rule: r, label: r.Action + ":" + r.Pattern}
			if d, ok := strings.CutPrefix(r.Pattern, "."); ok {
				next.suffix[d] = l
			} else {
				next.exact[r.Pattern] = l
			}
		}
	}
	if prev != nil && now.Sub(prev.domainsAt) < max(hostedRefresh, s.interval) {
		next.hosted, next.domainsAt = prev.hosted, prev.domainsAt
		return next, nil
	}
	next.hosted, next.domainsAt = map[string]bool{}, now
	if s.hosted != nil {
		ds, err := s.hosted.Domains(ctx)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			next.hosted[d.Name] = true
		}
	}
	return next, nil
}

// Errors.
var (
	// ErrNotFound: no rule has that pattern.
	ErrNotFound = errors.New("no such policy rule")
)
