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

const (
	defaultPageSize = 50
	maxPageSize     = 500
)

func pageBounds(limit, offset int) (int, int) {
	if limit <= 0 {
		limit = defaultPageSize
	}
	if limit > maxPageSize {
		limit = maxPageSize
	}
	if offset < 0 {
		offset = 0
	}
	return limit, offset
}

// likePattern makes a case-insensitive substring pattern for LIKE … ESCAPE '\'.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + strings.ToLower(r.Replace(q)) + "%"
}

func (s *Service) entries(ctx context.Context, a Actor, f ListFilter) (Page[Entry], error) {
	var out Page[Entry]
	err := s.read(ctx, func(q *gorm.DB) error {
		var err error
		out, err = s.entriesOn(ctx, q, a, f)
		return err
	})
	return out, err
}

func (s *Service) entriesOn(ctx context.Context, q *gorm.DB, a Actor, f ListFilter) (Page[Entry], error) {
	p, err := loadPrincipal(ctx, q, a)
	if err != nil {
		return Page[Entry]{}, err
	}
	out := Page[Entry]{Items: []Entry{}}
	scope, args, ok := p.entryScope()
	if !ok {
		return out, nil
	}
	where := " WHERE " + scope
	if f.Registry != "" {
		where += " AND r.code = ?"
		args = append(args, strings.ToUpper(strings.TrimSpace(f.Registry)))
	}
	switch f.Direction {
	case "":
	case Outgoing, Incoming:
		where += " AND e.direction = ?"
		args = append(args, string(f.Direction))
	default:
		return out, inputErr("direction", fmt.Sprintf("%s is not a direction; use incoming or outgoing", show(string(f.Direction))))
	}
	if f.State != "" {
		where += " AND e.state = ?"
		args = append(args, string(f.State))
	}
	if qs := strings.TrimSpace(f.Query); qs != "" {
		where += ` AND (LOWER(c.subject) LIKE ? ESCAPE '\' OR LOWER(COALESCE(e.number, '')) LIKE ? ESCAPE '\')`
		pat := likePattern(qs)
		args = append(args, pat, pat)
	}
	limit, offset := pageBounds(f.Limit, f.Offset)
	if err := q.WithContext(ctx).Raw(`SELECT COUNT(*) FROM registry_entries e
JOIN correspondence c ON c.id = e.correspondence_id JOIN registries r ON r.id = e.registry_id`+where, args...).Scan(&out.Total).Error; err != nil {
		return out, fmt.Errorf("count entries: %w", err)
	}
	var es []entryView
	sql := entrySelect + where + fmt.Sprintf(" ORDER BY e.id DESC LIMIT %d OFFSET %d", limit, offset)
	if err := q.WithContext(ctx).Raw(sql, args...).Scan(&es).Error; err != nil {
		return out, fmt.Errorf("list entries: %w", err)
	}
	for i := range es {
		v, err := s.access(ctx, q, p, &es[i])
		if err != nil {
			return out, err
		}
		out.Items = append(out.Items, es[i].entry(p.allowedActions(&es[i], v)))
	}
	return out, nil
}

func (s *Service) entry(ctx context.Context, a Actor, id int64) (Entry, error) {
	var p *principal
	var e *entryView
	var v via
	err := s.read(ctx, func(q *gorm.DB) error {
		var err error
		if p, err = loadPrincipal(ctx, q, a); err != nil {
			return err
		}
		e, v, err = s.visibleEntry(ctx, q, p, id, false)
		return err
	})
	if err != nil {
		return Entry{}, err
	}
	if err := s.auditRead(ctx, p, e.CorrespondenceID, Classification(e.Classification), "read", map[string]any{"entry": id}); err != nil {
		return Entry{}, err
	}
	return e.entry(p.allowedActions(e, v)), nil
}

// transition is the work of one Act call, for the action's handler.
type transition struct {
	s    *Service
	x    *txn
	p    *principal
	e    *entryView
	v    via
	r    rule
	t    Transition
	now  time.Time
	set  map[string]any // more columns of the entry to update
	info map[string]any // more audit details
	pre  prefetched
	// numbered: the transition takes a register number (allocate).
	numbered bool
	// to and reason are the state reached and the reason given.
	to     State
	reason string
}

// prefetched is what an action reads with its entry, in the same round
// trip; each is there once the entry is.
type prefetched struct {
	document    func() []docPart       // register: documentQuery's rows
	deliveries  func() []delivery      // dispatch: the recipients
	departments func() []departmentRow // refer to a department: those with the code
	referralID  *int64                 // refer: the new referral's id
}

