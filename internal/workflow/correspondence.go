package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

func normKind(k Kind) (Kind, error) {
	switch Kind(strings.ToLower(strings.TrimSpace(string(k)))) {
	case "", KindLetter:
		return KindLetter, nil
	case KindMemo:
		return KindMemo, nil
	case KindCircular:
		return KindCircular, nil
	}
	return "", inputErr("kind", fmt.Sprintf("%s is not a kind; use letter, memo or circular", show(string(k))))
}

func normClassification(c Classification) (Classification, error) {
	if strings.TrimSpace(string(c)) == "" {
		return Normal, nil
	}
	out, err := parseClearance(c)
	if err != nil {
		return "", inputErr("classification", fmt.Sprintf("%s is not a classification; use normal, confidential or secret", show(string(c))))
	}
	return out, nil
}

func normPriority(p Priority) (Priority, error) {
	switch Priority(strings.ToLower(strings.TrimSpace(string(p)))) {
	case "", PriorityNormal:
		return PriorityNormal, nil
	case PriorityUrgent:
		return PriorityUrgent, nil
	case PriorityImmediate:
		return PriorityImmediate, nil
	}
	return "", inputErr("priority", fmt.Sprintf("%s is not a priority; use normal, urgent or immediate", show(string(p))))
}

// document is the editable part of a correspondence, checked.
type document struct {
	kind    Kind
	subject string
	body    string
	class   Classification
	prio    Priority
	due     string
	// dueGiven: due was given by the writer (checkDueDate); otherwise it
	// is the priority's default and moves with the priority.
	dueGiven bool
}

func (s *Service) checkDocument(k Kind, subject, body string, c Classification, p Priority, due string) (document, error) {
	var d document
	var err error
	if d.kind, err = normKind(k); err != nil {
		return d, err
	}
	if d.subject, err = cleanLine("subject", "the subject", subject, maxSubjectChars, true); err != nil {
		return d, err
	}
	if d.body, err = cleanText("body", "the body", body, s.cfg.MaxLetterBytes); err != nil {
		return d, err
	}
	if d.class, err = normClassification(c); err != nil {
		return d, err
	}
	if d.prio, err = normPriority(p); err != nil {
		return d, err
	}
	if d.due, err = parseDate("due_date", due); err != nil {
		return d, err
	}
	return d, nil
}

// recipient is a checked recipient.
type recipient struct {
	registryID *int64
	code       string
	party      string
	role       RecipientRole
}

// resolveRecipients checks recipients: each a registry here (not the
// sender's own) or an outside party, none twice.
func resolveRecipients(x *txn, senderRegistryID int64, in []RecipientInput) ([]recipient, error) {
	out, codes, err := parseRecipients(in)
	if err != nil {
		return nil, err
	}
	byCode, err := x.findRegistries(codes)
	if err != nil {
		return nil, fmt.Errorf("find recipient registries: %w", err)
	}
	return out, placeRecipients(out, byCode, senderRegistryID)
}

// parseRecipients checks what recipients can be checked without the
// database, and lists the registry codes they name.
func parseRecipients(in []RecipientInput) ([]recipient, []string, error) {
	if len(in) > maxRecipients {
		return nil, nil, inputErr("recipients", fmt.Sprintf("a letter may have at most %d recipients", maxRecipients))
	}
	out := make([]recipient, 0, len(in))
	var codes []string
	for i, r := range in {
		field := fmt.Sprintf("recipients[%d]", i)
		role := RecipientRole(strings.ToLower(strings.TrimSpace(string(r.Role))))
		switch role {
		case "":
			role = RoleTo
		case RoleTo, RoleCC:
		default:
			return nil, nil, inputErr(field+".role", fmt.Sprintf("%s is not a recipient role; use to or cc", show(string(r.Role))))
		}
		hasReg, hasParty := strings.TrimSpace(r.Registry) != "", strings.TrimSpace(r.Party) != ""
		switch {
		case hasReg == hasParty:
			return nil, nil, inputErr(field, "a recipient is either a registry or an outside party")
		case hasReg:
			code, err := canonicalCode(field+".registry", "the registry", r.Registry)
			if err != nil {
				return nil, nil, err
			}
			codes = append(codes, code)
			out = append(out, recipient{code: code, role: role})
		default:
			party, err := cleanLine(field+".party", "the outside party", r.Party, maxPartyChars, true)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, recipient{party: party, role: role})
		}
	}
	return out, codes, nil
}

