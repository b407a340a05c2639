package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// referralView is a referral with what access needs of its entry.
type referralView struct {
	ID               int64
	EntryID          int64
	CorrespondenceID int64
	ParentID         *int64
	FromUserID       *int64
	ToUserID         *int64
	ToDepartmentID   *int64
	FromLogin        *string
	ToLogin          *string
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
}

const referralSelect = `SELECT f.id, f.entry_id, e.correspondence_id, f.parent_id, f.from_user_id, f.to_user_id,
	f.to_department_id, fu.login AS from_login, tu.login AS to_login, d.code AS to_department_code,
	tm.department_id AS to_user_department, f.instruction, f.due_date, f.state, f.version, f.answer,
	f.created_at, f.updated_at, c.subject, c.classification, c.priority, r.code AS registry_code, e.number,
	e.registry_id, r.ministry_id
FROM referrals f
JOIN registry_entries e ON e.id = f.entry_id
JOIN correspondence c ON c.id = e.correspondence_id
JOIN registries r ON r.id = e.registry_id
LEFT JOIN users fu ON fu.id = f.from_user_id
LEFT JOIN users tu ON tu.id = f.to_user_id
LEFT JOIN departments d ON d.id = f.to_department_id
LEFT JOIN memberships tm ON tm.user_id = f.to_user_id`

// referralAccess says how a principal stands to a referral.
type referralAccess struct{ clerk, holder, referrer bool }

func (r referralAccess) visible() bool { return r.clerk || r.holder || r.referrer }

func (r referralAccess) may(w who) bool {
	return (w&whoClerk != 0 && r.clerk) || (w&whoHolder != 0 && r.holder) || (w&whoReferrer != 0 && r.referrer)
}

func (p *principal) referralAccess(f *referralView) referralAccess {
	var acc referralAccess
	if !p.seesContent() || f.MinistryID != p.ministryID || level(Classification(f.Classification)) > p.clearance {
		return acc
	}
	acc.clerk = p.isClerkOf(f.RegistryID)
	acc.referrer = f.FromUserID != nil && *f.FromUserID == p.id
	switch {
	case f.ToUserID != nil && *f.ToUserID == p.id:
		acc.holder = true
	case f.ToDepartmentID != nil && (*f.ToDepartmentID == p.department || slices.Contains(p.covered, *f.ToDepartmentID)):
		acc.holder = true
	case f.ToUserDepartment != nil && slices.Contains(p.covered, *f.ToUserDepartment):
		acc.holder = true
	}
	return acc
}

func (p *principal) referralActions(f *referralView, acc referralAccess) []Action {
	out := []Action{}
	for _, r := range referralRules {
		if slices.Contains(r.from, State(f.State)) && acc.may(r.who) && !slices.Contains(out, r.action) {
			out = append(out, r.action)
		}
	}
	return out
}

func (f *referralView) referral(actions []Action) Referral {
	return Referral{ID: f.ID, EntryID: f.EntryID, CorrespondenceID: f.CorrespondenceID, ParentID: deref(f.ParentID),
		From: deref(f.FromLogin), ToUser: deref(f.ToLogin), ToDepartment: deref(f.ToDepartmentCode),
		Instruction: f.Instruction, DueDate: f.DueDate, State: State(f.State), Version: f.Version, Answer: f.Answer,
		CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt, Subject: f.Subject,
		Classification: Classification(f.Classification), Priority: Priority(f.Priority), Registry: f.RegistryCode,
		Number: deref(f.Number), Actions: actions}
}

func (s *Service) loadReferral(ctx context.Context, q *gorm.DB, id int64, lock bool) (*referralView, error) {
	sql := referralSelect + " WHERE f.id = ?"
	if lock && s.isPostgres() {
		sql += " FOR NO KEY UPDATE OF f"
	}
	var fs []referralView
	if err := q.WithContext(ctx).Raw(sql, id).Scan(&fs).Error; err != nil {
		return nil, fmt.Errorf("load referral %d: %w", id, err)
	}
	if len(fs) == 0 {
		return nil, notFound("referral", id)
	}
	return &fs[0], nil
}

// referralTarget is where a referral goes, as given.
type referralTarget struct {
	toUser, toDepartment, instruction, dueDate string
}

// normInstruction keeps the three standard instructions as their keywords
// and anything else as free text.
func normInstruction(s string) (string, error) {
	in, err := cleanLine("instruction", "the instruction", s, maxInstructionChars, true)
	if err != nil {
		return "", err
	}
	switch k := strings.ToLower(in); k {
	case InstructionInformation, InstructionStudy, InstructionAction:
		return k, nil
	}
	return in, nil
}

