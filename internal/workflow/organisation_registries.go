package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"gorm.io/gorm"
)

// Registries (دواوين): each of a ministry, with a mailbox address on one of
// its domains and the template of its register numbers.

func (s *Service) addRegistry(ctx context.Context, a Actor, r Registry) (Registry, error) {
	code, err := canonicalCode("code", "the registry", r.Code)
	if err != nil {
		return Registry{}, err
	}
	nameAR, nameEN, err := cleanNames(r.NameAR, r.NameEN)
	if err != nil {
		return Registry{}, err
	}
	tmpl, err := checkTemplate(r.Template)
	if err != nil {
		return Registry{}, err
	}
	// The directory's answers, checked in the transaction in their turn.
	m, merr := s.findMinistry(ctx, "ministry", r.Ministry)
	address := s.registryAddress(ctx, r.Address)
	now := s.clock()
	row := registryRow{Code: code, NameAR: nameAR, NameEN: nameEN, Template: tmpl,
		ApprovalRequired: r.ApprovalRequired, CreatedAt: now, UpdatedAt: now}
	err = s.change(ctx, func(tx *gorm.DB) error {
		p, err := organiser(ctx, tx, a)
		if err != nil {
			return err
		}
		if err := p.organises(m.ID, "ministry "+r.Ministry); err != nil {
			return err
		}
		if merr != nil {
			return merr
		}
		row.MinistryID = m.ID
		if row.Address, err = address(m.ID); err != nil {
			return err
		}
		if err := orgOn(ctx, tx).InsertRegistry(&row); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, p, "registry.add", "registry:"+code, map[string]any{
			"ministry": m.Code, "name_ar": nameAR, "name_en": nameEN, "address": row.Address,
			"template": tmpl, "approval_required": row.ApprovalRequired})
	})
	if err != nil {
		return Registry{}, orgError("add", "registry "+code, err)
	}
	return row.registry(m.Code), nil
}

func (r registryRow) registry(ministry string) Registry {
	return Registry{Code: r.Code, Ministry: ministry, NameAR: r.NameAR, NameEN: r.NameEN, Address: r.Address,
		Template: r.Template, ApprovalRequired: r.ApprovalRequired, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func (s *Service) updateRegistry(ctx context.Context, a Actor, code string, u RegistryUpdate) (Registry, error) {
	c, err := canonicalCode("code", "the registry", code)
	if err != nil {
		return Registry{}, err
	}
	var address func(ministryID int64) (string, error)
	if u.Address != nil {
		address = s.registryAddress(ctx, *u.Address)
	}
	var row registryRow
	err = s.change(ctx, func(tx *gorm.DB) error {
		p, err := organiser(ctx, tx, a)
		if err != nil {
			return err
		}
		st := orgOn(ctx, tx)
		var found bool
		if row, found, err = st.LockRegistry(c); err != nil {
			return err
		} else if !found {
			return fmt.Errorf("registry %s: %w", c, ErrNotFound)
		}
		if err := p.organises(row.MinistryID, "registry "+c); err != nil {
			return err
		}
		details, err := applyRegistryUpdate(&row, u, address)
		if err != nil {
			return err
		}
		row.UpdatedAt = s.clock()
		if err := st.UpdateRegistry(row); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, p, "registry.update", "registry:"+c, details)
	})
	if err != nil {
		return Registry{}, orgError("update", "registry "+c, err)
	}
	codes, err := s.ministryCodes(ctx, []int64{row.MinistryID})
	if err != nil {
		// Committed: the change stands, answered without its ministry's code.
		s.log.Warn("registry changed; its ministry not named", slog.String("registry", c), slog.Any("err", err))
	}
	return row.registry(codes[row.MinistryID]), nil
}

// applyRegistryUpdate checks u's fields and sets them on row (address:
// registryAddress's check, when u.Address is set), and returns what
// changed for the audit event.
func applyRegistryUpdate(row *registryRow, u RegistryUpdate, address func(int64) (string, error)) (map[string]any, error) {
	details := map[string]any{}
	var err error
	if err := applyNames(&row.NameAR, &row.NameEN, u.NameAR, u.NameEN, details); err != nil {
		return nil, err
	}
	if u.Address != nil {
		if row.Address, err = address(row.MinistryID); err != nil {
			return nil, err
		}
		details["address"] = row.Address
	}
	if u.Template != nil {
		if row.Template, err = checkTemplate(*u.Template); err != nil {
			return nil, err
		}
		details["template"] = row.Template
	}
	if u.ApprovalRequired != nil {
		row.ApprovalRequired = *u.ApprovalRequired
		details["approval_required"] = row.ApprovalRequired
	}
	return details, nil
}

func (s *Service) registries(ctx context.Context, ministry string) ([]Registry, error) {
	var mid int64
	if m := strings.ToUpper(strings.TrimSpace(ministry)); m != "" {
		ref, err := s.findMinistry(ctx, "ministry", m)
		var ie *InputError
		if errors.As(err, &ie) {
			return []Registry{}, nil // no such ministry: none of its registries
		} else if err != nil {
			return nil, fmt.Errorf("list registries: %w", err)
		}
		mid = ref.ID
	}
	rows, err := orgOn(ctx, s.db.Writer()).LoadRegistries(mid)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.MinistryID
	}
	codes, err := s.ministryCodes(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]Registry, len(rows))
	for i, r := range rows {
		out[i] = r.registry(codes[r.MinistryID])
	}
	return out, nil
}

func (s *Service) registry(ctx context.Context, code string) (Registry, error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	r, found, err := orgOn(ctx, s.db.Writer()).RegistryByCode(c)
	if err != nil {
		return Registry{}, err
	}
	if !found {
		return Registry{}, fmt.Errorf("registry %s: %w", c, ErrNotFound)
	}
	codes, err := s.ministryCodes(ctx, []int64{r.MinistryID})
	if err != nil {
		return Registry{}, err
	}
	return r.registry(codes[r.MinistryID]), nil
}

// ministryRegistry finds a registry of the ministry by code; any other is
// an *InputError for "registry".
func ministryRegistry(ctx context.Context, q *gorm.DB, ministryID int64, code string) (registryRow, error) {
	c, err := canonicalCode("registry", "the registry", code)
	if err != nil {
		return registryRow{}, err
	}
	r, found, err := orgOn(ctx, q).RegistryByCode(c)
	if err != nil {
		return registryRow{}, err
	}
	return pickMinistryRegistry(r, found, ministryID, c)
}

// pickMinistryRegistry is ministryRegistry's check of the registry with
// code c (found: whether there is one).
func pickMinistryRegistry(reg registryRow, found bool, ministryID int64, c string) (registryRow, error) {
	if !found {
		return registryRow{}, inputErr("registry", fmt.Sprintf("no registry has the code %s", c))
	}
	if reg.MinistryID != ministryID {
		return registryRow{}, inputErr("registry", fmt.Sprintf("the registry %s belongs to another ministry", c))
	}
	return reg, nil
}
