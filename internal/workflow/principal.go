package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/directory"
)

// Who is calling. A call's principal is its Actor with two kinds of facts:
//
//   - the directory's (login, disabled, ministry, roles): the Actor's Facts,
//     which the HTTP layer takes from the caller's session or token, or,
//     for callers that bring none (the command line, tests, a referral's
//     addressee), those the Service keeps, read from Options.Directory;
//   - the engine's own (department, clearance, the registries the user
//     clerks for, the departments they head with all below them), read
//     from the workflow's tables by store_principal.go and kept too.
//
// Both are kept at the version of org_state they were read at. Every change
// to either moves that version (the triggers of migrations/*/00008), so
// the version a call reads in its first round trip (which it reads anyway)
// tells whether what is kept is current. Directory facts of another
// version make the call fail with staleFacts before it has done anything;
// the public methods' wrapper (asCaller, api.go) then reads them again
// from the directory, outside any transaction, and runs the call once
// more, or, when the caller gave them, returns ErrCredentialStale for the
// caller to check its credential again.

// principal is an Actor with what the directory and the engine know of
// them, resolved at the start of each call.
type principal struct {
	a          Actor
	operator   bool
	id         int64
	login      string
	ministryID int64
	ministry   string
	admin      bool
	// ministryAdmin: the role ministry_admin, which organises the
	// principal's own ministry (organises).
	ministryAdmin bool
	clerk         bool
	head          bool
	staff         bool
	clerkOf       []int64 // registry ids
	department    int64   // 0 none
	covered       []int64 // departments headed and all below them (head role only)
	clearance     int
}