func (s *Service) act(ctx context.Context, a Actor, id int64, t Transition) (Entry, error) {
	t.Action = Action(strings.ToLower(strings.TrimSpace(string(t.Action))))
	if !slices.Contains(entryActions, t.Action) {
		return Entry{}, inputErr("action", fmt.Sprintf("%s is not an action on an entry", show(string(t.Action))))
	}
	if t.Version <= 0 {
		return Entry{}, inputErr("version", "the version of the entry is required")
	}
	// Registration freezes the document it reads (attachment changes take
	// the entry's lock too) and a recall withdraws the incoming entries it
	// reads: both hold the entry's lock from their reads to their writes.
	// The other actions read without it: their writes check the entry's
	// version, which every change of the entry moves on.
	lock := t.Action == ActionRegister || t.Action == ActionRecall
	var tr *transition
	err := s.changeBatched(ctx, func(x *txn) error {
		// One round trip reads the actor, the entry and what the action
		// needs; the checks follow in Go.
		principal := x.principal(a)
		entry := x.entry(id, lock)
		pre := prefetch(x, id, t)
		if err := x.run(); err != nil {
			return err
		}
		p, err := principal()
		if err != nil {
			return err
		}
		if !p.seesContent() {
			return fmt.Errorf("entry %d: %w", id, ErrNotFound)
		}
		e, err := entry()
		if err != nil {
			return err
		}
		v, err := x.access(p, e)
		if err != nil {
			return err
		}
		if v == 0 {
			return fmt.Errorf("entry %d: %w", id, ErrNotFound)
		}
		if e.Version != t.Version {
			return &StaleError{Object: "entry", ID: e.ID, Given: t.Version, Current: e.Version}
		}
		r, known, ok := findEntryRule(Direction(e.Direction), t.Action, State(e.State))
		if !known {
			return inputErr("action", fmt.Sprintf("%s is not an action on an %s entry", t.Action, e.Direction))
		}
		if !ok {
			return &TransitionError{Object: "entry", ID: e.ID, Action: t.Action, State: State(e.State)}
		}
		if !p.may(r.who, v) {
			return fmt.Errorf("entry %d: %s: %w", e.ID, t.Action, ErrForbidden)
		}
		switch {
		case r.guard == guardApprovalReq && !e.ApprovalRequired:
			return &TransitionError{Object: "entry", ID: e.ID, Action: t.Action, State: State(e.State), Conflict: true,
				Reason: fmt.Sprintf("registry %s does not require approval; register the draft", e.RegistryCode)}
		case r.guard == guardNoApprovalReq && e.ApprovalRequired:
			return &TransitionError{Object: "entry", ID: e.ID, Action: t.Action, State: State(e.State), Conflict: true,
				Reason: fmt.Sprintf("registry %s requires a head's approval before registration; submit the draft", e.RegistryCode)}
		}
		reason, err := cleanLine("reason", "the reason", t.Reason, maxReasonChars, r.reason)
		if err != nil {
			return err
		}
		comment, err := cleanText("comment", "the comment", t.Comment, maxReasonChars*4)
		if err != nil {
			return err
		}
		tr = &transition{s: s, x: x, p: p, e: e, v: v, r: r, t: t, now: s.clock(), pre: pre,
			set: map[string]any{}, info: map[string]any{}, to: r.to, reason: reason}
		if reason != "" {
			tr.set["reason"] = reason
			tr.info["reason"] = reason
		}
		if err := tr.apply(ctx); err != nil {
			return err
		}
		if tr.to != "" {
			tr.set["state"] = string(tr.to)
		}
		ev := event{corrID: e.CorrespondenceID, entryID: e.ID, action: string(t.Action), from: State(e.State),
			to: tr.to, comment: comment, details: tr.info}
		if ev.to == "" {
			ev.to = State(e.State)
		}
		if reason != "" && comment == "" {
			ev.comment = reason
		}
		// A register number is taken last: the counter row stays locked
		// until commit, so as little as possible happens after it. On
		// PostgreSQL that is one statement sent with COMMIT (combined.go).
		if tr.numbered && s.isPostgres() && tr.numberPG(ev) {
			return nil
		}
		x.timelineRow(p, ev)
		if tr.numbered {
			if err := tr.allocate(); err != nil {
				return err
			}
		}
		// The audit event (with the number) before the entry's update,
		// which ends the statement the call's writes make on PostgreSQL
		// (joinWrites).
		x.auditEvent(p, ev)
		x.bumpEntry(e.ID, e.Version, tr.set, tr.now)
		return nil
	})
	var stale *StaleError
	if errors.As(err, &stale) && stale.Object == "entry" && stale.ID == id && !lock {
		// Changed since it was read: say to which version.
		var v []int64
		if s.db.Gorm.WithContext(ctx).Raw(`SELECT version FROM registry_entries WHERE id = ?`, id).Scan(&v).Error == nil && len(v) == 1 {
			stale.Current = v[0]
		}
	}
	if err != nil {
		return Entry{}, wrapPublic(fmt.Sprintf("entry %d: %s", id, t.Action), err)
	}
	// Committed: count it.
	s.obs.Transition(t.Action)
	if tr.numbered {
		s.obs.Registered(Direction(tr.e.Direction))
	}
	// The entry as it now stands.
	tr.applyInMemory()
	return tr.e.entry(tr.p.allowedActions(tr.e, tr.v)), nil
}

