package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/directory"
)

// maxListAll bounds the organisation lists returned whole.
const maxListAll = 10000

// change runs fn in one transaction: a change, its timeline and its audit
// events commit together or not at all.
func (s *Service) change(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.db.Transaction(ctx, func(tx *gorm.DB) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.beforeCommit != nil {
			return s.beforeCommit(tx)
		}
		return nil
	})
}

func (s *Service) appendAudit(ctx context.Context, tx *gorm.DB, p *principal, action, target string, details map[string]any) error {
	return s.audit.Append(ctx, tx, audit.Event{Actor: p.auditName(), Action: action, Target: target, Details: details})
}

type ministryRef struct {
	ID   int64
	Code string
}

func findMinistry(ctx context.Context, q *gorm.DB, field, code string) (ministryRef, error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	if c == "" {
		return ministryRef{}, inputErr(field, "the ministry is required")
	}
	var ms []ministryRef
	if err := q.WithContext(ctx).Raw(`SELECT id, code FROM ministries WHERE code = ?`, c).Scan(&ms).Error; err != nil {
		return ministryRef{}, fmt.Errorf("find ministry %s: %w", c, err)
	}
	if len(ms) == 0 {
		return ministryRef{}, inputErr(field, fmt.Sprintf("no ministry has the code %s", show(c)))
	}
	return ms[0], nil
}

type userRef struct {
	ID         int64
	Login      string
	MinistryID *int64
	Disabled   bool
}

// findUser finds a user by login (any spelling); a missing one is an
// *InputError for field.
func findUser(ctx context.Context, q *gorm.DB, field, login string) (userRef, error) {
	canon, err := directory.CanonicalLogin(login)
	if err != nil {
		var ie *directory.InputError
		if errors.As(err, &ie) {
			return userRef{}, inputErr(field, ie.Message)
		}
		return userRef{}, err
	}
	var us []userRef
	if err := q.WithContext(ctx).Raw(`SELECT id, login, ministry_id, disabled FROM users WHERE login = ?`, canon).Scan(&us).Error; err != nil {
		return userRef{}, fmt.Errorf("find user %s: %w", canon, err)
	}
	if len(us) == 0 {
		return userRef{}, inputErr(field, fmt.Sprintf("no user has the login %s", show(canon)))
	}
	return us[0], nil
}

func hasRole(ctx context.Context, q *gorm.DB, userID int64, role string) (bool, error) {
	var n int64
	err := q.WithContext(ctx).Raw(`SELECT COUNT(*) FROM user_roles WHERE user_id = ? AND role = ?`, userID, role).Scan(&n).Error
	return n > 0, err
}

// registryAddress checks a registry's mailbox address: canonical, on a
// domain hosted for the ministry, not a user's login.
func registryAddress(ctx context.Context, q *gorm.DB, ministryID int64, addr string) (string, error) {
	local, domain, err := directory.CanonicalAddress(strings.TrimSpace(addr))
	if err != nil {
		var ie *directory.InputError
		if errors.As(err, &ie) {
			return "", inputErr("address", ie.Message)
		}
		return "", err
	}
	canon := local + "@" + domain
	var doms []struct{ MinistryID int64 }
	if err := q.WithContext(ctx).Raw(`SELECT ministry_id FROM domains WHERE name = ?`, domain).Scan(&doms).Error; err != nil {
		return "", fmt.Errorf("find domain %s: %w", domain, err)
	}
	if len(doms) == 0 {
		return "", inputErr("address", fmt.Sprintf("the domain %s is not hosted here; add it first", domain))
	}
	if doms[0].MinistryID != ministryID {
		return "", inputErr("address", fmt.Sprintf("the domain %s belongs to another ministry", domain))
	}
	var n int64
	if err := q.WithContext(ctx).Raw(`SELECT COUNT(*) FROM users WHERE login = ?`, canon).Scan(&n).Error; err != nil {
		return "", err
	}
	if n > 0 || local == "postmaster" {
		return "", inputErr("address", fmt.Sprintf("%s is a user's or a reserved address; a registry needs a mailbox of its own", canon))
	}
	return canon, nil
}

