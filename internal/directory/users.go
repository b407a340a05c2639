package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"diwan.gov.sy/diwan/internal/db"
)

// NewUser is what AddUser needs.
type NewUser struct {
	Address  string   // the login: a mail address on a hosted domain, any spelling
	Name     string   // display name
	Ministry string   // ministry code; "" means the ministry of the address's domain
	Roles    []string // one or more of Roles()
	Password string
	// MustChangePassword makes the next interactive login set a new
	// password (set it for generated passwords).
	MustChangePassword bool
}

// ListOptions select a page of users.
type ListOptions struct {
	Query  string // substring of the login or the display name; "" for all
	Limit  int    // 0 means 100; at most 1000
	Offset int
}

const (
	defaultListLimit = 100
	maxListLimit     = 1000
	maxNameChars     = 200
)

// reservedLocals are local parts that every hosted domain keeps for
// itself (RFC 5321 §4.5.1, RFC 2142): never a user's login.
var reservedLocals = []string{"postmaster"}

// AddUser creates an account on a hosted domain. The address is
// canonicalised (CanonicalAddress); an address in use, in any spelling, is
// ErrExists. Bad input is an *InputError naming the field: "address" (bad
// address, domain not hosted), "ministry" (unknown code), "role", "name",
// "password".
func (s *Service) AddUser(ctx context.Context, actor string, nu NewUser) (User, error) {
	local, domain, err := CanonicalAddress(nu.Address)
	if err != nil {
		return User{}, err
	}
	login := local + "@" + domain
	if slices.Contains(reservedLocals, local) {
		return User{}, inputErr("address", fmt.Sprintf("%s is reserved on every hosted domain; it cannot be a user's login", local+"@"))
	}
	name, err := cleanText("name", "the display name", nu.Name, maxNameChars)
	if err != nil {
		return User{}, err
	}
	roles, err := canonicalRoles(nu.Roles)
	if err != nil {
		return User{}, err
	}
	var code string
	if nu.Ministry != "" {
		if code, err = canonicalMinistryCode("ministry", nu.Ministry); err != nil {
			return User{}, err
		}
	}
	if err := s.checkPassword(nu.Password); err != nil {
		return User{}, err
	}
	// Hash before the transaction: it takes the time of a login check, and
	// no lock should be held meanwhile.
	hash, err := s.hash(ctx, nu.Password)
	if err != nil {
		return User{}, err
	}
	now := s.clock()
	row := userRow{Login: login, Name: name, MustChangePassword: nu.MustChangePassword,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	err = s.change(ctx, func(tx *gorm.DB) error {
		var d domainRow
		err := tx.Where("name = ?", domain).Take(&d).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return inputErr("address", fmt.Sprintf("the domain %s is not hosted here; add it first", domain))
		} else if err != nil {
			return err
		}
		sc := scopeOf(ctx)
		if !sc.all() && d.MinistryID != sc.ministryID {
			return inputErr("address", fmt.Sprintf("the domain %s is not hosted here; add it first", domain))
		}
		ministryID := d.MinistryID
		if code != "" {
			m, err := ministryForInput(ctx, tx, code)
			if err == nil && !sc.all() && m.ID != sc.ministryID {
				err = inputErr("ministry", fmt.Sprintf("no ministry has the code %s", code))
			}
			if err != nil {
				return err
			}
			ministryID = m.ID
		} else {
			var m ministryRow
			if err := tx.Where("id = ?", d.MinistryID).Take(&m).Error; err != nil {
				return err
			}
			code = m.Code
		}
		row.MinistryID, row.DomainID = &ministryID, &d.ID
		return s.insertUser(ctx, tx, actor, &row, roles, nil)
	})
	if err != nil {
		return User{}, s.userError("add user", login, err)
	}
	return row.user(code, roles), nil
}

// insertUser writes the row, its roles and the "user.add" event.
func (s *Service) insertUser(ctx context.Context, tx *gorm.DB, actor string, row *userRow, roles []string, extra map[string]any) error {
	if err := tx.Create(row).Error; err != nil {
		return err
	}
	rr := make([]userRoleRow, len(roles))
	for i, r := range roles {
		rr[i] = userRoleRow{UserID: row.ID, Role: r}
	}
	if err := tx.Create(&rr).Error; err != nil {
		return err
	}
	details := map[string]any{"name": row.Name, "roles": roles, "must_change_password": row.MustChangePassword}
	for k, v := range extra {
		details[k] = v
	}
	return s.appendEvent(ctx, tx, actor, "user.add", "user:"+row.Login, details)
}

