package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
)

// Reasons of a refusal, as recorded and summarised.
const (
	ReasonPolicy   = "policy"   // a domain the policy does not make national
	ReasonRelay    = "relay"    // a relay attempt: a recipient not hosted here, %-hacks, routes
	ReasonSpoofing = "spoofing" // a sender address or header From the user may not use
	ReasonAuth     = "auth"     // a refused login (recorded by the directory as user.login_failed)
)

// ActionRefused is the audit action of a recorded refusal.
const ActionRefused = "policy.refused"

// Refusal is one refused envelope or message, for the audit log.
type Refusal struct {
	Reason   string // ReasonPolicy, ReasonRelay, ReasonSpoofing
	Rule     string // Decision.Rule, or what refused it ("relay:not-hosted", "spoofing:header-from")
	Listener string // "inbound", "submission", "submissions"
	User     string // the authenticated login; "" when none
	Client   string // the client's IP address
	From     string // envelope sender as given ("" for <>)
	To       string // the recipient concerned, if any
	Domain   string // the domain concerned (canonical when valid)
	Header   string // the header From concerned, if any
}

// RefusalWindow is how long refusals with one key are counted into one
// audit event: a refusal with a new key is recorded at once, the ones that
// follow within the window as one event with their count when it ends.
const RefusalWindow = time.Minute

const (
	// maxRefusalKeys bounds the keys counted at once; refusals with a new
	// key beyond it are counted under the client "other".
	maxRefusalKeys = 10_000
	// maxRefusalDomains bounds the domains one event counts by name; the
	// rest are counted under "other".
	maxRefusalDomains = 20
)

// refusalKey is what refusals are counted by: one client address (and
// the user logged in, if any) and one reason.
type refusalKey struct{ client, user, reason string }

// refusalCount is the refusals of one key since its last event.
type refusalCount struct {
	since   time.Time // the window started (at the last event)
	first   Refusal   // the first refusal counted since, whose details the event carries
	firstAt time.Time
	n       int
	domains map[string]int
}

func (c *refusalCount) add(r Refusal, now time.Time) {
	if c.n == 0 {
		c.first, c.firstAt = r, now
	}
	c.n++
	if r.Domain == "" {
		return
	}
	if c.domains == nil {
		c.domains = map[string]int{}
	}
	d := clip(r.Domain)
	if _, ok := c.domains[d]; !ok && len(c.domains) >= maxRefusalDomains {
		d = "other"
	}
	c.domains[d]++
}

// refusalBook holds the counts of the open windows.
type refusalBook struct {
	mu     sync.Mutex
	counts map[refusalKey]*refusalCount
}

// RecordRefusal records a refusal in the audit log as the event
// "policy.refused": actor "user:LOGIN" for an authenticated user, else
// "smtp:IP"; target "domain:DOMAIN", else "user:LOGIN"; the rest in the
// details, with "count", the refusals the event stands for.
//
// Refusals are counted per client address, user and reason, so that a
// client refused over and over costs the audit log one event a minute: the
// first refusal of a key is written at once (count 1) and opens a window of
// RefusalWindow; the refusals within it are counted, and written as one
// event (the first one's details, "count", "first_at" and the count per
// domain in "domains") when the window ends (RunRefusals), or by the next
// refusal of the key after it ended, or by FlushRefusals. Callers count
// each refusal in their metrics themselves.
func (s *Service) RecordRefusal(ctx context.Context, r Refusal) error {
	now := s.now()
	key := refusalKey{client: r.Client, user: r.User, reason: r.Reason}
	b := &s.refusals
	b.mu.Lock()
	if b.counts == nil {
		b.counts = map[refusalKey]*refusalCount{}
	}
	c := b.counts[key]
	if c == nil && len(b.counts) >= maxRefusalKeys {
		key.client, key.user = "other", ""
		r.Client, r.User = "other", ""
		c = b.counts[key]
	}
	if c != nil && now.Sub(c.since) < RefusalWindow {
		c.add(r, now)
		b.mu.Unlock()
		return nil
	}
	// A new key, or a window that ended: one event now, with what the
	// ended window counted.
	if c == nil || c.n == 0 {
		c = &refusalCount{}
	}
	c.add(r, now)
	b.counts[key] = &refusalCount{since: now}
	b.mu.Unlock()
	return s.writeRefusal(ctx, c)
}

