package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/directory"
)

// Where users work: the registries they clerk for, their department and
// their clearance.

func parseClearance(c Clearance) (Clearance, error) {
	switch Clearance(strings.ToLower(strings.TrimSpace(string(c)))) {
	case Normal:
		return Normal, nil
	case Confidential:
		return Confidential, nil
	case Secret:
		return Secret, nil
	}
	return "", inputErr("clearance", fmt.Sprintf("%s is not a clearance; use normal, confidential or secret", show(string(c))))
}

func (s *Service) setMembership(ctx context.Context, a Actor, login string, c MembershipChange) (Membership, error) {
	var clearance Clearance
	if c.Clearance != "" {
		var err error
		if clearance, err = parseClearance(c.Clearance); err != nil {
			return Membership{}, err
		}
	}
	u, uerr := s.findAccount(ctx, "user", login)
	var out Membership
	err := s.change(ctx, func(tx *gorm.DB) error {
		p, err := organiser(ctx, tx, a)
		if err != nil {
			return err
		}
		if uerr != nil && !p.managesOrganisation() {
			return asNotFound("user "+login, uerr)
		} else if uerr != nil {
			return uerr
		}
		if err := p.organises(u.MinistryID, "user "+u.Login); err != nil {
			return err
		}
		if u.MinistryID == 0 {
			return inputErr("user", fmt.Sprintf("%s belongs to no ministry", u.Login))
		}
		details, err := applyMembershipChange(ctx, tx, u, c, clearance)
		if err != nil {
			return err
		}
		if out, err = membershipOf(ctx, tx, u); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, p, "member.set", "user:"+u.Login, details)
	})
	if err != nil {
		return Membership{}, orgError("set membership of", "user "+login, err)
	}
	return out, nil
}

// applyMembershipChange makes c (with its clearance parsed) in tx for u,
// and returns what changed for the audit event.
func applyMembershipChange(ctx context.Context, tx *gorm.DB, u directory.Account, c MembershipChange, clearance Clearance) (map[string]any, error) {
	st := orgOn(ctx, tx)
	mid := u.MinistryID
	details := map[string]any{}
	if c.AddRegistry != "" {
		reg, err := ministryRegistry(ctx, tx, mid, c.AddRegistry)
		if err != nil {
			return nil, err
		}
		if !u.HasRole(directory.RoleClerk) {
			return nil, inputErr("registry", fmt.Sprintf("%s does not hold the clerk role", u.Login))
		}
		if err := st.AddClerk(u.ID, reg.ID); err != nil {
			return nil, err
		}
		details["add_registry"] = reg.Code
	}
	if c.RemoveRegistry != "" {
		reg, err := ministryRegistry(ctx, tx, mid, c.RemoveRegistry)
		if err != nil {
			return nil, err
		}
		if err := st.RemoveClerk(u.ID, reg.ID); err != nil {
			return nil, err
		}
		details["remove_registry"] = reg.Code
	}
	if c.Department == nil && clearance == "" {
		return details, nil
	}
	m, found, err := st.LoadMembershipRow(u.ID)
	if err != nil {
		return nil, err
	}
	if !found {
		m = membershipRow{UserID: u.ID, Clearance: string(Normal)}
	}
	if c.Department != nil {
		m.DepartmentID = nil
		if *c.Department != "" {
			d, err := findDepartment(ctx, tx, "department", mid, *c.Department)
			if err != nil {
				return nil, err
			}
			m.DepartmentID = &d.ID
		}
		details["department"] = strings.ToUpper(*c.Department)
	}
	if clearance != "" {
		m.Clearance = string(clearance)
		details["clearance"] = string(clearance)
	}
	return details, st.SetMembership(m)
}

// membershipOf reads where u works, on q.
func membershipOf(ctx context.Context, q *gorm.DB, u directory.Account) (Membership, error) {
	f, err := orgOn(ctx, q).LoadMembership(u.ID)
	if err != nil {
		return Membership{}, fmt.Errorf("load membership of %s: %w", u.Login, err)
	}
	out := Membership{User: u.Login, Ministry: u.Ministry, Department: f.Department, Clearance: Normal,
		Registries: f.Registries, Heads: f.Heads}
	if f.Clearance != "" {
		out.Clearance = Clearance(f.Clearance)
	}
	return out, nil
}

func (s *Service) membership(ctx context.Context, a Actor, login string) (Membership, error) {
	u, uerr := s.findAccount(ctx, "user", login)
	var out Membership
	err := s.read(ctx, func(q *gorm.DB) error {
		p, err := loadPrincipal(ctx, q, a)
		if err != nil {
			return err
		}
		if uerr != nil {
			return asNotFound("user "+login, uerr)
		}
		if p.id != u.ID && p.organises(u.MinistryID, "") != nil {
			return fmt.Errorf("user %s: %w", login, ErrNotFound)
		}
		out, err = membershipOf(ctx, q, u)
		return err
	})
	slices.Sort(out.Registries)
	return out, err
}
