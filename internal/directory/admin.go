package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// Administration through the API and the web UI: each method takes the
// caller and refuses anyone who may not administer what it touches
// (ErrForbidden). Hosted domains and the ministries' names belong to the
// administrators of the whole instance (role admin); so do aliases and
// roles until a role that administers one ministry exists, which will be
// checked here too. The command line, run by the operator of the machine,
// calls the methods that take an actor directly.

// ErrForbidden: the caller may not make that change or read.
var ErrForbidden = errors.New("only an administrator may do that")

// authorizeAdmin refuses a caller who does not administer the instance.
func authorizeAdmin(caller Principal) error {
	if caller.Disabled || !caller.HasRole(RoleAdmin) {
		return ErrForbidden
	}
	return nil
}

// DomainsAs lists the hosted domains for an administrator.
func (s *Service) DomainsAs(ctx context.Context, caller Principal) ([]Domain, error) {
	if err := authorizeAdmin(caller); err != nil {
		return nil, err
	}
	return s.Domains(ctx)
}

// AddDomainAs hosts a domain for a ministry as the caller (AddDomain).
func (s *Service) AddDomainAs(ctx context.Context, caller Principal, name, ministry string) (Domain, error) {
	if err := authorizeAdmin(caller); err != nil {
		return Domain{}, err
	}
	return s.AddDomain(ctx, caller.Actor(), name, ministry)
}

// AliasesAs lists the aliases the caller administers: every alias, or
// those on the domains of a ministry administrator's ministry.
func (s *Service) AliasesAs(ctx context.Context, caller Principal) ([]Alias, error) {
	sc, err := scopeFor(caller)
	if err != nil {
		return nil, err
	}
	return s.Aliases(withScope(ctx, sc))
}

// AddAliasAs adds an alias as the caller (AddAlias). A ministry
// administrator adds aliases on their ministry's domains to its users
// only: another ministry's domain is as if not hosted, its users as if
// they did not exist.
func (s *Service) AddAliasAs(ctx context.Context, caller Principal, address string, targets []string) (Alias, error) {
	sc, err := scopeFor(caller)
	if err != nil {
		return Alias{}, err
	}
	return s.AddAlias(withScope(ctx, sc), caller.Actor(), address, targets)
}

// RemoveAliasAs removes an alias as the caller (RemoveAlias); an alias of
// another ministry's domain is ErrNotFound to a ministry administrator.
func (s *Service) RemoveAliasAs(ctx context.Context, caller Principal, address string) error {
	sc, err := scopeFor(caller)
	if err != nil {
		return err
	}
	return s.RemoveAlias(withScope(ctx, sc), caller.Actor(), address)
}

// MinistryUpdate changes a ministry's names; nil fields stay.
type MinistryUpdate struct {
	NameAR, NameEN *string
}

// UpdateMinistryAs renames a ministry as the caller ("ministry.update",
// with the names before and after). A ministry that does not exist is
// ErrNotFound; a change that changes nothing writes nothing.
func (s *Service) UpdateMinistryAs(ctx context.Context, caller Principal, code string, u MinistryUpdate) (Ministry, error) {
	if err := authorizeAdmin(caller); err != nil {
		return Ministry{}, err
	}
	c, err := canonicalMinistryCode("code", code)
	if err != nil {
		return Ministry{}, fmt.Errorf("ministry %s: %w", code, ErrNotFound)
	}
	changes := map[string]any{}
	for _, f := range []struct {
		field, what string
		v           *string
	}{{"name_ar", "the Arabic name", u.NameAR}, {"name_en", "the English name", u.NameEN}} {
		if f.v == nil {
			continue
		}
		if changes[f.field], err = cleanText(f.field, f.what, *f.v, 200); err != nil {
			return Ministry{}, err
		}
	}
	var out ministryRow
	err = s.change(ctx, func(tx *gorm.DB) error {
		r, err := findMinistry(ctx, tx, c)
		if err != nil {
			return err
		}
		out = r
		details := map[string]any{}
		for k, v := range changes {
			old := map[string]string{"name_ar": r.NameAR, "name_en": r.NameEN}[k]
			if old != v {
				details[k] = map[string]any{"from": old, "to": v}
			}
		}
		if len(details) == 0 {
			return nil
		}
		if err := tx.Model(&ministryRow{}).Where("id = ?", r.ID).Updates(changes).Error; err != nil {
			return err
		}
		out.NameAR, out.NameEN = r.NameAR, r.NameEN
		if v, ok := changes["name_ar"]; ok {
			out.NameAR = v.(string)
		}
		if v, ok := changes["name_en"]; ok {
			out.NameEN = v.(string)
		}
		return s.appendEvent(ctx, tx, caller.Actor(), "ministry.update", "ministry:"+c, details)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Ministry{}, err
		}
		var ie *InputError
		if errors.As(err, &ie) {
			return Ministry{}, err
		}
		return Ministry{}, fmt.Errorf("update ministry %s: %w", c, err)
	}
	return out.ministry(), nil
}

// SetRoles replaces a user's roles ("user.roles", with the roles before
// and after) and answers them in canonical order. Taking the role admin
// from the last enabled administrator is refused (*InputError for "role").
// Roles that do not change write nothing.
func (s *Service) SetRoles(ctx context.Context, actor, login string, roles []string) ([]string, error) {
	want, err := canonicalRoles(roles)
	if err != nil {
		return nil, err
	}
	err = s.updateUser(ctx, "set roles of", login, func(tx *gorm.DB, r userRow) (map[string]any, func() error, error) {
		var had []string
		if err := tx.Model(&userRoleRow{}).Where("user_id = ?", r.ID).Order("role").Pluck("role", &had).Error; err != nil {
			return nil, nil, err
		}
		if slices.Equal(had, want) {
			return nil, nil, nil
		}
		if slices.Contains(had, RoleAdmin) && !slices.Contains(want, RoleAdmin) {
			last, err := lastEnabledAdmin(ctx, tx, r.ID)
			if err != nil {
				return nil, nil, err
			}
			if last {
				return nil, nil, inputErr("role", fmt.Sprintf("%s is the last enabled administrator; give another user the admin role first", r.Login))
			}
		}
		return map[string]any{"updated_at": s.clock()}, func() error {
			if err := tx.Where("user_id = ?", r.ID).Delete(&userRoleRow{}).Error; err != nil {
				return err
			}
			rows := make([]userRoleRow, len(want))
			for i, role := range want {
				rows[i] = userRoleRow{UserID: r.ID, Role: role}
			}
			if err := tx.Create(&rows).Error; err != nil {
				return err
			}
			return s.appendEvent(ctx, tx, actor, "user.roles", "user:"+r.Login,
				map[string]any{"from": strings.Join(had, ","), "to": strings.Join(want, ",")})
		}, nil
	})
	if err != nil {
		return nil, err
	}
	return want, nil
}
