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
	tx   *gorm.DB
	p    *principal
	e    *entryView
	v    via
	r    rule
	t    Transition
	now  time.Time
	set  map[string]any // more columns of the entry to update
	info map[string]any // more audit details
	// numbered: the transition takes a register number (allocate).
	numbered bool
	// later are writes left for the transition's last statement (write).
	later []stmt
}

func (s *Service) act(ctx context.Context, a Actor, id int64, t Transition) (Entry, error) {
	t.Action = Action(strings.ToLower(strings.TrimSpace(string(t.Action))))
	if !slices.Contains(entryActions, t.Action) {
		return Entry{}, inputErr("action", fmt.Sprintf("%s is not an action on an entry", show(string(t.Action))))
	}
	if t.Version <= 0 {
		return Entry{}, inputErr("version", "the version of the entry is required")
	}
	var out Entry
	err := s.change(ctx, func(tx *gorm.DB) error {
		p, err := loadPrincipal(ctx, tx, a)
		if err != nil {
			return err
		}
		e, v, err := s.visibleEntry(ctx, tx, p, id, true)
		if err != nil {
			return err
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
		tr := &transition{s: s, tx: tx, p: p, e: e, v: v, r: r, t: t, now: s.clock(),
			set: map[string]any{}, info: map[string]any{}}
		if reason != "" {
			tr.set["reason"] = reason
			tr.info["reason"] = reason
		}
		if err := tr.apply(ctx); err != nil {
			return err
		}
		to := r.to
		if to != "" {
			tr.set["state"] = string(to)
		}
		ev := event{corrID: e.CorrespondenceID, entryID: e.ID, action: string(t.Action), from: State(e.State),
			to: to, comment: comment, details: tr.info}
		if ev.to == "" {
			ev.to = State(e.State)
		}
		if reason != "" && comment == "" {
			ev.comment = reason
		}
		// A register number is taken last: the counter row stays locked
		// until commit, so as little as possible happens after it. On
		// PostgreSQL the rest is one statement (combined.go).
		done := false
		if s.isPostgres() {
			if done, err = tr.finishPG(ctx, ev); err != nil {
				return err
			}
		}
		if !done {
			if err := tr.flushLater(ctx); err != nil {
				return err
			}
			if err := s.timelineRow(ctx, tx, p, ev); err != nil {
				return err
			}
			if tr.numbered {
				if err := tr.allocate(ctx); err != nil {
					return err
				}
			}
			if err := bumpEntry(ctx, tx, e.ID, e.Version, tr.set, tr.now); err != nil {
				return err
			}
			if err := s.auditEvent(ctx, tx, p, ev); err != nil {
				return err
			}
		}
		// The entry as it now stands.
		tr.applyInMemory(to, reason)
		out = e.entry(p.allowedActions(e, v))
		return nil
	})
	if err != nil {
		return Entry{}, wrapPublic(fmt.Sprintf("entry %d: %s", id, t.Action), err)
	}
	return out, nil
}

// applyInMemory updates the loaded entry to what bumpEntry wrote.
func (tr *transition) applyInMemory(to State, reason string) {
	e := tr.e
	if to != "" {
		e.State = string(to)
	}
	e.Version++
	e.UpdatedAt = tr.now
	if reason != "" {
		e.Reason = reason
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
		return tr.dispatch(ctx)
	case ActionRecall:
		return tr.recall(ctx)
	case ActionReturn:
		return tr.returnIncoming(ctx)
	case ActionRefer:
		f, err := tr.s.newReferral(ctx, tr.tx, tr.p, tr.e, nil, referralTarget{toUser: tr.t.ToUser,
			toDepartment: tr.t.ToDepartment, instruction: tr.t.Instruction, dueDate: tr.t.DueDate})
		if err != nil {
			return err
		}
		tr.info["referral"] = f.ID
	case ActionAnswer:
		if tr.t.Reply != 0 {
			ok, err := tr.s.seesCorrespondence(ctx, tr.tx, tr.p, tr.t.Reply)
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
	digest, replies, err := tr.s.freezeThen(ctx, tr.tx, e, tr.now, tr.write)
	if err != nil {
		return err
	}
	tr.info["document_sha256"] = digest
	tr.numbered = true
	if Direction(e.Direction) == Outgoing && replies {
		return tr.answerRepliedTo(ctx)
	}
	if Direction(e.Direction) == Incoming {
		return tr.recipientFollows(ctx, ActionRegister, nil)
	}
	return nil
}

// allocate takes the entry's register number in time_zone's current year.
func (tr *transition) allocate(ctx context.Context) error {
	e := tr.e
	year := tr.now.In(tr.s.loc).Year()
	dir := Direction(e.Direction)
	seq, err := allocate(ctx, tr.tx, e.RegistryID, dir, year)
	if err != nil {
		return err
	}
	number := formatNumber(e.Template, e.RegistryCode, dir, year, seq)
	tr.set["year"], tr.set["seq"], tr.set["number"], tr.set["registered_at"] = year, seq, number, tr.now
	tr.info["number"] = number
	return nil
}

// recipientFollows moves the sender's recipient row of this incoming entry
// by the recipient rule of the action (registration acknowledges, return
// returns); a row in no state the rule leaves stays as it is.
func (tr *transition) recipientFollows(ctx context.Context, action Action, set map[string]any) error {
	r := recipientRuleOf(action)
	changes := map[string]any{"state": string(r.to), "changed_at": tr.now}
	for k, v := range set {
		changes[k] = v
	}
	from := make([]string, len(r.from))
	for i, s := range r.from {
		from[i] = string(s)
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
	sql.WriteString(" WHERE entry_id = ? AND state IN ?")
	return tr.write(sql.String(), append(args, tr.e.ID, from)...)
}

// write runs a statement of the transition: at once, or on PostgreSQL with
// the transition's last statement (finishPG), one round trip fewer.
func (tr *transition) write(sql string, args ...any) error {
	if tr.s.isPostgres() {
		tr.later = append(tr.later, stmt{sql, args})
		return nil
	}
	return tr.tx.Exec(sql, args...).Error
}

// flushLater runs the statements write left for the last one.
func (tr *transition) flushLater(ctx context.Context) error {
	for _, c := range tr.later {
		if err := tr.tx.WithContext(ctx).Exec(c.sql, c.args...).Error; err != nil {
			return err
		}
	}
	tr.later = nil
	return nil
}

// stmt is a statement and its arguments.
type stmt struct {
	sql  string
	args []any
}

// answerRepliedTo moves the incoming entries this reply answers (at the
// replying registry) to answered.
func (tr *transition) answerRepliedTo(ctx context.Context) error {
	var targets []int64
	err := tr.tx.WithContext(ctx).Raw(`SELECT e.id FROM correspondence_references x
JOIN registry_entries e ON e.correspondence_id = x.referenced_id
WHERE x.correspondence_id = ? AND x.relation = 'reply_to' AND e.registry_id = ? AND e.direction = 'incoming'
ORDER BY e.id`, tr.e.CorrespondenceID, tr.e.RegistryID).Scan(&targets).Error
	if err != nil {
		return err
	}
	for _, id := range targets {
		in, err := tr.s.loadEntry(ctx, tr.tx, id, true)
		if err != nil {
			return err
		}
		r, ok := findSystemRule(Incoming, ActionAnswer, State(in.State))
		if !ok {
			continue // not open any more (closed, returned, already answered)
		}
		if err := bumpEntry(ctx, tr.tx, in.ID, in.Version, map[string]any{"state": string(r.to),
			"answered_by": tr.e.CorrespondenceID}, tr.now); err != nil {
			return err
		}
		if err := tr.s.record(ctx, tr.tx, tr.p, event{corrID: in.CorrespondenceID, entryID: in.ID, action: string(ActionAnswer),
			from: State(in.State), to: r.to, details: map[string]any{"reply": tr.e.CorrespondenceID}}); err != nil {
			return err
		}
	}
	return nil
}

// dispatch delivers to every recipient at once: a registry here gets an
// incoming entry in state received; an outside party is marked delivered
// (the letter goes on paper).
func (tr *transition) dispatch(ctx context.Context) error {
	e := tr.e
	var rows []struct {
		Row  recipientRow `gorm:"embedded"`
		Code *string
	}
	if err := tr.tx.WithContext(ctx).Raw(`SELECT x.*, r.code FROM correspondence_recipients x
LEFT JOIN registries r ON r.id = x.registry_id WHERE x.correspondence_id = ? ORDER BY x.position`, e.CorrespondenceID).Scan(&rows).Error; err != nil {
		return err
	}
	if len(rows) == 0 {
		return unprocessable("recipients", "the letter has no recipients; a draft's recipients are set before registration")
	}
	due := e.DueDate
	if due == "" {
		due = tr.s.defaultDueDate(Priority(e.Priority), tr.now)
	}
	var delivered []string
	for _, rr := range rows {
		row := rr.Row
		r, ok := findRecipientRule(ActionDispatch, State(row.State))
		if !ok {
			continue
		}
		changes := map[string]any{"state": string(r.to), "changed_at": tr.now}
		if row.RegistryID != nil {
			in := entryRow{CorrespondenceID: e.CorrespondenceID, RegistryID: *row.RegistryID, Direction: string(Incoming),
				State: string(StateReceived), Version: 1, DueDate: due, CreatedAt: tr.now, UpdatedAt: tr.now}
			if err := tr.tx.WithContext(ctx).Create(&in).Error; err != nil {
				return fmt.Errorf("deliver to registry %d: %w", *row.RegistryID, err)
			}
			changes["entry_id"] = in.ID
			code := deref(rr.Code)
			delivered = append(delivered, code)
			if err := tr.s.record(ctx, tr.tx, tr.p, event{corrID: e.CorrespondenceID, entryID: in.ID, action: "receive",
				to: StateReceived, details: map[string]any{"registry": code, "from_registry": e.RegistryCode}}); err != nil {
				return err
			}
		} else {
			delivered = append(delivered, row.Party)
		}
		if err := tr.tx.WithContext(ctx).Model(&recipientRow{}).Where("id = ?", row.ID).Updates(changes).Error; err != nil {
			return err
		}
	}
	tr.info["recipients"] = delivered
	return nil
}

// recall withdraws a dispatched letter while no recipient has registered
// it: their received entries become recalled.
func (tr *transition) recall(ctx context.Context) error {
	e := tr.e
	sql := `SELECT id FROM registry_entries WHERE correspondence_id = ? AND direction = 'incoming' ORDER BY id`
	if tr.s.isPostgres() {
		sql += " FOR NO KEY UPDATE"
	}
	var ids []int64
	if err := tr.tx.WithContext(ctx).Raw(sql, e.CorrespondenceID).Scan(&ids).Error; err != nil {
		return err
	}
	var ins []*entryView
	for _, id := range ids {
		in, err := tr.s.loadEntry(ctx, tr.tx, id, false)
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
	for _, in := range ins {
		r, _ := findSystemRule(Incoming, ActionRecall, State(in.State))
		if err := bumpEntry(ctx, tr.tx, in.ID, in.Version, map[string]any{"state": string(r.to)}, tr.now); err != nil {
			return err
		}
		if err := tr.s.record(ctx, tr.tx, tr.p, event{corrID: in.CorrespondenceID, entryID: in.ID, action: string(ActionRecall),
			from: State(in.State), to: r.to}); err != nil {
			return err
		}
	}
	var rows []recipientRow
	if err := tr.tx.WithContext(ctx).Where("correspondence_id = ?", e.CorrespondenceID).Find(&rows).Error; err != nil {
		return err
	}
	for _, row := range rows {
		if r, ok := findRecipientRule(ActionRecall, State(row.State)); ok && row.RegistryID != nil {
			if err := tr.tx.WithContext(ctx).Model(&recipientRow{}).Where("id = ?", row.ID).
				Updates(map[string]any{"state": string(r.to), "changed_at": tr.now}).Error; err != nil {
				return err
			}
		}
	}
	return nil
}

// returnIncoming sends a misrouted letter back: the sender sees the
// recipient returned, with the reason.
func (tr *transition) returnIncoming(ctx context.Context) error {
	return tr.recipientFollows(ctx, ActionReturn, map[string]any{"reason": tr.set["reason"]})
}

// errorsAsInput reports whether err is an *InputError.
func errorsAsInput(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}
