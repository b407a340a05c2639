package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Access control lives here and nowhere else. Who may see an entry:
//
//   - nobody outside the entry's registry's ministry, nobody whose
//     clearance is below the document's classification, no administrator
//     (admins manage the organisation, not content) and no operator;
//   - within that: the registry's clerks; the author of an outgoing draft
//     and the heads above its department; whoever a referral of the entry
//     is addressed to (a person, or the members of a department), who made
//     it, and the heads above that department or person.
//
// A user of another ministry therefore sees only the incoming entry of
// their own registry, never the sender's entry. Whatever may not be seen is
// ErrNotFound, never ErrForbidden, so existence does not leak.

// entryView is an entry with what access and transitions need of its
// document and registry.
type entryView struct {
	ID               int64
	CorrespondenceID int64
	RegistryID       int64
	RegistryCode     string
	MinistryID       int64
	ApprovalRequired bool
	Template         string
	Direction        string
	State            string
	Version          int64
	Year             *int
	Seq              *int64
	Number           *string
	RegisteredAt     *time.Time
	DueDate          string
	Reason           string
	AnsweredBy       *int64
	CreatedAt        time.Time
	UpdatedAt        time.Time
	Kind             string
	Subject          string
	Classification   string
	Priority         string
	DepartmentID     *int64
	CreatedBy        *int64
	SenderRegistryID *int64
	FrozenAt         *time.Time
	DocumentSHA256   string `gorm:"column:document_sha256"`
}

const entrySelect = `SELECT e.id, e.correspondence_id, e.registry_id, r.code AS registry_code, r.ministry_id,
	r.approval_required, r.template, e.direction, e.state, e.version, e.year, e.seq, e.number, e.registered_at,
	e.due_date, e.reason, e.answered_by, e.created_at, e.updated_at, c.kind, c.subject, c.classification,
	c.priority, c.department_id, c.created_by, c.sender_registry_id, c.frozen_at, c.document_sha256
FROM registry_entries e
JOIN correspondence c ON c.id = e.correspondence_id
JOIN registries r ON r.id = e.registry_id`

// scan reads a row of entrySelect into e.
func (e *entryView) scan(r rowScanner) error {
	return r.Scan(&e.ID, &e.CorrespondenceID, &e.RegistryID, &e.RegistryCode, &e.MinistryID,
		&e.ApprovalRequired, &e.Template, &e.Direction, &e.State, &e.Version, &e.Year, &e.Seq, &e.Number, &e.RegisteredAt,
		&e.DueDate, &e.Reason, &e.AnsweredBy, &e.CreatedAt, &e.UpdatedAt, &e.Kind, &e.Subject, &e.Classification,
		&e.Priority, &e.DepartmentID, &e.CreatedBy, &e.SenderRegistryID, &e.FrozenAt, &e.DocumentSHA256)
}

// appendEntry appends each row of entrySelect to *to.
func appendEntry(to *[]entryView) func(r rowScanner) error {
	return func(r rowScanner) error {
		var e entryView
		if err := e.scan(r); err != nil {
			return err
		}
		*to = append(*to, e)
		return nil
	}
}

// via says how a principal sees an entry.
type via uint8

const (
	viaClerk        via = 1 << iota // clerk of its registry
	viaAuthor                       // author of the outgoing draft
	viaApprover                     // head above the draft's department
	viaReferral                     // a referral to them or their department, or made by them
	viaHeadReferral                 // a referral to a department (or a member of one) they head
)

