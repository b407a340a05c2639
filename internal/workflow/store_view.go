package workflow

import (
	"fmt"
	"time"
)

// The statements of a correspondence's view and its public verification.

// correspondenceLine is a row of correspondenceSelect.
type correspondenceLine struct {
	ID                                    int64
	Kind, Subject, Body                   string
	Classification, Priority, SenderParty string
	DueDate                               string
	CreatedAt, UpdatedAt                  time.Time
	FrozenAt                              *time.Time
	DocumentSHA256                        string
	Registry, Department                  *string
	CreatedBy                             *int64 // the author's user id
}

const correspondenceSelect = `SELECT c.id, c.kind, c.subject, c.body, c.classification, c.priority, c.sender_party,
	c.due_date, c.created_at, c.updated_at, c.frozen_at, c.document_sha256,
	r.code AS registry, d.code AS department, c.created_by
FROM correspondence c LEFT JOIN registries r ON r.id = c.sender_registry_id
LEFT JOIN departments d ON d.id = c.department_id WHERE c.id = ?`

func (c *correspondenceLine) scan(r rowScanner) error {
	return r.Scan(&c.ID, &c.Kind, &c.Subject, &c.Body, &c.Classification, &c.Priority, &c.SenderParty,
		&c.DueDate, &c.CreatedAt, &c.UpdatedAt, &c.FrozenAt, &c.DocumentSHA256, &c.Registry, &c.Department, &c.CreatedBy)
}

// recipientLine is a row of recipientSelect.
type recipientLine struct {
	Code      *string
	Party     string
	Role      string
	State     string
	Number    string
	Reason    string
	ChangedAt *time.Time
}

// recipientSelect reads the registry and entry of each recipient by key
// (not by join: a plan of a prepared statement made before statistics
// could scan the tables).
const recipientSelect = `SELECT (SELECT r.code FROM registries r WHERE r.id = x.registry_id), x.party, x.role, x.state,
	COALESCE((SELECT e.number FROM registry_entries e WHERE e.id = x.entry_id), x.number), x.reason, x.changed_at
FROM correspondence_recipients x WHERE x.correspondence_id = ? ORDER BY x.position`

// viewRows is what a view reads of a correspondence, in one round trip.
type viewRows struct {
	entries     []entryView
	document    []correspondenceLine // one, or none
	recipients  []recipientLine
	references  []Reference
	attachments attachmentList
	timeline    []eventRow
}

// loadView queues the reading of a correspondence for its view (the
// timeline's first limit events); the rows are there once x has run.
func (x *txn) loadView(corrID int64, limit int) *viewRows {
	v := &viewRows{references: []Reference{}, attachments: attachmentList{items: []Attachment{}}}
	x.query(entrySelect+" WHERE e.correspondence_id = ? ORDER BY e.id", []any{corrID}, appendEntry(&v.entries))
	x.query(correspondenceSelect, []any{corrID}, func(r rowScanner) error {
		var c correspondenceLine
		if err := c.scan(r); err != nil {
			return err
		}
		v.document = append(v.document, c)
		return nil
	})
	x.query(recipientSelect, []any{corrID}, func(r rowScanner) error {
		var l recipientLine
		if err := r.Scan(&l.Code, &l.Party, &l.Role, &l.State, &l.Number, &l.Reason, &l.ChangedAt); err != nil {
			return err
		}
		v.recipients = append(v.recipients, l)
		return nil
	})
	x.query(`SELECT referenced_id, relation FROM correspondence_references WHERE correspondence_id = ? ORDER BY referenced_id`,
		[]any{corrID}, func(r rowScanner) error {
			var ref Reference
			if err := r.Scan(&ref.ID, &ref.Relation); err != nil {
				return err
			}
			v.references = append(v.references, ref)
			return nil
		})
	x.query(attachmentSelect+" WHERE a.correspondence_id = ? ORDER BY a.id LIMIT 10000", []any{corrID}, v.attachments.appendRow)
	x.query(timelineSelect+" WHERE v.correspondence_id = ? ORDER BY v.id LIMIT ?", []any{corrID, limit},
		appendTimelineLine(&v.timeline))
	return v
}

// registration is a row of loadRegistration.
type registration struct {
	Code           string
	Direction      string
	State          string
	Number         string
	RegisteredAt   time.Time
	DocumentSHA256 string `gorm:"column:document_sha256"`
	Subject        string
	Classification string
}

// loadRegistration reads, now, the registration a correspondence is
// verified by: its outgoing entry's, else its first incoming one's.
func (x *txn) loadRegistration(corrID int64) ([]registration, error) {
	q, err := x.db()
	if err != nil {
		return nil, err
	}
	var rows []registration
	err = q.Raw(`SELECT r.code, e.direction, e.state, e.number, e.registered_at,
	c.document_sha256, c.subject, c.classification
FROM registry_entries e JOIN correspondence c ON c.id = e.correspondence_id JOIN registries r ON r.id = e.registry_id
WHERE e.correspondence_id = ? AND e.number IS NOT NULL
ORDER BY CASE WHEN e.direction = 'outgoing' THEN 0 ELSE 1 END, e.id LIMIT 1`, corrID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("load registration of %d: %w", corrID, err)
	}
	return rows, nil
}