// prefetch queues the reads the action t on entry id needs besides the
// entry.
func prefetch(x *txn, id int64, t Transition) prefetched {
	var pre prefetched
	switch t.Action {
	case ActionRegister:
		pre.document = x.document(id)
	case ActionDispatch:
		pre.deliveries = x.deliveries(id)
	case ActionRefer:
		if strings.TrimSpace(t.ToUser) == "" && strings.TrimSpace(t.ToDepartment) != "" {
			if c, err := canonicalCode("to_department", "the department", t.ToDepartment); err == nil {
				pre.departments = x.departments(entryMinistry, id, c)
			}
		}
		pre.referralID = x.newID("referrals")
	}
	return pre
}

// access is s.access in x: e's referrals are read only when they matter.
func (x *txn) access(p *principal, e *entryView) (via, error) {
	if v, more := p.directAccess(e); !more {
		return v, nil
	}
	q, err := x.db()
	if err != nil {
		return 0, err
	}
	return x.s.access(x.ctx, q, p, e)
}

// applyInMemory updates the loaded entry to what the transition wrote.
func (tr *transition) applyInMemory() {
	e := tr.e
	if tr.to != "" {
		e.State = string(tr.to)
	}
	e.Version++
	e.UpdatedAt = tr.now
	if tr.reason != "" {
		e.Reason = tr.reason
	}
	if v, ok := tr.set["number"].(string); ok {
		e.Number = ptr(v)
		e.Year = ptr(tr.set["year"].(int))
		e.Seq = ptr(tr.set["seq"].(int64))
		e.RegisteredAt = ptr(tr.now)
	}
	if v, ok := tr.set["answered_by"].(int64); ok {
		e.AnsweredBy = ptr(v)
	}
}

// apply does what the action does besides the change of state.
func (tr *transition) apply(ctx context.Context) error {
	switch tr.t.Action {
	case ActionSubmit:
		if tr.e.DepartmentID == nil {
			return unprocessable("department", "the draft names no department, so no head can approve it; set its department first")
		}
	case ActionRegister:
		return tr.register(ctx)
	case ActionDispatch:
		return tr.dispatch()
	case ActionRecall:
		return tr.recall(ctx)
	case ActionReturn:
		return tr.returnIncoming()
	case ActionRefer:
		id, err := tr.s.newReferral(tr.x, tr.p, tr.e, nil, referralTarget{toUser: tr.t.ToUser,
			toDepartment: tr.t.ToDepartment, instruction: tr.t.Instruction, dueDate: tr.t.DueDate},
			referralPrefetch{departments: tr.pre.departments, id: tr.pre.referralID})
		if err != nil {
			return err
		}
		tr.info["referral"] = id
	case ActionAnswer:
		if tr.t.Reply != 0 {
			q, err := tr.x.db()
			if err != nil {
				return err
			}
			ok, err := tr.s.seesCorrespondence(ctx, q, tr.p, tr.t.Reply)
			if err != nil {
				return err
			}
			if !ok {
				return unprocessable("reply", fmt.Sprintf("there is no correspondence %d that you can see", tr.t.Reply))
			}
			tr.set["answered_by"] = tr.t.Reply
			tr.info["reply"] = tr.t.Reply
		}
	}
	return nil
}

// register freezes the document, answers the letters an outgoing one
// replies to, and acknowledges an incoming one to its sender; act then
// takes the number (allocate).
func (tr *transition) register(ctx context.Context) error {
	e := tr.e
	digest, replies, err := freeze(tr.x, e, tr.pre.document(), tr.now)
	if err != nil {
		return err
	}
	tr.info["document_sha256"] = digest
	tr.numbered = true
	if Direction(e.Direction) == Outgoing && replies {
		return tr.answerRepliedTo(ctx)
	}
	if Direction(e.Direction) == Incoming {
		tr.recipientFollows(ActionRegister, nil)
	}
	return nil
}

