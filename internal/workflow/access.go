package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

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

// principal is an Actor with what the database says about them, loaded at
// the start of each call.
type principal struct {
	a          Actor
	operator   bool
	id         int64
	login      string
	ministryID int64
	ministry   string
	admin      bool
	clerk      bool
	head       bool
	staff      bool
	clerkOf    []int64 // registry ids
	department int64   // 0 none
	covered    []int64 // departments headed and all below them (head role only)
	clearance  int
}

func level(c Classification) int {
	switch c {
	case Confidential:
		return 1
	case Secret:
		return 2
	}
	return 0
}

// allowedClassifications lists what the clearance may read.
func (p *principal) allowedClassifications() []string {
	out := []string{string(Normal)}
	if p.clearance >= 1 {
		out = append(out, string(Confidential))
	}
	if p.clearance >= 2 {
		out = append(out, string(Secret))
	}
	return out
}

// seesContent reports whether the principal may see any correspondence.
func (p *principal) seesContent() bool {
	return !p.operator && !p.admin && p.ministryID != 0
}

func (p *principal) managesOrganisation() bool { return p.operator || p.admin }

func (p *principal) isClerkOf(registryID int64) bool { return slices.Contains(p.clerkOf, registryID) }

// departments are the principal's own department and those they cover.
func (p *principal) departments() []int64 {
	out := slices.Clone(p.covered)
	if p.department != 0 && !slices.Contains(out, p.department) {
		out = append(out, p.department)
	}
	return out
}

// principalFact is one row of loadPrincipal's query.
type principalFact struct {
	K string
	N int64
	V string
}

// principalQuery reads, in one round trip, a user's row, roles,
// clerkships, membership and the departments they head with all below
// them. Each row is a fact (k, n, v).
const principalQuery = `WITH RECURSIVE sub(id) AS (
	SELECT id FROM departments WHERE head_user_id = ?
	UNION SELECT d.id FROM departments d JOIN sub ON d.parent_id = sub.id
)
SELECT 'user' AS k, CASE WHEN u.disabled THEN 1 ELSE 0 END AS n, u.login AS v FROM users u WHERE u.id = ?
UNION ALL SELECT 'ministry', m.id, m.code FROM users u JOIN ministries m ON m.id = u.ministry_id WHERE u.id = ?
UNION ALL SELECT 'member', COALESCE(ms.department_id, 0), ms.clearance FROM memberships ms WHERE ms.user_id = ?
UNION ALL SELECT 'role', 0, role FROM user_roles WHERE user_id = ?
UNION ALL SELECT 'clerk', registry_id, '' FROM registry_clerks WHERE user_id = ?
UNION ALL SELECT 'head', id, '' FROM sub`

// loadPrincipal reads the actor's user, roles, clerkships, department,
// headships and clearance with q (the transaction, when there is one).
func loadPrincipal(ctx context.Context, q *gorm.DB, a Actor) (*principal, error) {
	if a.Operator != "" || a.UserID == 0 {
		return newPrincipal(a, nil)
	}
	if c := a.Credential; c != nil {
		var ids []int64
		if err := scanRows(ctx, q, c.Query, c.Args, appendID(&ids)); err != nil {
			return nil, fmt.Errorf("check the credential of user %d: %w", a.UserID, err)
		}
		if err := checkCredential(a, ids); err != nil {
			return nil, err
		}
	}
	var facts []principalFact
	if err := scanRows(ctx, q, principalQuery, principalArgs(a), appendFact(&facts)); err != nil {
		return nil, fmt.Errorf("load user %d: %w", a.UserID, err)
	}
	return newPrincipal(a, facts)
}

// appendID appends each row's one id to *to.
func appendID(to *[]int64) func(r rowScanner) error {
	return func(r rowScanner) error {
		var id int64
		if err := r.Scan(&id); err != nil {
			return err
		}
		*to = append(*to, id)
		return nil
	}
}

// checkCredential is whether the rows of a.Credential's query are a's
// user, alone.
func checkCredential(a Actor, ids []int64) error {
	if len(ids) != 1 || ids[0] != a.UserID {
		return fmt.Errorf("user %d: %w", a.UserID, ErrUnauthenticated)
	}
	return nil
}

// principalQueryVersioned is principalQuery with the version of org_state
// it was read at, in one snapshot.
const principalQueryVersioned = principalQuery + `
UNION ALL SELECT 'version', version, '' FROM org_state WHERE id = 1`

// orgVersionQuery reads the version of org_state.
const orgVersionQuery = `SELECT version FROM org_state WHERE id = 1`

// keptAt keeps values read at a version of org_state, by key: the facts
// of principalQuery per user, and credentials found valid. Every change to
// what they were read from moves the version (the triggers of org_state),
// so a value kept at the version that is current is what a new read would
// give.
type keptAt[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]versioned[V]
}

type versioned[V any] struct {
	version int64
	v       V // read only once stored
}

// maxKept bounds a keptAt; past it, it starts again empty.
const maxKept = 4096

func (c *keptAt[K, V]) get(k K) (versioned[V], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.m[k]
	return f, ok
}

// put keeps f unless a value of a later version is kept already.
func (c *keptAt[K, V]) put(k K, f versioned[V]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxKept {
		c.m = make(map[K]versioned[V])
	}
	if old, ok := c.m[k]; !ok || old.version <= f.version {
		c.m[k] = f
	}
}

