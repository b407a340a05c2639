package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"diwan.gov.sy/diwan/internal/directory"
)

// Referrals: an incoming entry passed to a person or a department for
// action, and passed on.

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
	if !referralEntryOpen(f.EntryState) {
		return out
	}
	for _, r := range referralRules {
		if slices.Contains(r.from, State(f.State)) && acc.may(r.who) && !slices.Contains(out, r.action) {
			out = append(out, r.action)
		}
	}
	return out
}

// referral is the referral f with these actions, without the logins of
// its users: those are named after the read (nameReferrals).
func (f *referralView) referral(actions []Action) Referral {
	return Referral{ID: f.ID, EntryID: f.EntryID, CorrespondenceID: f.CorrespondenceID, ParentID: deref(f.ParentID),
		ToDepartment: deref(f.ToDepartmentCode),
		Instruction:  f.Instruction, DueDate: f.DueDate, State: State(f.State), Version: f.Version, Answer: f.Answer,
		CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt, Subject: f.Subject,
		Classification: Classification(f.Classification), Priority: Priority(f.Priority), Registry: f.RegistryCode,
		Number: deref(f.Number), Actions: actions}
}

// referralUsers are the ids of the users referrals name (0 none), by
// index of the referrals, for the directory to name after the read
// (nameReferrals).
type referralUsers struct{ from, to []int64 }

// add notes the users of f, the next referral.
func (u *referralUsers) add(f *referralView) {
	u.from = append(u.from, deref(f.FromUserID))
	u.to = append(u.to, deref(f.ToUserID))
}

// nameReferrals sets From and ToUser of rs to the logins of their users
// (u), asking the directory once for all of them; it is called after the
// read, holding no connection.
func (s *Service) nameReferrals(ctx context.Context, rs []Referral, u referralUsers) error {
	var ids []int64
	for _, id := range slices.Concat(u.from, u.to) {
		if id != 0 {
			ids = append(ids, id)
		}
	}
	logins, err := s.logins(ctx, ids)
	if err != nil {
		return fmt.Errorf("name the users of referrals: %w", err)
	}
	for i := range rs {
		rs[i].From, rs[i].ToUser = logins[u.from[i]], logins[u.to[i]]
	}
	return nil
}

// referralTarget is where a referral goes, as given, with the person it
// names (toUser) as the directory found them before the call's
// transaction (findAddressee).
type referralTarget struct {
	toUser, toDepartment, instruction, dueDate string
	addressee                                  addressee
}

// addressee is the directory's answer for the person a referral goes to:
// the account, or why there is none (an *InputError for to_user when no
// user has the login).
type addressee struct {
	u   directory.Account
	err error
}

