package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/input"
)

// The policy as administrators manage it through the API and the web UI:
// every method takes the caller and refuses anyone who may not administer
// the national policy (ErrForbidden). The national policy stays with the
// role admin; a narrower role that administers one ministry never reaches
// it. The command line, run by the operator of the machine, uses Allow,
// Deny and Remove directly.

var (
	// ErrForbidden: the caller may not read or change the policy.
	ErrForbidden = errors.New("only an administrator may read or change the national mail policy")
	// ErrExists: a rule of that pattern exists already; remove it first
	// to change its action.
	ErrExists = errors.New("a rule of that pattern exists already")
)

// ConfirmError refuses a deny rule that covers hosted domains until the
// administrator confirms it: mail to and from those domains would stop.
type ConfirmError struct {
	Pattern string
	Covers  []string // the hosted domains the rule denies, sorted
}

func (e *ConfirmError) Error() string {
	return fmt.Sprintf("the deny rule %s covers hosted domains: %s; mail to and from them would be refused; send it again with confirm to make it",
		e.Pattern, strings.Join(e.Covers, ", "))
}

// NewRule is a rule an administrator adds.
type NewRule struct {
	Pattern string
	Action  string // Allow or Deny
	Note    string
	// Confirm makes a deny rule that covers hosted domains (ConfirmError).
	Confirm bool
}

// authorize refuses a caller who may not administer the national policy.
func authorize(caller directory.Principal) error {
	if caller.Disabled || !caller.HasRole(directory.RoleAdmin) {
		return ErrForbidden
	}
	return nil
}

// RulesAs lists the rules, by pattern, for an administrator.
func (s *Service) RulesAs(ctx context.Context, caller directory.Principal) ([]Rule, error) {
	if err := authorize(caller); err != nil {
		return nil, err
	}
	return s.Rules(ctx)
}

// AddRule adds a rule as the caller ("policy.allow" or "policy.deny" by
// caller.Actor()). A pattern that has a rule already is ErrExists; a deny
// rule that covers hosted domains is a *ConfirmError unless r.Confirm.
func (s *Service) AddRule(ctx context.Context, caller directory.Principal, r NewRule) (Rule, error) {
	if err := authorize(caller); err != nil {
		return Rule{}, err
	}
	if r.Action != Allow && r.Action != Deny {
		return Rule{}, input.Invalid("action", fmt.Sprintf("action must be %s or %s, not %q", Allow, Deny, r.Action))
	}
	p, err := CanonicalPattern(r.Pattern)
	if err != nil {
		return Rule{}, err
	}
	if r.Action == Deny && !r.Confirm {
		if err := s.CheckDeny(ctx, p); err != nil {
			return Rule{}, err
		}
	}
	return s.set(ctx, caller.Actor(), r.Action, p, r.Note, false)
}

// CheckDeny returns a *ConfirmError naming the hosted domains a deny rule
// of the pattern would cover (mail to and from them would be refused), an
// input error for an invalid pattern, else nil. AddRule asks it unless
// the rule is confirmed; so does the command line unless told --yes.
func (s *Service) CheckDeny(ctx context.Context, pattern string) error {
	p, err := CanonicalPattern(pattern)
	if err != nil {
		return err
	}
	covers, err := s.hostedUnder(ctx, p)
	if err != nil {
		return err
	}
	if len(covers) > 0 {
		return &ConfirmError{Pattern: p, Covers: covers}
	}
	return nil
}

// hostedUnder returns the hosted domains the pattern names, sorted.
func (s *Service) hostedUnder(ctx context.Context, pattern string) ([]string, error) {
	if s.hosted == nil {
		return nil, nil
	}
	ds, err := s.hosted.Domains(ctx)
	if err != nil {
		return nil, fmt.Errorf("list hosted domains: %w", err)
	}
	var out []string
	for _, d := range ds {
		if covers(pattern, d.Name) {
			out = append(out, d.Name)
		}
	}
	return out, nil
}

// covers reports whether a canonical pattern names a canonical domain.
func covers(pattern, domain string) bool {
	if d, ok := strings.CutPrefix(pattern, "."); ok {
		return domain == d || strings.HasSuffix(domain, pattern)
	}
	return domain == pattern
}

// RemoveRule removes the rule of the pattern as the caller, or returns
// ErrNotFound.
func (s *Service) RemoveRule(ctx context.Context, caller directory.Principal, pattern string) error {
	if err := authorize(caller); err != nil {
		return err
	}
	return s.Remove(ctx, caller.Actor(), pattern)
}

// Test is how the policy decides an address or a domain: as a recipient
// of our users' mail and as the sender of mail brought to us.
type Test struct {
	Outbound, Inbound Decision
}

// TestAs decides an address ("ali@mof.gov.sy") or a domain for an
// administrator. An address whose domain is not a valid domain is an
// input error for the field "address".
func (s *Service) TestAs(ctx context.Context, caller directory.Principal, address string) (Test, error) {
	if err := authorize(caller); err != nil {
		return Test{}, err
	}
	domain := address
	if i := strings.LastIndexByte(domain, '@'); i >= 0 {
		domain = domain[i+1:]
	}
	if _, err := directory.CanonicalDomain(domain); err != nil {
		var ie *input.Error
		if errors.As(err, &ie) {
			return Test{}, input.Invalid("address", ie.Message)
		}
		return Test{}, err
	}
	var t Test
	var err error
	if t.Outbound, err = s.Decide(ctx, Outbound, address); err != nil {
		return Test{}, err
	}
	if t.Inbound, err = s.Decide(ctx, Inbound, address); err != nil {
		return Test{}, err
	}
	return t, nil
}

// ViolationsAs summarises the refusals recorded in [since, until) for an
// administrator (Summary: Summarize's counts, from the counters).
func (s *Service) ViolationsAs(ctx context.Context, caller directory.Principal, l EventLister, since, until time.Time) (Violations, error) {
	if err := authorize(caller); err != nil {
		return Violations{}, err
	}
	return s.Summary(ctx, l, since, until)
}
