package workflow

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The statements on referrals.

// referralView is a referral with what access needs of its entry: a row
// of referralSelect.
type referralView struct {
	ID               int64
	EntryID          int64
	CorrespondenceID int64
	ParentID         *int64
	FromUserID       *int64
	ToUserID         *int64
	ToDepartmentID   *int64
	ToDepartmentCode *string
	ToUserDepartment *int64
	Instruction      string
	DueDate          string
	State            string
	Version          int64
	Answer           string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	Subject          string
	Classification   string
	Priority         string
	RegistryCode     string
	Number           *string
	RegistryID       int64
	MinistryID       int64
	EntryState       string
}

const referralSelect = `SELECT f.id, f.entry_id, e.correspondence_id, f.parent_id, f.from_user_id, f.to_user_id,
	f.to_department_id, d.code AS to_department_code,
	tm.department_id AS to_user_department, f.instruction, f.due_date, f.state, f.version, f.answer,
	f.created_at, f.updated_at, c.subject, c.classification, c.priority, r.code AS registry_code, e.number,
	e.registry_id, r.ministry_id, e.state AS entry_state
FROM referrals f
JOIN registry_entries e ON e.id = f.entry_id
JOIN correspondence c ON c.id = e.correspondence_id
JOIN registries r ON r.id = e.registry_id
LEFT JOIN departments d ON d.id = f.to_department_id
LEFT JOIN memberships tm ON tm.user_id = f.to_user_id`

// loadReferral reads a referral now; lock takes its row lock
// (PostgreSQL). A missing one is ErrNotFound.
func (x *txn) loadReferral(id int64, lock bool) (*referralView, error) {
	q, err := x.db()
	if err != nil {
		return nil, err
	}
	sql := referralSelect + " WHERE f.id = ?"
	if lock && x.s.isPostgres() {
		sql += " FOR NO KEY UPDATE OF f"
	}
	var fs []referralView
	if err := q.Raw(sql, id).Scan(&fs).Error; err != nil {
		return nil, fmt.Errorf("load referral %d: %w", id, err)
	}
	if len(fs) == 0 {
		return nil, notFound("referral", id)
	}
	return &fs[0], nil
}

// referralEntry is the id of a referral's entry, now; ErrNotFound when
// there is no such referral.
func (x *txn) referralEntry(id int64) (int64, error) {
	q, err := x.db()
	if err != nil {
		return 0, err
	}
	var ids []int64
	if err := q.Raw(`SELECT entry_id FROM referrals WHERE id = ?`, id).Scan(&ids).Error; err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, notFound("referral", id)
	}
	return ids[0], nil
}

// referralPage is a page of referrals by a condition over f, e, c, r and
// tm (referralSelect's aliases).
func (x *txn) referralPage(where string, args []any, limit, offset int) (total int64, fs []referralView, err error) {
	q, err := x.db()
	if err != nil {
		return 0, nil, err
	}
	if err := q.Raw(`SELECT COUNT(*) FROM (`+referralSelect+" WHERE "+where+`) x`, args...).Scan(&total).Error; err != nil {
		return 0, nil, fmt.Errorf("count referrals: %w", err)
	}
	if err := q.Raw(referralSelect+" WHERE "+where+fmt.Sprintf(" ORDER BY f.id DESC LIMIT %d OFFSET %d", limit, offset), args...).Scan(&fs).Error; err != nil {
		return 0, nil, fmt.Errorf("list referrals: %w", err)
	}
	return total, fs, nil
}

// referralScope is the SQL condition that selects the referrals p may
// see (mine: those addressed to p or p's department only), as
// referralAccess decides one by one.
func (p *principal) referralScope(mine bool) (string, []any) {
	where := "r.ministry_id = ? AND c.classification IN ?"
	args := []any{p.ministryID, p.allowedClassifications()}
	deps := p.departments()
	cond := "f.to_user_id = ?"
	args = append(args, p.id)
	if !mine {
		cond += " OR f.from_user_id = ?"
		args = append(args, p.id)
		if len(p.clerkOf) > 0 {
			cond += " OR e.registry_id IN ?"
			args = append(args, p.clerkOf)
		}
	}
	if len(deps) > 0 {
		cond += " OR f.to_department_id IN ?"
		args = append(args, deps)
	}
	if !mine && len(p.covered) > 0 {
		cond += " OR tm.department_id IN ?"
		args = append(args, p.covered)
	}
	return where + " AND (" + cond + ")", args
}

// subtree lists, now, a department and every department below it.
func (x *txn) subtree(root int64) ([]int64, error) {
	q, err := x.db()
	if err != nil {
		return nil, err
	}
	var ids []int64
	err = q.Raw(`WITH RECURSIVE sub(id) AS (
	SELECT id FROM departments WHERE id = ?
	UNION SELECT d.id FROM departments d JOIN sub ON d.parent_id = sub.id
) SELECT id FROM sub`, root).Scan(&ids).Error
	return ids, err
}