// subtree lists a department and every department below it.
func subtree(ctx context.Context, q *gorm.DB, root int64) ([]int64, error) {
	var ids []int64
	err := q.WithContext(ctx).Raw(`WITH RECURSIVE sub(id) AS (
	SELECT id FROM departments WHERE id = ?
	UNION SELECT d.id FROM departments d JOIN sub ON d.parent_id = sub.id
) SELECT id FROM sub`, root).Scan(&ids).Error
	return ids, err
}

// referralPrefetch is what newReferral may find read already.
type referralPrefetch struct {
	departments func() []departmentRow // the departments with the target code; nil: not read
	id          *int64                 // the new referral's id (txn.newID); nil: not reserved
}

// newReferral creates a referral of entry e (passed on from parent when
// not nil) inside the entry's ministry, queued on x, and returns its id.
// Staff passing a referral on stay inside their own department; clerks and
// heads refer anywhere in the ministry.
func (s *Service) newReferral(x *txn, p *principal, e *entryView, parent *referralView, t referralTarget, pre referralPrefetch) (int64, error) {
	ctx := x.ctx
	instruction, err := normInstruction(t.instruction)
	if err != nil {
		return 0, err
	}
	due, err := parseDate("due_date", t.dueDate)
	if err != nil {
		return 0, err
	}
	if due == "" {
		due = e.DueDate
		if parent != nil && parent.DueDate != "" {
			due = parent.DueDate
		}
	}
	hasUser, hasDep := strings.TrimSpace(t.toUser) != "", strings.TrimSpace(t.toDepartment) != ""
	if hasUser == hasDep {
		return 0, inputErr("to_user", "a referral goes either to a person (to_user) or to a department (to_department)")
	}
	var within []int64 // nil: anywhere in the ministry
	if parent != nil && !p.isClerkOf(e.RegistryID) && !p.head {
		if p.department == 0 {
			return 0, unprocessable("to_department", "you belong to no department, so you cannot pass a referral on")
		}
		tx, err := x.db()
		if err != nil {
			return 0, err
		}
		if within, err = subtree(ctx, tx, p.department); err != nil {
			return 0, err
		}
	}
	now := s.clock()
	row := referralRow{EntryID: e.ID, FromUserID: ptr(p.id), Instruction: instruction, DueDate: due,
		State: string(StateOpen), Version: 1, CreatedAt: now, UpdatedAt: now}
	if parent != nil {
		row.ParentID = ptr(parent.ID)
	}
	details := map[string]any{"instruction": instruction, "due_date": due}
	if hasUser {
		tx, err := x.db()
		if err != nil {
			return 0, err
		}
		u, err := findUser(ctx, tx, "to_user", t.toUser)
		if err != nil {
			return 0, unprocessableInput(err)
		}
		if deref(u.MinistryID) != e.MinistryID || u.Disabled {
			return 0, unprocessable("to_user", fmt.Sprintf("%s is not an active user of this ministry", u.Login))
		}
		target, err := loadPrincipal(ctx, tx, UserActor(u.ID, u.Login))
		if err != nil {
			return 0, err
		}
		if !target.seesContent() || level(Classification(e.Classification)) > target.clearance {
			return 0, unprocessable("to_user", fmt.Sprintf("%s may not read a %s document", u.Login, e.Classification))
		}
		if within != nil && !slices.Contains(within, target.department) {
			return 0, unprocessable("to_user", fmt.Sprintf("%s is not in your department; you pass referrals on inside it", u.Login))
		}
		if u.ID == p.id {
			return 0, unprocessable("to_user", "a referral is not made to oneself")
		}
		row.ToUserID = ptr(u.ID)
		details["to_user"] = u.Login
	} else {
		var d departmentRow
		if pre.departments != nil {
			var c string
			if c, err = canonicalCode("to_department", "the department", t.toDepartment); err == nil {
				d, err = pickDepartment(pre.departments(), "to_department", e.MinistryID, c)
			}
		} else {
			var tx *gorm.DB
			if tx, err = x.db(); err == nil {
				d, err = findDepartment(ctx, tx, "to_department", e.MinistryID, t.toDepartment)
			}
		}
		if err != nil {
			return 0, unprocessableInput(err)
		}
		if within != nil && !slices.Contains(within, d.ID) {
			return 0, unprocessable("to_department", fmt.Sprintf("%s is not your department or below it; you pass referrals on inside it", d.Code))
		}
		row.ToDepartmentID = ptr(d.ID)
		details["to_department"] = d.Code
	}
	id := pre.id
	if id == nil {
		id = x.newID("referrals")
		if err := x.run(); err != nil {
			return 0, err
		}
	}
	row.ID = *id
	x.insert(insert{`INSERT INTO referrals (id, entry_id, parent_id, from_user_id, to_user_id, to_department_id, instruction,
	due_date, state, version, created_at, updated_at) VALUES`, `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		[]any{row.ID, row.EntryID, row.ParentID, row.FromUserID, row.ToUserID, row.ToDepartmentID, row.Instruction,
			row.DueDate, row.State, row.Version, row.CreatedAt, row.UpdatedAt}})
	if parent != nil {
		details["parent"] = parent.ID
	}
	x.record(p, event{corrID: e.CorrespondenceID, entryID: e.ID, referralID: row.ID, action: "create",
		to: StateOpen, details: details})
	return row.ID, nil
}

// unprocessableInput marks an *InputError as unprocessable.
func unprocessableInput(err error) error {
	var ie *InputError
	if errors.As(err, &ie) {
		return &InputError{Field: ie.Field, Message: ie.Message, Unprocessable: true}
	}
	return err
}

func (s *Service) referrals(ctx context.Context, a Actor, f ReferralFilter) (Page[Referral], error) {
	var out Page[Referral]
	err := s.read(ctx, func(q *gorm.DB) error {
		var err error
		out, err = s.referralsOn(ctx, q, a, f)
		return err
	})
	return out, err
}

func (s *Service) referralsOn(ctx context.Context, q *gorm.DB, a Actor, f ReferralFilter) (Page[Referral], error) {
	out := Page[Referral]{Items: []Referral{}}
	p, err := loadPrincipal(ctx, q, a)
	if err != nil {
		return out, err
	}
	if !p.seesContent() {
		return out, nil
	}
	where := " WHERE r.ministry_id = ? AND c.classification IN ?"
	args := []any{p.ministryID, p.allowedClassifications()}
	deps := p.departments()
	if f.Mine {
		cond := "f.to_user_id = ?"
		args = append(args, p.id)
		if len(deps) > 0 {
			cond += " OR f.to_department_id IN ?"
			args = append(args, deps)
		}
		where += " AND (" + cond + ")"
	} else {
		cond := "f.to_user_id = ? OR f.from_user_id = ?"
		args = append(args, p.id, p.id)
		if len(p.clerkOf) > 0 {
			cond += " OR e.registry_id IN ?"
			args = append(args, p.clerkOf)
		}
		if len(deps) > 0 {
			cond += " OR f.to_department_id IN ?"
			args = append(args, deps)
		}
		if len(p.covered) > 0 {
			cond += " OR tm.department_id IN ?"
			args = append(args, p.covered)
		}
		where += " AND (" + cond + ")"
	}
	if f.State != "" {
		where += " AND f.state = ?"
		args = append(args, string(f.State))
	}
	if f.EntryID != 0 {
		where += " AND f.entry_id = ?"
		args = append(args, f.EntryID)
	}
	limit, offset := pageBounds(f.Limit, f.Offset)
	if err := q.WithContext(ctx).Raw(`SELECT COUNT(*) FROM (`+referralSelect+where+`) x`, args...).Scan(&out.Total).Error; err != nil {
		return out, fmt.Errorf("count referrals: %w", err)
	}
	var fs []referralView
	if err := q.WithContext(ctx).Raw(referralSelect+where+fmt.Sprintf(" ORDER BY f.id DESC LIMIT %d OFFSET %d", limit, offset), args...).Scan(&fs).Error; err != nil {
		return out, fmt.Errorf("list referrals: %w", err)
	}
	for i := range fs {
		acc := p.referralAccess(&fs[i])
		out.Items = append(out.Items, fs[i].referral(p.referralActions(&fs[i], acc)))
	}
	return out, nil
}

func (s *Service) referral(ctx context.Context, a Actor, id int64) (Referral, error) {
	var p *principal
	var f *referralView
	err := s.read(ctx, func(q *gorm.DB) error {
		var err error
		if p, err = loadPrincipal(ctx, q, a); err != nil {
			return err
		}
		f, err = s.loadReferral(ctx, q, id, false)
		return err
	})
	if err != nil {
		return Referral{}, err
	}
	acc := p.referralAccess(f)
	if !acc.visible() {
		return Referral{}, notFound("referral", id)
	}
	if err := s.auditRead(ctx, p, f.CorrespondenceID, Classification(f.Classification), "read", map[string]any{"referral": id}); err != nil {
		return Referral{}, err
	}
	return f.referral(p.referralActions(f, acc)), nil
}

func (s *Service) actOnReferral(ctx context.Context, a Actor, id int64, t ReferralTransition) (Referral, error) {
	t.Action = Action(strings.ToLower(strings.TrimSpace(string(t.Action))))
	if !slices.Contains(referralActions, t.Action) {
		return Referral{}, inputErr("action", fmt.Sprintf("%s is not an action on a referral", show(string(t.Action))))
	}
	if t.Version <= 0 {
		return Referral{}, inputErr("version", "the version of the referral is required")
	}
	var out Referral
	err := s.changeBatched(ctx, func(x *txn) error {
		tx, err := x.db()
		if err != nil {
			return err
		}
		p, err := loadPrincipal(ctx, tx, a)
		if err != nil {
			return err
		}
		var entryIDs []int64
		if err := tx.WithContext(ctx).Raw(`SELECT entry_id FROM referrals WHERE id = ?`, id).Scan(&entryIDs).Error; err != nil {
			return err
		}
		if len(entryIDs) == 0 {
			return notFound("referral", id)
		}
		// Lock order everywhere: the entry, then its referrals.
		e, err := s.loadEntry(ctx, tx, entryIDs[0], true)
		if err != nil {
			return err
		}
		f, err := s.loadReferral(ctx, tx, id, true)
		if err != nil {
			return err
		}
		acc := p.referralAccess(f)
		if !acc.visible() {
			return notFound("referral", id)
		}
		if f.Version != t.Version {
			return &StaleError{Object: "referral", ID: id, Given: t.Version, Current: f.Version}
		}
		r, _, ok := findReferralRule(t.Action, State(f.State))
		if !ok {
			return &TransitionError{Object: "referral", ID: id, Action: t.Action, State: State(f.State)}
		}
		if !acc.may(r.who) {
			return fmt.Errorf("referral %d: %s: %w", id, t.Action, ErrForbidden)
		}
		comment, err := cleanText("comment", "the comment", t.Comment, maxAnswerChars)
		if err != nil {
			return err
		}
		now := s.clock()
		set := map[string]any{"version": f.Version + 1, "updated_at": now}
		details := map[string]any{}
		switch t.Action {
		case ActionComment:
			if strings.TrimSpace(comment) == "" {
				return inputErr("comment", "the comment is required")
			}
		case ActionAnswer:
			answer, err := cleanText("answer", "the answer", t.Answer, maxAnswerChars)
			if err != nil {
				return err
			}
			if strings.TrimSpace(answer) == "" {
				return inputErr("answer", "the answer is required")
			}
			set["answer"] = answer
			details["answer"] = answer
		case ActionRefer:
			childID, err := s.newReferral(x, p, e, f, referralTarget{toUser: t.ToUser, toDepartment: t.ToDepartment,
				instruction: t.Instruction, dueDate: t.DueDate}, referralPrefetch{})
			if err != nil {
				return err
			}
			details["referral"] = childID
		case ActionAccept:
			// The entry follows: referred → in_progress.
			if er, ok := findSystemRule(Incoming, ActionAccept, State(e.State)); ok {
				x.bumpEntry(e.ID, e.Version, map[string]any{"state": string(er.to)}, now)
				x.record(p, event{corrID: e.CorrespondenceID, entryID: e.ID, action: string(ActionStart),
					from: State(e.State), to: er.to, details: map[string]any{"referral": id}})
			}
		}
		to := State(f.State)
		if r.to != "" {
			to = r.to
			set["state"] = string(to)
		}
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
		x.execOne(&StaleError{Object: "referral", ID: id, Given: t.Version, Current: f.Version + 1},
			"UPDATE referrals SET "+strings.Join(cols, ", ")+" WHERE id = ? AND version = ?", append(args, id, f.Version)...)
		x.record(p, event{corrID: e.CorrespondenceID, entryID: e.ID, referralID: id,
			action: string(t.Action), from: State(f.State), to: to, comment: comment, details: details})
		f.State, f.Version, f.UpdatedAt = string(to), f.Version+1, now
		if a, ok := set["answer"].(string); ok {
			f.Answer = a
		}
		out = f.referral(p.referralActions(f, acc))
		return nil
	})
	if err != nil {
		return Referral{}, wrapPublic(fmt.Sprintf("referral %d: %s", id, t.Action), err)
	}
	s.obs.Transition(t.Action) // committed
	return out, nil
}
