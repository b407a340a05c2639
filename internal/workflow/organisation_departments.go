package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/directory"
)

// Departments of a ministry: a tree (parent), each with an optional head,
// a user of the ministry holding the head role.

// findDepartment finds a department of a ministry by code; a missing one is
// an *InputError for field.
func findDepartment(ctx context.Context, q *gorm.DB, field string, ministryID int64, code string) (departmentRow, error) {
	c, err := canonicalCode(field, "the department", code)
	if err != nil {
		return departmentRow{}, err
	}
	rows, err := orgOn(ctx, q).DepartmentByCode(ministryID, c)
	if err != nil {
		return departmentRow{}, err
	}
	return pickDepartment(rows, field, ministryID, c)
}

// pickDepartment is the department of the ministry with code c among rows,
// or findDepartment's *InputError.
func pickDepartment(rows []departmentRow, field string, ministryID int64, c string) (departmentRow, error) {
	for _, d := range rows {
		if d.MinistryID == ministryID && d.Code == c {
			return d, nil
		}
	}
	return departmentRow{}, inputErr(field, fmt.Sprintf("the ministry has no department with the code %s", c))
}

// departmentHead asks the directory for a head before the change's
// transaction, and returns the check to make in it: a user of the ministry
// with the head role.
func (s *Service) departmentHead(ctx context.Context, login string) func(ministryID int64) (directory.Account, error) {
	u, err := s.findAccount(ctx, "head", login)
	return func(ministryID int64) (directory.Account, error) {
		switch {
		case err != nil:
			return u, err
		case u.MinistryID != ministryID:
			return u, inputErr("head", fmt.Sprintf("%s is not a user of this ministry", u.Login))
		case !u.HasRole(directory.RoleHead):
			return u, inputErr("head", fmt.Sprintf("%s does not hold the head role", u.Login))
		}
		return u, nil
	}
}

func (s *Service) addDepartment(ctx context.Context, a Actor, d Department) (Department, error) {
	code, err := canonicalCode("code", "the department", d.Code)
	if err != nil {
		return Department{}, err
	}
	nameAR, nameEN, err := cleanNames(d.NameAR, d.NameEN)
	if err != nil {
		return Department{}, err
	}
	m, merr := s.findMinistry(ctx, "ministry", d.Ministry)
	var head func(int64) (directory.Account, error)
	if d.Head != "" {
		head = s.departmentHead(ctx, d.Head)
	}
	now := s.clock()
	row := departmentRow{Code: code, NameAR: nameAR, NameEN: nameEN, CreatedAt: now, UpdatedAt: now}
	var out Department
	err = s.change(ctx, func(tx *gorm.DB) error {
		p, err := organiser(ctx, tx, a)
		if err != nil {
			return err
		}
		if err := p.organises(m.ID, "ministry "+d.Ministry); err != nil {
			return err
		}
		if merr != nil {
			return merr
		}
		row.MinistryID = m.ID
		details := map[string]any{"ministry": m.Code, "name_ar": nameAR, "name_en": nameEN}
		out = Department{Code: code, Ministry: m.Code, NameAR: nameAR, NameEN: nameEN, CreatedAt: now, UpdatedAt: now}
		if d.Parent != "" {
			parent, err := findDepartment(ctx, tx, "parent", m.ID, d.Parent)
			if err != nil {
				return err
			}
			row.ParentID = &parent.ID
			out.Parent, details["parent"] = parent.Code, parent.Code
		}
		if head != nil {
			h, err := head(m.ID)
			if err != nil {
				return err
			}
			row.HeadUserID = &h.ID
			out.Head, details["head"] = h.Login, h.Login
		}
		if err := orgOn(ctx, tx).InsertDepartment(&row); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, p, "department.add", "department:"+m.Code+"/"+code, details)
	})
	if err != nil {
		return Department{}, orgError("add", "department "+code, err)
	}
	return out, nil
}