// placeRecipients gives parsed recipients their registries (byCode holds
// those found), refusing unknown codes, the sender's own registry and a
// recipient named twice.
func placeRecipients(out []recipient, byCode map[string]registryRow, senderRegistryID int64) error {
	for i := range out {
		if out[i].code == "" {
			continue
		}
		reg, ok := byCode[out[i].code]
		if !ok {
			return unprocessable(fmt.Sprintf("recipients[%d].registry", i), fmt.Sprintf("no registry has the code %s", out[i].code))
		}
		if reg.ID == senderRegistryID {
			return unprocessable(fmt.Sprintf("recipients[%d].registry", i), fmt.Sprintf("%s is the sending registry; a letter is not sent to itself", out[i].code))
		}
		out[i].registryID = ptr(reg.ID)
	}
	seen := map[string]bool{}
	for i, r := range out {
		key := "r:" + r.code
		if r.code == "" {
			key = "p:" + strings.ToLower(r.party)
		}
		if seen[key] {
			return unprocessable(fmt.Sprintf("recipients[%d]", i), "the same recipient is named twice")
		}
		seen[key] = true
	}
	return nil
}

// checkReferences checks references: each to a correspondence p can see.
func checkReferences(x *txn, p *principal, self int64, in []Reference) ([]Reference, error) {
	if len(in) > maxReferences {
		return nil, inputErr("references", fmt.Sprintf("a letter may have at most %d references", maxReferences))
	}
	out := make([]Reference, 0, len(in))
	seen := map[int64]bool{}
	for i, r := range in {
		field := fmt.Sprintf("references[%d]", i)
		rel := Relation(strings.ToLower(strings.TrimSpace(string(r.Relation))))
		switch rel {
		case "":
			rel = RelationRelated
		case RelationReplyTo, RelationRelated:
		default:
			return nil, inputErr(field+".relation", fmt.Sprintf("%s is not a relation; use reply_to or related", show(string(r.Relation))))
		}
		if r.ID <= 0 || r.ID == self {
			return nil, inputErr(field+".id", "a reference names another correspondence by its id")
		}
		if seen[r.ID] {
			return nil, unprocessable(field+".id", fmt.Sprintf("correspondence %d is referenced twice", r.ID))
		}
		seen[r.ID] = true
		ok, err := seesCorrespondence(x, p, r.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, unprocessable(field+".id", fmt.Sprintf("there is no correspondence %d that you can see", r.ID))
		}
		out = append(out, Reference{ID: r.ID, Relation: rel})
	}
	return out, nil
}

// senderRegistry finds the registry a user drafts for, among regs (by
// code): of their ministry; they clerk for it, or hold the head or staff
// role there.
func senderRegistry(p *principal, code string, regs map[string]registryRow) (registryRow, error) {
	if strings.TrimSpace(code) == "" {
		return registryRow{}, inputErr("sender_registry", "the sending registry is required")
	}
	c, err := canonicalCode("registry", "the registry", code)
	var reg registryRow
	if err == nil {
		found, ok := regs[c]
		reg, err = pickMinistryRegistry(found, ok, p.ministryID, c)
	}
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			return reg, unprocessable("sender_registry", strings.Replace(ie.Message, "the registry", "registry", 1)+"; you can send only from your ministry's registries")
		}
		return reg, err
	}
	if !p.isClerkOf(reg.ID) && !p.head && !p.staff {
		return reg, fmt.Errorf("drafting for registry %s: %w", reg.Code, ErrForbidden)
	}
	return reg, nil
}