// principal queues the reading of a's principal; get returns it once x
// has run, and must be called right after that run, before anything else
// is queued. When the facts of a's last call are kept, only the version of
// org_state is read; if it moved, get reads the facts again (one more
// round trip). a's credential is checked after the version is read, in
// the same round trip, unless a check that passed is kept at the version
// read (Credential.Key): then it is not checked again.
func (x *txn) principal(a Actor) (get func() (*principal, error)) {
	if a.Operator != "" || a.UserID == 0 {
		return func() (*principal, error) { return newPrincipal(a, nil) }
	}
	facts, version := x.principalFacts(a)
	c := a.Credential
	if c == nil {
		return facts
	}
	var ids []int64
	check := func() { x.query(c.Query, c.Args, appendID(&ids)) }
	kept, found := versioned[int64]{}, false
	if c.Key != "" {
		kept, found = x.s.credentials.get(c.Key)
	}
	checking := !found || kept.v != a.UserID
	if checking {
		check()
	}
	return func() (*principal, error) {
		if x.err != nil {
			return nil, x.err
		}
		if !checking && *version != kept.version {
			// Read after the version: a revocation between the two
			// is seen here, one after moves the version again.
			checking = true
			check()
			if err := x.run(); err != nil {
				return nil, err
			}
		}
		if checking {
			if err := checkCredential(a, ids); err != nil {
				return nil, err
			}
			if c.Key != "" && *version >= 0 {
				x.s.credentials.put(c.Key, versioned[int64]{version: *version, v: a.UserID})
			}
		}
		return facts()
	}
}

// principalFacts is principal without the credential. *version is the
// version of org_state read in x's first round trip, once x has run.
func (x *txn) principalFacts(a Actor) (get func() (*principal, error), version *int64) {
	cache := &x.s.principals
	load := func() *versioned[[]principalFact] {
		f := &versioned[[]principalFact]{version: -1}
		x.query(principalQueryVersioned, principalArgs(a), func(r rowScanner) error {
			var pf principalFact
			if err := r.Scan(&pf.K, &pf.N, &pf.V); err != nil {
				return err
			}
			if pf.K == "version" {
				f.version = pf.N
			} else {
				f.v = append(f.v, pf)
			}
			return nil
		})
		return f
	}
	loaded := func(f *versioned[[]principalFact]) (*principal, error) {
		// A user who is not there is not kept: creating a user does not
		// move the version.
		if f.version >= 0 && slices.ContainsFunc(f.v, func(pf principalFact) bool { return pf.K == "user" }) {
			cache.put(a.UserID, *f)
		}
		return newPrincipal(a, f.v)
	}
	kept, ok := cache.get(a.UserID)
	if !ok {
		f := load()
		return func() (*principal, error) {
			if x.err != nil {
				return nil, x.err
			}
			return loaded(f)
		}, &f.version
	}
	version = new(int64)
	*version = -1
	x.query(orgVersionQuery, nil, func(r rowScanner) error { return r.Scan(version) })
	return func() (*principal, error) {
		if x.err != nil {
			return nil, x.err
		}
		if *version == kept.version {
			return newPrincipal(a, kept.v)
		}
		f := load()
		if err := x.run(); err != nil {
			return nil, err
		}
		return loaded(f)
	}, version
}

func principalArgs(a Actor) []any {
	id := a.UserID
	return []any{id, id, id, id, id, id}
}

// appendFact appends each row of principalQuery to *to.
func appendFact(to *[]principalFact) func(r rowScanner) error {
	return func(r rowScanner) error {
		var f principalFact
		if err := r.Scan(&f.K, &f.N, &f.V); err != nil {
			return err
		}
		*to = append(*to, f)
		return nil
	}
}

// newPrincipal is the principal of a from the rows of principalQuery.
func newPrincipal(a Actor, facts []principalFact) (*principal, error) {
	if a.Operator != "" {
		return &principal{a: a, operator: true}, nil
	}
	if a.UserID == 0 {
		return nil, fmt.Errorf("no acting user: %w", ErrForbidden)
	}
	id := a.UserID
	p := &principal{a: a, id: id}
	var covered []int64
	found := false
	for _, f := range facts {
		switch f.K {
		case "user":
			found = true
			p.login = f.V
			if f.N != 0 {
				return nil, fmt.Errorf("user %s is disabled: %w", f.V, ErrForbidden)
			}
		case "ministry":
			p.ministryID, p.ministry = f.N, f.V
		case "member":
			p.department, p.clearance = f.N, level(Classification(f.V))
		case "role":
			switch f.V {
			case "admin":
				p.admin = true
			case "clerk":
				p.clerk = true
			case "head":
				p.head = true
			case "staff":
				p.staff = true
			}
		case "clerk":
			p.clerkOf = append(p.clerkOf, f.N)
		case "head":
			covered = append(covered, f.N)
		}
	}
	if !found {
		return nil, fmt.Errorf("user %d: %w", id, ErrForbidden)
	}
	if !p.clerk {
		p.clerkOf = nil
	}
	if p.head {
		p.covered = covered
	}
	return p, nil
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
		if !slices.Contains(out, r.action) {
			out = append(out, r.action)
		}
	}
	return out
}

func (s *Service) isPostgres() bool { return s.db.Driver == "postgres" }

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
