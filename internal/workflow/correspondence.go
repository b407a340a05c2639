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
	if len(in) > maxRecipients {
		return nil, inputErr("recipients", fmt.Sprintf("a letter may have at most %d recipients", maxRecipients))
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
			return nil, inputErr(field+".role", fmt.Sprintf("%s is not a recipient role; use to or cc", show(string(r.Role))))
		}
		hasReg, hasParty := strings.TrimSpace(r.Registry) != "", strings.TrimSpace(r.Party) != ""
		switch {
		case hasReg == hasParty:
			return nil, inputErr(field, "a recipient is either a registry or an outside party")
		case hasReg:
			code, err := canonicalCode(field+".registry", "the registry", r.Registry)
			if err != nil {
				return nil, err
			}
			codes = append(codes, code)
			out = append(out, recipient{code: code, role: role})
		default:
			party, err := cleanLine(field+".party", "the outside party", r.Party, maxPartyChars, true)
			if err != nil {
				return nil, err
			}
			out = append(out, recipient{party: party, role: role})
		}
	}
	if len(codes) > 0 {
		var regs []struct {
			ID   int64
			Code string
		}
		if err := tx.WithContext(ctx).Raw(`SELECT id, code FROM registries WHERE code IN ?`, codes).Scan(&regs).Error; err != nil {
			return nil, fmt.Errorf("find recipient registries: %w", err)
		}
		ids := map[string]int64{}
		for _, r := range regs {
			ids[r.Code] = r.ID
		}
		for i := range out {
			if out[i].code == "" {
				continue
			}
			id, ok := ids[out[i].code]
			if !ok {
				return nil, unprocessable(fmt.Sprintf("recipients[%d].registry", i), fmt.Sprintf("no registry has the code %s", out[i].code))
			}
			if id == senderRegistryID {
				return nil, unprocessable(fmt.Sprintf("recipients[%d].registry", i), fmt.Sprintf("%s is the sending registry; a letter is not sent to itself", out[i].code))
			}
			out[i].registryID = ptr(id)
		}
	}
	seen := map[string]bool{}
	for i, r := range out {
		key := "r:" + r.code
		if r.code == "" {
			key = "p:" + strings.ToLower(r.party)
		}
		if seen[key] {
			return nil, unprocessable(fmt.Sprintf("recipients[%d]", i), "the same recipient is named twice")
		}
		seen[key] = true
	}
	return out, nil
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
	if err := q.WithContext(ctx).Raw(entrySelect+" WHERE e.correspondence_id = ? ORDER BY e.id", corrID).Scan(&es).Error; err != nil {
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

// senderRegistry finds the registry a user drafts for: of their ministry;
// they clerk for it, or hold the head or staff role there.
func senderRegistry(ctx context.Context, tx *gorm.DB, p *principal, code string) (registryRow, error) {
	if strings.TrimSpace(code) == "" {
		return registryRow{}, inputErr("sender_registry", "the sending registry is required")
	}
	reg, err := ministryRegistry(ctx, tx, p.ministryID, code)
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

func (s *Service) draftDepartment(ctx context.Context, tx *gorm.DB, p *principal, code string) (*int64, error) {
	if strings.TrimSpace(code) == "" {
		if p.department != 0 {
			return ptr(p.department), nil
		}
		return nil, nil
	}
	d, err := findDepartment(ctx, tx, "department", p.ministryID, code)
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
	var out Entry
	err = s.change(ctx, func(tx *gorm.DB) error {
		p, err := loadPrincipal(ctx, tx, a)
		if err != nil {
			return err
		}
		if !p.seesContent() {
			return fmt.Errorf("drafting correspondence: %w", ErrForbidden)
		}
		if err := s.checkClearance(p, d.class); err != nil {
			return err
		}
		reg, err := senderRegistry(ctx, tx, p, n.SenderRegistry)
		if err != nil {
			return err
		}
		dep, err := s.draftDepartment(ctx, tx, p, n.Department)
		if err != nil {
			return err
		}
		rcpts, err := resolveRecipients(ctx, tx, reg.ID, n.Recipients)
		if err != nil {
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
			Priority: string(d.prio), SenderRegistryID: ptr(reg.ID), DepartmentID: dep, DueDate: d.due,
			CreatedBy: ptr(p.id), CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&c).Error; err != nil {
			return err
		}
		if err := insertRecipients(ctx, tx, c.ID, rcpts); err != nil {
			return err
		}
		if err := insertReferences(ctx, tx, c.ID, refs); err != nil {
			return err
		}
		e := entryRow{CorrespondenceID: c.ID, RegistryID: reg.ID, Direction: string(Outgoing), State: string(StateDraft),
			Version: 1, DueDate: d.due, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&e).Error; err != nil {
			return err
		}
		if err := s.record(ctx, tx, p, event{corrID: c.ID, entryID: e.ID, action: "create", to: StateDraft,
			details: map[string]any{"registry": reg.Code, "classification": string(d.class), "subject": d.subject}}); err != nil {
			return err
		}
		view := entryView{ID: e.ID, CorrespondenceID: c.ID, RegistryID: reg.ID, RegistryCode: reg.Code,
			MinistryID: reg.MinistryID, ApprovalRequired: reg.ApprovalRequired, Template: reg.Template,
			Direction: e.Direction, State: e.State, Version: e.Version, DueDate: e.DueDate, CreatedAt: now, UpdatedAt: now,
			Kind: c.Kind, Subject: c.Subject, Classification: c.Classification, Priority: c.Priority,
			DepartmentID: c.DepartmentID, CreatedBy: c.CreatedBy, SenderRegistryID: c.SenderRegistryID}
		v, err := s.access(ctx, tx, p, &view)
		if err != nil {
			return err
		}
		out = view.entry(p.allowedActions(&view, v))
		return nil
	})
	if err != nil {
		return Entry{}, wrapPublic("create draft", err)
	}
	return out, nil
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
	rows := make([]recipientRow, len(rs))
	for i, r := range rs {
		rows[i] = recipientRow{CorrespondenceID: corrID, Position: i + 1, RegistryID: r.registryID, Party: r.party,
			Role: string(r.role), State: string(StatePending)}
	}
	return tx.WithContext(ctx).Create(&rows).Error
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
	rows := make([]referenceRow, len(refs))
	for i, r := range refs {
		rows[i] = referenceRow{CorrespondenceID: corrID, ReferencedID: r.ID, Relation: string(r.Relation)}
	}
	return tx.WithContext(ctx).Create(&rows).Error
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
			if c.DepartmentID, err = s.draftDepartment(ctx, tx, p, *u.Department); err != nil {
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
	if changes == nil {
		changes = map[string]any{}
	}
	changes["version"] = version + 1
	changes["updated_at"] = now
	res := tx.WithContext(ctx).Model(&entryRow{}).Where("id = ? AND version = ?", id, version).Updates(changes)
	if res.Error != nil {
		return fmt.Errorf("update entry %d: %w", id, res.Error)
	}
	if res.RowsAffected != 1 {
		return &StaleError{Object: "entry", ID: id, Given: version, Current: version + 1}
	}
	return nil
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

// docPart is one row of the query of a document's parts: a recipient
// (k "r": a registry code, b party, c role), a reference (k "x": n id, a
// relation) or an attachment (k "a": a name, b type, c sha256, n size).
type docPart struct {
	K       string
	N       int64
	A, B, C string
}

const docPartsQuery = `SELECT 'r' AS k, x.position AS n, COALESCE(r.code, '') AS a, x.party AS b, x.role AS c
FROM correspondence_recipients x LEFT JOIN registries r ON r.id = x.registry_id WHERE x.correspondence_id = ?
UNION ALL SELECT 'x', referenced_id, relation, '', '' FROM correspondence_references WHERE correspondence_id = ?
UNION ALL SELECT 'a', size, name, content_type, sha256 FROM correspondence_attachments WHERE correspondence_id = ?`

// Attachments are hashed in the order of their SHA-256 sums (then names):
// a fixed order that needs no id.

// freeze fixes the document at registration: frozen_at and the SHA-256 of
// the document with its recipients, references and attachment digests. The
// caller holds the entry's lock, which attachment changes take too. It
// reports whether the document replies to earlier correspondence.
func (s *Service) freeze(ctx context.Context, tx *gorm.DB, e *entryView, now time.Time) (digest string, replies bool, err error) {
	return s.freezeThen(ctx, tx, e, now, func(sql string, args ...any) error {
		return tx.WithContext(ctx).Exec(sql, args...).Error
	})
}

// freezeThen is freeze with its one write, the correspondence's update,
// left to write (which may run it at once or with the transition's last
// statement).
func (s *Service) freezeThen(ctx context.Context, tx *gorm.DB, e *entryView, now time.Time, write func(sql string, args ...any) error) (digest string, replies bool, err error) {
	corrID := e.CorrespondenceID
	if e.FrozenAt != nil && Direction(e.Direction) == Incoming {
		// Delivered frozen (the entry was read with its document under the
		// entry's lock); an incoming letter answers nothing.
		return e.DocumentSHA256, false, nil
	}
	var c correspondenceRow
	if err := tx.WithContext(ctx).Where("id = ?", corrID).Take(&c).Error; err != nil {
		return "", false, fmt.Errorf("load correspondence %d: %w", corrID, err)
	}
	if c.FrozenAt != nil && Direction(e.Direction) == Incoming {
		return c.DocumentSHA256, false, nil // delivered frozen; an incoming letter answers nothing
	}
	var parts []docPart
	if err := tx.WithContext(ctx).Raw(docPartsQuery, corrID, corrID, corrID).Scan(&parts).Error; err != nil {
		return "", false, fmt.Errorf("load parts of correspondence %d: %w", corrID, err)
	}
	doc := frozenDocument{ID: c.ID, Kind: c.Kind, Subject: c.Subject, Body: c.Body, Classification: c.Classification,
		Priority: c.Priority, SenderParty: c.SenderParty, DueDate: c.DueDate,
		Recipients: []frozenRecipient{}, References: []Reference{}, Attachments: []frozenAttachment{}}
	if c.SenderRegistryID != nil && *c.SenderRegistryID == e.RegistryID {
		doc.SenderRegistry = e.RegistryCode
	}
	type positioned struct {
		pos int64
		r   frozenRecipient
	}
	var rs []positioned
	for _, p := range parts {
		switch p.K {
		case "r":
			rs = append(rs, positioned{p.N, frozenRecipient{Registry: p.A, Party: p.B, Role: p.C}})
		case "x":
			doc.References = append(doc.References, Reference{ID: p.N, Relation: Relation(p.A)})
			replies = replies || Relation(p.A) == RelationReplyTo
		case "a":
			doc.Attachments = append(doc.Attachments, frozenAttachment{Name: p.A, ContentType: p.B, SHA256: p.C, Size: p.N})
		}
	}
	slices.SortFunc(rs, func(x, y positioned) int { return int(x.pos - y.pos) })
	for _, r := range rs {
		doc.Recipients = append(doc.Recipients, r.r)
	}
	slices.SortFunc(doc.References, func(x, y Reference) int { return int(x.ID - y.ID) })
	slices.SortFunc(doc.Attachments, func(x, y frozenAttachment) int {
		return strings.Compare(x.SHA256+"/"+x.Name, y.SHA256+"/"+y.Name)
	})
	if c.FrozenAt != nil {
		return c.DocumentSHA256, replies, nil
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", false, err
	}
	sum := sha256.Sum256(b)
	digest = hex.EncodeToString(sum[:])
	err = write(`UPDATE correspondence SET frozen_at = ?, document_sha256 = ?, updated_at = ? WHERE id = ?`, now, digest, now, corrID)
	return digest, replies, err
}