// draftDepartment is the department a draft names: code, found with find,
// or the author's own when code is empty.
func draftDepartment(p *principal, code string, find func(field, code string) (departmentRow, error)) (*int64, error) {
	if strings.TrimSpace(code) == "" {
		if p.department != 0 {
			return ptr(p.department), nil
		}
		return nil, nil
	}
	d, err := find("department", code)
	if err != nil {
		return nil, err
	}
	return ptr(d.ID), nil
}

func (s *Service) checkClearance(p *principal, c Classification) error {
	if level(c) > p.clearance {
		return unprocessable("classification", fmt.Sprintf("your clearance does not allow writing a %s document", c))
	}
	return nil
}

// draftInput is what createDraft reads in its first round trip besides
// the actor: the registries named (the sender's and the recipients') and
// the department, with what checking the input found wrong before.
type draftInput struct {
	rcpts   []recipient
	rcptErr error
	codes   []string
	depCode string
	depErr  error
}

func parseDraft(n NewCorrespondence) draftInput {
	var in draftInput
	in.rcpts, in.codes, in.rcptErr = parseRecipients(n.Recipients)
	if c, err := canonicalCode("registry", "the registry", n.SenderRegistry); err == nil {
		in.codes = append(in.codes, c)
	}
	if strings.TrimSpace(n.Department) != "" {
		in.depCode, in.depErr = canonicalCode("department", "the department", n.Department)
	}
	return in
}

func (s *Service) createDraft(ctx context.Context, a Actor, n NewCorrespondence) (Entry, error) {
	d, err := s.checkDocument(n.Kind, n.Subject, n.Body, n.Classification, n.Priority, n.DueDate)
	if err != nil {
		return Entry{}, err
	}
	if err := s.checkDueDate("due_date", d.due); err != nil {
		return Entry{}, err
	}
	d.dueGiven = d.due != ""
	// What the checks need is read at once; they still fail in their order.
	in := parseDraft(n)
	var out Entry
	err = s.changeBatched(ctx, func(x *txn) error {
		principal := x.principal(a)
		regs := x.registries(in.codes)
		deps := func() []departmentRow { return nil }
		// In the ministry of the caller's directory facts; facts of another
		// version fail the principal, and what was read is not used.
		if f, ok := factsOf(x.ctx, a); ok && in.depCode != "" && a.UserID != 0 {
			deps = x.departments(f.MinistryID, in.depCode)
		}
		corrID, entryID := x.newID("correspondence"), x.newID("registry_entries")
		if err := x.run(); err != nil {
			return err
		}
		p, err := principal()
		if err != nil {
			return err
		}
		c, reg, refs, err := s.checkDraft(x, p, n, d, in, regs(), deps)
		if err != nil {
			return err
		}
		c.ID = *corrID
		out = s.writeDraft(x, p, c, reg, in.rcpts, refs, *entryID)
		return nil
	})
	if err != nil {
		return Entry{}, wrapPublic("create draft", err)
	}
	return out, nil
}

