package workflow

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// The statements of the organisation: registries, departments, registry
// clerks and memberships. The service (organisation*.go) decides; orgStore
// reads and writes, on the transaction or connection it is given, and
// answers with the rows of rows.go or the unexported rows below. Ministries
// and users are the directory's (Directory): only their ids are here.

// orgStore runs the organisation's statements on q.
type orgStore struct{ q *gorm.DB }

// orgOn is the organisation's store on q (a transaction or a connection).
func orgOn(ctx context.Context, q *gorm.DB) orgStore { return orgStore{q: q.WithContext(ctx)} }

const registryColumns = `id, code, ministry_id, name_ar, name_en, address, template, approval_required, created_at, updated_at`

// InsertRegistry inserts r and sets its id.
func (st orgStore) InsertRegistry(r *registryRow) error {
	return st.q.Raw(`INSERT INTO registries (code, ministry_id, name_ar, name_en, address, template, approval_required,
	created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.Code, r.MinistryID, r.NameAR, r.NameEN, r.Address, r.Template, r.ApprovalRequired, r.CreatedAt, r.UpdatedAt).
		Scan(&r.ID).Error
}

// LockRegistry reads the registry with code for update (a row lock on
// PostgreSQL; SQLite's transaction holds the write lock already); found is
// whether there is one.
func (st orgStore) LockRegistry(code string) (r registryRow, found bool, err error) {
	lock := ""
	if st.q.Dialector.Name() == "postgres" {
		lock = " FOR UPDATE"
	}
	var rows []registryRow
	if err := st.q.Raw(`SELECT `+registryColumns+` FROM registries WHERE code = ?`+lock, code).Scan(&rows).Error; err != nil {
		return r, false, fmt.Errorf("find registry %s: %w", code, err)
	}
	if len(rows) == 0 {
		return r, false, nil
	}
	return rows[0], true, nil
}

// UpdateRegistry writes r's names, address, template and approval.
func (st orgStore) UpdateRegistry(r registryRow) error {
	return st.q.Exec(`UPDATE registries SET name_ar = ?, name_en = ?, address = ?, template = ?, approval_required = ?,
	updated_at = ? WHERE id = ?`, r.NameAR, r.NameEN, r.Address, r.Template, r.ApprovalRequired, r.UpdatedAt, r.ID).Error
}

// LoadRegistries lists the registries by code, of one ministry or (0) all.
func (st orgStore) LoadRegistries(ministryID int64) ([]registryRow, error) {
	sql, args := `SELECT `+registryColumns+` FROM registries`, []any{}
	if ministryID != 0 {
		sql += ` WHERE ministry_id = ?`
		args = append(args, ministryID)
	}
	var rows []registryRow
	if err := st.q.Raw(sql+` ORDER BY code LIMIT ?`, append(args, maxListAll)...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list registries: %w", err)
	}
	return rows, nil
}

// RegistryByCode is the registry with code; found is whether there is one.
func (st orgStore) RegistryByCode(code string) (r registryRow, found bool, err error) {
	var rows []registryRow
	if err := st.q.Raw(`SELECT `+registryColumns+` FROM registries WHERE code = ? LIMIT 1`, code).Scan(&rows).Error; err != nil {
		return r, false, fmt.Errorf("find registry %s: %w", code, err)
	}
	if len(rows) == 0 {
		return r, false, nil
	}
	return rows[0], true, nil
}

const departmentColumns = `id, ministry_id, code, name_ar, name_en, parent_id, head_user_id, created_at, updated_at`

// DepartmentByCode lists the department of the ministry with code (none or
// one).
func (st orgStore) DepartmentByCode(ministryID int64, code string) ([]departmentRow, error) {
	var rows []departmentRow
	if err := st.q.Raw(`SELECT `+departmentColumns+` FROM departments WHERE ministry_id = ? AND code = ? LIMIT 1`,
		ministryID, code).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("find department %s: %w", code, err)
	}
	return rows, nil
}

// InsertDepartment inserts d and sets its id.
func (st orgStore) InsertDepartment(d *departmentRow) error {
	return st.q.Raw(`INSERT INTO departments (ministry_id, code, name_ar, name_en, parent_id, head_user_id, created_at,
	updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.MinistryID, d.Code, d.NameAR, d.NameEN, d.ParentID, d.HeadUserID, d.CreatedAt, d.UpdatedAt).Scan(&d.ID).Error
}

// UpdateDepartment writes d's names, parent and head.
func (st orgStore) UpdateDepartment(d departmentRow) error {
	return st.q.Exec(`UPDATE departments SET name_ar = ?, name_en = ?, parent_id = ?, head_user_id = ?, updated_at = ?
	WHERE id = ?`, d.NameAR, d.NameEN, d.ParentID, d.HeadUserID, d.UpdatedAt, d.ID).Error
}

// DepartmentParent is the parent of the department id; found is whether
// there is such a department.
func (st orgStore) DepartmentParent(id int64) (parent *int64, found bool, err error) {
	var ps []struct{ ParentID *int64 }
	if err := st.q.Raw(`SELECT parent_id FROM departments WHERE id = ?`, id).Scan(&ps).Error; err != nil {
		return nil, false, err
	}
	if len(ps) == 0 {
		return nil, false, nil
	}
	return ps[0].ParentID, true, nil
}

// departmentLine is a department with its parent's code.
type departmentLine struct {
	ID         int64
	MinistryID int64
	Code       string
	NameAR     string `gorm:"column:name_ar"`
	NameEN     string `gorm:"column:name_en"`
	ParentCode *string
	HeadUserID *int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// LoadDepartments lists departments with their parents' codes: of one
// ministry or (0) all, or the one with id when id is not 0; by ministry and
// code.
func (st orgStore) LoadDepartments(ministryID, id int64) ([]departmentLine, error) {
	sql := `SELECT d.id, d.ministry_id, d.code, d.name_ar, d.name_en, p.code AS parent_code, d.head_user_id,
	d.created_at, d.updated_at
FROM departments d LEFT JOIN departments p ON p.id = d.parent_id WHERE 1 = 1`
	var args []any
	if ministryID != 0 {
		sql += " AND d.ministry_id = ?"
		args = append(args, ministryID)
	}
	if id != 0 {
		sql += " AND d.id = ?"
		args = append(args, id)
	}
	var rows []departmentLine
	if err := st.q.Raw(sql+" ORDER BY d.ministry_id, d.code LIMIT ?", append(args, maxListAll)...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list departments: %w", err)
	}
	return rows, nil
}

// AddClerk makes the user a clerk of the registry (once).
func (st orgStore) AddClerk(userID, registryID int64) error {
	return st.q.Exec(`INSERT INTO registry_clerks (user_id, registry_id) VALUES (?, ?) ON CONFLICT DO NOTHING`,
		userID, registryID).Error
}

// RemoveClerk makes the user no clerk of the registry.
func (st orgStore) RemoveClerk(userID, registryID int64) error {
	return st.q.Exec(`DELETE FROM registry_clerks WHERE user_id = ? AND registry_id = ?`, userID, registryID).Error
}

// ClerkOfAddress reports whether the user is a clerk of the registry
// whose mailbox is address (canonical); registries_address finds it.
func (st orgStore) ClerkOfAddress(userID int64, address string) (bool, error) {
	var n []int
	err := st.q.Raw(`SELECT 1 FROM registries r JOIN registry_clerks k ON k.registry_id = r.id
WHERE r.address = ? AND k.user_id = ? LIMIT 1`, address, userID).Scan(&n).Error
	return len(n) > 0, err
}

// LoadMembershipRow is the user's membership; found is whether there is
// one.
func (st orgStore) LoadMembershipRow(userID int64) (m membershipRow, found bool, err error) {
	var rows []membershipRow
	if err := st.q.Raw(`SELECT user_id, department_id, clearance FROM memberships WHERE user_id = ?`, userID).
		Scan(&rows).Error; err != nil {
		return m, false, err
	}
	if len(rows) == 0 {
		return m, false, nil
	}
	return rows[0], true, nil
}

// SetMembership writes the user's membership, adding it or replacing it.
func (st orgStore) SetMembership(m membershipRow) error {
	return st.q.Exec(`INSERT INTO memberships (user_id, department_id, clearance) VALUES (?, ?, ?)
ON CONFLICT (user_id) DO UPDATE SET department_id = excluded.department_id, clearance = excluded.clearance`,
		m.UserID, m.DepartmentID, m.Clearance).Error
}

// membershipFacts are where a user works, in the workflow's tables.
type membershipFacts struct {
	Department string   // code; "" none
	Clearance  string   // "" no membership row
	Registries []string // codes of the registries they clerk for, sorted
	Heads      []string // codes of the departments they head, sorted
}

// LoadMembership reads where the user works: department and clearance,
// the registries they clerk for and the departments they head.
func (st orgStore) LoadMembership(userID int64) (membershipFacts, error) {
	out := membershipFacts{Registries: []string{}, Heads: []string{}}
	var info []struct {
		DepartmentCode *string
		Clearance      string
	}
	if err := st.q.Raw(`SELECT d.code AS department_code, ms.clearance
FROM memberships ms LEFT JOIN departments d ON d.id = ms.department_id WHERE ms.user_id = ?`, userID).Scan(&info).Error; err != nil {
		return out, err
	}
	if len(info) > 0 {
		out.Department, out.Clearance = deref(info[0].DepartmentCode), info[0].Clearance
	}
	if err := st.q.Raw(`SELECT r.code FROM registry_clerks k JOIN registries r ON r.id = k.registry_id
WHERE k.user_id = ? ORDER BY r.code`, userID).Scan(&out.Registries).Error; err != nil {
		return out, err
	}
	if err := st.q.Raw(`SELECT code FROM departments WHERE head_user_id = ? ORDER BY code`, userID).Scan(&out.Heads).Error; err != nil {
		return out, err
	}
	return out, nil
}
