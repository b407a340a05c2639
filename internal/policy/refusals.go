package policy

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

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
// audit event (audit.TallyWindow).
const RefusalWindow = audit.TallyWindow

// RecordRefusal records a refusal in the audit log as the event
// "policy.refused": actor "user:LOGIN" for an authenticated user, else
// "smtp:IP"; target "domain:DOMAIN", else "user:LOGIN"; the rest in the
// details.
//
// Refusals are summed per client address, user and reason by an
// audit.Tally, so that a client refused over and over costs the audit log
// one event a minute, with "count" (and "domains", the count per domain):
// the first refusal of a key is written at once, the rest when the minute
// ends (RunRefusals), or by the key's next refusal after it, or by
// FlushRefusals. Callers count each refusal in their metrics themselves.
func (s *Service) RecordRefusal(ctx context.Context, r Refusal) error {
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
	details := map[string]any{"reason": r.Reason, "rule": r.Rule}
	for k, v := range map[string]string{"listener": r.Listener, "user": r.User, "client": r.Client,
		"from": r.From, "to": r.To, "domain": r.Domain, "header_from": r.Header} {
		if v != "" {
			details[k] = clip(v)
		}
	}
	key := r.Client + "\x00" + r.User + "\x00" + r.Reason
	e := audit.Event{Actor: clip(actor), Action: ActionRefused, Target: clip(target), Details: details}
	var domain string
	if r.Domain != "" {
		domain = clip(r.Domain)
	}
	if err := s.refusals.Add(ctx, key, e, domain); err != nil {
		return fmt.Errorf("record refusal: %w", err)
	}
	return nil
}

// RunRefusals writes the refusals of every minute as it ends, until ctx
// ends; then it writes what is still counted and returns. The server runs
// it for as long as refusals may be recorded.
func (s *Service) RunRefusals(ctx context.Context) {
	s.refusals.Run(ctx, func(err error) {
		s.log.Error("policy: refusal counts not recorded", slog.Any("err", err))
	})
}

// FlushRefusals writes the counts of every open minute now.
func (s *Service) FlushRefusals(ctx context.Context) error {
	return s.refusals.Flush(ctx)
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
	// ByDay counts per day (Key "2026-12-07", days in UTC), oldest first,
	// the days without refusals left out.
	ByDay []Count
	// Truncated is set when more than MaxSummarised events matched: the
	// counts cover the newest ones.
	Truncated bool
}

// Groupings are the ways Violations counts refusals: By's keys.
var Groupings = []string{"user", "domain", "day"}

// By is the counts grouped as one of Groupings says; nil for another.
func (v Violations) By(grouping string) []Count {
	switch grouping {
	case "user":
		return v.ByUser
	case "domain":
		return v.ByDomain
	case "day":
		return v.ByDay
	}
	return nil
}

// MaxSummarised bounds the events Summarize reads.
const MaxSummarised = 1_000_000

// actionLoginFailed is the directory's event of a refused login.
const actionLoginFailed = "user.login_failed"

// Summarize counts the refusals recorded in [since, until) per user (or
// client IP, when nobody was logged in) and per domain: the policy.refused
// events (each for as many refusals as its "count", by domain as its
// "domains" says), and the refused SMTP logins (user.login_failed by an
// "smtp:" actor) under ReasonAuth. It reads every event; Service.Summary
// gives the same counts from the counters.
func Summarize(ctx context.Context, l EventLister, since, until time.Time) (Violations, error) {
	acc := newSummary(since, until)
	for _, action := range []string{ActionRefused, actionLoginFailed} {
		if err := acc.events(ctx, l, action, since, until); err != nil {
			return acc.result(), err
		}
	}
	return acc.result(), nil
}

// summary sums refusals per user, domain and day.
type summary struct {
	v                    Violations
	users, domains, days map[string]*Count
	read                 int // events read
}

func newSummary(since, until time.Time) *summary {
	return &summary{v: Violations{Since: since.UTC(), Until: until.UTC()},
		users: map[string]*Count{}, domains: map[string]*Count{}, days: map[string]*Count{}}
}

func (a *summary) add(m map[string]*Count, key, reason string, n int) {
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

// events adds the events of one action in [since, until), the newest
// first, up to MaxSummarised events in all.
func (a *summary) events(ctx context.Context, l EventLister, action string, since, until time.Time) error {
	if !since.Before(until) {
		return nil
	}
	return eachEvent(ctx, l, action, since, until, func(r audit.Record) bool {
		if a.read >= MaxSummarised {
			a.v.Truncated = true
			return false
		}
		var c counted
		if action == ActionRefused {
			c = refusalCounted(r.Actor, r.Details)
		} else if strings.HasPrefix(r.Actor, "smtp:") {
			c = loginCounted(r.Actor, r.Target, r.Details)
		} else {
			return true
		}
		a.read++
		a.v.Total += c.n
		day := r.Time.UTC().Format(time.DateOnly)
		for _, row := range c.rows() {
			a.add(a.users, row.who, row.reason, row.n)
			a.add(a.days, day, row.reason, row.n)
			a.add(a.domains, row.domain, row.reason, row.n)
		}
		return true
	})
}

func (a *summary) result() Violations {
	v := a.v
	v.ByUser, v.ByDomain = sorted(a.users), sorted(a.domains)
	v.ByDay = sorted(a.days)
	slices.SortFunc(v.ByDay, func(a, b Count) int { return strings.Compare(a.Key, b.Key) })
	return v
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