// checkDraft checks a new draft by p against what was read (regs, deps)
// and returns its correspondence row (without its id), its registry and
// its references.
func (s *Service) checkDraft(x *txn, p *principal, n NewCorrespondence, d document, in draftInput,
	regs map[string]registryRow, deps func() []departmentRow) (correspondenceRow, registryRow, []Reference, error) {
	var c correspondenceRow
	if !p.seesContent() {
		return c, registryRow{}, nil, fmt.Errorf("drafting correspondence: %w", ErrForbidden)
	}
	if err := s.checkClearance(p, d.class); err != nil {
		return c, registryRow{}, nil, err
	}
	reg, err := senderRegistry(p, n.SenderRegistry, regs)
	if err != nil {
		return c, reg, nil, err
	}
	dep, err := draftDepartment(p, n.Department, func(field, _ string) (departmentRow, error) {
		if in.depErr != nil {
			return departmentRow{}, in.depErr
		}
		return pickDepartment(deps(), field, p.ministryID, in.depCode)
	})
	if err != nil {
		return c, reg, nil, err
	}
	if in.rcptErr != nil {
		return c, reg, nil, in.rcptErr
	}
	if err := placeRecipients(in.rcpts, regs, reg.ID); err != nil {
		return c, reg, nil, err
	}
	var refs []Reference
	if len(n.References) > 0 {
		if refs, err = checkReferences(x, p, 0, n.References); err != nil {
			return c, reg, nil, err
		}
	}
	now := s.clock()
	if d.due == "" {
		d.due = s.defaultDueDate(d.prio, now)
	}
	c = correspondenceRow{Kind: string(d.kind), Subject: d.subject, Body: d.body, Classification: string(d.class),
		Priority: string(d.prio), SenderRegistryID: ptr(reg.ID), DepartmentID: dep, DueDate: d.due, DueDateGiven: d.dueGiven,
		CreatedBy: ptr(p.id), CreatedAt: now, UpdatedAt: now}
	return c, reg, refs, nil
}

// writeDraft queues the writing of a checked draft with its outgoing
// entry (entryID) and returns the entry.
func (s *Service) writeDraft(x *txn, p *principal, c correspondenceRow, reg registryRow, rcpts []recipient,
	refs []Reference, entryID int64) Entry {
	now := c.CreatedAt
	x.insertCorrespondence(c)
	x.insertRecipients(c.ID, rcpts, StatePending)
	x.insertReferences(c.ID, refs)
	e := entryRow{ID: entryID, CorrespondenceID: c.ID, RegistryID: reg.ID, Direction: string(Outgoing), State: string(StateDraft),
		Version: 1, DueDate: c.DueDate, CreatedAt: now, UpdatedAt: now}
	x.insertEntry(e)
	x.insertEvents(p, event{corrID: c.ID, entryID: e.ID, action: "create", to: StateDraft,
		details: map[string]any{"registry": reg.Code, "classification": c.Classification, "subject": c.Subject}})
	view := entryView{ID: e.ID, CorrespondenceID: c.ID, RegistryID: reg.ID, RegistryCode: reg.Code,
		MinistryID: reg.MinistryID, ApprovalRequired: reg.ApprovalRequired, Template: reg.Template,
		Direction: e.Direction, State: e.State, Version: e.Version, DueDate: e.DueDate, CreatedAt: now, UpdatedAt: now,
		Kind: c.Kind, Subject: c.Subject, Classification: c.Classification, Priority: c.Priority,
		DepartmentID: c.DepartmentID, CreatedBy: c.CreatedBy, SenderRegistryID: c.SenderRegistryID,
		ApprovalDepartment: c.DepartmentID}
	if p.department != 0 {
		view.ApprovalDepartment = ptr(p.department)
	}
	v, _ := p.directAccess(&view) // an outgoing entry: its referrals add nothing
	return view.entry(p.allowedActions(&view, v))
}

