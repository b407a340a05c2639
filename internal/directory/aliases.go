package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/db"
)

// ErrNotHosted is ResolveAddress's answer for an address whose domain is
// not hosted here (mail for it is not ours to deliver).
var ErrNotHosted = errors.New("domain not hosted here")

// PostmasterLocal is the local part that exists on every hosted domain
// (RFC 5321 §4.5.1).
const PostmasterLocal = "postmaster"

// maxAliasTargets bounds the users one alias delivers to.
const maxAliasTargets = 100

// Alias is an address on a hosted domain that delivers to users.
type Alias struct {
	Address   string   // canonical address
	Targets   []string // logins of the users it delivers to, sorted
	CreatedBy string
	CreatedAt time.Time
}

type aliasRow struct {
	ID        int64 `gorm:"primaryKey"`
	Address   string
	DomainID  int64
	CreatedBy string
	CreatedAt time.Time
}

func (aliasRow) TableName() string { return "aliases" }

type aliasTargetRow struct {
	AliasID int64 `gorm:"primaryKey;autoIncrement:false"`
	UserID  int64 `gorm:"primaryKey;autoIncrement:false"`
}

func (aliasTargetRow) TableName() string { return "alias_targets" }

// AddAlias makes address (on a hosted domain, any spelling) deliver to the
// users whose addresses are targets. An existing alias of that address is
// ErrExists (remove it first). Bad input is an *InputError: "address" (bad
// address, domain not hosted, a user's login), "to" (no target, more than
// 100, not a user). postmaster@DOMAIN may be an alias: it then reaches its
// targets instead of the administrators.
func (s *Service) AddAlias(ctx context.Context, actor, address string, targets []string) (Alias, error) {
	local, domain, err := CanonicalAddress(address)
	if err != nil {
		return Alias{}, err
	}
	addr := local + "@" + domain
	var logins []string
	for _, t := range targets {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		l, d, err := CanonicalAddress(t)
		if err != nil {
			var ie *InputError
			if errors.As(err, &ie) {
				return Alias{}, inputErr("to", ie.Message)
			}
			return Alias{}, err
		}
		if login := l + "@" + d; !slices.Contains(logins, login) {
			logins = append(logins, login)
		}
	}
	switch {
	case len(logins) == 0:
		return Alias{}, inputErr("to", "an alias needs at least one target address")
	case len(logins) > maxAliasTargets:
		return Alias{}, inputErr("to", fmt.Sprintf("an alias has at most %d targets; %d given", maxAliasTargets, len(logins)))
	case slices.Contains(logins, addr):
		return Alias{}, inputErr("to", fmt.Sprintf("%s cannot be its own target", addr))
	}
	slices.Sort(logins)
	row := aliasRow{Address: addr, CreatedBy: actor, CreatedAt: s.clock()}
	err = s.change(ctx, func(tx *gorm.DB) error {
		var d domainRow
		err := tx.WithContext(ctx).Where("name = ?", domain).Take(&d).Error
		sc := scopeOf(ctx)
		if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && !sc.all() && d.MinistryID != sc.ministryID) {
			return inputErr("address", fmt.Sprintf("the domain %s is not hosted here", domain))
		} else if err != nil {
			return err
		}
		row.DomainID = d.ID
		var n int64
		if err := tx.WithContext(ctx).Model(&userRow{}).Where("login = ?", addr).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return inputErr("address", fmt.Sprintf("%s is a user's address; an alias needs an address of its own", addr))
		}
		var users []userRow
		q := tx.WithContext(ctx).Where("login IN ?", logins)
		if !sc.all() {
			q = q.Where("ministry_id = ?", sc.ministryID)
		}
		if err := q.Find(&users).Error; err != nil {
			return err
		}
		if len(users) != len(logins) {
			for _, l := range logins {
				if !slices.ContainsFunc(users, func(u userRow) bool { return u.Login == l }) {
					return inputErr("to", fmt.Sprintf("%s is not a user here; alias targets are users' addresses", l))
				}
			}
		}
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			return err
		}
		rows := make([]aliasTargetRow, len(users))
		for i, u := range users {
			rows[i] = aliasTargetRow{AliasID: row.ID, UserID: u.ID}
		}
		if err := tx.WithContext(ctx).Create(&rows).Error; err != nil {
			return err
		}
		return s.appendEvent(ctx, tx, actor, "alias.add", "alias:"+addr, map[string]any{"to": logins})
	})
	if err != nil {
		var ie *InputError
		switch {
		case errors.As(err, &ie):
			return Alias{}, err
		case db.IsUniqueViolation(err):
			return Alias{}, fmt.Errorf("alias %s: %w", addr, ErrExists)
		}
		return Alias{}, fmt.Errorf("add alias %s: %w", addr, err)
	}
	return Alias{Address: addr, Targets: logins, CreatedBy: actor, CreatedAt: row.CreatedAt}, nil
}

