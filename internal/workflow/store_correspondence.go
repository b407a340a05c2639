package workflow

import (
	"slices"
	"strings"
	"time"
)

// The statements on a correspondence: its document, recipients and
// references, and the registries and departments a draft names.

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

// departments queues the reading of the department with this code in
// the ministry with this id; get returns it, if there is one, once x has
// run.
func (x *txn) departments(ministryID int64, code string) (get func() []departmentRow) {
	return x.queueDepartments(`?`, ministryID, code)
}

// entryDepartments queues the reading of the department with this code in
// the ministry of the entry with this id; get returns it, if there is one,
// once x has run.
func (x *txn) entryDepartments(entryID int64, code string) (get func() []departmentRow) {
	return x.queueDepartments(`SELECT r.ministry_id FROM registry_entries e JOIN registries r ON r.id = e.registry_id WHERE e.id = ?`,
		entryID, code)
}

// queueDepartments queues the reading of the department with this code
// in the ministry ministry selects with id.
func (x *txn) queueDepartments(ministry string, id int64, code string) (get func() []departmentRow) {
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

// loadCorrespondence reads a correspondence's row, now.
func (x *txn) loadCorrespondence(id int64) (correspondenceRow, error) {
	var c correspondenceRow
	q, err := x.db()
	if err == nil {
		err = q.Where("id = ?", id).Take(&c).Error
	}
	return c, err
}

// insertCorrespondence queues the inserting of c with its id.
func (x *txn) insertCorrespondence(c correspondenceRow) {
	x.insert(insert{`INSERT INTO correspondence (id, kind, subject, body, classification, priority, sender_registry_id,
	sender_party, department_id, due_date, due_date_given, created_by, created_at, updated_at) VALUES`, `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		[]any{c.ID, c.Kind, c.Subject, c.Body, c.Classification, c.Priority, c.SenderRegistryID, c.SenderParty,
			c.DepartmentID, c.DueDate, c.DueDateGiven, c.CreatedBy, c.CreatedAt, c.UpdatedAt}})
}

// updateDocument queues the writing of a draft's editable document.
func (x *txn) updateDocument(id int64, d document, departmentID *int64, now time.Time) {
	x.exec(`UPDATE correspondence SET kind = ?, subject = ?, body = ?, classification = ?, priority = ?, due_date = ?,
	due_date_given = ?, department_id = ?, updated_at = ? WHERE id = ?`, string(d.kind), d.subject, d.body, string(d.class),
		string(d.prio), d.due, d.dueGiven, departmentID, now, id)
}

// freezeDocument queues the freezing of a correspondence's document with
// its digest.
func (x *txn) freezeDocument(id int64, digest string, now time.Time) {
	x.exec(`UPDATE correspondence SET frozen_at = ?, document_sha256 = ?, updated_at = ? WHERE id = ?`, now, digest, now, id)
}

// insertRecipients queues the inserting of recipients in their order, in
// state.
func (x *txn) insertRecipients(corrID int64, rs []recipient, state State) {
	if len(rs) == 0 {
		return
	}
	rows := make([]string, len(rs))
	args := make([]any, 0, 6*len(rs))
	for i, r := range rs {
		rows[i] = "(?, ?, ?, ?, ?, ?)"
		args = append(args, corrID, i+1, r.registryID, r.party, string(r.role), string(state))
	}
	x.insert(insert{"INSERT INTO correspondence_recipients (correspondence_id, position, registry_id, party, role, state) VALUES",
		strings.Join(rows, ", "), args})
}

// insertDelivered queues the inserting of the one recipient of a paper
// letter, delivered to its incoming entry.
func (x *txn) insertDelivered(corrID, registryID, entryID int64, now time.Time) {
	x.insert(insert{`INSERT INTO correspondence_recipients (correspondence_id, position, registry_id, role, state, entry_id,
	changed_at) VALUES`, `(?, ?, ?, ?, ?, ?, ?)`, []any{corrID, 1, registryID, string(RoleTo), string(StateDelivered), entryID, now}})
}

// insertForwarded queues the inserting of a recipient registry added to a
// registered letter at position, delivered to its incoming entry.
func (x *txn) insertForwarded(corrID int64, position int, registryID, entryID int64, now time.Time) {
	x.insert(insert{`INSERT INTO correspondence_recipients (correspondence_id, position, registry_id, role, state, entry_id,
	changed_at) VALUES`, `(?, ?, ?, ?, ?, ?, ?)`, []any{corrID, position, registryID, string(RoleTo), string(StateDelivered), entryID, now}})
}

// replaceRecipients queues the replacing of a draft's recipients.
func (x *txn) replaceRecipients(corrID int64, rs []recipient) {
	x.exec(`DELETE FROM correspondence_recipients WHERE correspondence_id = ?`, corrID)
	x.insertRecipients(corrID, rs, StatePending)
}

// insertReferences queues the inserting of references.
func (x *txn) insertReferences(corrID int64, refs []Reference) {
	if len(refs) == 0 {
		return
	}
	rows := make([]string, len(refs))
	args := make([]any, 0, 3*len(refs))
	for i, r := range refs {
		rows[i] = "(?, ?, ?)"
		args = append(args, corrID, r.ID, string(r.Relation))
	}
	x.insert(insert{"INSERT INTO correspondence_references (correspondence_id, referenced_id, relation) VALUES",
		strings.Join(rows, ", "), args})
}

// replaceReferences queues the replacing of a draft's references.
func (x *txn) replaceReferences(corrID int64, refs []Reference) {
	x.exec(`DELETE FROM correspondence_references WHERE correspondence_id = ?`, corrID)
	x.insertReferences(corrID, refs)
}

// attachmentBytes is, now, the size of a correspondence's attachments.
func (x *txn) attachmentBytes(corrID int64) (int64, error) {
	q, err := x.db()
	if err != nil {
		return 0, err
	}
	return attachmentBytes(x.ctx, q, corrID)
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

// findRegistries reads, now, the registries with these codes, by code.
func (x *txn) findRegistries(codes []string) (map[string]registryRow, error) {
	get := x.registries(codes)
	if err := x.run(); err != nil {
		return nil, err
	}
	return get(), nil
}

// loadPrincipal is loadPrincipal in x, now.
func (x *txn) loadPrincipal(a Actor) (*principal, error) {
	q, err := x.db()
	if err != nil {
		return nil, err
	}
	return loadPrincipal(x.ctx, q, a)
}

// findDepartment is findDepartment in x, now.
func (x *txn) findDepartment(field string, ministryID int64, code string) (departmentRow, error) {
	q, err := x.db()
	if err != nil {
		return departmentRow{}, err
	}
	return findDepartment(x.ctx, q, field, ministryID, code)
}

// ministryRegistry is ministryRegistry in x, now.
func (x *txn) ministryRegistry(ministryID int64, code string) (registryRow, error) {
	q, err := x.db()
	if err != nil {
		return registryRow{}, err
	}
	return ministryRegistry(x.ctx, q, ministryID, code)
}