// access computes how p sees e (0: not at all), reading e's referrals
// with q when they matter.
func (s *Service) access(ctx context.Context, q *gorm.DB, p *principal, e *entryView) (via, error) {
	v, more := p.directAccess(e)
	if !more {
		return v, nil
	}
	var hs []referralHold
	if err := scanRows(ctx, q, referralHoldSelect+" WHERE f.entry_id = ?", []any{e.ID}, appendHold(&hs)); err != nil {
		return 0, fmt.Errorf("check referrals of entry %d: %w", e.ID, err)
	}
	return p.throughReferrals(v, e, hs), nil
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
		if e.CreatedBy != nil && *e.CreatedBy == p.id {
			v |= viaAuthor
		}
		if e.DepartmentID != nil && slices.Contains(p.covered, *e.DepartmentID) {
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

// referralHold is who a referral involves, as access needs it.
type referralHold struct {
	ID, EntryID      int64
	ToUserID         *int64
	FromUserID       *int64
	ToDepartmentID   *int64
	ToUserDepartment *int64 // the department of the person it is addressed to
}

const referralHoldSelect = `SELECT f.id, f.entry_id, f.to_user_id, f.from_user_id, f.to_department_id, tm.department_id
FROM referrals f LEFT JOIN memberships tm ON tm.user_id = f.to_user_id`

// appendHold appends each row of referralHoldSelect to *to.
func appendHold(to *[]referralHold) func(r rowScanner) error {
	return func(r rowScanner) error {
		var h referralHold
		if err := r.Scan(&h.ID, &h.EntryID, &h.ToUserID, &h.FromUserID, &h.ToDepartmentID, &h.ToUserDepartment); err != nil {
			return err
		}
		*to = append(*to, h)
		return nil
	}
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

// entryScope is the SQL condition (over aliases e, c, r) that selects the
// entries p may see. ok is false when p sees none.
func (p *principal) entryScope() (cond string, args []any, ok bool) {
	if !p.seesContent() {
		return "", nil, false
	}
	var alts []string
	if len(p.clerkOf) > 0 {
		alts = append(alts, "e.registry_id IN ?")
		args = append(args, p.clerkOf)
	}
	alts = append(alts, "(e.direction = 'outgoing' AND c.created_by = ?)")
	args = append(args, p.id)
	if len(p.covered) > 0 {
		alts = append(alts, "(e.direction = 'outgoing' AND c.department_id IN ?)")
		args = append(args, p.covered)
	}
	ref := "f.to_user_id = ? OR f.from_user_id = ?"
	args = append(args, p.id, p.id)
	if deps := p.departments(); len(deps) > 0 {
		ref += " OR f.to_department_id IN ?"
		args = append(args, deps)
	}
	if len(p.covered) > 0 {
		ref += " OR f.to_user_id IN (SELECT user_id FROM memberships WHERE department_id IN ?)"
		args = append(args, p.covered)
	}
	alts = append(alts, "EXISTS (SELECT 1 FROM referrals f WHERE f.entry_id = e.id AND ("+ref+"))")
	cond = "r.ministry_id = ? AND c.classification IN ? AND (" + strings.Join(alts, " OR ") + ")"
	args = append([]any{p.ministryID, p.allowedClassifications()}, args...)
	return cond, args, true
}

// loadEntry reads one entry; lock takes its row lock (PostgreSQL) for a
// transition. A missing entry is ErrNotFound.
func (s *Service) loadEntry(ctx context.Context, q *gorm.DB, id int64, lock bool) (*entryView, error) {
	var es []entryView
	if err := scanRows(ctx, q, s.entryByID(lock), []any{id}, appendEntry(&es)); err != nil {
		return nil, fmt.Errorf("load entry %d: %w", id, err)
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("entry %d: %w", id, ErrNotFound)
	}
	return &es[0], nil
}

// entry queues the reading of an entry, as loadEntry (lock: queryLocked);
// get returns it once x has run.
func (x *txn) entry(id int64, lock bool) (get func() (*entryView, error)) {
	var es []entryView
	if lock {
		x.queryLocked(x.s.entryByID(true), []any{id}, appendEntry(&es))
	} else {
		x.query(x.s.entryByID(false), []any{id}, appendEntry(&es))
	}
	return func() (*entryView, error) {
		if len(es) == 0 {
			return nil, fmt.Errorf("entry %d: %w", id, ErrNotFound)
		}
		return &es[0], nil
	}
}

func (s *Service) entryByID(lock bool) string {
	if lock && s.isPostgres() {
		return entrySelect + " WHERE e.id = ? FOR NO KEY UPDATE OF e"
	}
	return entrySelect + " WHERE e.id = ?"
}

// visibleEntry loads an entry p may see, with how; ErrNotFound otherwise.
func (s *Service) visibleEntry(ctx context.Context, q *gorm.DB, p *principal, id int64, lock bool) (*entryView, via, error) {
	if !p.seesContent() {
		return nil, 0, fmt.Errorf("entry %d: %w", id, ErrNotFound)
	}
	e, err := s.loadEntry(ctx, q, id, lock)
	if err != nil {
		return nil, 0, err
	}
	v, err := s.access(ctx, q, p, e)
	if err != nil {
		return nil, 0, err
	}
	if v == 0 {
		return nil, 0, fmt.Errorf("entry %d: %w", id, ErrNotFound)
	}
	return e, v, nil
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
		if !slices.Contains(out, r.action) {
			out = append(out, r.action)
		}
	}
	return out
}

func (s *Service) isPostgres() bool { return s.db.Driver == "postgres" }

// notFound wraps ErrNotFound for an object.
func notFound(what string, id int64) error { return fmt.Errorf("%s %d: %w", what, id, ErrNotFound) }

// isInput reports whether err is one of the engine's errors meant for the
// caller as they are (not wrapped with internal context).
func isPublic(err error) bool {
	var ie *InputError
	var te *TransitionError
	var se *StaleError
	return errors.As(err, &ie) || errors.As(err, &te) || errors.As(err, &se) ||
		errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrExists) ||
		errors.Is(err, ErrTooLarge)
}
