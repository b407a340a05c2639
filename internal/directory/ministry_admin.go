package directory

import (
	"context"
	"fmt"
	"slices"

	"gorm.io/gorm"
)

// Who administers what. An administrator (role admin) administers the
// whole instance. A ministry administrator (role ministry_admin)
// administers, in their own ministry only, the users who are not
// administrators of the instance and the aliases on the ministry's
// domains: anything of another ministry answers as if it did not exist
// (ErrNotFound, or the *InputError of a name that names nothing), and what
// is the instance's (ministries, domains, the role admin) is ErrForbidden.
// The *As methods take the caller and check it here; the methods that take
// an actor (the command line's, run by the operator of the machine)
// administer everything.

// scope is what one change may touch: the users and aliases of one
// ministry, or (ministryID 0) everything.
type scope struct{ ministryID int64 }

// all reports whether the scope is the whole instance.
func (sc scope) all() bool { return sc.ministryID == 0 }

// scopeKey carries a call's scope in its context, from an *As method to
// the method that takes an actor, which checks it in its transaction.
type scopeKey struct{}

func withScope(ctx context.Context, sc scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, sc)
}

// scopeOf is the scope of a call; without one, everything.
func scopeOf(ctx context.Context) scope {
	sc, _ := ctx.Value(scopeKey{}).(scope)
	return sc
}

// scopeFor is what the caller administers, or ErrForbidden.
func scopeFor(caller Principal) (scope, error) {
	switch {
	case caller.Disabled:
	case caller.HasRole(RoleAdmin):
		return scope{}, nil
	case caller.HasRole(RoleMinistryAdmin) && caller.MinistryID != 0:
		return scope{ministryID: caller.MinistryID}, nil
	}
	return scope{}, ErrForbidden
}

// user checks that the scope covers the user of row r: a user of another
// ministry is ErrNotFound, an administrator of the instance ErrForbidden.
func (sc scope) user(ctx context.Context, tx *gorm.DB, r userRow) error {
	if sc.all() {
		return nil
	}
	if r.MinistryID == nil || *r.MinistryID != sc.ministryID {
		return fmt.Errorf("user %s: %w", r.Login, ErrNotFound)
	}
	var n int64
	err := tx.WithContext(ctx).Model(&userRoleRow{}).Where("user_id = ? AND role = ?", r.ID, RoleAdmin).Count(&n).Error
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("user %s administers the instance: %w", r.Login, ErrForbidden)
	}
	return nil
}

// roles checks that the scope may give the roles: the role admin only the
// administrators of the instance may.
func (sc scope) roles(roles []string) error {
	if !sc.all() && slices.ContainsFunc(roles, func(r string) bool { return normRole(r) == RoleAdmin }) {
		return fmt.Errorf("the role admin: %w", ErrForbidden)
	}
	return nil
}

// AddMinistryAs adds a ministry as the caller (AddMinistry): the
// administrators of the instance alone.
func (s *Service) AddMinistryAs(ctx context.Context, caller Principal, m Ministry) (Ministry, error) {
	if err := authorizeAdmin(caller); err != nil {
		return Ministry{}, err
	}
	return s.AddMinistry(ctx, caller.Actor(), m)
}

// AddUserAs creates an account as the caller (AddUser). A ministry
// administrator creates users of their ministry only, on its domains (a
// domain or ministry of another is as if not hosted, not there), and never
// gives the role admin.
func (s *Service) AddUserAs(ctx context.Context, caller Principal, nu NewUser) (User, error) {
	sc, err := scopeFor(caller)
	if err != nil {
		return User{}, err
	}
	if err := sc.roles(nu.Roles); err != nil {
		return User{}, err
	}
	return s.AddUser(withScope(ctx, sc), caller.Actor(), nu)
}

// userChangeAs runs one change to a user as the caller, in the caller's
// scope.
func (s *Service) userChangeAs(ctx context.Context, caller Principal, fn func(ctx context.Context, actor string) error) error {
	sc, err := scopeFor(caller)
	if err != nil {
		return err
	}
	return fn(withScope(ctx, sc), caller.Actor())
}

// DisableAs disables a user as the caller (Disable).
func (s *Service) DisableAs(ctx context.Context, caller Principal, login string) error {
	return s.userChangeAs(ctx, caller, func(ctx context.Context, actor string) error { return s.Disable(ctx, actor, login) })
}

// EnableAs enables a user as the caller (Enable).
func (s *Service) EnableAs(ctx context.Context, caller Principal, login string) error {
	return s.userChangeAs(ctx, caller, func(ctx context.Context, actor string) error { return s.Enable(ctx, actor, login) })
}

// SetPasswordAs sets a user's password as the caller (SetPassword).
func (s *Service) SetPasswordAs(ctx context.Context, caller Principal, login, password string, mustChange bool) error {
	return s.userChangeAs(ctx, caller, func(ctx context.Context, actor string) error {
		return s.SetPassword(ctx, actor, login, password, mustChange)
	})
}

// UnlockAs lifts a user's lockout as the caller (Unlock).
func (s *Service) UnlockAs(ctx context.Context, caller Principal, login string) error {
	return s.userChangeAs(ctx, caller, func(ctx context.Context, actor string) error { return s.Unlock(ctx, actor, login) })
}

// SetQuotaAs sets a user's quota as the caller (SetQuota).
func (s *Service) SetQuotaAs(ctx context.Context, caller Principal, login string, bytes int64) error {
	return s.userChangeAs(ctx, caller, func(ctx context.Context, actor string) error {
		return s.SetQuota(ctx, actor, login, bytes)
	})
}

// SetRolesAs sets a user's roles as the caller (SetRoles); a ministry
// administrator never gives the role admin.
func (s *Service) SetRolesAs(ctx context.Context, caller Principal, login string, roles []string) ([]string, error) {
	sc, err := scopeFor(caller)
	if err != nil {
		return nil, err
	}
	if err := sc.roles(roles); err != nil {
		return nil, err
	}
	return s.SetRoles(withScope(ctx, sc), caller.Actor(), login, roles)
}

// ManagedUsersAs lists, a page at a time by login, the users the caller
// administers (every user, or those of their ministry), whole, and counts
// them all.
func (s *Service) ManagedUsersAs(ctx context.Context, caller Principal, o ListOptions) ([]User, int64, error) {
	sc, err := scopeFor(caller)
	if err != nil {
		return nil, 0, err
	}
	return s.usersPage(ctx, o, func(q *gorm.DB) *gorm.DB {
		if sc.all() {
			return q
		}
		return q.Where("users.ministry_id = ?", sc.ministryID)
	})
}

// ManagedUserAs returns the user with that login whole when the caller
// administers them; a user of another ministry is ErrNotFound. An
// administrator of the instance in the caller's ministry is returned: the
// caller sees them, and may not change them (ErrForbidden).
func (s *Service) ManagedUserAs(ctx context.Context, caller Principal, login string) (User, error) {
	sc, err := scopeFor(caller)
	if err != nil {
		return User{}, err
	}
	u, err := s.UserByLogin(ctx, login)
	if err != nil {
		return User{}, err
	}
	if !sc.all() && u.Ministry != caller.Ministry {
		return User{}, fmt.Errorf("user %s: %w", u.Login, ErrNotFound)
	}
	return u, nil
}