// findAddressee asks the directory for the user with login, a referral's
// to_user, before the call's transaction: the answer is used inside it
// (referToUser), where the directory must not be asked. No login asks
// nothing.
func (s *Service) findAddressee(ctx context.Context, login string) addressee {
	if strings.TrimSpace(login) == "" {
		return addressee{}
	}
	u, err := s.findAccount(ctx, "to_user", login)
	return addressee{u: u, err: err}
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
	instruction, err := normInstruction(t.instruction)
	if err != nil {
		return 0, err
	}
	due, err := parseDate("due_date", t.dueDate)
	if err != nil {
		return 0, err
	}
	if err := s.checkDueDate("due_date", due); err != nil {
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
		if within, err = x.subtree(p.department); err != nil {
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
		err = referToUser(x, p, e, t.addressee, within, &row, details)
	} else {
		err = referToDepartment(x, e, t.toDepartment, pre.departments, within, &row, details)
	}
	if err != nil {
		return 0, err
	}
	id := pre.id
	if id == nil {
		id = x.newID("referrals")
		if err := x.run(); err != nil {
			return 0, err
		}
	}
	row.ID = *id
	x.insertReferral(row)
	if parent != nil {
		details["parent"] = parent.ID
	}
	x.insertEvents(p, event{corrID: e.CorrespondenceID, entryID: e.ID, referralID: row.ID, action: "create",
		to: StateOpen, details: details})
	return row.ID, nil
}

// referToUser addresses row to the user the directory found (to): an
// active user of e's ministry who may read e, other than p, inside within
// when it is not nil.
func referToUser(x *txn, p *principal, e *entryView, to addressee, within []int64, row *referralRow, details map[string]any) error {
	if to.err != nil {
		return unprocessableInput(to.err)
	}
	u := to.u
	if u.MinistryID != e.MinistryID || u.Disabled {
		return unprocessable("to_user", fmt.Sprintf("%s is not an active user of this ministry", u.Login))
	}
	target, err := x.loadPrincipal(UserActor(u.ID, u.Login))
	if err != nil {
		return err
	}
	if !target.seesContent() || level(Classification(e.Classification)) > target.clearance {
		return unprocessable("to_user", fmt.Sprintf("%s may not read a %s document", u.Login, e.Classification))
	}
	if within != nil && !slices.Contains(within, target.department) {
		return unprocessable("to_user", fmt.Sprintf("%s is not in your department; you pass referrals on inside it", u.Login))
	}
	if u.ID == p.id {
		return unprocessable("to_user", "a referral is not made to oneself")
	}
	row.ToUserID = ptr(u.ID)
	details["to_user"] = u.Login
	return nil
}

// referToDepartment addresses row to the department of e's ministry with
// this code (among read, when it was read with the entry), inside within
// when it is not nil.
func referToDepartment(x *txn, e *entryView, code string, read func() []departmentRow, within []int64, row *referralRow, details map[string]any) error {
	var d departmentRow
	var err error
	if read != nil {
		var c string
		if c, err = canonicalCode("to_department", "the department", code); err == nil {
			d, err = pickDepartment(read(), "to_department", e.MinistryID, c)
		}
	} else {
		d, err = x.findDepartment("to_department", e.MinistryID, code)
	}
	if err != nil {
		return unprocessableInput(err)
	}
	if within != nil && !slices.Contains(within, d.ID) {
		return unprocessable("to_department", fmt.Sprintf("%s is not your department or below it; you pass referrals on inside it", d.Code))
	}
	row.ToDepartmentID = ptr(d.ID)
	details["to_department"] = d.Code
	return nil
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
	out := Page[Referral]{Items: []Referral{}}
	var users referralUsers
	err := s.readStepwise(ctx, func(x *txn) error {
		p, err := x.loadPrincipal(a)
		if err != nil || !p.seesContent() {
			return err
		}
		where, args := p.referralScope(f.Mine)
		if f.State != "" {
			where += " AND f.state = ?"
			args = append(args, string(f.State))
		}
		if f.EntryID != 0 {
			where += " AND f.entry_id = ?"
			args = append(args, f.EntryID)
		}
		limit, offset := pageBounds(f.Limit, f.Offset)
		total, fs, err := x.referralPage(where, args, limit, offset)
		if err != nil {
			return err
		}
		out.Total = total
		for i := range fs {
			acc := p.referralAccess(&fs[i])
			out.Items = append(out.Items, fs[i].referral(p.referralActions(&fs[i], acc)))
			users.add(&fs[i])
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	return out, s.nameReferrals(ctx, out.Items, users)
}

func (s *Service) referral(ctx context.Context, a Actor, id int64) (Referral, error) {
	var p *principal
	var f *referralView
	err := s.readStepwise(ctx, func(x *txn) error {
		var err error
		if p, err = x.loadPrincipal(a); err != nil {
			return err
		}
		f, err = x.loadReferral(id, false)
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
	out := []Referral{f.referral(p.referralActions(f, acc))}
	var users referralUsers
	users.add(f)
	if err := s.nameReferrals(ctx, out, users); err != nil {
		return Referral{}, err
	}
	return out[0], nil
}

func (s *Service) actOnReferral(ctx context.Context, a Actor, id int64, t ReferralTransition) (Referral, error) {
	t.Action = Action(strings.ToLower(strings.TrimSpace(string(t.Action))))
	if !slices.Contains(referralActions, t.Action) {
		return Referral{}, inputErr("action", fmt.Sprintf("%s is not an action on a referral", show(string(t.Action))))
	}
	if t.Version <= 0 {
		return Referral{}, inputErr("version", "the version of the referral is required")
	}
	var to addressee
	if t.Action == ActionRefer {
		to = s.findAddressee(ctx, t.ToUser)
	}
	out := make([]Referral, 1)
	var users referralUsers
	err := s.changeBatched(ctx, func(x *txn) error {
		p, e, f, acc, r, err := s.readReferralTransition(x, a, id, t)
		if err != nil {
			return err
		}
		users = referralUsers{}
		users.add(f)
		out[0], err = s.writeReferralTransition(x, p, e, f, acc, r, t, to)
		return err
	})
	if err != nil {
		return Referral{}, wrapPublic(fmt.Sprintf("referral %d: %s", id, t.Action), err)
	}
	s.obs.Transition(t.Action) // committed
	if err := s.nameReferrals(ctx, out, users); err != nil {
		// Committed: the change stands, answered without the logins.
		s.log.Warn("referral changed; its people not named", slog.Int64("referral", id), slog.Any("err", err))
	}
	return out[0], nil
}

// readReferralTransition reads the actor, the referral and its entry
// (both locked) and finds the rule by which the actor makes t now.
func (s *Service) readReferralTransition(x *txn, a Actor, id int64, t ReferralTransition) (
	*principal, *entryView, *referralView, referralAccess, rule, error) {
	var acc referralAccess
	p, err := x.loadPrincipal(a)
	if err != nil {
		return nil, nil, nil, acc, rule{}, err
	}
	entryID, err := x.referralEntry(id)
	if err != nil {
		return nil, nil, nil, acc, rule{}, err
	}
	// Lock order everywhere: the entry, then its referrals.
	e, err := x.loadEntry(entryID, true)
	if err != nil {
		return nil, nil, nil, acc, rule{}, err
	}
	f, err := x.loadReferral(id, true)
	if err != nil {
		return nil, nil, nil, acc, rule{}, err
	}
	acc = p.referralAccess(f)
	if !acc.visible() {
		return nil, nil, nil, acc, rule{}, notFound("referral", id)
	}
	if !referralEntryOpen(e.State) {
		// Closed or answered: its referrals are done with it.
		return nil, nil, nil, acc, rule{}, &TransitionError{Object: "entry", ID: e.ID, Action: t.Action, State: State(e.State)}
	}
	if f.Version != t.Version {
		return nil, nil, nil, acc, rule{}, &StaleError{Object: "referral", ID: id, Given: t.Version, Current: f.Version}
	}
	r, _, ok := findReferralRule(t.Action, State(f.State))
	if !ok {
		return nil, nil, nil, acc, rule{}, &TransitionError{Object: "referral", ID: id, Action: t.Action, State: State(f.State)}
	}
	if !acc.may(r.who) {
		return nil, nil, nil, acc, rule{}, fmt.Errorf("referral %d: %s: %w", id, t.Action, ErrForbidden)
	}
	return p, e, f, acc, r, nil
}

// writeReferralTransition does what t does to the referral f of entry e
// by rule r and queues its writes; it returns the referral as it then
// stands.
func (s *Service) writeReferralTransition(x *txn, p *principal, e *entryView, f *referralView, acc referralAccess,
	r rule, t ReferralTransition, addr addressee) (Referral, error) {
	comment, err := cleanText("comment", "the comment", t.Comment, maxAnswerChars)
	if err != nil {
		return Referral{}, err
	}
	now := s.clock()
	set := map[string]any{"version": f.Version + 1, "updated_at": now}
	details := map[string]any{}
	switch t.Action {
	case ActionComment:
		if strings.TrimSpace(comment) == "" {
			return Referral{}, inputErr("comment", "the comment is required")
		}
	case ActionAnswer:
		answer, err := cleanText("answer", "the answer", t.Answer, maxAnswerChars)
		if err != nil {
			return Referral{}, err
		}
		if strings.TrimSpace(answer) == "" {
			return Referral{}, inputErr("answer", "the answer is required")
		}
		set["answer"] = answer
		details["answer"] = answer
		// Answered straight from open, the entry moves as on accept.
		entryFollowsAccept(x, p, e, f, now)
		if err := answerParents(x, p, e, f, answer, now); err != nil {
			return Referral{}, err
		}
	case ActionRefer:
		childID, err := s.newReferral(x, p, e, f, referralTarget{toUser: t.ToUser, toDepartment: t.ToDepartment,
			instruction: t.Instruction, dueDate: t.DueDate, addressee: addr}, referralPrefetch{})
		if err != nil {
			return Referral{}, err
		}
		details["referral"] = childID
	case ActionAccept:
		entryFollowsAccept(x, p, e, f, now)
	}
	to := State(f.State)
	if r.to != "" {
		to = r.to
		set["state"] = string(to)
	}
	x.updateReferral(f.ID, f.Version, set, &StaleError{Object: "referral", ID: f.ID, Given: t.Version, Current: f.Version + 1})
	x.insertEvents(p, event{corrID: e.CorrespondenceID, entryID: e.ID, referralID: f.ID,
		action: string(t.Action), from: State(f.State), to: to, comment: comment, details: details})
	f.State, f.Version, f.UpdatedAt = string(to), f.Version+1, now
	if a, ok := set["answer"].(string); ok {
		f.Answer = a
	}
	return f.referral(p.referralActions(f, acc)), nil
}

// entryFollowsAccept moves the entry e as its referral f is taken up
// (accepted, or answered straight from open): referred → in_progress.
func entryFollowsAccept(x *txn, p *principal, e *entryView, f *referralView, now time.Time) {
	// In progress already, the entry's version moves on all the same: a
	// close of the entry decided on what was read before the acceptance is
	// stale.
	changes := map[string]any{}
	er, ok := findSystemRule(Incoming, ActionAccept, State(e.State))
	if ok {
		changes["state"] = string(er.to)
	}
	x.updateEntry(e.ID, e.Version, changes, now)
	if ok {
		x.insertEvents(p, event{corrID: e.CorrespondenceID, entryID: e.ID, action: string(ActionStart),
			from: State(e.State), to: er.to, details: map[string]any{"referral": f.ID}})
		e.State = string(er.to)
	}
	e.Version++
}

// maxReferralDepth bounds the walk up a chain of referrals passed on.
const maxReferralDepth = 64

// answerParents answers, by the system referral rule, the referrals f was
// passed on from (each waiting in referred), up the chain, with f's
// answer: whoever passed a referral on sees it answered.
func answerParents(x *txn, p *principal, e *entryView, f *referralView, answer string, now time.Time) error {
	child := f
	for range maxReferralDepth {
		if child.ParentID == nil {
			return nil
		}
		parent, err := x.loadReferral(*child.ParentID, true)
		if err != nil {
			return err
		}
		r, ok := findSystemReferralRule(ActionAnswer, State(parent.State))
		if !ok {
			return nil // closed or answered already: the chain stops here
		}
		x.updateReferral(parent.ID, parent.Version, map[string]any{"state": string(r.to), "answer": answer,
			"version": parent.Version + 1, "updated_at": now},
			&StaleError{Object: "referral", ID: parent.ID, Given: parent.Version, Current: parent.Version + 1})
		x.insertEvents(p, event{corrID: e.CorrespondenceID, entryID: e.ID, referralID: parent.ID,
			action: string(ActionAnswer), from: State(parent.State), to: r.to, details: map[string]any{"referral": f.ID}})
		child = parent
	}
	return nil
}