func checkTemplate(t string) (string, error) {
	t = strings.TrimSpace(t)
	if t == "" {
		t = DefaultTemplate
	}
	if _, err := parseTemplate(t); err != nil {
		return "", err
	}
	return t, nil
}

func (s *Service) addRegistry(ctx context.Context, a Actor, r Registry) (Registry, error) {
	code, err := canonicalCode("code", "the registry", r.Code)
	if err != nil {
		return Registry{}, err
	}
	nameAR, err := cleanLine("name_ar", "the Arabic name", r.NameAR, maxNameChars, true)
	if err != nil {
		return Registry{}, err
	}
	nameEN, err := cleanLine("name_en", "the English name", r.NameEN, maxNameChars, true)
	if err != nil {
		return Registry{}, err
	}
	tmpl, err := checkTemplate(r.Template)
	if err != nil {
		return Registry{}, err
	}
	now := s.clock()
	row := registryRow{Code: code, NameAR: nameAR, NameEN: nameEN, Template: tmpl,
		ApprovalRequired: r.ApprovalRequired, CreatedAt: now, UpdatedAt: now}
	var ministry string
	err = s.change(ctx, func(tx *gorm.DB) error {
		p, err := organiser(ctx, tx, a)
		if err != nil {
			return err
		}
		m, err := findMinistry(ctx, tx, "ministry", r.Ministry)
		if err != nil {
			return err
		}
		ministry = m.Code
		row.MinistryID = m.ID
		if row.Address, err = registryAddress(ctx, tx, m.ID, r.Address); err != nil {
			return err
		}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, p, "registry.add", "registry:"+code, map[string]any{
			"ministry": m.Code, "name_ar": nameAR, "name_en": nameEN, "address": row.Address,
			"template": tmpl, "approval_required": row.ApprovalRequired})
	})
	if err != nil {
		return Registry{}, orgError("add", "registry "+code, err)
	}
	return row.registry(ministry), nil
}

// orgError translates an error of a change to an organisation object
// ("registry MOCT", "department MOCT/LEGAL", "user ali@mof.gov.sy").
func orgError(what, object string, err error) error {
	switch {
	case isPublic(err):
		return err
	case db.IsUniqueViolation(err):
		return fmt.Errorf("%s: %w", object, ErrExists)
	}
	return fmt.Errorf("%s %s: %w", what, object, err)
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
	var out Registry
	err = s.change(ctx, func(tx *gorm.DB) error {
		p, err := organiser(ctx, tx, a)
		if err != nil {
			return err
		}
		var row registryRow
		err = tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("code = ?", c).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("registry %s: %w", c, ErrNotFound)
		} else if err != nil {
			return err
		}
		details := map[string]any{}
		if u.NameAR != nil {
			if row.NameAR, err = cleanLine("name_ar", "the Arabic name", *u.NameAR, maxNameChars, true); err != nil {
				return err
			}
			details["name_ar"] = row.NameAR
		}
		if u.NameEN != nil {
			if row.NameEN, err = cleanLine("name_en", "the English name", *u.NameEN, maxNameChars, true); err != nil {
				return err
			}
			details["name_en"] = row.NameEN
		}
		if u.Address != nil {
			if row.Address, err = registryAddress(ctx, tx, row.MinistryID, *u.Address); err != nil {
				return err
			}
			details["address"] = row.Address
		}
		if u.Template != nil {
			if row.Template, err = checkTemplate(*u.Template); err != nil {
				return err
			}
			details["template"] = row.Template
		}
		if u.ApprovalRequired != nil {
			row.ApprovalRequired = *u.ApprovalRequired
			details["approval_required"] = row.ApprovalRequired
		}
		row.UpdatedAt = s.clock()
		if err := tx.Save(&row).Error; err != nil {
			return err
		}
		var m string
		if err := tx.Raw(`SELECT code FROM ministries WHERE id = ?`, row.MinistryID).Scan(&m).Error; err != nil {
			return err
		}
		out = row.registry(m)
		return s.appendAudit(ctx, tx, p, "registry.update", "registry:"+c, details)
	})
	if err != nil {
		return Registry{}, orgError("update", "registry "+c, err)
	}
	return out, nil
}

