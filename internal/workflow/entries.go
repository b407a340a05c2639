package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
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

func (s *Service) entries(ctx context.Context, a Actor, f ListFilter) (Page[Entry], error) {
	out := Page[Entry]{Items: []Entry{}}
	switch f.Direction {
	case "", Outgoing, Incoming:
	default:
		return out, inputErr("direction", fmt.Sprintf("%s is not a direction; use incoming or outgoing", show(string(f.Direction))))
	}
	err := s.readStepwise(ctx, func(x *txn) error {
		p, err := x.loadPrincipal(a)
		if err != nil {
			return err
		}
		scope, args, ok := p.entryScope()
		if !ok {
			return nil
		}
		cond, more := entryFilter(strings.ToUpper(strings.TrimSpace(f.Registry)), f.Direction, f.State, strings.TrimSpace(f.Query))
		limit, offset := pageBounds(f.Limit, f.Offset)
		total, es, err := x.entryPage(scope+cond, append(args, more...), limit, offset)
		if err != nil {
			return err
		}
		out.Total = total
		for i := range es {
			v, err := access(x, p, &es[i])
			if err != nil {
				return err
			}
			out.Items = append(out.Items, es[i].entry(p.allowedActions(&es[i], v)))
		}
		return nil
	})
	return out, err
}