// insertReferral queues the inserting of row with its id.
func (x *txn) insertReferral(row referralRow) {
	x.insert(insert{`INSERT INTO referrals (id, entry_id, parent_id, from_user_id, to_user_id, to_department_id, instruction,
	due_date, state, version, created_at, updated_at) VALUES`, `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		[]any{row.ID, row.EntryID, row.ParentID, row.FromUserID, row.ToUserID, row.ToDepartmentID, row.Instruction,
			row.DueDate, row.State, row.Version, row.CreatedAt, row.UpdatedAt}})
}

// updateReferral queues the writing of set (columns named in this
// package, version among them) to a referral at version; one no longer
// at version fails the call with stale, nothing of the call written.
func (x *txn) updateReferral(id, version int64, set map[string]any, stale error) {
	cols := make([]string, 0, len(set))
	for k := range set {
		cols = append(cols, k)
	}
	slices.Sort(cols)
	args := make([]any, 0, len(cols)+2)
	for i, k := range cols {
		cols[i] = k + " = ?"
		args = append(args, set[k])
	}
	x.execOne(stale, "UPDATE referrals SET "+strings.Join(cols, ", ")+" WHERE id = ? AND version = ?", append(args, id, version)...)
}

// referralHold is who a referral involves, as access needs it: a row of
// referralHoldSelect.
type referralHold struct {
	ID, EntryID      int64
	ToUserID         *int64
	FromUserID       *int64
	ToDepartmentID   *int64
	ToUserDepartment *int64 // the department of the person it is addressed to
}

const referralHoldSelect = `SELECT f.id, f.entry_id, f.to_user_id, f.from_user_id, f.to_department_id, tm.department_id
FROM referrals f LEFT JOIN memberships tm ON tm.user_id = f.to_user_id`

// appendHold appends each row of referralHoldSelect to *to.
func appendHold(to *[]referralHold) func(r rowScanner) error {
	return func(r rowScanner) error {
		var h referralHold
		if err := r.Scan(&h.ID, &h.EntryID, &h.ToUserID, &h.FromUserID, &h.ToDepartmentID, &h.ToUserDepartment); err != nil {
			return err
		}
		*to = append(*to, h)
		return nil
	}
}

// referralHolds queues the reading of who the referrals of these entries
// involve; get returns them once x has run.
func (x *txn) referralHolds(entryIDs []int64) (get func() []referralHold) {
	var hs []referralHold
	ids := make([]any, len(entryIDs))
	for i, id := range entryIDs {
		ids[i] = id
	}
	x.query(referralHoldSelect+" WHERE f.entry_id IN ("+placeholders(len(ids))+")", ids, appendHold(&hs))
	return func() []referralHold { return hs }
}

// pendingReferral is a referral not yet done (open, accepted or passed
// on), as the close or the answer of its entry ends it: a row of
// pendingReferralSelect.
type pendingReferral struct {
	referralHold
	State string
	// Department is the code of the department it is addressed to, or of
	// the person's it is addressed to ("" for none).
	Department string
}

const pendingReferralSelect = `SELECT f.id, f.entry_id, f.to_user_id, f.from_user_id, f.to_department_id, tm.department_id,
	f.state, COALESCE(d.code, ud.code, '')
FROM referrals f LEFT JOIN memberships tm ON tm.user_id = f.to_user_id
LEFT JOIN departments d ON d.id = f.to_department_id
LEFT JOIN departments ud ON ud.id = tm.department_id`

// pendingReferrals queues the reading of the referrals of an entry in one
// of the states from; get returns them, by id, once x has run.
func (x *txn) pendingReferrals(entryID int64, from []State) (get func() []pendingReferral) {
	var out []pendingReferral
	args := []any{entryID}
	for _, s := range from {
		args = append(args, string(s))
	}
	x.query(pendingReferralSelect+" WHERE f.entry_id = ? AND f.state IN ("+placeholders(len(from))+") ORDER BY f.id", args,
		func(r rowScanner) error {
			var f pendingReferral
			h := &f.referralHold
			if err := r.Scan(&h.ID, &h.EntryID, &h.ToUserID, &h.FromUserID, &h.ToDepartmentID, &h.ToUserDepartment,
				&f.State, &f.Department); err != nil {
				return err
			}
			out = append(out, f)
			return nil
		})
	return func() []pendingReferral { return out }
}

// endReferrals queues the moving of these referrals, in one of the states
// from, to state to, moving their versions on. The caller holds their
// entry's lock, which every change of a referral takes first, so they
// are as read.
func (x *txn) endReferrals(ids []int64, from []State, to State, now time.Time) {
	if len(ids) == 0 {
		return
	}
	args := []any{string(to), now}
	for _, id := range ids {
		args = append(args, id)
	}
	for _, s := range from {
		args = append(args, string(s))
	}
	x.exec(`UPDATE referrals SET state = ?, version = version + 1, updated_at = ? WHERE id IN (`+placeholders(len(ids))+
		`) AND state IN (`+placeholders(len(from))+`)`, args...)
}
