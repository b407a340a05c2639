package directory

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Lookups for the parts of Diwan that name ministries, domains and users
// without owning their tables (the workflow engine's registries,
// departments, memberships and attachments). Each is one typed question
// with its answer; the statements stay here. They read on the read handle
// (db.DB.Read), outside any transaction of the caller: a caller that holds
// a connection or a transaction asks before taking it or after giving it
// back.

// Account is what another part of Diwan needs to know to place a user: who
// they are, their ministry, whether they are disabled and their roles.
type Account struct {
	ID         int64
	Login      string
	MinistryID int64  // 0 for none (the bootstrap administrator)
	Ministry   string // code; "" for none
	Disabled   bool
	Roles      []string // sorted
}

// HasRole reports whether the account holds role.
func (a Account) HasRole(role string) bool { return slices.Contains(a.Roles, role) }

// AccountByLogin returns the account with that login, already canonical
// (CanonicalLogin), or ErrNotFound.
func (s *Service) AccountByLogin(ctx context.Context, login string) (Account, error) {
	var rows []struct {
		ID           int64
		Login        string
		MinistryID   *int64
		MinistryCode *string
		Disabled     bool
	}
	q := s.db.Reader().WithContext(ctx)
	err := q.Table("users u").Select("u.id, u.login, u.ministry_id, m.code AS ministry_code, u.disabled").
		Joins("LEFT JOIN ministries m ON m.id = u.ministry_id").Where("u.login = ?", login).Scan(&rows).Error
	if err != nil {
		return Account{}, fmt.Errorf("find user %s: %w", login, err)
	}
	if len(rows) == 0 {
		return Account{}, fmt.Errorf("user %s: %w", login, ErrNotFound)
	}
	r := rows[0]
	a := Account{ID: r.ID, Login: r.Login, Disabled: r.Disabled, Roles: []string{}}
	if r.MinistryID != nil {
		a.MinistryID = *r.MinistryID
	}
	if r.MinistryCode != nil {
		a.Ministry = *r.MinistryCode
	}
	if err := q.Table("user_roles").Where("user_id = ?", r.ID).Order("role").Pluck("role", &a.Roles).Error; err != nil {
		return Account{}, fmt.Errorf("load roles of %s: %w", login, err)
	}
	return a, nil
}

// LoginTaken reports whether a user has that login (already canonical).
func (s *Service) LoginTaken(ctx context.Context, login string) (bool, error) {
	var n int64
	if err := s.db.Reader().WithContext(ctx).Table("users").Where("login = ?", login).Count(&n).Error; err != nil {
		return false, fmt.Errorf("find user %s: %w", login, err)
	}
	return n > 0, nil
}

// Logins returns the logins of the users with these ids, by id; an id of no
// user is absent. A user's login never changes and a user is never
// deleted, so the logins once read are kept (up to maxKeptLogins) and only
// the ids not kept are read, all at once: a letter's view names the
// authors of its attachments without a round trip once they are known.
func (s *Service) Logins(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	missing := s.logins.get(ids, out)
	if len(missing) == 0 {
		return out, nil
	}
	var rows []struct {
		ID    int64
		Login string
	}
	if err := s.db.Reader().WithContext(ctx).Table("users").Select("id, login").Where("id IN ?", missing).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	for _, r := range rows {
		out[r.ID] = r.Login
	}
	s.logins.add(rows)
	return out, nil
}

// maxKeptLogins bounds the logins kept by Logins (some MB at most).
const maxKeptLogins = 1 << 16

// loginKeep holds the logins Logins has read, by user id.
type loginKeep struct {
	mu     sync.RWMutex
	logins map[int64]string
}

// get sets out[id] for the ids kept and returns the others, without
// repeats.
func (k *loginKeep) get(ids []int64, out map[int64]string) (missing []int64) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, id := range ids {
		if l, ok := k.logins[id]; ok {
			out[id] = l
		} else {
			missing = append(missing, id)
		}
	}
	return distinct(missing)
}

func (k *loginKeep) add(rows []struct {
	ID    int64
	Login string
}) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.logins == nil || len(k.logins)+len(rows) > maxKeptLogins {
		k.logins = make(map[int64]string, len(rows))
	}
	for _, r := range rows {
		k.logins[r.ID] = r.Login
	}
}

// MinistryID returns the id of the ministry with the code (already
// canonical: upper case), or ErrNotFound.
func (s *Service) MinistryID(ctx context.Context, code string) (int64, error) {
	var ids []int64
	if err := s.db.Reader().WithContext(ctx).Table("ministries").Where("code = ?", code).Pluck("id", &ids).Error; err != nil {
		return 0, fmt.Errorf("find ministry %s: %w", code, err)
	}
	if len(ids) == 0 {
		return 0, fmt.Errorf("ministry %s: %w", code, ErrNotFound)
	}
	return ids[0], nil
}

// MinistryCodes returns the codes of the ministries with these ids, by id;
// an id of no ministry is absent. It reads them all at once.
func (s *Service) MinistryCodes(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID   int64
		Code string
	}
	if err := s.db.Reader().WithContext(ctx).Table("ministries").Select("id, code").Where("id IN ?", distinct(ids)).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("find ministries: %w", err)
	}
	for _, r := range rows {
		out[r.ID] = r.Code
	}
	return out, nil
}

// DomainMinistry returns the id of the ministry a hosted domain (its
// canonical name, CanonicalDomain) belongs to, or ErrNotFound when the
// domain is not hosted here.
func (s *Service) DomainMinistry(ctx context.Context, domain string) (int64, error) {
	var ids []int64
	if err := s.db.Reader().WithContext(ctx).Table("domains").Where("name = ?", domain).Pluck("ministry_id", &ids).Error; err != nil {
		return 0, fmt.Errorf("find domain %s: %w", domain, err)
	}
	if len(ids) == 0 {
		return 0, fmt.Errorf("domain %s: %w", domain, ErrNotFound)
	}
	return ids[0], nil
}

// distinct is ids without repeats, in their first order.
func distinct(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