// RunRefusals writes the count of every window as it ends, until ctx ends;
// then it writes what is still counted (FlushRefusals) and returns. The
// server runs it for as long as refusals may be recorded.
func (s *Service) RunRefusals(ctx context.Context) {
	t := time.NewTicker(RefusalWindow / 12)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := s.FlushRefusals(fctx); err != nil {
				s.log.Error("policy: refusal counts not recorded at shutdown", slog.Any("err", err))
			}
			return
		case <-t.C:
			if err := s.flushRefusals(ctx, false); err != nil && ctx.Err() == nil {
				s.log.Error("policy: refusal counts not recorded", slog.Any("err", err))
			}
		}
	}
}

// FlushRefusals writes the counts of every open window now, whether its
// minute ended or not, so that no refusal goes unrecorded at shutdown.
func (s *Service) FlushRefusals(ctx context.Context) error {
	return s.flushRefusals(ctx, true)
}

// flushRefusals writes the counts of the windows that ended (all of them
// when all is set): each with a count becomes one event and starts a new
// window; one without is dropped.
func (s *Service) flushRefusals(ctx context.Context, all bool) error {
	now := s.now()
	var due []*refusalCount
	b := &s.refusals
	b.mu.Lock()
	for k, c := range b.counts {
		if !all && now.Sub(c.since) < RefusalWindow {
			continue
		}
		if c.n == 0 {
			delete(b.counts, k)
			continue
		}
		due = append(due, c)
		b.counts[k] = &refusalCount{since: now}
	}
	b.mu.Unlock()
	var errs []error
	for _, c := range due {
		if err := s.writeRefusal(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeRefusal writes one event for the refusals c counted.
func (s *Service) writeRefusal(ctx context.Context, c *refusalCount) error {
	r := c.first
	actor := "smtp:" + r.Client
	if r.User != "" {
		actor = "user:" + r.User
	}
	target := ""
	switch {
	case r.Domain != "":
		target = "domain:" + r.Domain
	case r.User != "":
		target = "user:" + r.User
	}
	details := map[string]any{"reason": r.Reason, "rule": r.Rule, "count": c.n}
	for k, v := range map[string]string{"listener": r.Listener, "user": r.User, "client": r.Client,
		"from": r.From, "to": r.To, "domain": r.Domain, "header_from": r.Header} {
		if v != "" {
			details[k] = clip(v)
		}
	}
	if c.n > 1 {
		details["first_at"] = c.firstAt.UTC().Format(time.RFC3339)
		if len(c.domains) > 0 {
			details["domains"] = c.domains
		}
	}
	err := s.db.Transaction(ctx, func(tx *gorm.DB) error {
		return s.audit.Append(ctx, tx, audit.Event{Actor: clip(actor), Action: ActionRefused, Target: clip(target), Details: details})
	})
	if err != nil {
		return fmt.Errorf("record refusal: %w", err)
	}
	return nil
}

// clip keeps client-supplied text in events short and valid UTF-8.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) > 320 {
		s = strings.ToValidUTF8(s[:320], "") + "…"
	}
	return s
}

// EventLister reads the audit log; *audit.Log satisfies it.
type EventLister interface {
	List(ctx context.Context, f audit.Filter) ([]audit.Record, error)
}

// Count is the refusals of one user (or client) or one domain.
type Count struct {
	Key      string         // login, "smtp:IP", or a domain
	Total    int            //
	ByReason map[string]int // ReasonPolicy, ReasonRelay, ReasonSpoofing, ReasonAuth
}

// Violations summarises refusals over a period.
type Violations struct {
	Since, Until time.Time
	Total        int
	ByUser       []Count // most refusals first
	ByDomain     []Count // most refusals first
	// Truncated is set when more than MaxSummarised events matched: the
	// counts cover the newest ones.
	Truncated bool
}

// MaxSummarised bounds the events Summarize reads.
const MaxSummarised = 1_000_000

// Summarize counts the refusals recorded in [since, until) per user (or
// client IP, when nobody was logged in) and per domain: the policy.refused
// events (each for as many refusals as its "count", by domain as its
// "domains" says), and the refused SMTP logins (user.login_failed by an
// "smtp:" actor) under ReasonAuth.
func Summarize(ctx context.Context, l EventLister, since, until time.Time) (Violations, error) {
	v := Violations{Since: since.UTC(), Until: until.UTC()}
	users, byDomain := map[string]*Count{}, map[string]*Count{}
	add := func(m map[string]*Count, key, reason string, n int) {
		if key == "" {
			return
		}
		c := m[key]
		if c == nil {
			c = &Count{Key: key, ByReason: map[string]int{}}
			m[key] = c
		}
		c.Total += n
		c.ByReason[reason] += n
	}
	n := 0
	for _, action := range []string{ActionRefused, "user.login_failed"} {
		err := eachEvent(ctx, l, action, since, until, func(r audit.Record) bool {
			if n >= MaxSummarised {
				v.Truncated = true
				return false
			}
			reason, who, domain := "", "", ""
			count, domains := 1, map[string]int(nil)
			if action == ActionRefused {
				reason, _ = r.Details["reason"].(string)
				who, _ = r.Details["user"].(string)
				if who == "" {
					who = r.Actor
				}
				domain, _ = r.Details["domain"].(string)
				count, domains = refusalCounts(r.Details)
			} else {
				if !strings.HasPrefix(r.Actor, "smtp:") {
					return true
				}
				reason, who = ReasonAuth, r.Actor
				if _, d, ok := strings.Cut(strings.TrimPrefix(r.Target, "user:"), "@"); ok {
					domain = d
				}
			}
			n++
			v.Total += count
			add(users, who, reason, count)
			if domains == nil {
				add(byDomain, domain, reason, count)
			}
			for d, k := range domains {
				add(byDomain, d, reason, k)
			}
			return true
		})
		if err != nil {
			return v, err
		}
	}
	v.ByUser, v.ByDomain = sorted(users), sorted(byDomain)
	return v, nil
}

// refusalCounts reads how many refusals a policy.refused event stands for
// (events written before refusals were counted stand for one), and their
// count per domain when the event has it.
func refusalCounts(d map[string]any) (int, map[string]int) {
	n := 1
	if f, ok := d["count"].(float64); ok && f >= 1 {
		n = int(f)
	}
	m, ok := d["domains"].(map[string]any)
	if !ok || len(m) == 0 {
		return n, nil
	}
	out := make(map[string]int, len(m))
	for k, v := range m {
		if f, ok := v.(float64); ok && f >= 1 {
			out[k] = int(f)
		}
	}
	return n, out
}

// eachEvent pages through the events of one action in [since, until),
// newest first.
func eachEvent(ctx context.Context, l EventLister, action string, since, until time.Time, fn func(audit.Record) bool) error {
	const page = 1000
	seen := map[int64]bool{}
	for {
		recs, err := l.List(ctx, audit.Filter{Action: action, Since: since, Until: until, Limit: page})
		if err != nil {
			return fmt.Errorf("read audit log: %w", err)
		}
		fresh := 0
		for _, r := range recs {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			fresh++
			if !fn(r) {
				return nil
			}
		}
		if len(recs) < page || fresh == 0 {
			return nil
		}
		// Events of the same microsecond as the last one may straddle the
		// page: ask again up to and including it, and skip those seen.
		until = recs[len(recs)-1].Time.Add(time.Microsecond)
		if len(seen) > 4*page {
			keep := map[int64]bool{}
			for _, r := range recs {
				keep[r.ID] = true
			}
			seen = keep
		}
	}
}

func sorted(m map[string]*Count) []Count {
	out := make([]Count, 0, len(m))
	for _, c := range m {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Count) int {
		if a.Total != b.Total {
			return b.Total - a.Total
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}