type registryView struct {
	Row          registryRow `gorm:"embedded"`
	MinistryCode string
}

func (s *Service) registries(ctx context.Context, ministry string) ([]Registry, error) {
	q := s.db.Gorm.WithContext(ctx).Table("registries").
		Select("registries.*, ministries.code AS ministry_code").
		Joins("JOIN ministries ON ministries.id = registries.ministry_id")
	if ministry != "" {
		q = q.Where("ministries.code = ?", strings.ToUpper(strings.TrimSpace(ministry)))
	}
	var rows []registryView
	if err := q.Order("registries.code").Limit(maxListAll).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list registries: %w", err)
	}
	out := make([]Registry, len(rows))
	for i, r := range rows {
		out[i] = r.Row.registry(r.MinistryCode)
	}
	return out, nil
}

func (s *Service) registry(ctx context.Context, code string) (Registry, error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	var rows []registryView
	err := s.db.Gorm.WithContext(ctx).Table("registries").
		Select("registries.*, ministries.code AS ministry_code").
		Joins("JOIN ministries ON ministries.id = registries.ministry_id").
		Where("registries.code = ?", c).Limit(1).Scan(&rows).Error
	if err != nil {
		return Registry{}, fmt.Errorf("find registry %s: %w", c, err)
	}
	if len(rows) == 0 {
		return Registry{}, fmt.Errorf("registry %s: %w", c, ErrNotFound)
	}
	return rows[0].Row.registry(rows[0].MinistryCode), nil
}