// allocate takes the entry's register number in time_zone's current year.
func (tr *transition) allocate() error {
	e := tr.e
	year := tr.now.In(tr.s.loc).Year()
	dir := Direction(e.Direction)
	var seq int64
	tr.x.query(allocateQuery, []any{e.RegistryID, string(dir), year}, func(r rowScanner) error { return r.Scan(&seq) })
	if err := tr.x.run(); err != nil {
		return fmt.Errorf("allocate %s number of registry %d for %d: %w", dir, e.RegistryID, year, err)
	}
	if seq <= 0 {
		return fmt.Errorf("allocate %s number of registry %d for %d: no number returned", dir, e.RegistryID, year)
	}
	number := formatNumber(e.Template, e.RegistryCode, dir, year, seq)
	tr.set["year"], tr.set["seq"], tr.set["number"], tr.set["registered_at"] = year, seq, number, tr.now
	tr.info["number"] = number
	return nil
}

// recipientFollows moves the sender's recipient row of this incoming entry
// by the recipient rule of the action (registration acknowledges, return
// returns); a row in no state the rule leaves stays as it is.
func (tr *transition) recipientFollows(action Action, set map[string]any) {
	r := recipientRuleOf(action)
	changes := map[string]any{"state": string(r.to), "changed_at": tr.now}
	for k, v := range set {
		changes[k] = v
	}
	cols := make([]string, 0, len(changes))
	for k := range changes {
		cols = append(cols, k)
	}
	slices.Sort(cols)
	var sql strings.Builder
	var args []any
	sql.WriteString("UPDATE correspondence_recipients SET ")
	for i, k := range cols {
		if i > 0 {
			sql.WriteString(", ")
		}
		sql.WriteString(k + " = ?")
		args = append(args, changes[k])
	}
	sql.WriteString(" WHERE entry_id = ? AND state IN (" + placeholders(len(r.from)) + ")")
	args = append(args, tr.e.ID)
	for _, s := range r.from {
		args = append(args, string(s))
	}
	tr.x.exec(sql.String(), args...)
}

// stmt is a statement and its arguments.
type stmt struct {
	sql  string
	args []any
}

// answerRepliedTo moves the incoming entries this reply answers (at the
// replying registry) to answered.
func (tr *transition) answerRepliedTo(ctx context.Context) error {
	q, err := tr.x.db()
	if err != nil {
		return err
	}
	var targets []int64
	err = q.Raw(`SELECT e.id FROM correspondence_references x
JOIN registry_entries e ON e.correspondence_id = x.referenced_id
WHERE x.correspondence_id = ? AND x.relation = 'reply_to' AND e.registry_id = ? AND e.direction = 'incoming'
ORDER BY e.id`, tr.e.CorrespondenceID, tr.e.RegistryID).Scan(&targets).Error
	if err != nil {
		return err
	}
	for _, id := range targets {
		in, err := tr.s.loadEntry(ctx, q, id, true)
		if err != nil {
			return err
		}
		r, ok := findSystemRule(Incoming, ActionAnswer, State(in.State))
		if !ok {
			continue // not open any more (closed, returned, already answered)
		}
		tr.x.bumpEntry(in.ID, in.Version, map[string]any{"state": string(r.to), "answered_by": tr.e.CorrespondenceID}, tr.now)
		tr.x.record(tr.p, event{corrID: in.CorrespondenceID, entryID: in.ID, action: string(ActionAnswer),
			from: State(in.State), to: r.to, details: map[string]any{"reply": tr.e.CorrespondenceID}})
	}
	return nil
}

// delivery is a recipient as dispatch reads it, with the id its incoming
// entry will have (a registry here only).
type delivery struct {
	id         int64
	registryID *int64
	party      string
	state      string
	code       *string
	entryID    *int64
}