func (s *Service) updateDepartment(ctx context.Context, a Actor, ministry, code string, u DepartmentUpdate) (Department, error) {
	c, err := canonicalCode("code", "the department", code)
	if err != nil {
		return Department{}, err
	}
	m, merr := s.findMinistry(ctx, "ministry", ministry)
	var head func(int64) (directory.Account, error)
	if u.Head != nil && *u.Head != "" {
		head = s.departmentHead(ctx, *u.Head)
	}
	var lines []departmentLine
	err = s.change(ctx, func(tx *gorm.DB) error {
		p, err := organiser(ctx, tx, a)
		if err != nil {
			return err
		}
		if err := p.organises(m.ID, "ministry "+ministry); err != nil {
			return err
		}
		if merr != nil {
			return merr
		}
		row, err := findDepartment(ctx, tx, "code", m.ID, c)
		if err != nil {
			return asNotFound("department "+m.Code+"/"+c, err)
		}
		details, err := applyDepartmentUpdate(ctx, tx, &row, u, head)
		if err != nil {
			return err
		}
		row.UpdatedAt = s.clock()
		st := orgOn(ctx, tx)
		if err := st.UpdateDepartment(row); err != nil {
			return err
		}
		if lines, err = st.LoadDepartments(m.ID, row.ID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, p, "department.update", "department:"+m.Code+"/"+c, details)
	})
	if err != nil {
		return Department{}, orgError("update", "department "+c, err)
	}
	codes, logins, err := s.departmentNames(ctx, lines, m.Code)
	if err != nil {
		// Committed: the change stands, answered without its head's login.
		s.log.Warn("department changed; its head not named", slog.String("department", m.Code+"/"+c), slog.Any("err", err))
	}
	return departmentsOf(lines, m.Code, codes, logins)[0], nil
}

// applyDepartmentUpdate checks u's fields and sets them on row (head:
// departmentHead's check, when a head is named), and returns what changed
// for the audit event.
func applyDepartmentUpdate(ctx context.Context, tx *gorm.DB, row *departmentRow, u DepartmentUpdate,
	head func(int64) (directory.Account, error)) (map[string]any, error) {
	details := map[string]any{}
	if err := applyNames(&row.NameAR, &row.NameEN, u.NameAR, u.NameEN, details); err != nil {
		return nil, err
	}
	if u.Parent != nil {
		row.ParentID = nil
		if *u.Parent != "" {
			parent, err := findDepartment(ctx, tx, "parent", row.MinistryID, *u.Parent)
			if err != nil {
				return nil, err
			}
			if err := checkNoCycle(ctx, tx, row.ID, parent.ID); err != nil {
				return nil, err
			}
			row.ParentID = &parent.ID
		}
		details["parent"] = *u.Parent
	}
	if u.Head != nil {
		row.HeadUserID = nil
		if head != nil {
			h, err := head(row.MinistryID)
			if err != nil {
				return nil, err
			}
			row.HeadUserID = &h.ID
		}
		details["head"] = *u.Head
	}
	return details, nil
}

// checkNoCycle refuses making parent the parent of id when id is parent
// or above it.
func checkNoCycle(ctx context.Context, tx *gorm.DB, id, parent int64) error {
	st := orgOn(ctx, tx)
	for cur, i := parent, 0; cur != 0 && i < 10000; i++ {
		if cur == id {
			return inputErr("parent", "a department cannot be placed below itself")
		}
		p, found, err := st.DepartmentParent(cur)
		if err != nil {
			return err
		}
		if !found {
			break
		}
		cur = deref(p)
	}
	return nil
}

// nameDepartments turns lines into Departments, asking the directory at
// once for the codes of their ministries (ministry: the code of all of
// them, "" to ask) and the logins of their heads.
func (s *Service) nameDepartments(ctx context.Context, lines []departmentLine, ministry string) ([]Department, error) {
	codes, logins, err := s.departmentNames(ctx, lines, ministry)
	if err != nil {
		return nil, fmt.Errorf("list departments: %w", err)
	}
	return departmentsOf(lines, ministry, codes, logins), nil
}

