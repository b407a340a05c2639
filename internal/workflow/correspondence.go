package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
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
func resolveRecipients(ctx context.Context, tx *gorm.DB, senderRegistryID int64, in []RecipientInput) ([]recipient, error) {
	out, codes, err := parseRecipients(in)
	if err != nil {
		return nil, err
	}
	var regs []registryRow
	if len(codes) > 0 {
		if err := tx.WithContext(ctx).Raw(`SELECT id, code FROM registries WHERE code IN ?`, codes).Scan(&regs).Error; err != nil {
			return nil, fmt.Errorf("find recipient registries: %w", err)
		}
	}
	byCode := map[string]registryRow{}
	for _, r := range regs {
		byCode[r.Code] = r
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

// The ministries for txn.departments.
const (
	userMinistry  = `SELECT ministry_id FROM users WHERE id = ?`
	entryMinistry = `SELECT r.ministry_id FROM registry_entries e JOIN registries r ON r.id = e.registry_id WHERE e.id = ?`
)

// registries queues the reading of the registries with these codes; get
// returns those found, by code, once x has run.
func (x *txn) registries(codes []string) (get func() map[string]registryRow) {
	byCode := map[string]registryRow{}
	var args []any
	for _, c := range codes {
		if !slices.Contains(args, any(c)) {
			args = append(args, c)
		}
	}
	if len(args) > 0 {
		x.query(`SELECT id, code, ministry_id, template, approval_required FROM registries WHERE code IN (`+placeholders(len(args))+`)`,
			args, func(r rowScanner) error {
				var reg registryRow
				if err := r.Scan(&reg.ID, &reg.Code, &reg.MinistryID, &reg.Template, &reg.ApprovalRequired); err != nil {
					return err
				}
				byCode[reg.Code] = reg
				return nil
			})
	}
	return func() map[string]registryRow { return byCode }
}

// departments queues the reading of the department with this code in a
// ministry, the one of the user (userMinistry) or the one of the entry
// (entryMinistry) with this id; get returns it, if there is one, once x
// has run.
func (x *txn) departments(ministry string, id int64, code string) (get func() []departmentRow) {
	var out []departmentRow
	x.query(`SELECT id, ministry_id, code FROM departments WHERE ministry_id = (`+ministry+`) AND code = ?`, []any{id, code}, func(r rowScanner) error {
		var d departmentRow
		if err := r.Scan(&d.ID, &d.MinistryID, &d.Code); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	return func() []departmentRow { return out }
}

// checkReferences checks references: each to a correspondence p can see.
func (s *Service) checkReferences(ctx context.Context, tx *gorm.DB, p *principal, self int64, in []Reference) ([]Reference, error) {
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
		ok, err := s.seesCorrespondence(ctx, tx, p, r.ID)
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

// visibleEntries lists the entries of a correspondence p can see, with how.
func (s *Service) visibleEntries(ctx context.Context, q *gorm.DB, p *principal, corrID int64) ([]entryView, []via, error) {
	if !p.seesContent() {
		return nil, nil, nil
	}
	var es []entryView
	if err := scanRows(ctx, q, entrySelect+" WHERE e.correspondence_id = ? ORDER BY e.id", []any{corrID}, appendEntry(&es)); err != nil {
		return nil, nil, fmt.Errorf("load entries of correspondence %d: %w", corrID, err)
	}
	var out []entryView
	var vias []via
	for i := range es {
		v, err := s.access(ctx, q, p, &es[i])
		if err != nil {
			return nil, nil, err
		}
		if v != 0 {
			out = append(out, es[i])
			vias = append(vias, v)
		}
	}
	return out, vias, nil
}

func (s *Service) seesCorrespondence(ctx context.Context, q *gorm.DB, p *principal, corrID int64) (bool, error) {
	es, _, err := s.visibleEntries(ctx, q, p, corrID)
	return len(es) > 0, err
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

func (s *Service) createDraft(ctx context.Context, a Actor, n NewCorrespondence) (Entry, error) {
	d, err := s.checkDocument(n.Kind, n.Subject, n.Body, n.Classification, n.Priority, n.DueDate)
	if err != nil {
		return Entry{}, err
	}
	// What the checks need is read at once; they still fail in their order.
	rcpts, codes, rcptErr := parseRecipients(n.Recipients)
	if c, err := canonicalCode("registry", "the registry", n.SenderRegistry); err == nil {
		codes = append(codes, c)
	}
	depCode, depErr := "", error(nil)
	if strings.TrimSpace(n.Department) != "" {
		depCode, depErr = canonicalCode("department", "the department", n.Department)
	}
	var out Entry
	err = s.changeBatched(ctx, func(x *txn) error {
		principal := x.principal(a)
		regs := x.registries(codes)
		deps := func() []departmentRow { return nil }
		if depCode != "" && a.UserID != 0 {
			deps = x.departments(userMinistry, a.UserID, depCode)
		}
		corrID, entryID := x.newID("correspondence"), x.newID("registry_entries")
		if err := x.run(); err != nil {
			return err
		}
		p, err := principal()
		if err != nil {
			return err
		}
		if !p.seesContent() {
			return fmt.Errorf("drafting correspondence: %w", ErrForbidden)
		}
		if err := s.checkClearance(p, d.class); err != nil {
			return err
		}
		reg, err := senderRegistry(p, n.SenderRegistry, regs())
		if err != nil {
			return err
		}
		dep, err := draftDepartment(p, n.Department, func(field, _ string) (departmentRow, error) {
			if depErr != nil {
				return departmentRow{}, depErr
			}
			return pickDepartment(deps(), field, p.ministryID, depCode)
		})
		if err != nil {
			return err
		}
		if rcptErr != nil {
			return rcptErr
		}
		if err := placeRecipients(rcpts, regs(), reg.ID); err != nil {
			return err
		}
		var refs []Reference
		if len(n.References) > 0 {
			tx, err := x.db()
			if err != nil {
				return err
			}
			if refs, err = s.checkReferences(ctx, tx, p, 0, n.References); err != nil {
				return err
			}
		}
		now := s.clock()
		if d.due == "" {
			d.due = s.defaultDueDate(d.prio, now)
		}
		c := correspondenceRow{ID: *corrID, Kind: string(d.kind), Subject: d.subject, Body: d.body, Classification: string(d.class),
			Priority: string(d.prio), SenderRegistryID: ptr(reg.ID), DepartmentID: dep, DueDate: d.due,
			CreatedBy: ptr(p.id), CreatedAt: now, UpdatedAt: now}
		x.insert(correspondenceInsert(c))
		if len(rcpts) > 0 {
			x.insert(recipientsInsert(c.ID, rcpts))
		}
		if len(refs) > 0 {
			x.insert(referencesInsert(c.ID, refs))
		}
		e := entryRow{ID: *entryID, CorrespondenceID: c.ID, RegistryID: reg.ID, Direction: string(Outgoing), State: string(StateDraft),
			Version: 1, DueDate: d.due, CreatedAt: now, UpdatedAt: now}
		x.insert(entryInsert(e))
		x.record(p, event{corrID: c.ID, entryID: e.ID, action: "create", to: StateDraft,
			details: map[string]any{"registry": reg.Code, "classification": string(d.class), "subject": d.subject}})
		view := entryView{ID: e.ID, CorrespondenceID: c.ID, RegistryID: reg.ID, RegistryCode: reg.Code,
			MinistryID: reg.MinistryID, ApprovalRequired: reg.ApprovalRequired, Template: reg.Template,
			Direction: e.Direction, State: e.State, Version: e.Version, DueDate: e.DueDate, CreatedAt: now, UpdatedAt: now,
			Kind: c.Kind, Subject: c.Subject, Classification: c.Classification, Priority: c.Priority,
			DepartmentID: c.DepartmentID, CreatedBy: c.CreatedBy, SenderRegistryID: c.SenderRegistryID}
		v, _ := p.directAccess(&view) // an outgoing entry: its referrals add nothing
		out = view.entry(p.allowedActions(&view, v))
		return nil
	})
	if err != nil {
		return Entry{}, wrapPublic("create draft", err)
	}
	return out, nil
}

// correspondenceInsert inserts c with its id.
func correspondenceInsert(c correspondenceRow) insert {
	return insert{`INSERT INTO correspondence (id, kind, subject, body, classification, priority, sender_registry_id,
	sender_party, department_id, due_date, created_by, created_at, updated_at) VALUES`, `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		[]any{c.ID, c.Kind, c.Subject, c.Body, c.Classification, c.Priority, c.SenderRegistryID, c.SenderParty,
			c.DepartmentID, c.DueDate, c.CreatedBy, c.CreatedAt, c.UpdatedAt}}
}

// entryInsert inserts e with its id.
func entryInsert(e entryRow) insert {
	return insert{`INSERT INTO registry_entries (id, correspondence_id, registry_id, direction, state, version, due_date,
	created_at, updated_at) VALUES`, `(?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		[]any{e.ID, e.CorrespondenceID, e.RegistryID, e.Direction, e.State, e.Version, e.DueDate, e.CreatedAt, e.UpdatedAt}}
}

// recipientsInsert inserts recipients, pending, in their order.
func recipientsInsert(corrID int64, rs []recipient) insert {
	rows := make([]string, len(rs))
	args := make([]any, 0, 6*len(rs))
	for i, r := range rs {
		rows[i] = "(?, ?, ?, ?, ?, ?)"
		args = append(args, corrID, i+1, r.registryID, r.party, string(r.role), string(StatePending))
	}
	return insert{"INSERT INTO correspondence_recipients (correspondence_id, position, registry_id, party, role, state) VALUES",
		strings.Join(rows, ", "), args}
}

// referencesInsert inserts references.
func referencesInsert(corrID int64, refs []Reference) insert {
	rows := make([]string, len(refs))
	args := make([]any, 0, 3*len(refs))
	for i, r := range refs {
		rows[i] = "(?, ?, ?)"
		args = append(args, corrID, r.ID, string(r.Relation))
	}
	return insert{"INSERT INTO correspondence_references (correspondence_id, referenced_id, relation) VALUES",
		strings.Join(rows, ", "), args}
}

// wrapPublic keeps the engine's own errors as they are and wraps others.
func wrapPublic(what string, err error) error {
	if isPublic(err) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

func writeRecipients(ctx context.Context, tx *gorm.DB, corrID int64, rs []recipient) error {
	if err := tx.WithContext(ctx).Where("correspondence_id = ?", corrID).Delete(&recipientRow{}).Error; err != nil {
		return err
	}
	return insertRecipients(ctx, tx, corrID, rs)
}

func insertRecipients(ctx context.Context, tx *gorm.DB, corrID int64, rs []recipient) error {
	if len(rs) == 0 {
		return nil
	}
	in := recipientsInsert(corrID, rs)
	return tx.WithContext(ctx).Exec(in.sql(), in.args...).Error
}

func writeReferences(ctx context.Context, tx *gorm.DB, corrID int64, refs []Reference) error {
	if err := tx.WithContext(ctx).Where("correspondence_id = ?", corrID).Delete(&referenceRow{}).Error; err != nil {
		return err
	}
	return insertReferences(ctx, tx, corrID, refs)
}

func insertReferences(ctx context.Context, tx *gorm.DB, corrID int64, refs []Reference) error {
	if len(refs) == 0 {
		return nil
	}
	in := referencesInsert(corrID, refs)
	return tx.WithContext(ctx).Exec(in.sql(), in.args...).Error
}

// entryOf reads an entry as p sees it (in q), or ErrNotFound.
func (s *Service) entryOf(ctx context.Context, q *gorm.DB, p *principal, id int64) (Entry, error) {
	e, v, err := s.visibleEntry(ctx, q, p, id, false)
	if err != nil {
		return Entry{}, err
	}
	return e.entry(p.allowedActions(e, v)), nil
}

func (e *entryView) entry(actions []Action) Entry {
	out := Entry{ID: e.ID, CorrespondenceID: e.CorrespondenceID, Registry: e.RegistryCode, Direction: Direction(e.Direction),
		Number: deref(e.Number), Year: deref(e.Year), Seq: deref(e.Seq), State: State(e.State), Version: e.Version,
		DueDate: e.DueDate, Reason: e.Reason, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
		AnsweredBy: deref(e.AnsweredBy), Kind: Kind(e.Kind), Subject: e.Subject,
		Classification: Classification(e.Classification), Priority: Priority(e.Priority), Actions: actions}
	if e.RegisteredAt != nil {
		out.RegisteredAt = *e.RegisteredAt
	}
	if out.Actions == nil {
		out.Actions = []Action{}
	}
	return out
}

// outgoingEntryOf finds the outgoing entry of a correspondence (locked for
// a change), as p may see it.
func (s *Service) outgoingEntryOf(ctx context.Context, tx *gorm.DB, p *principal, corrID int64, lock bool) (*entryView, via, error) {
	var ids []int64
	err := tx.WithContext(ctx).Raw(`SELECT id FROM registry_entries WHERE correspondence_id = ? AND direction = 'outgoing'`, corrID).Scan(&ids).Error
	if err != nil {
		return nil, 0, err
	}
	if len(ids) == 0 {
		return nil, 0, notFound("correspondence", corrID)
	}
	e, v, err := s.visibleEntry(ctx, tx, p, ids[0], lock)
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
	err := s.change(ctx, func(tx *gorm.DB) error {
		p, err := loadPrincipal(ctx, tx, a)
		if err != nil {
			return err
		}
		e, v, err := s.outgoingEntryOf(ctx, tx, p, corrID, true)
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
		var c correspondenceRow
		if err := tx.WithContext(ctx).Where("id = ?", corrID).Take(&c).Error; err != nil {
			return err
		}
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
			return err
		}
		if err := s.checkClearance(p, d.class); err != nil {
			return err
		}
		if u.Priority != nil && u.DueDate == nil && d.prio != Priority(c.Priority) {
			d.due = s.defaultDueDate(d.prio, s.clock())
		}
		if d.due == "" {
			d.due = s.defaultDueDate(d.prio, s.clock())
		}
		changed := map[string]any{}
		if u.Department != nil {
			find := func(field, code string) (departmentRow, error) {
				return findDepartment(ctx, tx, field, p.ministryID, code)
			}
			if c.DepartmentID, err = draftDepartment(p, *u.Department, find); err != nil {
				return err
			}
			changed["department"] = *u.Department
		}
		if u.Recipients != nil {
			rs, err := resolveRecipients(ctx, tx, e.RegistryID, *u.Recipients)
			if err != nil {
				return err
			}
			if err := writeRecipients(ctx, tx, corrID, rs); err != nil {
				return err
			}
			changed["recipients"] = len(rs)
		}
		if u.References != nil {
			refs, err := s.checkReferences(ctx, tx, p, corrID, *u.References)
			if err != nil {
				return err
			}
			if err := writeReferences(ctx, tx, corrID, refs); err != nil {
				return err
			}
			changed["references"] = len(refs)
		}
		if int64(len(d.body)) != int64(len(c.Body)) && s.cfg.MaxLetterBytes > 0 {
			used, err := attachmentBytes(ctx, tx, corrID)
			if err != nil {
				return err
			}
			if used+int64(len(d.body)) > s.cfg.MaxLetterBytes {
				return fmt.Errorf("body and attachments over %d bytes: %w", s.cfg.MaxLetterBytes, ErrTooLarge)
			}
		}
		now := s.clock()
		err = tx.WithContext(ctx).Model(&correspondenceRow{}).Where("id = ?", corrID).Updates(map[string]any{
			"kind": string(d.kind), "subject": d.subject, "body": d.body, "classification": string(d.class),
			"priority": string(d.prio), "due_date": d.due, "department_id": c.DepartmentID, "updated_at": now}).Error
		if err != nil {
			return err
		}
		if err := bumpEntry(ctx, tx, e.ID, e.Version, map[string]any{"due_date": d.due}, now); err != nil {
			return err
		}
		changed["subject"] = d.subject
		changed["classification"] = string(d.class)
		if err := s.record(ctx, tx, p, event{corrID: corrID, entryID: e.ID, action: "edit", details: changed}); err != nil {
			return err
		}
		out, err = s.entryOf(ctx, tx, p, e.ID)
		return err
	})
	if err != nil {
		return Entry{}, wrapPublic("update draft", err)
	}
	return out, nil
}

// bumpEntry writes changes to an entry and moves its version on, provided
// it is still at version (the row is locked, so it is).
func bumpEntry(ctx context.Context, tx *gorm.DB, id, version int64, changes map[string]any, now time.Time) error {
	st := entryUpdate(id, version, changes, now)
	res := tx.WithContext(ctx).Exec(st.sql, st.args...)
	if res.Error != nil {
		return fmt.Errorf("update entry %d: %w", id, res.Error)
	}
	if res.RowsAffected != 1 {
		return staleEntry(id, version)
	}
	return nil
}

// bumpEntry is bumpEntry queued on x.
func (x *txn) bumpEntry(id, version int64, changes map[string]any, now time.Time) {
	st := entryUpdate(id, version, changes, now)
	x.execOne(staleEntry(id, version), st.sql, st.args...)
}

// entryUpdate writes changes (columns named in this package) to an entry
// at version, moving its version on.
func entryUpdate(id, version int64, changes map[string]any, now time.Time) stmt {
	cols := make([]string, 0, len(changes))
	for k := range changes {
		cols = append(cols, k)
	}
	slices.Sort(cols)
	var b strings.Builder
	args := make([]any, 0, len(cols)+4)
	b.WriteString("UPDATE registry_entries SET ")
	for _, k := range cols {
		b.WriteString(k + " = ?, ")
		args = append(args, changes[k])
	}
	b.WriteString("version = ?, updated_at = ? WHERE id = ? AND version = ?")
	return stmt{b.String(), append(args, version+1, now, id, version)}
}

func staleEntry(id, version int64) error {
	return &StaleError{Object: "entry", ID: id, Given: version, Current: version + 1}
}

func (s *Service) createIncoming(ctx context.Context, a Actor, n NewIncoming) (Entry, error) {
	d, err := s.checkDocument(n.Kind, n.Subject, n.Body, n.Classification, n.Priority, n.DueDate)
	if err != nil {
		return Entry{}, err
	}
	party, err := cleanLine("sender_party", "the sender", n.SenderParty, maxPartyChars, true)
	if err != nil {
		return Entry{}, err
	}
	var out Entry
	err = s.change(ctx, func(tx *gorm.DB) error {
		p, err := loadPrincipal(ctx, tx, a)
		if err != nil {
			return err
		}
		if !p.seesContent() {
			return fmt.Errorf("recording incoming mail: %w", ErrForbidden)
		}
		reg, err := ministryRegistry(ctx, tx, p.ministryID, n.Registry)
		if err != nil {
			return err
		}
		if !p.isClerkOf(reg.ID) {
			return fmt.Errorf("recording incoming mail at %s: %w", reg.Code, ErrForbidden)
		}
		if err := s.checkClearance(p, d.class); err != nil {
			return err
		}
		refs, err := s.checkReferences(ctx, tx, p, 0, n.References)
		if err != nil {
			return err
		}
		now := s.clock()
		if d.due == "" {
			d.due = s.defaultDueDate(d.prio, now)
		}
		c := correspondenceRow{Kind: string(d.kind), Subject: d.subject, Body: d.body, Classification: string(d.class),
			Priority: string(d.prio), SenderParty: party, DueDate: d.due, CreatedBy: ptr(p.id), CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&c).Error; err != nil {
			return err
		}
		if err := insertReferences(ctx, tx, c.ID, refs); err != nil {
			return err
		}
		e := entryRow{CorrespondenceID: c.ID, RegistryID: reg.ID, Direction: string(Incoming), State: string(StateReceived),
			Version: 1, DueDate: d.due, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&e).Error; err != nil {
			return err
		}
		rr := recipientRow{CorrespondenceID: c.ID, Position: 1, RegistryID: ptr(reg.ID), Role: string(RoleTo),
			State: string(StateDelivered), EntryID: ptr(e.ID), ChangedAt: ptr(now)}
		if err := tx.Create(&rr).Error; err != nil {
			return err
		}
		if err := s.record(ctx, tx, p, event{corrID: c.ID, entryID: e.ID, action: "receive", to: StateReceived,
			details: map[string]any{"registry": reg.Code, "party": party, "classification": string(d.class)}}); err != nil {
			return err
		}
		out, err = s.entryOf(ctx, tx, p, e.ID)
		return err
	})
	if err != nil {
		return Entry{}, wrapPublic("record incoming mail", err)
	}
	return out, nil
}

// frozenDocument is what the document hash covers, in a fixed order.
type frozenDocument struct {
	ID             int64              `json:"id"`
	Kind           string             `json:"kind"`
	Subject        string             `json:"subject"`
	Body           string             `json:"body"`
	Classification string             `json:"classification"`
	Priority       string             `json:"priority"`
	SenderRegistry string             `json:"sender_registry"`
	SenderParty    string             `json:"sender_party"`
	DueDate        string             `json:"due_date"`
	Recipients     []frozenRecipient  `json:"recipients"`
	References     []Reference        `json:"references"`
	Attachments    []frozenAttachment `json:"attachments"`
}

type frozenRecipient struct {
	Registry string `json:"registry"`
	Party    string `json:"party"`
	Role     string `json:"role"`
}

type frozenAttachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

// docPart is one row of documentQuery: the document itself (k "c": n
// id, a body, b sender party, c due date), a recipient (k "r": n position,
// a registry code, b party, c role), a reference (k "x": n id, a
// relation) or an attachment (k "a": a name, b type, c sha256, n size).
type docPart struct {
	K       string
	N       int64
	A, B, C string
}

// documentQuery reads, for freeze, the document of an entry with its
// recipients, references and attachments; nothing when the entry is
// incoming and its document frozen (delivered so: freeze needs nothing).
const documentQuery = `WITH d AS (SELECT c.id FROM registry_entries e JOIN correspondence c ON c.id = e.correspondence_id
	WHERE e.id = ? AND (e.direction = 'outgoing' OR c.frozen_at IS NULL))
SELECT 'c' AS k, c.id AS n, c.body AS a, c.sender_party AS b, c.due_date AS c FROM correspondence c JOIN d ON d.id = c.id
UNION ALL SELECT 'r', x.position, COALESCE((SELECT r.code FROM registries r WHERE r.id = x.registry_id), ''), x.party, x.role
FROM correspondence_recipients x JOIN d ON d.id = x.correspondence_id
UNION ALL SELECT 'x', f.referenced_id, f.relation, '', '' FROM correspondence_references f JOIN d ON d.id = f.correspondence_id
UNION ALL SELECT 'a', t.size, t.name, t.content_type, t.sha256 FROM correspondence_attachments t JOIN d ON d.id = t.correspondence_id`

// document queues documentQuery for an entry; get returns its rows once x
// has run.
func (x *txn) document(entryID int64) (get func() []docPart) {
	var parts []docPart
	x.query(documentQuery, []any{entryID}, func(r rowScanner) error {
		var p docPart
		if err := r.Scan(&p.K, &p.N, &p.A, &p.B, &p.C); err != nil {
			return err
		}
		parts = append(parts, p)
		return nil
	})
	return func() []docPart { return parts }
}

// Attachments are hashed in the order of their SHA-256 sums (then names):
// a fixed order that needs no id.

// freeze fixes the document of e at registration: frozen_at and the
// SHA-256 of the document with its recipients, references and attachment
// digests, from parts (documentQuery's rows for e, read under the entry's
// lock, which attachment changes take too). Its one write, the
// correspondence's update, is queued on x. It reports whether the
// document replies to earlier correspondence.
func freeze(x *txn, e *entryView, parts []docPart, now time.Time) (digest string, replies bool, err error) {
	corrID := e.CorrespondenceID
	if e.FrozenAt != nil && Direction(e.Direction) == Incoming {
		// Delivered frozen; an incoming letter answers nothing.
		return e.DocumentSHA256, false, nil
	}
	doc := frozenDocument{ID: corrID, Kind: e.Kind, Subject: e.Subject, Classification: e.Classification,
		Priority: e.Priority, Recipients: []frozenRecipient{}, References: []Reference{}, Attachments: []frozenAttachment{}}
	if e.SenderRegistryID != nil && *e.SenderRegistryID == e.RegistryID {
		doc.SenderRegistry = e.RegistryCode
	}
	type positioned struct {
		pos int64
		r   frozenRecipient
	}
	var rs []positioned
	found := false
	for _, p := range parts {
		switch p.K {
		case "c":
			found = true
			doc.Body, doc.SenderParty, doc.DueDate = p.A, p.B, p.C
		case "r":
			rs = append(rs, positioned{p.N, frozenRecipient{Registry: p.A, Party: p.B, Role: p.C}})
		case "x":
			doc.References = append(doc.References, Reference{ID: p.N, Relation: Relation(p.A)})
			replies = replies || Relation(p.A) == RelationReplyTo
		case "a":
			doc.Attachments = append(doc.Attachments, frozenAttachment{Name: p.A, ContentType: p.B, SHA256: p.C, Size: p.N})
		}
	}
	if !found {
		return "", false, fmt.Errorf("load correspondence %d: %w", corrID, ErrNotFound)
	}
	slices.SortFunc(rs, func(x, y positioned) int { return int(x.pos - y.pos) })
	for _, r := range rs {
		doc.Recipients = append(doc.Recipients, r.r)
	}
	slices.SortFunc(doc.References, func(x, y Reference) int { return int(x.ID - y.ID) })
	slices.SortFunc(doc.Attachments, func(x, y frozenAttachment) int {
		return strings.Compare(x.SHA256+"/"+x.Name, y.SHA256+"/"+y.Name)
	})
	if e.FrozenAt != nil {
		return e.DocumentSHA256, replies, nil
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", false, err
	}
	sum := sha256.Sum256(b)
	digest = hex.EncodeToString(sum[:])
	x.exec(`UPDATE correspondence SET frozen_at = ?, document_sha256 = ?, updated_at = ? WHERE id = ?`, now, digest, now, corrID)
	return digest, replies, nil
}