// RemoveAlias removes the alias of that address (any spelling), or returns
// ErrNotFound. Removing the alias of postmaster@DOMAIN sends its mail to
// the administrators again.
func (s *Service) RemoveAlias(ctx context.Context, actor, address string) error {
	local, domain, err := CanonicalAddress(address)
	if err != nil {
		return err
	}
	addr := local + "@" + domain
	err = s.change(ctx, func(tx *gorm.DB) error {
		q := tx.WithContext(ctx).Where("address = ?", addr)
		if sc := scopeOf(ctx); !sc.all() {
			q = q.Where("domain_id IN (SELECT id FROM domains WHERE ministry_id = ?)", sc.ministryID)
		}
		res := q.Delete(&aliasRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("alias %s: %w", addr, ErrNotFound)
		}
		return s.appendEvent(ctx, tx, actor, "alias.remove", "alias:"+addr, nil)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("remove alias %s: %w", addr, err)
	}
	return err
}

// Aliases lists every alias by address, with its targets (in a ministry
// administrator's call, those of the ministry's domains).
func (s *Service) Aliases(ctx context.Context) ([]Alias, error) {
	var rows []aliasRow
	g := s.db.Reader().WithContext(ctx)
	q := g
	if sc := scopeOf(ctx); !sc.all() {
		q = q.Where("domain_id IN (SELECT id FROM domains WHERE ministry_id = ?)", sc.ministryID)
	}
	if err := q.Order("address").Limit(maxListAll).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list aliases: %w", err)
	}
	if len(rows) == 0 {
		return []Alias{}, nil
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	var targets []struct {
		AliasID int64
		Login   string
	}
	err := g.Table("alias_targets").Select("alias_targets.alias_id, users.login").
		Joins("JOIN users ON users.id = alias_targets.user_id").
		Where("alias_targets.alias_id IN ?", ids).Order("users.login").Scan(&targets).Error
	if err != nil {
		return nil, fmt.Errorf("list alias targets: %w", err)
	}
	byAlias := map[int64][]string{}
	for _, t := range targets {
		byAlias[t.AliasID] = append(byAlias[t.AliasID], t.Login)
	}
	out := make([]Alias, len(rows))
	for i, r := range rows {
		out[i] = Alias{Address: r.Address, Targets: byAlias[r.ID], CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// ResolveAddress returns the IDs (ascending, no duplicates) of the users
// that mail to address should reach: the user whose login it is; else the
// targets of the alias of that address; else, for postmaster@ a hosted
// domain without an alias, the enabled administrators of the domain's
// ministry, or every enabled administrator (the bootstrap administrator
// among them) when that ministry has none.
//
// A domain not hosted here is ErrNotHosted; a hosted domain without such a
// mailbox is ErrNotFound; a malformed address is an *InputError for
// "address". Disabled users still receive mail: their mailbox outlives
// their logins until an administrator sends it on with an alias.
func (s *Service) ResolveAddress(ctx context.Context, address string) ([]int64, error) {
	local, domain, err := CanonicalAddress(address)
	if err != nil {
		return nil, err
	}
	addr := local + "@" + domain
	g := s.db.Reader().WithContext(ctx)
	// One query answers the common case: the domain, and the user whose
	// login the address is.
	var rows []struct {
		MinistryID int64
		UserID     *int64
	}
	err = g.Table("domains").Select("domains.ministry_id, users.id AS user_id").
		Joins("LEFT JOIN users ON users.login = ?", addr).Where("domains.name = ?", domain).Limit(1).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("resolve %s: %w", addr, ErrNotHosted)
	}
	if rows[0].UserID != nil {
		return []int64{*rows[0].UserID}, nil
	}
	var ids []int64
	err = g.Table("alias_targets").Select("alias_targets.user_id").
		Joins("JOIN aliases ON aliases.id = alias_targets.alias_id").
		Where("aliases.address = ?", addr).Order("alias_targets.user_id").
		Limit(maxAliasTargets).Pluck("alias_targets.user_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	if len(ids) > 0 {
		return ids, nil
	}
	if local != PostmasterLocal {
		return nil, fmt.Errorf("mailbox %s: %w", addr, ErrNotFound)
	}
	ids, err = s.postmasters(ctx, rows[0].MinistryID)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	if len(ids) == 0 {
		// Only when every administrator is disabled, which Disable refuses.
		return nil, fmt.Errorf("mailbox %s (no enabled administrator): %w", addr, ErrNotFound)
	}
	return ids, nil
}

// postmasters returns the enabled administrators of the ministry, or every
// enabled administrator when it has none.
func (s *Service) postmasters(ctx context.Context, ministryID int64) ([]int64, error) {
	q := func(where string, args ...any) ([]int64, error) {
		var ids []int64
		err := s.db.Reader().WithContext(ctx).Table("users").Select("users.id").
			Joins("JOIN user_roles ON user_roles.user_id = users.id").
			Where("user_roles.role = ? AND users.disabled = ?", RoleAdmin, false).
			Where(where, args...).Order("users.id").Limit(maxAliasTargets).Pluck("users.id", &ids).Error
		return ids, err
	}
	ids, err := q("users.ministry_id = ?", ministryID)
	if err != nil || len(ids) > 0 {
		return ids, err
	}
	return q("1 = 1")
}

// MaySendAs reports whether the user may use address as the envelope
// sender and header From of mail they submit: their own login, an alias
// that delivers to them, or postmaster@ a hosted domain whose mail reaches
// them (an administrator, while the domain has no postmaster alias). A
// malformed address is (false, nil). An error means the database could
// not answer.
//
// Whether a clerk may send as a registry's mailbox is the workflow's
// answer (its tables), which internal/app adds to this one.
func (s *Service) MaySendAs(ctx context.Context, userID int64, address string) (bool, error) {
	local, domain, err := CanonicalAddress(address)
	if err != nil {
		return false, nil
	}
	addr := local + "@" + domain
	g := s.db.Reader().WithContext(ctx)
	var logins []string
	if err := g.Model(&userRow{}).Where("id = ? AND login = ?", userID, addr).Limit(1).Pluck("login", &logins).Error; err != nil {
		return false, fmt.Errorf("may %d send as %s: %w", userID, addr, err)
	}
	if len(logins) > 0 {
		return true, nil
	}
	ids, err := s.ResolveAddress(ctx, addr)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotHosted) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// A user's own login was answered above; what resolves here is an
	// alias or the postmaster.
	return slices.Contains(ids, userID), nil
}
