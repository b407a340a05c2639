package workflow

import (
	"errors"
	"fmt"
	"slices"
)

// Access control lives here and nowhere else. Who may see an entry:
//
//   - nobody outside the entry's registry's ministry, nobody whose
//     clearance is below the document's classification, no administrator
//     (admins manage the organisation, not content) and no operator;
//   - within that: the registry's clerks; the author of an outgoing draft
//     and the heads of its drafter's department and above it (the
//     department the draft names when its drafter is in none); whoever a referral of the entry
//     is addressed to (a person, or the members of a department), who made
//     it, and the heads above that department or person.
//
// A user of another ministry therefore sees only the incoming entry of
// their own registry, never the sender's entry. Whatever may not be seen is
// ErrNotFound, never ErrForbidden, so existence does not leak.

// via says how a principal sees an entry.
type via uint8

const (
	viaClerk        via = 1 << iota // clerk of its registry
	viaAuthor                       // author of the outgoing draft
	viaApprover                     // head of the draft's approving department or above it, not its author
	viaReferral                     // a referral to them or their department, or made by them
	viaHeadReferral                 // a referral to a department (or a member of one) they head
)

// access computes how p sees e (0: not at all), reading e's referrals
// when they matter.
func access(x *txn, p *principal, e *entryView) (via, error) {
	v, more := p.directAccess(e)
	if !more {
		return v, nil
	}
	hs := x.referralHolds([]int64{e.ID})
	if err := x.run(); err != nil {
		return 0, fmt.Errorf("check referrals of entry %d: %w", e.ID, err)
	}
	return p.throughReferrals(v, e, hs()), nil
}

// directAccess is how p sees e without its referrals, and whether its
// referrals could add to that.
func (p *principal) directAccess(e *entryView) (v via, referrals bool) {
	if !p.seesContent() || e.MinistryID != p.ministryID || level(Classification(e.Classification)) > p.clearance {
		return 0, false
	}
	if p.isClerkOf(e.RegistryID) {
		v |= viaClerk
	}
	if e.Direction == string(Outgoing) {
		author := e.CreatedBy != nil && *e.CreatedBy == p.id
		if author {
			v |= viaAuthor
		}
		// Four eyes: nobody approves what they drafted.
		if d := e.ApprovalDepartment; d != nil && slices.Contains(p.covered, *d) && !author {
			v |= viaApprover
		}
		return v, false
	}
	// Incoming: through referrals. For a clerk who heads nothing they
	// would add nothing.
	return v, v&viaClerk == 0 || len(p.covered) > 0
}

// throughReferrals adds to v, how p sees e directly, what e's referrals
// among hs give.
func (p *principal) throughReferrals(v via, e *entryView, hs []referralHold) via {
	for i := range hs {
		if hs[i].EntryID != e.ID {
			continue
		}
		own, head := p.holds(&hs[i])
		if own {
			v |= viaReferral
		}
		if head {
			v |= viaHeadReferral
		}
	}
	return v
}

// holds says how p stands to a referral: own (addressed to them or their
// department, or made by them) and head (addressed to a department they
// cover or to a member of one).
func (p *principal) holds(h *referralHold) (own, head bool) {
	is := func(id *int64, want int64) bool { return id != nil && *id == want }
	own = is(h.ToUserID, p.id) || is(h.FromUserID, p.id) || (p.department != 0 && is(h.ToDepartmentID, p.department))
	if len(p.covered) > 0 {
		head = (h.ToDepartmentID != nil && slices.Contains(p.covered, *h.ToDepartmentID)) ||
			(h.ToUserID != nil && h.ToUserDepartment != nil && slices.Contains(p.covered, *h.ToUserDepartment))
	}
	return own, head
}

// visibleEntry loads an entry p may see, with how; ErrNotFound otherwise.
func visibleEntry(x *txn, p *principal, id int64, lock bool) (*entryView, via, error) {
	if !p.seesContent() {
		return nil, 0, fmt.Errorf("entry %d: %w", id, ErrNotFound)
	}
	e, err := x.loadEntry(id, lock)
	if err != nil {
		return nil, 0, err
	}
	v, err := access(x, p, e)
	if err != nil {
		return nil, 0, err
	}
	if v == 0 {
		return nil, 0, fmt.Errorf("entry %d: %w", id, ErrNotFound)
	}
	return e, v, nil
}

// visibleEntries lists the entries of a correspondence p can see, with how.
func visibleEntries(x *txn, p *principal, corrID int64) ([]entryView, []via, error) {
	if !p.seesContent() {
		return nil, nil, nil
	}
	es, err := x.entriesOf(corrID)
	if err != nil {
		return nil, nil, err
	}
	var out []entryView
	var vias []via
	for i := range es {
		v, err := access(x, p, &es[i])
		if err != nil {
			return nil, nil, err
		}
		if v != 0 {
			out = append(out, es[i])
			vias = append(vias, v)
		}
	}
	return out, vias, nil
}

func seesCorrespondence(x *txn, p *principal, corrID int64) (bool, error) {
	es, _, err := visibleEntries(x, p, corrID)
	return len(es) > 0, err
}

// may reports whether p, seeing e by v, is among w.
func (p *principal) may(w who, v via) bool {
	switch {
	case w&whoClerk != 0 && v&viaClerk != 0:
		return true
	case w&whoAuthor != 0 && v&viaAuthor != 0:
		return true
	case w&whoApprover != 0 && v&viaApprover != 0:
		return true
	case w&whoHead != 0 && v&viaHeadReferral != 0:
		return true
	}
	return false
}

// allowedActions lists the entry actions p may make now.
func (p *principal) allowedActions(e *entryView, v via) []Action {
	out := []Action{}
	for _, r := range entryRules {
		if r.dir != Direction(e.Direction) || !slices.Contains(r.from, State(e.State)) || !p.may(r.who, v) {
			continue
		}
		if (r.guard == guardApprovalReq && !e.ApprovalRequired) || (r.guard == guardNoApprovalReq && e.ApprovalRequired) {
			continue
		}
		if !e.guardHolds(r.guard) {
			continue
		}
		if !slices.Contains(out, r.action) {
			out = append(out, r.action)
		}
	}
	return out
}

// guardHolds reports whether the recipients' guards of a rule hold for e
// as read: a letter is dispatched to recipients, and recalled whole while
// none has registered it. Recall and forward check again under the
// entry's lock.
func (e *entryView) guardHolds(g guard) bool {
	switch g {
	case guardRecipients:
		return e.Recipients > 0
	case guardNotRegistered:
		return e.Acknowledged == 0
	}
	return true
}

func (s *Service) isPostgres() bool { return s.db.IsPostgres() }

// notFound wraps ErrNotFound for an object.
func notFound(what string, id int64) error { return fmt.Errorf("%s %d: %w", what, id, ErrNotFound) }

// isPublic reports whether err is one of the engine's errors meant for the
// caller as they are (not wrapped with internal context).
func isPublic(err error) bool {
	var ie *InputError
	var te *TransitionError
	var se *StaleError
	return errors.As(err, &ie) || errors.As(err, &te) || errors.As(err, &se) ||
		errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrExists) ||
		errors.Is(err, ErrTooLarge)
}