// departmentNames asks the directory for the ministry codes and head
// logins of lines.
func (s *Service) departmentNames(ctx context.Context, lines []departmentLine, ministry string) (codes, logins map[int64]string, err error) {
	var mids, heads []int64
	for _, l := range lines {
		if ministry == "" {
			mids = append(mids, l.MinistryID)
		}
		if l.HeadUserID != nil {
			heads = append(heads, *l.HeadUserID)
		}
	}
	if codes, err = s.ministryCodes(ctx, mids); err != nil {
		return nil, nil, err
	}
	if logins, err = s.logins(ctx, heads); err != nil {
		return nil, nil, err
	}
	return codes, logins, nil
}

// departmentsOf are lines as Departments, named with codes and logins (a
// name not there is left empty).
func departmentsOf(lines []departmentLine, ministry string, codes, logins map[int64]string) []Department {
	out := make([]Department, len(lines))
	for i, l := range lines {
		m := ministry
		if m == "" {
			m = codes[l.MinistryID]
		}
		out[i] = Department{Code: l.Code, Ministry: m, NameAR: l.NameAR, NameEN: l.NameEN,
			Parent: deref(l.ParentCode), CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt}
		if l.HeadUserID != nil {
			out[i].Head = logins[*l.HeadUserID]
		}
	}
	if ministry == "" {
		// By ministry code, then department code, as listed before the
		// ministries were the directory's.
		slices.SortStableFunc(out, func(a, b Department) int { return strings.Compare(a.Ministry, b.Ministry) })
	}
	return out
}

func (s *Service) departments(ctx context.Context, a Actor, ministry string) ([]Department, error) {
	var mid int64
	if m := strings.ToUpper(strings.TrimSpace(ministry)); m != "" {
		ref, err := s.findMinistry(ctx, "ministry", m)
		var ie *InputError
		if errors.As(err, &ie) {
			mid = -1 // no such ministry: none of its departments
		} else if err != nil {
			return nil, fmt.Errorf("list departments: %w", err)
		} else {
			mid = ref.ID
		}
	}
	var p *principal
	var lines []departmentLine
	err := s.read(ctx, func(q *gorm.DB) error {
		var err error
		if p, err = loadPrincipal(ctx, q, a); err != nil {
			return err
		}
		if mid >= 0 {
			lines, err = orgOn(ctx, q).LoadDepartments(mid, 0)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	ds, err := s.nameDepartments(ctx, lines, "")
	if err != nil {
		return nil, err
	}
	s.hideForeignHeads(p, ds)
	return ds, nil
}

// hideForeignHeads blanks the heads of other ministries' departments for
// a principal who may not see other ministries' people: a head is a user's
// address, shown outside the ministry only with the national address book
// (directory.national_users), as the directory shows users.
func (s *Service) hideForeignHeads(p *principal, ds []Department) {
	if s.nationalUsers || p.managesOrganisation() {
		return
	}
	for i := range ds {
		if ds[i].Ministry != p.ministry {
			ds[i].Head = ""
		}
	}
}

func (s *Service) department(ctx context.Context, a Actor, ministry, code string) (Department, error) {
	p, err := loadPrincipal(ctx, s.db.Writer(), a)
	if err != nil {
		return Department{}, err
	}
	m, err := s.findMinistry(ctx, "ministry", ministry)
	if err != nil {
		return Department{}, asNotFound(fmt.Sprintf("department %s/%s", ministry, code), err)
	}
	row, err := findDepartment(ctx, s.db.Writer(), "code", m.ID, code)
	if err != nil {
		return Department{}, asNotFound(fmt.Sprintf("department %s/%s", m.Code, code), err)
	}
	lines, err := orgOn(ctx, s.db.Writer()).LoadDepartments(m.ID, row.ID)
	if err != nil {
		return Department{}, err
	}
	ds, err := s.nameDepartments(ctx, lines, m.Code)
	if err != nil {
		return Department{}, err
	}
	s.hideForeignHeads(p, ds)
	return ds[0], nil
}