// ownFacts are the engine's own facts of a user (store_principal.go).
type ownFacts struct {
	department int64   // 0 none
	clearance  string  // "" when never set
	clerkOf    []int64 // registry ids
	heads      []int64 // departments headed and all below them
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

// managesOrganisation reports whether the principal organises every
// ministry.
func (p *principal) managesOrganisation() bool { return p.operator || p.admin }

// organises checks that the principal organises the ministry with that
// id: every ministry for the operator and administrators, their own for a
// ministry administrator; another ministry is as if it did not exist
// (ErrNotFound of what), and anyone else ErrForbidden.
func (p *principal) organises(ministryID int64, what string) error {
	switch {
	case p.managesOrganisation():
		return nil
	case p.ministryAdmin && p.ministryID != 0 && p.ministryID == ministryID:
		return nil
	case p.ministryAdmin && p.ministryID != 0:
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("only administrators change the organisation: %w", ErrForbidden)
}

func (p *principal) isClerkOf(registryID int64) bool { return slices.Contains(p.clerkOf, registryID) }

// departments are the principal's own department and those they cover.
func (p *principal) departments() []int64 {
	out := slices.Clone(p.covered)
	if p.department != 0 && !slices.Contains(out, p.department) {
		out = append(out, p.department)
	}
	return out
}

// staleFacts is the failure of a call that found the directory's facts of
// a user (the caller, or another user it needed) missing or read at
// another version of org_state than its own first read. The call has done
// nothing; asCaller reads them again and runs it once more.
type staleFacts struct{ userID int64 }

func (e *staleFacts) Error() string {
	return fmt.Sprintf("the directory's facts of user %d are not current", e.userID)
}

// Is makes errors.Is(err, ErrCredentialStale) work.
func (e *staleFacts) Is(target error) bool { return target == ErrCredentialStale }

// keptAt keeps values read at a version of org_state, by key: the
// directory's facts and the engine's own facts per user. Every change to
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

// keptFactsKey carries the Service's keep of directory facts in a call's
// context (asCaller puts it there), for loadPrincipal: it runs inside the
// call's transaction, where the directory must not be asked.
type keptFactsKey struct{}

func withKeptFacts(ctx context.Context, k *keptAt[int64, PrincipalFacts]) context.Context {
	return context.WithValue(ctx, keptFactsKey{}, k)
}

// factsOf is the directory's facts of a user actor: its own, or those the
// call's Service keeps.
func factsOf(ctx context.Context, a Actor) (*PrincipalFacts, bool) {
	if a.Facts != nil {
		return a.Facts, true
	}
	k, _ := ctx.Value(keptFactsKey{}).(*keptAt[int64, PrincipalFacts])
	if k == nil {
		return nil, false
	}
	f, ok := k.get(a.UserID)
	if !ok {
		return nil, false
	}
	return &f.v, true
}

// principalFacts returns the directory's facts of a user: kept ones when
// there are, else (or when refresh is set) read from the directory and
// kept. It must not be called while the call holds a connection.
func (s *Service) principalFacts(ctx context.Context, userID int64, refresh bool) (PrincipalFacts, error) {
	if !refresh {
		if f, ok := s.facts.get(userID); ok {
			return f.v, nil
		}
	}
	if s.dir == nil {
		return PrincipalFacts{}, fmt.Errorf("user %d: no directory to read their facts from (Options.Directory)", userID)
	}
	dp, err := s.dir.Principal(ctx, userID)
	if errors.Is(err, directory.ErrNotFound) {
		return PrincipalFacts{}, fmt.Errorf("user %d: %w", userID, ErrForbidden)
	}
	if err != nil {
		return PrincipalFacts{}, fmt.Errorf("read the facts of user %d: %w", userID, err)
	}
	f := *FactsOf(dp)
	s.facts.put(userID, versioned[PrincipalFacts]{version: f.Version, v: f})
	return f, nil
}

// maxCallRuns bounds how many times one call runs when the directory's
// facts of a user it needs were overtaken by a change of the organisation.
const maxCallRuns = 3

// asCaller runs fn, the work of one public method, as a. The directory's
// facts of a are resolved first, outside any transaction: a.Facts as
// given, else those kept at their version, else read from
// Options.Directory. fn's first read checks them against org_state's
// version (principal.go); when they, or those of another user fn needed
// (a referral's addressee), were overtaken (staleFacts), fn has done
// nothing: facts the caller gave are theirs to check again
// (ErrCredentialStale); others are read again from the directory, and fn
// runs once more.
func asCaller[T any](ctx context.Context, s *Service, a Actor, fn func(ctx context.Context, a Actor) (T, error)) (T, error) {
	ctx = withKeptFacts(ctx, &s.facts)
	given := a.Facts != nil
	user := a.Operator == "" && a.UserID != 0
	refresh := false
	for run := 1; ; run++ {
		if user && !given {
			f, err := s.principalFacts(ctx, a.UserID, refresh)
			if err != nil {
				var zero T
				return zero, err
			}
			a.Facts = &f
		}
		v, err := fn(ctx, a)
		var sf *staleFacts
		if !errors.As(err, &sf) || run == maxCallRuns {
			return v, err
		}
		if given && sf.userID == a.UserID {
			return v, fmt.Errorf("user %d: %w", a.UserID, ErrCredentialStale)
		}
		if sf.userID == a.UserID {
			refresh = true
			continue
		}
		if _, err := s.principalFacts(ctx, sf.userID, true); err != nil {
			var zero T
			return zero, err
		}
	}
}

// watchedReader notes whether anything was read from r.
type watchedReader struct {
	r    io.Reader
	read bool
}

func (w *watchedReader) Read(p []byte) (int, error) {
	w.read = true
	return w.r.Read(p)
}

// principal queues the reading of a's principal; get returns it once x
// has run, and must be called right after that run, before anything else
// is queued. When the engine's own facts of a are kept at the version of
// a's directory facts, only the version of org_state is read; otherwise
// the own facts are, with the version, in the same round trip. A version
// other than the directory facts' is staleFacts.
func (x *txn) principal(a Actor) (get func() (*principal, error)) {
	if a.Operator != "" || a.UserID == 0 {
		return func() (*principal, error) { return newPrincipal(a, nil, ownFacts{}) }
	}
	facts, ok := factsOf(x.ctx, a)
	if !ok {
		return func() (*principal, error) {
			if x.err != nil {
				return nil, x.err
			}
			return nil, &staleFacts{a.UserID}
		}
	}
	kept, found := x.s.principals.get(a.UserID)
	var version *int64
	var own *versioned[ownFacts]
	if found && kept.version == facts.Version {
		version = x.orgVersion()
	} else {
		own = x.ownFacts(a.UserID)
		version = &own.version
	}
	return func() (*principal, error) {
		if x.err != nil {
			return nil, x.err
		}
		if *version != facts.Version {
			return nil, &staleFacts{a.UserID}
		}
		if own == nil {
			return newPrincipal(a, facts, kept.v)
		}
		x.s.principals.put(a.UserID, *own)
		return newPrincipal(a, facts, own.v)
	}
}

// loadPrincipal resolves the actor's principal with q (the transaction,
// when there is one): its directory facts (the actor's, or kept), and the
// engine's own facts read with the version of org_state, which must be
// theirs (else staleFacts).
func loadPrincipal(ctx context.Context, q *gorm.DB, a Actor) (*principal, error) {
	if a.Operator != "" || a.UserID == 0 {
		return newPrincipal(a, nil, ownFacts{})
	}
	facts, ok := factsOf(ctx, a)
	if !ok {
		return nil, &staleFacts{a.UserID}
	}
	own, err := readOwnFacts(ctx, q, a.UserID)
	if err != nil {
		return nil, fmt.Errorf("load user %d: %w", a.UserID, err)
	}
	if own.version != facts.Version {
		return nil, &staleFacts{a.UserID}
	}
	return newPrincipal(a, facts, own.v)
}

// organiser loads the actor and checks that they may change the
// organisation of some ministry: an administrator, the operator or a
// ministry administrator, who is then checked for the ministry the change
// touches (principal.organises).
func organiser(ctx context.Context, q *gorm.DB, a Actor) (*principal, error) {
	p, err := loadPrincipal(ctx, q, a)
	if err != nil {
		return nil, err
	}
	if !p.managesOrganisation() && !(p.ministryAdmin && p.ministryID != 0) {
		return nil, fmt.Errorf("only administrators change the organisation: %w", ErrForbidden)
	}
	return p, nil
}

// newPrincipal is the principal of a from the directory's facts f and the
// engine's own facts.
func newPrincipal(a Actor, f *PrincipalFacts, own ownFacts) (*principal, error) {
	if a.Operator != "" {
		return &principal{a: a, operator: true}, nil
	}
	if a.UserID == 0 {
		return nil, fmt.Errorf("no acting user: %w", ErrForbidden)
	}
	if f == nil {
		return nil, fmt.Errorf("user %d: %w", a.UserID, ErrForbidden)
	}
	if f.Disabled {
		return nil, fmt.Errorf("user %s is disabled: %w", f.Login, ErrForbidden)
	}
	p := &principal{a: a, id: a.UserID, login: f.Login, ministryID: f.MinistryID, ministry: f.Ministry,
		department: own.department, clearance: level(Classification(own.clearance))}
	for _, r := range f.Roles {
		switch r {
		case "admin":
			p.admin = true
		case "clerk":
			p.clerk = true
		case "head":
			p.head = true
		case "staff":
			p.staff = true
		case directory.RoleMinistryAdmin:
			p.ministryAdmin = true
		}
	}
	if p.clerk {
		p.clerkOf = own.clerkOf
	}
	if p.head {
		p.covered = own.heads
	}
	return p, nil
}