// userError translates an error of a change to one user.
func (s *Service) userError(what, login string, err error) error {
	var ie *InputError
	switch {
	case errors.As(err, &ie), errors.Is(err, ErrNotFound), errors.Is(err, ErrForbidden):
		return err
	case db.IsUniqueViolation(err):
		return fmt.Errorf("user %s: %w", login, ErrExists)
	}
	return fmt.Errorf("%s %s: %w", what, login, err)
}

// normRole is a role as it is stored: trimmed, lower-case.
func normRole(r string) string { return strings.ToLower(strings.TrimSpace(r)) }

// canonicalRoles lower-cases, checks, de-duplicates and orders roles.
func canonicalRoles(in []string) ([]string, error) {
	var out []string
	for _, r := range in {
		r = normRole(r)
		if !slices.Contains(Roles(), r) {
			return nil, inputErr("role", fmt.Sprintf("%s is not a role; the roles are %s", show(r), strings.Join(Roles(), ", ")))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, inputErr("role", "a user needs at least one role: "+strings.Join(Roles(), ", "))
	}
	slices.Sort(out)
	return out, nil
}

// userView is a users row with its ministry's code.
type userView struct {
	Row          userRow `gorm:"embedded"`
	MinistryCode *string
}

func userQuery(ctx context.Context, tx *gorm.DB) *gorm.DB {
	return tx.WithContext(ctx).Table("users").
		Select("users.*, ministries.code AS ministry_code").
		Joins("LEFT JOIN ministries ON ministries.id = users.ministry_id")
}

// withRoles turns rows into Users, loading their roles in one query.
func withRoles(ctx context.Context, tx *gorm.DB, rows []userView) ([]User, error) {
	if len(rows) == 0 {
		return []User{}, nil
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.Row.ID
	}
	var rr []userRoleRow
	if err := tx.WithContext(ctx).Where("user_id IN ?", ids).Order("user_id, role").Find(&rr).Error; err != nil {
		return nil, fmt.Errorf("load roles: %w", err)
	}
	roles := map[int64][]string{}
	for _, r := range rr {
		roles[r.UserID] = append(roles[r.UserID], r.Role)
	}
	out := make([]User, len(rows))
	for i, r := range rows {
		var code string
		if r.MinistryCode != nil {
			code = *r.MinistryCode
		}
		out[i] = r.Row.user(code, roles[r.Row.ID])
	}
	return out, nil
}

// Users lists users by login, a page at a time.
func (s *Service) Users(ctx context.Context, o ListOptions) ([]User, error) {
	q := s.filterUsers(userQuery(ctx, s.db.Writer()), o.Query)
	limit := o.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	var rows []userView
	if err := q.Order("users.login").Limit(limit).Offset(max(o.Offset, 0)).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return withRoles(ctx, s.db.Writer(), rows)
}

// usersPage lists a page of the users that in keeps, by login, with
// their roles, and counts them all: the listing of UsersAs and
// ManagedUsersAs, which differ in whom they keep.
func (s *Service) usersPage(ctx context.Context, o ListOptions, in func(*gorm.DB) *gorm.DB) ([]User, int64, error) {
	limit := o.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	var rows []userView
	q := in(s.filterUsers(userQuery(ctx, s.db.Writer()), o.Query))
	if err := q.Order("users.login").Limit(limit).Offset(max(o.Offset, 0)).Scan(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	us, err := withRoles(ctx, s.db.Writer(), rows)
	if err != nil {
		return nil, 0, err
	}
	var n int64
	if err := in(s.filterUsers(s.db.Writer().WithContext(ctx).Table("users"), o.Query)).Count(&n).Error; err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	return us, n, nil
}

// CountUsers counts the users Users would list with that query, all pages.
func (s *Service) CountUsers(ctx context.Context, query string) (int64, error) {
	var n int64
	q := s.filterUsers(s.db.Writer().WithContext(ctx).Table("users"), query)
	if err := q.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

func (s *Service) filterUsers(q *gorm.DB, query string) *gorm.DB {
	query = strings.TrimSpace(query)
	if query == "" {
		return q
	}
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(query))
	pat := "%" + esc + "%"
	return q.Where(`(LOWER(users.login) LIKE ? ESCAPE '\' OR LOWER(users.name) LIKE ? ESCAPE '\')`, pat, pat)
}

// UserByLogin returns the user with that login (an address in any
// spelling, or BootstrapLogin), or ErrNotFound.
func (s *Service) UserByLogin(ctx context.Context, login string) (User, error) {
	canon, err := CanonicalLogin(login)
	if err != nil {
		return User{}, err
	}
	return s.userByCanonical(ctx, s.db.Writer(), canon)
}

func (s *Service) userByCanonical(ctx context.Context, tx *gorm.DB, login string) (User, error) {
	var rows []userView
	if err := userQuery(ctx, tx).Where("users.login = ?", login).Limit(1).Scan(&rows).Error; err != nil {
		return User{}, fmt.Errorf("find user %s: %w", login, err)
	}
	if len(rows) == 0 {
		return User{}, fmt.Errorf("user %s: %w", login, ErrNotFound)
	}
	us, err := withRoles(ctx, tx, rows)
	if err != nil {
		return User{}, err
	}
	return us[0], nil
}

// lockUser reads a user's row for update inside tx (a row lock on
// PostgreSQL; SQLite transactions hold the write lock already).
func lockUser(ctx context.Context, tx *gorm.DB, login string) (userRow, error) {
	var r userRow
	err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("login = ?", login).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return r, fmt.Errorf("user %s: %w", login, ErrNotFound)
	}
	return r, err
}

// updateUser changes one user's row: canonicalises the login, locks the
// row, checks that the call's scope covers the user (ministry_admin.go),
// lets fn compute the changes and the audit event, and writes both.
// fn returns nil changes for "nothing to do" (no write, no event).
func (s *Service) updateUser(ctx context.Context, what, login string,
	fn func(tx *gorm.DB, r userRow) (changes map[string]any, event func() error, err error)) error {
	canon, err := CanonicalLogin(login)
	if err != nil {
		return err
	}
	err = s.change(ctx, func(tx *gorm.DB) error {
		r, err := lockUser(ctx, tx, canon)
		if err != nil {
			return err
		}
		if err := scopeOf(ctx).user(ctx, tx, r); err != nil {
			return err
		}
		changes, event, err := fn(tx, r)
		if err != nil || changes == nil {
			return err
		}
		if err := tx.Model(&userRow{}).Where("id = ?", r.ID).Updates(changes).Error; err != nil {
			return err
		}
		return event()
	})
	if err != nil {
		return s.userError(what, canon, err)
	}
	return nil
}

// SetPassword sets a user's password, clears a lockout and the failed-login
// count, and sets or clears MustChangePassword.
func (s *Service) SetPassword(ctx context.Context, actor, login, password string, mustChange bool) error {
	if err := s.checkPassword(password); err != nil {
		return err
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	return s.updateUser(ctx, "set password of", login, func(tx *gorm.DB, r userRow) (map[string]any, func() error, error) {
		return map[string]any{
				"password_hash": hash, "must_change_password": mustChange,
				"failed_logins": 0, "locked_until": nil, "updated_at": s.clock(),
			}, func() error {
				return s.appendEvent(ctx, tx, actor, "user.passwd", "user:"+r.Login,
					map[string]any{"must_change_password": mustChange})
			}, nil
	})
}

// Unlock lifts a user's lockout: the lock of the account, its failed-login
// count and the failures counted for it from every client address (those
// refused for it included), recorded as "user.unlock" with what was
// lifted. A user with nothing to lift is left alone, with no event.
func (s *Service) Unlock(ctx context.Context, actor, login string) error {
	return s.updateUser(ctx, "unlock", login, func(tx *gorm.DB, r userRow) (map[string]any, func() error, error) {
		now := s.clock()
		var addresses, refused int64
		if err := tx.Model(&loginFailureRow{}).Where("user_id = ?", r.ID).Count(&addresses).Error; err != nil {
			return nil, nil, err
		}
		if err := tx.Model(&loginFailureRow{}).Where("user_id = ? AND locked_until > ?", r.ID, now).Count(&refused).Error; err != nil {
			return nil, nil, err
		}
		if addresses == 0 && r.FailedLogins == 0 && r.LockedUntil == nil {
			return nil, nil, nil
		}
		if err := tx.Where("user_id = ?", r.ID).Delete(&loginFailureRow{}).Error; err != nil {
			return nil, nil, err
		}
		details := map[string]any{"failed_logins": r.FailedLogins, "addresses": addresses, "refused_addresses": refused}
		if r.LockedUntil != nil && r.LockedUntil.After(now) {
			details["locked_until"] = r.LockedUntil.Format(time.RFC3339)
		}
		return map[string]any{"failed_logins": 0, "locked_until": nil, "updated_at": now}, func() error {
			return s.appendEvent(ctx, tx, actor, "user.unlock", "user:"+r.Login, details)
		}, nil
	})
}

// Disable stops a user's logins on every protocol. Disabling the last
// enabled administrator is refused (*InputError for "login"): someone must
// be able to enable accounts again. Disabling a disabled user does nothing.
func (s *Service) Disable(ctx context.Context, actor, login string) error {
	return s.setDisabled(ctx, actor, login, true)
}

// Enable lets a disabled user log in again. Enabling an enabled user does
// nothing.
func (s *Service) Enable(ctx context.Context, actor, login string) error {
	return s.setDisabled(ctx, actor, login, false)
}

func (s *Service) setDisabled(ctx context.Context, actor, login string, disabled bool) error {
	action, what := "user.enable", "enable"
	if disabled {
		action, what = "user.disable", "disable"
	}
	return s.updateUser(ctx, what, login, func(tx *gorm.DB, r userRow) (map[string]any, func() error, error) {
		if r.Disabled == disabled {
			return nil, nil, nil
		}
		if disabled {
			last, err := lastEnabledAdmin(ctx, tx, r.ID)
			if err != nil {
				return nil, nil, err
			}
			if last {
				return nil, nil, inputErr("login", fmt.Sprintf("%s is the last enabled administrator; give another user the admin role first", r.Login))
			}
		}
		return map[string]any{"disabled": disabled, "updated_at": s.clock()}, func() error {
			return s.appendEvent(ctx, tx, actor, action, "user:"+r.Login, nil)
		}, nil
	})
}

// lastEnabledAdmin reports whether user id is an enabled administrator and
// no other enabled user is one.
func lastEnabledAdmin(ctx context.Context, tx *gorm.DB, id int64) (bool, error) {
	var ids []int64
	err := tx.WithContext(ctx).Table("user_roles").Select("user_roles.user_id").
		Joins("JOIN users ON users.id = user_roles.user_id").
		Where("user_roles.role = ? AND users.disabled = ?", RoleAdmin, false).
		Limit(2).Pluck("user_roles.user_id", &ids).Error
	if err != nil {
		return false, err
	}
	return len(ids) == 1 && ids[0] == id, nil
}

// SetQuota sets a user's mail storage quota in bytes; 0 is unlimited.
func (s *Service) SetQuota(ctx context.Context, actor, login string, bytes int64) error {
	if bytes < 0 {
		return inputErr("quota", fmt.Sprintf("a quota of %d bytes is negative; use 0 for unlimited", bytes))
	}
	return s.updateUser(ctx, "set quota of", login, func(tx *gorm.DB, r userRow) (map[string]any, func() error, error) {
		if r.QuotaBytes == bytes {
			return nil, nil, nil
		}
		return map[string]any{"quota_bytes": bytes, "updated_at": s.clock()}, func() error {
			return s.appendEvent(ctx, tx, actor, "user.quota", "user:"+r.Login,
				map[string]any{"quota_bytes": bytes, "previous": r.QuotaBytes})
		}, nil
	})
}

// EnsureBootstrapAdmin creates the bootstrap administrator (login
// BootstrapLogin, role admin, no ministry) when there is no user at all,
// and does nothing otherwise (created false). With password "" it
// generates one (GeneratePassword), returns it for the caller to show once,
// and marks it to be changed at first login; a given password must pass
// the password rules.
func (s *Service) EnsureBootstrapAdmin(ctx context.Context, password string) (created bool, generated string, err error) {
	var n int64
	if err := s.db.Writer().WithContext(ctx).Model(&userRow{}).Limit(1).Count(&n).Error; err != nil {
		return false, "", fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return false, "", nil
	}
	mustChange := false
	if password == "" {
		generated = GeneratePassword()
		password, mustChange = generated, true
	} else if err := s.checkPassword(password); err != nil {
		return false, "", err
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return false, "", err
	}
	now := s.clock()
	row := userRow{Login: BootstrapLogin, Name: "Administrator", MustChangePassword: mustChange,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	err = s.change(ctx, func(tx *gorm.DB) error {
		// Checked again under the write lock: another node may have won.
		var n int64
		if err := tx.Model(&userRow{}).Limit(1).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrExists
		}
		return s.insertUser(ctx, tx, "system", &row, []string{RoleAdmin}, map[string]any{"bootstrap": true})
	})
	if errors.Is(err, ErrExists) || db.IsUniqueViolation(err) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("create bootstrap administrator: %w", err)
	}
	s.log.Info("bootstrap administrator created", "login", BootstrapLogin, "generated_password", generated != "")
	return true, generated, nil
}
