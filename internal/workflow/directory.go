package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"diwan.gov.sy/diwan/internal/directory"
)

// Directory is what the engine asks the directory about the tables it does
// not own: ministries, hosted domains, users and their roles
// (internal/directory.Service answers it; internal/app wires it). The
// engine asks outside any transaction or held connection of its own, before
// taking one or after giving it back, so that a call never waits for a
// connection while holding another.
//
// A name asked for is already canonical (upper-case ministry codes,
// CanonicalLogin logins, CanonicalDomain domains); a missing one is an
// error wrapping directory.ErrNotFound. Lists are answered at once, for all
// ids of one listing, never one call per row.
type Directory interface {
	// Principal is the directory's facts of the user with that id, read in
	// one snapshot with the version of org_state. A disabled user comes
	// with Disabled set; no such user is an error wrapping
	// directory.ErrNotFound.
	Principal(ctx context.Context, userID int64) (directory.Principal, error)
	// AccountByLogin is the user with that login, with their ministry,
	// whether they are disabled and their roles.
	AccountByLogin(ctx context.Context, login string) (directory.Account, error)
	// LoginTaken reports whether a user has that login.
	LoginTaken(ctx context.Context, login string) (bool, error)
	// Logins are the logins of the users with these ids; an id of no user
	// is absent.
	Logins(ctx context.Context, ids []int64) (map[int64]string, error)
	// MinistryID is the id of the ministry with that code.
	MinistryID(ctx context.Context, code string) (int64, error)
	// MinistryCodes are the codes of the ministries with these ids; an id
	// of no ministry is absent.
	MinistryCodes(ctx context.Context, ids []int64) (map[int64]string, error)
	// DomainMinistry is the id of the ministry a hosted domain belongs to;
	// a domain not hosted here is not found.
	DomainMinistry(ctx context.Context, domain string) (int64, error)
}

// PrincipalFacts are the directory's facts of a caller and the version of
// org_state they were read at.
type PrincipalFacts struct {
	Login      string
	Disabled   bool
	MinistryID int64  // 0 for the bootstrap administrator
	Ministry   string // ministry code
	Roles      []string
	Version    int64
}

// FactsOf are the facts of a caller the directory found: what a caller
// with a checked credential brings (Actor.Facts).
func FactsOf(p directory.Principal) *PrincipalFacts {
	return &PrincipalFacts{Login: p.Login, Disabled: p.Disabled, MinistryID: p.MinistryID, Ministry: p.Ministry,
		Roles: p.Roles, Version: p.OrgVersion}
}

type ministryRef struct {
	ID   int64
	Code string
}

// findMinistry asks the directory for the ministry with code; a missing
// one is an *InputError for field.
func (s *Service) findMinistry(ctx context.Context, field, code string) (ministryRef, error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	if c == "" {
		return ministryRef{}, inputErr(field, "the ministry is required")
	}
	id, err := s.dir.MinistryID(ctx, c)
	if errors.Is(err, directory.ErrNotFound) {
		return ministryRef{}, inputErr(field, fmt.Sprintf("no ministry has the code %s", show(c)))
	} else if err != nil {
		return ministryRef{}, fmt.Errorf("find ministry %s: %w", c, err)
	}
	return ministryRef{ID: id, Code: c}, nil
}

// findAccount asks the directory for the user with login (any spelling); a
// missing one is an *InputError for field.
func (s *Service) findAccount(ctx context.Context, field, login string) (directory.Account, error) {
	canon, err := directory.CanonicalLogin(login)
	if err != nil {
		var ie *directory.InputError
		if errors.As(err, &ie) {
			return directory.Account{}, inputErr(field, ie.Message)
		}
		return directory.Account{}, err
	}
	u, err := s.dir.AccountByLogin(ctx, canon)
	if errors.Is(err, directory.ErrNotFound) {
		return u, inputErr(field, fmt.Sprintf("no user has the login %s", show(canon)))
	} else if err != nil {
		return u, fmt.Errorf("find user %s: %w", canon, err)
	}
	return u, nil
}

// ministryCodes asks the directory for the codes of the ministries with
// these ids, at once.
func (s *Service) ministryCodes(ctx context.Context, ids []int64) (map[int64]string, error) {
	if len(ids) == 0 {
		return map[int64]string{}, nil
	}
	codes, err := s.dir.MinistryCodes(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("find ministries: %w", err)
	}
	return codes, nil
}

// logins asks the directory for the logins of the users with these ids, at
// once.
func (s *Service) logins(ctx context.Context, ids []int64) (map[int64]string, error) {
	if len(ids) == 0 {
		return map[int64]string{}, nil
	}
	ls, err := s.dir.Logins(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	return ls, nil
}

// registryAddress checks a registry's mailbox address, asking the
// directory: canonical, on a domain hosted for the ministry, not a user's
// login. Its answer is a check to make later, inside the transaction that
// knows the registry's ministry: the directory is asked before it.
func (s *Service) registryAddress(ctx context.Context, addr string) func(ministryID int64) (string, error) {
	local, domain, err := directory.CanonicalAddress(strings.TrimSpace(addr))
	if err != nil {
		var ie *directory.InputError
		if errors.As(err, &ie) {
			err = inputErr("address", ie.Message)
		}
		return func(int64) (string, error) { return "", err }
	}
	canon := local + "@" + domain
	owner, err := s.dir.DomainMinistry(ctx, domain)
	hosted := err == nil
	if errors.Is(err, directory.ErrNotFound) {
		err = nil
	} else if err != nil {
		err = fmt.Errorf("find domain %s: %w", domain, err)
	}
	var taken bool
	if err == nil && hosted {
		taken, err = s.dir.LoginTaken(ctx, canon)
	}
	return func(ministryID int64) (string, error) {
		switch {
		case err != nil:
			return "", err
		case !hosted:
			return "", inputErr("address", fmt.Sprintf("the domain %s is not hosted here; add it first", domain))
		case owner != ministryID:
			return "", inputErr("address", fmt.Sprintf("the domain %s belongs to another ministry", domain))
		case taken || local == "postmaster":
			return "", inputErr("address", fmt.Sprintf("%s is a user's or a reserved address; a registry needs a mailbox of its own", canon))
		}
		return canon, nil
	}
}