func (s *Service) entry(ctx context.Context, a Actor, id int64) (Entry, error) {
	var p *principal
	var e *entryView
	var v via
	err := s.readStepwise(ctx, func(x *txn) error {
		var err error
		if p, err = x.loadPrincipal(a); err != nil {
			return err
		}
		e, v, err = visibleEntry(x, p, id, false)
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

func (e *entryView) entry(actions []Action) Entry {
	out := Entry{ID: e.ID, CorrespondenceID: e.CorrespondenceID, Registry: e.RegistryCode, Direction: Direction(e.Direction),
		Number: deref(e.Number), Year: deref(e.Year), Seq: deref(e.Seq), State: State(e.State), Version: e.Version,
		DueDate: e.DueDate, Reason: e.Reason, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
		AnsweredBy: deref(e.AnsweredBy), SenderNumber: e.SenderNumber, ReplyRequestedBy: e.ReplyRequestedBy,
		Kind: Kind(e.Kind), Subject: e.Subject,
		Classification: Classification(e.Classification), Priority: Priority(e.Priority), Actions: actions}
	if e.RegisteredAt != nil {
		out.RegisteredAt = *e.RegisteredAt
	}
	if e.SenderRegisteredAt != nil {
		out.SenderRegisteredAt = *e.SenderRegisteredAt
	}
	if e.recalledIncoming() {
		out.Subject = "" // the envelope alone (onlyRecalled)
	}
	if out.Actions == nil {
		out.Actions = []Action{}
	}
	return out
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
	// numbered: the transition takes a register number (registerEntry).
	numbered bool
	// to and reason are the state reached and the reason given.
	to      State
	reason  string
	comment string
}

// prefetched is what an action reads with its entry, in the same round
// trip; each is there once the entry is.
type prefetched struct {
	document    func() []docPart              // register: documentQuery's rows
	deliveries  func() []delivery             // dispatch: the recipients
	departments func() []departmentRow        // refer to a department: those with the code
	referralID  *int64                        // refer: the new referral's id
	registries  func() map[string]registryRow // forward: the registry named
	entryID     *int64                        // forward: the new incoming entry's id

	// close, answer: the referrals not yet done
	referrals func() []pendingReferral
	// refer to a person: the directory's answer, asked before the
	// transaction (findAddressee)
	addressee addressee
}

// act makes a transition of an entry: one round trip reads the actor, the
// entry and what the action needs (readTransition), the checks follow in
// Go, and the writes go with the commit (write).
func (s *Service) act(ctx context.Context, a Actor, id int64, t Transition) (Entry, error) {
	t.Action = Action(strings.ToLower(strings.TrimSpace(string(t.Action))))
	if !slices.Contains(entryActions, t.Action) {
		return Entry{}, inputErr("action", fmt.Sprintf("%s is not an action on an entry", show(string(t.Action))))
	}
	if t.Version <= 0 {
		return Entry{}, inputErr("version", "the version of the entry is required")
	}
	// Registration freezes the document it reads (attachment changes take
	// the entry's lock too) and takes a number; a recall withdraws the
	// incoming entries it reads; a close or an answer ends the referrals
	// it reads (every change of a referral takes its entry's lock first);
	// a forward adds a recipient after those it reads: these hold the
	// entry's lock from their reads to their writes. The other actions
	// read without it: their writes check the entry's version, which every
	// change of the entry moves on.
	lock := t.Action == ActionRegister || t.Action == ActionRecall || t.Action == ActionClose ||
		t.Action == ActionAnswer || t.Action == ActionForward
	var to addressee
	if t.Action == ActionRefer {
		to = s.findAddressee(ctx, t.ToUser)
	}
	var tr *transition
	err := s.changeBatched(ctx, func(x *txn) error {
		var err error
		if tr, err = s.readTransition(x, a, id, t, lock); err != nil {
			return err
		}
		tr.pre.addressee = to
		return tr.write(ctx)
	})
	var stale *StaleError
	if errors.As(err, &stale) && stale.Object == "entry" && stale.ID == id && !lock {
		// Changed since it was read: say to which version.
		if v, ok := s.entryVersion(ctx, id); ok {
			stale.Current = v
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

// readTransition reads, in one round trip, the actor, the entry and what
// the action t needs, and checks that the actor may make it now.
func (s *Service) readTransition(x *txn, a Actor, id int64, t Transition, lock bool) (*transition, error) {
	now := s.clock()
	principal := x.principal(a)
	entry := x.loadEntryForAct(id, lock)
	pre := prefetch(x, id, t)
	if err := x.run(); err != nil {
		return nil, err
	}
	p, err := principal()
	if err != nil {
		return nil, err
	}
	if !p.seesContent() {
		return nil, fmt.Errorf("entry %d: %w", id, ErrNotFound)
	}
	e, err := entry()
	if err != nil {
		return nil, err
	}
	v, err := access(x, p, e)
	if err != nil {
		return nil, err
	}
	if v == 0 {
		return nil, fmt.Errorf("entry %d: %w", id, ErrNotFound)
	}
	r, err := checkEntryRule(p, e, v, t)
	if err != nil {
		return nil, err
	}
	reason, err := cleanLine("reason", "the reason", t.Reason, maxReasonChars, r.reason)
	if err != nil {
		return nil, err
	}
	comment, err := cleanText("comment", "the comment", t.Comment, maxReasonChars*4)
	if err != nil {
		return nil, err
	}
	tr := &transition{s: s, x: x, p: p, e: e, v: v, r: r, t: t, now: now, pre: pre,
		set: map[string]any{}, info: map[string]any{}, to: r.to, reason: reason, comment: comment}
	if reason != "" {
		tr.set["reason"] = reason
		tr.info["reason"] = reason
	}
	return tr, nil
}

// checkEntryRule finds the rule of the transition table by which p, seeing
// e by v, makes t now, or says why there is none.
func checkEntryRule(p *principal, e *entryView, v via, t Transition) (rule, error) {
	if e.Version != t.Version {
		return rule{}, &StaleError{Object: "entry", ID: e.ID, Given: t.Version, Current: e.Version}
	}
	r, known, ok := findEntryRule(Direction(e.Direction), t.Action, State(e.State))
	if !known {
		return rule{}, inputErr("action", fmt.Sprintf("%s is not an action on an %s entry", t.Action, e.Direction))
	}
	if !ok {
		return rule{}, &TransitionError{Object: "entry", ID: e.ID, Action: t.Action, State: State(e.State)}
	}
	if !p.may(r.who, v) {
		if r.who == whoApprover && v&viaAuthor != 0 {
			return rule{}, fmt.Errorf("entry %d: %s: you drafted this letter, and nobody approves what they drafted; "+
				"a head of your department or above it does: %w", e.ID, t.Action, ErrForbidden)
		}
		return rule{}, fmt.Errorf("entry %d: %s: %w", e.ID, t.Action, ErrForbidden)
	}
	switch {
	case r.guard == guardApprovalReq && !e.ApprovalRequired:
		return rule{}, &TransitionError{Object: "entry", ID: e.ID, Action: t.Action, State: State(e.State), Conflict: true,
			Reason: fmt.Sprintf("registry %s does not require approval; register the draft", e.RegistryCode)}
	case r.guard == guardNoApprovalReq && e.ApprovalRequired:
		return rule{}, &TransitionError{Object: "entry", ID: e.ID, Action: t.Action, State: State(e.State), Conflict: true,
			Reason: fmt.Sprintf("registry %s requires a head's approval before registration; submit the draft", e.RegistryCode)}
	}
	return r, nil
}

// write does what the action does and queues its writes: the entry's
// update, at the version read, last.
func (tr *transition) write(ctx context.Context) error {
	e := tr.e
	if err := tr.apply(ctx); err != nil {
		return err
	}
	if tr.to != "" {
		tr.set["state"] = string(tr.to)
	}
	ev := event{corrID: e.CorrespondenceID, entryID: e.ID, action: string(tr.t.Action), from: State(e.State),
		to: tr.to, comment: tr.comment, details: tr.info}
	if ev.to == "" {
		ev.to = State(e.State)
	}
	if tr.reason != "" && tr.comment == "" {
		ev.comment = tr.reason
	}
	if tr.numbered {
		// A register number is taken last: the counter row stays locked
		// until commit, so as little as possible happens after it.
		nf := numberFormatOf(e.Template, e.RegistryCode, Direction(e.Direction), tr.now.In(tr.s.loc).Year())
		return tr.x.registerEntry(e, tr.set, tr.now, nf, tr.p, ev, func(seq int64, number string) {
			tr.set["year"], tr.set["seq"], tr.set["number"], tr.set["registered_at"] = nf.year, seq, number, tr.now
			tr.info["number"] = number
		})
	}
	tr.x.insertEvents(tr.p, ev)
	tr.x.updateEntry(e.ID, e.Version, tr.set, tr.now)
	return nil
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
	case ActionForward:
		pre.deliveries = x.deliveries(id)
		if c, err := canonicalCode("registry", "the registry", t.Registry); err == nil {
			pre.registries = x.registries([]string{c})
		}
		pre.entryID = x.newID("registry_entries")
	case ActionRefer:
		if strings.TrimSpace(t.ToUser) == "" && strings.TrimSpace(t.ToDepartment) != "" {
			if c, err := canonicalCode("to_department", "the department", t.ToDepartment); err == nil {
				pre.departments = x.entryDepartments(id, c)
			}
		}
		pre.referralID = x.newID("referrals")
	case ActionClose, ActionAnswer:
		pre.referrals = x.pendingReferrals(id, systemReferralRuleOf(ActionClose).from)
	}
	return pre
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
	if tr.t.Action == ActionForward {
		e.Recipients++
	}
}

// apply does what the action does besides the change of state.
func (tr *transition) apply(ctx context.Context) error {
	switch tr.t.Action {
	case ActionSubmit:
		if tr.e.ApprovalDepartment == nil {
			return unprocessable("department", "the draft names no department, so no head can approve it; set its department first")
		}
	case ActionRegister:
		return tr.register()
	case ActionDispatch:
		return tr.dispatch()
	case ActionForward:
		return tr.forward()
	case ActionRecall:
		return tr.recall()
	case ActionReturn:
		tr.recipientFollows(ActionReturn, map[string]any{"reason": tr.set["reason"]})
	case ActionRefer:
		id, err := tr.s.newReferral(tr.x, tr.p, tr.e, nil, referralTarget{toUser: tr.t.ToUser,
			toDepartment: tr.t.ToDepartment, instruction: tr.t.Instruction, dueDate: tr.t.DueDate, addressee: tr.pre.addressee},
			referralPrefetch{departments: tr.pre.departments, id: tr.pre.referralID})
		if err != nil {
			return err
		}
		tr.info["referral"] = id
	case ActionAnswer:
		if err := tr.answer(); err != nil {
			return err
		}
		return tr.endReferrals("closed with the entry, answered")
	case ActionClose:
		return tr.endReferrals("closed with the entry")
	case ActionCancel:
		return tr.unanswer()
	}
	return nil
}

// endReferrals ends the referrals of an incoming entry not yet done, as
// its close or answer does (systemReferralRules), each with a timeline
// line saying so. Who is not a clerk of its registry closes it only when
// every one of them is theirs: addressed to them, to a department they
// head or below it, or to a member of one; otherwise the close is refused
// naming the others.
func (tr *transition) endReferrals(comment string) error {
	if Direction(tr.e.Direction) != Incoming || tr.pre.referrals == nil {
		return nil
	}
	pending := tr.pre.referrals()
	if len(pending) == 0 {
		return nil
	}
	if tr.v&viaClerk == 0 {
		if others := tr.p.notHeld(pending); len(others) > 0 {
			return &TransitionError{Object: "entry", ID: tr.e.ID, Action: tr.t.Action, State: State(tr.e.State), Conflict: true,
				Reason: "referrals of other departments are still open (" + strings.Join(others, ", ") +
					"); the registry's clerk or a head above them closes the entry"}
		}
	}
	tr.info["referrals_closed"] = endPending(tr.x, tr.p, tr.e, pending, comment, tr.now)
	return nil
}

// notHeld names the referrals among pending that p does not hold as
// theirs (addressed to them, or to a department they cover or a member of
// one): "referral 12 to IT".
func (p *principal) notHeld(pending []pendingReferral) []string {
	var out []string
	for i := range pending {
		h := &pending[i].referralHold
		_, head := p.holds(h)
		if head || (h.ToUserID != nil && *h.ToUserID == p.id) {
			continue
		}
		name := fmt.Sprintf("referral %d", h.ID)
		if d := pending[i].Department; d != "" {
			name += " to " + d
		}
		out = append(out, name)
	}
	return out
}

// endPending queues the closing of the referrals pending of entry e by
// the system rule, with a timeline line each, and returns their ids.
func endPending(x *txn, p *principal, e *entryView, pending []pendingReferral, comment string, now time.Time) []int64 {
	r := systemReferralRuleOf(ActionClose)
	ids := make([]int64, 0, len(pending))
	for i := range pending {
		f := &pending[i]
		ids = append(ids, f.ID)
		x.insertEvents(p, event{corrID: e.CorrespondenceID, entryID: e.ID, referralID: f.ID, action: string(ActionClose),
			from: State(f.State), to: r.to, comment: comment})
	}
	x.endReferrals(ids, r.from, r.to, now)
	return ids
}

// answer notes the reply that answers the entry, if one is given.
func (tr *transition) answer() error {
	if tr.t.Reply == 0 {
		return nil
	}
	ok, err := seesCorrespondence(tr.x, tr.p, tr.t.Reply)
	if err != nil {
		return err
	}
	if !ok {
		return unprocessable("reply", fmt.Sprintf("there is no correspondence %d that you can see", tr.t.Reply))
	}
	if err := tr.checkReply(); err != nil {
		return err
	}
	tr.set["answered_by"] = tr.t.Reply
	tr.info["reply"] = tr.t.Reply
	return nil
}

// checkReply refuses a reply that cannot answer the entry: the letter
// itself, a letter that does not reference it, a cancelled letter.
func (tr *transition) checkReply() error {
	id, corr := tr.t.Reply, tr.e.CorrespondenceID
	if id == corr {
		return unprocessable("reply", fmt.Sprintf("correspondence %d is this letter; a letter is not answered by itself", id))
	}
	refs, cancelled, err := tr.x.replyFacts(id, corr)
	if err != nil {
		return err
	}
	switch {
	case !refs:
		return unprocessable("reply", fmt.Sprintf("correspondence %d does not reference correspondence %d; a reply references the letter it answers", id, corr))
	case cancelled:
		return unprocessable("reply", fmt.Sprintf("correspondence %d is cancelled; a cancelled letter answers nothing", id))
	}
	return nil
}

// unanswer, as an outgoing letter is cancelled, puts every entry it
// answered back in the state it was in before the answer, and clears
// answered_by wherever it names the letter.
func (tr *transition) unanswer() error {
	rows, err := tr.x.answeredBy(tr.e.CorrespondenceID)
	if err != nil {
		return err
	}
	for _, in := range rows {
		set := map[string]any{"answered_by": nil}
		if _, ok := findSystemRule(Incoming, ActionCancel, State(in.State)); ok {
			back := State(in.Before)
			if back == "" || back == StateAnswered {
				back = StateRegistered
			}
			set["state"] = string(back)
			tr.x.insertEvents(tr.p, event{corrID: in.CorrespondenceID, entryID: in.ID, action: "unanswer",
				from: StateAnswered, to: back, details: map[string]any{"reply": tr.e.CorrespondenceID}})
		}
		tr.x.updateEntry(in.ID, in.Version, set, tr.now)
	}
	return nil
}

// register freezes the document, answers the letters an outgoing one
// replies to, and acknowledges an incoming one to its sender; write then
// gives it its number (registerEntry).
func (tr *transition) register() error {
	e := tr.e
	digest, replies, err := freeze(tr.x, e, tr.pre.document(), tr.now)
	if err != nil {
		return err
	}
	tr.info["document_sha256"] = digest
	tr.numbered = true
	if Direction(e.Direction) == Outgoing && replies {
		return tr.answerRepliedTo()
	}
	if Direction(e.Direction) == Incoming {
		tr.recipientFollows(ActionRegister, nil)
	}
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
	tr.x.moveEntryRecipient(tr.e.ID, r.from, changes)
}

// answerRepliedTo moves the incoming entries this reply answers (at any
// registry of the replying ministry) to answered.
func (tr *transition) answerRepliedTo() error {
	targets, err := tr.x.repliedTo(tr.e.CorrespondenceID, tr.e.RegistryID)
	if err != nil {
		return err
	}
	for _, id := range targets {
		in, err := tr.x.loadEntry(id, true)
		if err != nil {
			return err
		}
		r, ok := findSystemRule(Incoming, ActionAnswer, State(in.State))
		if !ok {
			continue // not open any more (closed, returned, already answered)
		}
		pending := tr.x.pendingReferrals(in.ID, systemReferralRuleOf(ActionClose).from)
		if err := tr.x.run(); err != nil {
			return err
		}
		tr.x.updateEntry(in.ID, in.Version, map[string]any{"state": string(r.to), "answered_by": tr.e.CorrespondenceID}, tr.now)
		tr.x.insertEvents(tr.p, event{corrID: in.CorrespondenceID, entryID: in.ID, action: string(ActionAnswer),
			from: State(in.State), to: r.to, details: map[string]any{"reply": tr.e.CorrespondenceID}})
		endPending(tr.x, tr.p, in, pending(), "closed with the entry, answered by a registered reply", tr.now)
	}
	return nil
}

// dispatch delivers to every recipient at once: a registry here gets an
// incoming entry in state received; an outside party is marked delivered
// (the letter goes on paper).
func (tr *transition) dispatch() error {
	rows := tr.pre.deliveries()
	if len(rows) == 0 {
		return unprocessable("recipients", "the letter has no recipients; forward it to a registry")
	}
	return tr.deliver(rows)
}

// deliver delivers to the pending recipients among rows, none of them
// when a registry among them has no clerk cleared for the letter
// (clearedRecipients).
func (tr *transition) deliver(rows []delivery) error {
	e := tr.e
	if err := clearedRecipients(rows, Classification(e.Classification)); err != nil {
		return err
	}
	// The recipient's deadline is counted from receipt by its rules; the
	// sender's due date is kept beside it as the reply requested by.
	due := tr.s.defaultDueDate(Priority(e.Priority), tr.now)
	var delivered []string
	for _, row := range rows {
		r, ok := findRecipientRule(ActionDispatch, State(row.state))
		if !ok {
			continue
		}
		if row.registryID == nil {
			delivered = append(delivered, row.party)
			tr.x.moveRecipient(row.id, r.to, 0, tr.now)
			continue
		}
		in := entryRow{ID: *row.entryID, CorrespondenceID: e.CorrespondenceID, RegistryID: *row.registryID,
			Direction: string(Incoming), State: string(StateReceived), Version: 1, DueDate: due, CreatedAt: tr.now, UpdatedAt: tr.now,
			SenderNumber: deref(e.Number), SenderRegisteredAt: e.RegisteredAt, ReplyRequestedBy: e.DueDate}
		tr.x.insertEntry(in)
		code := deref(row.code)
		delivered = append(delivered, code)
		tr.x.insertEvents(tr.p, event{corrID: e.CorrespondenceID, entryID: in.ID, action: "receive",
			to: StateReceived, asRegistry: e.RegistryCode, details: map[string]any{"registry": code, "from_registry": e.RegistryCode}})
		if row.id != 0 { // 0: a forward's, inserted delivered
			tr.x.moveRecipient(row.id, r.to, in.ID, tr.now)
		}
	}
	tr.info["recipients"] = delivered
	return nil
}

// clearedRecipients refuses a dispatch to a registry here none of whose
// clerks is cleared for the letter's classification: nobody there could
// see, register or return it, and it would vanish.
func clearedRecipients(rows []delivery, c Classification) error {
	for _, row := range rows {
		if row.registryID == nil || row.cleared >= level(c) {
			continue
		}
		if _, ok := findRecipientRule(ActionDispatch, State(row.state)); !ok {
			continue
		}
		return unprocessable("recipients", fmt.Sprintf("registry %s has no clerk cleared for %s letters; "+
			"ask its ministry to clear a clerk, or send it another way", deref(row.code), c))
	}
	return nil
}

// recall withdraws a dispatched letter while no recipient has registered
// it: their received entries become recalled. With a registry, it
// withdraws it from that one alone (recallOne).
func (tr *transition) recall() error {
	e := tr.e
	all, rows, err := tr.x.incomingEntriesLocked(e.CorrespondenceID)
	if err != nil {
		return err
	}
	if strings.TrimSpace(tr.t.Registry) != "" {
		return tr.recallOne(all, rows)
	}
	var ins []*entryView
	for _, in := range all {
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
		tr.x.updateEntry(in.ID, in.Version, map[string]any{"state": string(r.to)}, tr.now)
		tr.x.insertEvents(tr.p, event{corrID: in.CorrespondenceID, entryID: in.ID, action: string(ActionRecall),
			from: State(in.State), to: r.to, asRegistry: e.RegistryCode})
	}
	for _, row := range rows {
		if r, ok := findRecipientRule(ActionRecall, State(row.State)); ok && row.RegistryID != nil {
			tr.x.moveRecipient(row.ID, r.to, 0, tr.now)
		}
	}
	return nil
}

// errorsAsInput reports whether err is an *InputError.
func errorsAsInput(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}