// findDepartment finds a department of a ministry by code; a missing one is
// an *InputError for field.
func findDepartment(ctx context.Context, q *gorm.DB, field string, ministryID int64, code string) (departmentRow, error) {
	c, err := canonicalCode(field, "the department", code)
	if err != nil {
		return departmentRow{}, err
	}
	var rows []departmentRow
	if err := q.WithContext(ctx).Where("ministry_id = ? AND code = ?", ministryID, c).Limit(1).Find(&rows).Error; err != nil {
		return departmentRow{}, fmt.Errorf("find department %s: %w", c, err)
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

// departmentHead checks a head: a user of the ministry with the head role.
func departmentHead(ctx context.Context, q *gorm.DB, ministryID int64, login string) (userRef, error) {
	u, err := findUser(ctx, q, "head", login)
	if err != nil {
		return u, err
	}
	if deref(u.MinistryID) != ministryID {
		return u, inputErr("head", fmt.Sprintf("%s is not a user of this ministry", u.Login))
	}
	ok, err := hasRole(ctx, q, u.ID, directory.RoleHead)
	if err != nil {
		return u, err
	}
	if !ok {
		return u, inputErr("head", fmt.Sprintf("%s does not hold the head role", u.Login))
	}
	return u, nil
}

func (s *Service) addDepartment(ctx context.Context, a Actor, d Department) (Department, error) {
	code, err := canonicalCode("code", "the department", d.Code)
	if err != nil {
		return Department{}, err
	}
	nameAR, err := cleanLine("name_ar", "the Arabic name", d.NameAR, maxNameChars, true)
	if err != nil {
		return Department{}, err
	}
	nameEN, err := cleanLine("name_en", "the English name", d.NameEN, maxNameChars, true)
	if err != nil {
		return Department{}, err
	}
	now := s.clock()
	row := departmentRow{Code: code, NameAR: nameAR, NameEN: nameEN, CreatedAt: now, UpdatedAt: now}
	var out Department
	err = s.change(ctx, func(tx *gorm.DB) error {
		p, err := organiser(ctx, tx, a)
		if err != nil {
			return err
		}
		m, err := findMinistry(ctx, tx, "ministry", d.Ministry)
		if err != nil {
			return err
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
		if d.Head != "" {
			h, err := departmentHead(ctx, tx, m.ID, d.Head)
			if err != nil {
				return err
			}
			row.HeadUserID = &h.ID
			out.Head, details["head"] = h.Login, h.Login
		}
		if err := tx.Create(&row).Error; err != nil {
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
	var out Department
	err = s.change(ctx, func(tx *gorm.DB) error {
		p, err := organiser(ctx, tx, a)
		if err != nil {
			return err
		}
		m, err := findMinistry(ctx, tx, "ministry", ministry)
		if err != nil {
			return err
		}
		row, err := findDepartment(ctx, tx, "code", m.ID, c)
		if err != nil {
			var ie *InputError
			if errors.As(err, &ie) {
				return fmt.Errorf("department %s/%s: %w", m.Code, c, ErrNotFound)
			}
			return err
		}
		details := map[string]any{}
		if u.NameAR != nil {
			if row.NameAR, err = cleanLine("name_ar", "the Arabic name", *u.NameAR, maxNameChars, true); err != nil {
				return err
			}
			details["name_ar"] = row.NameAR
		}
		if u.NameEN != nil {
			if row.NameEN, err = cleanLine("name_en", "the English name", *u.NameEN, maxNameChars, true); err != nil {
				return err
			}
			details["name_en"] = row.NameEN
		}
		if u.Parent != nil {
			row.ParentID = nil
			if *u.Parent != "" {
				parent, err := findDepartment(ctx, tx, "parent", m.ID, *u.Parent)
				if err != nil {
					return err
				}
				if err := checkNoCycle(ctx, tx, row.ID, parent.ID); err != nil {
					return err
				}
				row.ParentID = &parent.ID
			}
			details["parent"] = *u.Parent
		}
		if u.Head != nil {
			row.HeadUserID = nil
			if *u.Head != "" {
				h, err := departmentHead(ctx, tx, m.ID, *u.Head)
				if err != nil {
					return err
				}
				row.HeadUserID = &h.ID
			}
			details["head"] = *u.Head
		}
		row.UpdatedAt = s.clock()
		if err := tx.Save(&row).Error; err != nil {
			return err
		}
		ds, err := departmentsOf(ctx, tx, m.Code, row.ID)
		if err != nil {
			return err
		}
		out = ds[0]
		return s.appendAudit(ctx, tx, p, "department.update", "department:"+m.Code+"/"+c, details)
	})
	if err != nil {
		return Department{}, orgError("update", "department "+c, err)
	}
	return out, nil
}

// checkNoCycle refuses making parent the parent of id when id is parent
// or above it.
func checkNoCycle(ctx context.Context, tx *gorm.DB, id, parent int64) error {
	for cur, i := parent, 0; cur != 0 && i < 10000; i++ {
		if cur == id {
			return inputErr("parent", "a department cannot be placed below itself")
		}
		var ps []struct{ ParentID *int64 }
		if err := tx.WithContext(ctx).Raw(`SELECT parent_id FROM departments WHERE id = ?`, cur).Scan(&ps).Error; err != nil {
			return err
		}
		if len(ps) == 0 {
			break
		}
		cur = deref(ps[0].ParentID)
	}
	return nil
}

type departmentView struct {
	ID           int64
	Code         string
	MinistryCode string
	NameAR       string `gorm:"column:name_ar"`
	NameEN       string `gorm:"column:name_en"`
	ParentCode   *string
	HeadLogin    *string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// departmentsOf lists departments of a ministry (code "" for all), or the
// one with id when id is not 0.
func departmentsOf(ctx context.Context, q *gorm.DB, ministry string, id int64) ([]Department, error) {
	sql := `SELECT d.id, d.code, m.code AS ministry_code, d.name_ar, d.name_en, p.code AS parent_code,
	u.login AS head_login, d.created_at, d.updated_at
FROM departments d JOIN ministries m ON m.id = d.ministry_id
LEFT JOIN departments p ON p.id = d.parent_id LEFT JOIN users u ON u.id = d.head_user_id WHERE 1 = 1`
	var args []any
	if ministry != "" {
		sql += " AND m.code = ?"
		args = append(args, strings.ToUpper(strings.TrimSpace(ministry)))
	}
	if id != 0 {
		sql += " AND d.id = ?"
		args = append(args, id)
	}
	sql += fmt.Sprintf(" ORDER BY m.code, d.code LIMIT %d", maxListAll)
	var rows []departmentView
	if err := q.WithContext(ctx).Raw(sql, args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list departments: %w", err)
	}
	out := make([]Department, len(rows))
	for i, r := range rows {
		out[i] = Department{Code: r.Code, Ministry: r.MinistryCode, NameAR: r.NameAR, NameEN: r.NameEN,
			Parent: deref(r.ParentCode), Head: deref(r.HeadLogin), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	}
	return out, nil
}

func (s *Service) departments(ctx context.Context, a Actor, ministry string) ([]Department, error) {
	var ds []Department
	err := s.read(ctx, func(q *gorm.DB) error {
		p, err := loadPrincipal(ctx, q, a)
		if err != nil {
			return err
		}
		if ds, err = departmentsOf(ctx, q, ministry, 0); err != nil {
			return err
		}
		s.hideForeignHeads(p, ds)
		return nil
	})
	return ds, err
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
	p, err := loadPrincipal(ctx, s.db.Gorm, a)
	if err != nil {
		return Department{}, err
	}
	m, err := findMinistry(ctx, s.db.Gorm, "ministry", ministry)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			return Department{}, fmt.Errorf("department %s/%s: %w", ministry, code, ErrNotFound)
		}
		return Department{}, err
	}
	row, err := findDepartment(ctx, s.db.Gorm, "code", m.ID, code)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			return Department{}, fmt.Errorf("department %s/%s: %w", m.Code, code, ErrNotFound)
		}
		return Department{}, err
	}
	ds, err := departmentsOf(ctx, s.db.Gorm, m.Code, row.ID)
	if err != nil {
		return Department{}, err
	}
	s.hideForeignHeads(p, ds)
	return ds[0], nil
}

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
	var out Membership
	err := s.change(ctx, func(tx *gorm.DB) error {
		p, err := organiser(ctx, tx, a)
		if err != nil {
			return err
		}
		u, err := findUser(ctx, tx, "user", login)
		if err != nil {
			return err
		}
		if u.MinistryID == nil {
			return inputErr("user", fmt.Sprintf("%s belongs to no ministry", u.Login))
		}
		mid := *u.MinistryID
		details := map[string]any{}
		if c.AddRegistry != "" {
			reg, err := ministryRegistry(ctx, tx, mid, c.AddRegistry)
			if err != nil {
				return err
			}
			ok, err := hasRole(ctx, tx, u.ID, directory.RoleClerk)
			if err != nil {
				return err
			}
			if !ok {
				return inputErr("registry", fmt.Sprintf("%s does not hold the clerk role", u.Login))
			}
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&clerkRow{UserID: u.ID, RegistryID: reg.ID}).Error; err != nil {
				return err
			}
			details["add_registry"] = reg.Code
		}
		if c.RemoveRegistry != "" {
			reg, err := ministryRegistry(ctx, tx, mid, c.RemoveRegistry)
			if err != nil {
				return err
			}
			if err := tx.Where("user_id = ? AND registry_id = ?", u.ID, reg.ID).Delete(&clerkRow{}).Error; err != nil {
				return err
			}
			details["remove_registry"] = reg.Code
		}
		if c.Department != nil || clearance != "" {
			var m membershipRow
			err := tx.Where("user_id = ?", u.ID).Take(&m).Error
			if errors.Is(err, gorm.ErrRecordNotFound) {
				m = membershipRow{UserID: u.ID, Clearance: string(Normal)}
			} else if err != nil {
				return err
			}
			if c.Department != nil {
				m.DepartmentID = nil
				if *c.Department != "" {
					d, err := findDepartment(ctx, tx, "department", mid, *c.Department)
					if err != nil {
						return err
					}
					m.DepartmentID = &d.ID
				}
				details["department"] = strings.ToUpper(*c.Department)
			}
			if clearance != "" {
				m.Clearance = string(clearance)
				details["clearance"] = string(clearance)
			}
			if err := tx.Save(&m).Error; err != nil {
				return err
			}
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

// ministryRegistry finds a registry of the ministry by code; any other is
// an *InputError for "registry".
func ministryRegistry(ctx context.Context, q *gorm.DB, ministryID int64, code string) (registryRow, error) {
	c, err := canonicalCode("registry", "the registry", code)
	if err != nil {
		return registryRow{}, err
	}
	var rows []registryRow
	if err := q.WithContext(ctx).Where("code = ?", c).Limit(1).Find(&rows).Error; err != nil {
		return registryRow{}, err
	}
	if len(rows) == 0 {
		return pickMinistryRegistry(registryRow{}, false, ministryID, c)
	}
	return pickMinistryRegistry(rows[0], true, ministryID, c)
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

func membershipOf(ctx context.Context, q *gorm.DB, u userRef) (Membership, error) {
	var info []struct {
		MinistryCode   *string
		DepartmentCode *string
		Clearance      *string
	}
	err := q.WithContext(ctx).Raw(`SELECT m.code AS ministry_code, d.code AS department_code, ms.clearance
FROM users u LEFT JOIN ministries m ON m.id = u.ministry_id LEFT JOIN memberships ms ON ms.user_id = u.id
LEFT JOIN departments d ON d.id = ms.department_id WHERE u.id = ?`, u.ID).Scan(&info).Error
	if err != nil {
		return Membership{}, fmt.Errorf("load membership of %s: %w", u.Login, err)
	}
	out := Membership{User: u.Login, Clearance: Normal, Registries: []string{}, Heads: []string{}}
	if len(info) > 0 {
		out.Ministry = deref(info[0].MinistryCode)
		out.Department = deref(info[0].DepartmentCode)
		if c := deref(info[0].Clearance); c != "" {
			out.Clearance = Clearance(c)
		}
	}
	if err := q.WithContext(ctx).Raw(`SELECT r.code FROM registry_clerks k JOIN registries r ON r.id = k.registry_id
WHERE k.user_id = ? ORDER BY r.code`, u.ID).Scan(&out.Registries).Error; err != nil {
		return Membership{}, err
	}
	if err := q.WithContext(ctx).Raw(`SELECT code FROM departments WHERE head_user_id = ? ORDER BY code`, u.ID).Scan(&out.Heads).Error; err != nil {
		return Membership{}, err
	}
	return out, nil
}

func (s *Service) membership(ctx context.Context, a Actor, login string) (Membership, error) {
	var out Membership
	err := s.read(ctx, func(q *gorm.DB) error {
		var err error
		out, err = s.membershipOn(ctx, q, a, login)
		return err
	})
	return out, err
}

func (s *Service) membershipOn(ctx context.Context, q *gorm.DB, a Actor, login string) (Membership, error) {
	p, err := loadPrincipal(ctx, q, a)
	if err != nil {
		return Membership{}, err
	}
	u, err := findUser(ctx, q, "user", login)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			return Membership{}, fmt.Errorf("user %s: %w", login, ErrNotFound)
		}
		return Membership{}, err
	}
	if !p.managesOrganisation() && p.id != u.ID {
		return Membership{}, fmt.Errorf("user %s: %w", login, ErrNotFound)
	}
	m, err := membershipOf(ctx, q, u)
	if err != nil {
		return Membership{}, err
	}
	slices.Sort(m.Registries)
	return m, nil
}