// deliveries queues the reading of the recipients of an entry's letter,
// for dispatch; get returns them once x has run. On PostgreSQL the ids of
// the entries to deliver come from the same query.
func (x *txn) deliveries(entryID int64) (get func() []delivery) {
	newID := "NULL"
	if x.pg {
		newID = "CASE WHEN x.registry_id IS NOT NULL THEN nextval('registry_entries_id_seq') END"
	}
	var out []delivery
	x.query(`SELECT x.id, x.registry_id, x.party, x.state, (SELECT r.code FROM registries r WHERE r.id = x.registry_id),
	`+newID+` FROM correspondence_recipients x
WHERE x.correspondence_id = (SELECT correspondence_id FROM registry_entries WHERE id = ?) ORDER BY x.position`,
		[]any{entryID}, func(r rowScanner) error {
			var d delivery
			if err := r.Scan(&d.id, &d.registryID, &d.party, &d.state, &d.code, &d.entryID); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	return func() []delivery {
		for i := range out {
			if out[i].registryID != nil && out[i].entryID == nil {
				out[i].entryID = x.newID("registry_entries")
			}
		}
		return out
	}
}

// dispatch delivers to every recipient at once: a registry here gets an
// incoming entry in state received; an outside party is marked delivered
// (the letter goes on paper).
func (tr *transition) dispatch() error {
	e := tr.e
	rows := tr.pre.deliveries()
	if len(rows) == 0 {
		return unprocessable("recipients", "the letter has no recipients; a draft's recipients are set before registration")
	}
	due := e.DueDate
	if due == "" {
		due = tr.s.defaultDueDate(Priority(e.Priority), tr.now)
	}
	var delivered []string
	for _, row := range rows {
		r, ok := findRecipientRule(ActionDispatch, State(row.state))
		if !ok {
			continue
		}
		if row.registryID == nil {
			delivered = append(delivered, row.party)
			tr.x.exec(`UPDATE correspondence_recipients SET changed_at = ?, state = ? WHERE id = ?`, tr.now, string(r.to), row.id)
			continue
		}
		in := entryRow{ID: *row.entryID, CorrespondenceID: e.CorrespondenceID, RegistryID: *row.registryID,
			Direction: string(Incoming), State: string(StateReceived), Version: 1, DueDate: due, CreatedAt: tr.now, UpdatedAt: tr.now}
		tr.x.insert(entryInsert(in))
		code := deref(row.code)
		delivered = append(delivered, code)
		tr.x.record(tr.p, event{corrID: e.CorrespondenceID, entryID: in.ID, action: "receive",
			to: StateReceived, details: map[string]any{"registry": code, "from_registry": e.RegistryCode}})
		tr.x.exec(`UPDATE correspondence_recipients SET changed_at = ?, entry_id = ?, state = ? WHERE id = ?`,
			tr.now, in.ID, string(r.to), row.id)
	}
	tr.info["recipients"] = delivered
	return nil
}

// recall withdraws a dispatched letter while no recipient has registered
// it: their received entries become recalled.
func (tr *transition) recall(ctx context.Context) error {
	e := tr.e
	q, err := tr.x.db()
	if err != nil {
		return err
	}
	sql := `SELECT id FROM registry_entries WHERE correspondence_id = ? AND direction = 'incoming' ORDER BY id`
	if tr.s.isPostgres() {
		sql += " FOR NO KEY UPDATE"
	}
	var ids []int64
	if err := q.Raw(sql, e.CorrespondenceID).Scan(&ids).Error; err != nil {
		return err
	}
	var ins []*entryView
	for _, id := range ids {
		in, err := tr.s.loadEntry(ctx, q, id, false)
		if err != nil {
			return err
		}
		switch State(in.State) {
		case StateReceived:
			ins = append(ins, in)
		case StateReturned, StateRecalled:
		default:
			return &TransitionError{Object: "entry", ID: e.ID, Action: ActionRecall, State: State(e.State), Conflict: true,
				Reason: fmt.Sprintf("registry %s has registered it already", in.RegistryCode)}
		}
	}
	var rows []recipientRow
	if err := q.Where("correspondence_id = ?", e.CorrespondenceID).Find(&rows).Error; err != nil {
		return err
	}
	for _, in := range ins {
		r, _ := findSystemRule(Incoming, ActionRecall, State(in.State))
		tr.x.bumpEntry(in.ID, in.Version, map[string]any{"state": string(r.to)}, tr.now)
		tr.x.record(tr.p, event{corrID: in.CorrespondenceID, entryID: in.ID, action: string(ActionRecall),
			from: State(in.State), to: r.to})
	}
	for _, row := range rows {
		if r, ok := findRecipientRule(ActionRecall, State(row.State)); ok && row.RegistryID != nil {
			tr.x.exec(`UPDATE correspondence_recipients SET changed_at = ?, state = ? WHERE id = ?`, tr.now, string(r.to), row.ID)
		}
	}
	return nil
}

// returnIncoming sends a misrouted letter back: the sender sees the
// recipient returned, with the reason.
func (tr *transition) returnIncoming() error {
	tr.recipientFollows(ActionReturn, map[string]any{"reason": tr.set["reason"]})
	return nil
}

// errorsAsInput reports whether err is an *InputError.
func errorsAsInput(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}
