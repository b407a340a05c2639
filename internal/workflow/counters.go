package workflow

import (
	"context"
	"slices"
	"time"
)

// CounterLimit bounds every count of Counters: a count of CounterLimit
// means "that many or more" (the navigation shows "999+"), and no count
// costs more than reading that many index entries.
const CounterLimit = 1000

// Counters are what waits for a user, as the navigation of the web UI
// shows it. Every count is limited to what the user may see (their
// ministry, their clearance).
type Counters struct {
	// Waiting: incoming entries of the registries the user clerks for
	// that are received and not yet registered (or returned).
	Waiting int64
	// Referrals: referrals to the user or their department (or the
	// departments they head) still open or accepted: "my open referrals",
	// as ReferralFilter.Mine lists them.
	Referrals int64
	// Overdue: of those referrals, the ones past their due date, and the
	// entries of the user's registries still to be dealt with past theirs:
	// incoming ones received, registered, referred or in progress, and
	// outgoing ones registered but not dispatched. A date is past when it
	// is before today in time_zone.
	Overdue int64
	// Registries are the codes of the registries the user clerks for,
	// sorted.
	Registries []string
}

// Counters counts what waits for the actor, in one statement. An
// administrator or an operator, who sees no content, gets zeros.
func (s *Service) Counters(ctx context.Context, a Actor) (Counters, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Counters, error) {
		return s.counters(ctx, a)
	})
}

func (s *Service) counters(ctx context.Context, a Actor) (Counters, error) {
	var out Counters
	err := s.readBatched(ctx, func(x *txn) error {
		getP := x.principal(a)
		if err := x.run(); err != nil {
			return err
		}
		p, err := getP()
		if err != nil || !p.seesContent() {
			return err
		}
		out, err = x.counters(p, s.today(s.now()).Format(time.DateOnly))
		return err
	})
	slices.Sort(out.Registries)
	return out, err
}