// wrapPublic keeps the engine's own errors as they are and wraps others.
func wrapPublic(what string, err error) error {
	if isPublic(err) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// entryOf reads an entry as p sees it, or ErrNotFound.
func entryOf(x *txn, p *principal, id int64) (Entry, error) {
	e, v, err := visibleEntry(x, p, id, false)
	if err != nil {
		return Entry{}, err
	}
	return e.entry(p.allowedActions(e, v)), nil
}

// outgoingEntryOf finds the outgoing entry of a correspondence (locked for
// a change), as p may see it.
func outgoingEntryOf(x *txn, p *principal, corrID int64, lock bool) (*entryView, via, error) {
	id, err := x.outgoingEntryID(corrID)
	if err != nil {
		return nil, 0, err
	}
	if id == 0 {
		return nil, 0, notFound("correspondence", corrID)
	}
	e, v, err := visibleEntry(x, p, id, lock)
	if errors.Is(err, ErrNotFound) {
		return nil, 0, notFound("correspondence", corrID)
	}
	return e, v, err
}

func (s *Service) updateDraft(ctx context.Context, a Actor, corrID, version int64, u DraftUpdate) (Entry, error) {
	if version <= 0 {
		return Entry{}, inputErr("version", "the version of the entry is required")
	}
	var out Entry
	err := s.changeStepwise(ctx, func(x *txn) error {
		p, err := x.loadPrincipal(a)
		if err != nil {
			return err
		}
		e, v, err := outgoingEntryOf(x, p, corrID, true)
		if err != nil {
			return err
		}
		if e.Version != version {
			return &StaleError{Object: "entry", ID: e.ID, Given: version, Current: e.Version}
		}
		if State(e.State) != StateDraft {
			return &TransitionError{Object: "entry", ID: e.ID, Action: "edit", State: State(e.State)}
		}
		if v&(viaClerk|viaAuthor) == 0 {
			return fmt.Errorf("editing draft %d: %w", corrID, ErrForbidden)
		}
		if err := s.editDraft(x, p, e, u); err != nil {
			return err
		}
		if err := x.run(); err != nil {
			return err
		}
		out, err = entryOf(x, p, e.ID)
		return err
	})
	if err != nil {
		return Entry{}, wrapPublic("update draft", err)
	}
	return out, nil
}

// editDraft checks the update u of the draft e by p and queues its
// writes.
func (s *Service) editDraft(x *txn, p *principal, e *entryView, u DraftUpdate) error {
	corrID := e.CorrespondenceID
	c, err := x.loadCorrespondence(corrID)
	if err != nil {
		return err
	}
	d, err := s.updatedDocument(p, c, u)
	if err != nil {
		return err
	}
	changed := map[string]any{}
	if u.Department != nil {
		find := func(field, code string) (departmentRow, error) { return x.findDepartment(field, p.ministryID, code) }
		if c.DepartmentID, err = draftDepartment(p, *u.Department, find); err != nil {
			return err
		}
		changed["department"] = *u.Department
	}
	if u.Recipients != nil {
		rs, err := resolveRecipients(x, e.RegistryID, *u.Recipients)
		if err != nil {
			return err
		}
		x.replaceRecipients(corrID, rs)
		changed["recipients"] = len(rs)
	}
	if u.References != nil {
		refs, err := checkReferences(x, p, corrID, *u.References)
		if err != nil {
			return err
		}
		x.replaceReferences(corrID, refs)
		changed["references"] = len(refs)
	}
	if int64(len(d.body)) != int64(len(c.Body)) && s.cfg.MaxLetterBytes > 0 {
		used, err := x.attachmentBytes(corrID)
		if err != nil {
			return err
		}
		if used+int64(len(d.body)) > s.cfg.MaxLetterBytes {
			return fmt.Errorf("body and attachments over %d bytes: %w", s.cfg.MaxLetterBytes, ErrTooLarge)
		}
	}
	now := s.clock()
	x.updateDocument(corrID, d, c.DepartmentID, now)
	x.updateEntry(e.ID, e.Version, map[string]any{"due_date": d.due}, now)
	changed["subject"] = d.subject
	changed["classification"] = string(d.class)
	x.insertEvents(p, event{corrID: corrID, entryID: e.ID, action: "edit", details: changed})
	return nil
}

// updatedDocument is the document of c with the changes of u, checked.
func (s *Service) updatedDocument(p *principal, c correspondenceRow, u DraftUpdate) (document, error) {
	pick := func(p *string, cur string) string {
		if p != nil {
			return *p
		}
		return cur
	}
	k, cl, pr := Kind(c.Kind), Classification(c.Classification), Priority(c.Priority)
	if u.Kind != nil {
		k = *u.Kind
	}
	if u.Classification != nil {
		cl = *u.Classification
	}
	if u.Priority != nil {
		pr = *u.Priority
	}
	d, err := s.checkDocument(k, pick(u.Subject, c.Subject), pick(u.Body, c.Body), cl, pr, pick(u.DueDate, c.DueDate))
	if err != nil {
		return d, err
	}
	if err := s.checkClearance(p, d.class); err != nil {
		return d, err
	}
	d.dueGiven = c.DueDateGiven
	if u.DueDate != nil {
		if err := s.checkDueDate("due_date", d.due); err != nil {
			return d, err
		}
		d.dueGiven = d.due != ""
	}
	// A due date the writer gave survives a change of priority; the
	// default moves with it.
	if u.Priority != nil && !d.dueGiven && d.prio != Priority(c.Priority) {
		d.due = s.defaultDueDate(d.prio, s.clock())
	}
	if d.due == "" {
		d.due = s.defaultDueDate(d.prio, s.clock())
	}
	return d, nil
}

func (s *Service) createIncoming(ctx context.Context, a Actor, n NewIncoming) (Entry, error) {
	d, err := s.checkDocument(n.Kind, n.Subject, n.Body, n.Classification, n.Priority, n.DueDate)
	if err != nil {
		return Entry{}, err
	}
	if d.due != "" {
		if err := s.checkDueDate("due_date", d.due); err != nil {
			return Entry{}, err
		}
	}
	party, err := cleanLine("sender_party", "the sender", n.SenderParty, maxPartyChars, true)
	if err != nil {
		return Entry{}, err
	}
	var out Entry
	err = s.changeStepwise(ctx, func(x *txn) error {
		p, err := x.loadPrincipal(a)
		if err != nil {
			return err
		}
		if !p.seesContent() {
			return fmt.Errorf("recording incoming mail: %w", ErrForbidden)
		}
		reg, err := x.ministryRegistry(p.ministryID, n.Registry)
		if err != nil {
			return err
		}
		if !p.isClerkOf(reg.ID) {
			return fmt.Errorf("recording incoming mail at %s: %w", reg.Code, ErrForbidden)
		}
		if err := s.checkClearance(p, d.class); err != nil {
			return err
		}
		refs, err := checkReferences(x, p, 0, n.References)
		if err != nil {
			return err
		}
		id, err := s.writeIncoming(x, p, d, party, reg, refs)
		if err != nil {
			return err
		}
		out, err = entryOf(x, p, id)
		return err
	})
	if err != nil {
		return Entry{}, wrapPublic("record incoming mail", err)
	}
	return out, nil
}

// writeIncoming writes a paper letter received at reg with its incoming
// entry, delivered, and returns the entry's id.
func (s *Service) writeIncoming(x *txn, p *principal, d document, party string, reg registryRow, refs []Reference) (int64, error) {
	now := s.clock()
	if d.due == "" {
		d.due = s.defaultDueDate(d.prio, now)
	}
	corrID, entryID := x.newID("correspondence"), x.newID("registry_entries")
	if err := x.run(); err != nil {
		return 0, err
	}
	c := correspondenceRow{ID: *corrID, Kind: string(d.kind), Subject: d.subject, Body: d.body, Classification: string(d.class),
		Priority: string(d.prio), SenderParty: party, DueDate: d.due, CreatedBy: ptr(p.id), CreatedAt: now, UpdatedAt: now}
	x.insertCorrespondence(c)
	x.insertReferences(c.ID, refs)
	x.insertEntry(entryRow{ID: *entryID, CorrespondenceID: c.ID, RegistryID: reg.ID, Direction: string(Incoming),
		State: string(StateReceived), Version: 1, DueDate: d.due, CreatedAt: now, UpdatedAt: now})
	x.insertDelivered(c.ID, reg.ID, *entryID, now)
	x.insertEvents(p, event{corrID: c.ID, entryID: *entryID, action: "receive", to: StateReceived,
		details: map[string]any{"registry": reg.Code, "party": party, "classification": string(d.class)}})
	return *entryID, x.run()
}
