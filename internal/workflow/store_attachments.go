package workflow

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// The statements of attachments: their rows, the room a letter has left,
// and the keys of blobs being uploaded or deleted
// (correspondence_blobs_pending). The service (attachments.go) decides;
// attachmentStore reads and writes on the transaction or connection it is
// given. Who created an attachment is a user id here; the directory names
// them (Service.nameCreators).

// attachmentStore runs the attachments' statements on q.
type attachmentStore struct{ q *gorm.DB }

// attachmentsOn is the attachments' store on q (a transaction or a
// connection).
func attachmentsOn(ctx context.Context, q *gorm.DB) attachmentStore {
	return attachmentStore{q: q.WithContext(ctx)}
}

// attachmentSelect reads attachments as appendRow scans them; the letter's
// view queues it with the other reads of one round trip.
const attachmentSelect = `SELECT a.id, a.correspondence_id, a.name, a.content_type, a.size, a.sha256, a.created_at,
	a.created_by
FROM correspondence_attachments a`

// AttachmentBytes is the size of the letter's attachments together.
func (st attachmentStore) AttachmentBytes(corrID int64) (int64, error) {
	var n *int64
	if err := st.q.Raw(`SELECT SUM(size) FROM correspondence_attachments WHERE correspondence_id = ?`, corrID).
		Scan(&n).Error; err != nil {
		return 0, err
	}
	return deref(n), nil
}

// BodyBytes is the size in octets of the letter's body.
func (st attachmentStore) BodyBytes(corrID int64) (int64, error) {
	var n int64
	err := st.q.Raw(`SELECT OCTET_LENGTH(body) FROM correspondence WHERE id = ?`, corrID).Scan(&n).Error
	return n, err
}

// InsertAttachment inserts r and sets its id.
func (st attachmentStore) InsertAttachment(r *attachmentRow) error {
	return st.q.Raw(`INSERT INTO correspondence_attachments (correspondence_id, name, content_type, size, sha256,
	blob_key, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.CorrespondenceID, r.Name, r.ContentType, r.Size, r.SHA256, r.BlobKey, r.CreatedBy, r.CreatedAt).Scan(&r.ID).Error
}

// Attachment is the letter's attachment attID; found is whether there is
// one.
func (st attachmentStore) Attachment(corrID, attID int64) (r attachmentRow, found bool, err error) {
	var rows []attachmentRow
	if err := st.q.Raw(`SELECT id, correspondence_id, name, content_type, size, sha256, blob_key, created_by, created_at
FROM correspondence_attachments WHERE id = ? AND correspondence_id = ?`, attID, corrID).Scan(&rows).Error; err != nil {
		return r, false, fmt.Errorf("load attachment %d: %w", attID, err)
	}
	if len(rows) == 0 {
		return r, false, nil
	}
	return rows[0], true, nil
}

// DeleteAttachment deletes the attachment's row.
func (st attachmentStore) DeleteAttachment(id int64) error {
	return st.q.Exec(`DELETE FROM correspondence_attachments WHERE id = ?`, id).Error
}

// BlobInUse reports whether an attachment keeps its content under key.
func (st attachmentStore) BlobInUse(key string) (bool, error) {
	var n int64
	err := st.q.Raw(`SELECT COUNT(*) FROM correspondence_attachments WHERE blob_key = ?`, key).Scan(&n).Error
	return n > 0, err
}

// AddPendingBlob notes key as a blob being uploaded or deleted, since.
func (st attachmentStore) AddPendingBlob(key string, since time.Time) error {
	return st.q.Exec(`INSERT INTO correspondence_blobs_pending (blob_key, since) VALUES (?, ?)`, key, since).Error
}

// ForgetPendingBlob forgets key as pending.
func (st attachmentStore) ForgetPendingBlob(key string) error {
	return st.q.Exec(`DELETE FROM correspondence_blobs_pending WHERE blob_key = ?`, key).Error
}

// PendingBlobs lists at most limit keys pending since before t, oldest
// first.
func (st attachmentStore) PendingBlobs(t time.Time, limit int) ([]pendingBlobRow, error) {
	var rows []pendingBlobRow
	if err := st.q.Raw(`SELECT blob_key, since FROM correspondence_blobs_pending WHERE since < ? ORDER BY since LIMIT ?`,
		t.UTC(), limit).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("find pending attachment blobs: %w", err)
	}
	return rows, nil
}
