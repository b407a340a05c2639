package workflow

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/blob"
)

// Attachments stream to the blob store under a fresh random key (never
// whole in memory). Before the upload starts, the key is written to
// correspondence_blobs_pending in its own transaction; the transaction that
// creates the attachment row deletes it. If the process dies in between,
// SweepUploads finds the key and deletes the blob. A failed or refused
// upload stores nothing (the blob store's promise) and forgets the key.

// sniffLen is how much of the content http.DetectContentType reads.
const sniffLen = 512

// errLimit is returned by limitReader once the limit is passed.
var errLimit = errors.New("attachment limit exceeded")

// limitReader fails with errLimit as soon as more than limit bytes came.
type limitReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n > l.limit {
		return 0, errLimit
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		return n, errLimit
	}
	return n, err
}

func newBlobKey() string {
	var b [17]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	h := hex.EncodeToString(b[:])
	return "attachments/" + h[:2] + "/" + h[2:]
}

// editableDocument checks that p may change the document's attachments
// now: an outgoing draft its author or a clerk works on, or a paper letter
// received by p's registry and not yet registered. It returns the entry
// (locked when lock is set).
func (s *Service) editableDocument(ctx context.Context, tx *gorm.DB, p *principal, corrID int64, lock bool) (*entryView, error) {
	es, vias, err := s.visibleEntries(ctx, tx, p, corrID)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, notFound("correspondence", corrID)
	}
	for i, e := range es {
		switch {
		case e.Direction == string(Outgoing) && vias[i]&(viaClerk|viaAuthor) != 0,
			e.Direction == string(Incoming) && e.SenderRegistryID == nil && vias[i]&viaClerk != 0:
		default:
			continue
		}
		if lock {
			le, err := s.loadEntry(ctx, tx, e.ID, true)
			if err != nil {
				return nil, err
			}
			e = *le
		}
		if (e.Direction == string(Outgoing) && State(e.State) != StateDraft) ||
			(e.Direction == string(Incoming) && State(e.State) != StateReceived) || e.FrozenAt != nil {
			return nil, &TransitionError{Object: "entry", ID: e.ID, Action: "attach", State: State(e.State)}
		}
		return &e, nil
	}
	return nil, fmt.Errorf("attachments of correspondence %d: %w", corrID, ErrForbidden)
}

func attachmentBytes(ctx context.Context, q *gorm.DB, corrID int64) (int64, error) {
	var n *int64
	if err := q.WithContext(ctx).Raw(`SELECT SUM(size) FROM correspondence_attachments WHERE correspondence_id = ?`, corrID).Scan(&n).Error; err != nil {
		return 0, err
	}
	return deref(n), nil
}

// letterRoom is how many bytes one more attachment may have.
func (s *Service) letterRoom(ctx context.Context, tx *gorm.DB, corrID int64) (int64, error) {
	perFile, perLetter := s.cfg.MaxAttachmentBytes, s.cfg.MaxLetterBytes
	if perFile <= 0 {
		perFile = math.MaxInt64
	}
	if perLetter <= 0 {
		return perFile, nil
	}
	used, err := attachmentBytes(ctx, tx, corrID)
	if err != nil {
		return 0, err
	}
	octets := "LENGTH(CAST(body AS BLOB))"
	if s.isPostgres() {
		octets = "OCTET_LENGTH(body)"
	}
	var body int64
	if err := tx.WithContext(ctx).Raw(`SELECT `+octets+` FROM correspondence WHERE id = ?`, corrID).Scan(&body).Error; err != nil {
		return 0, err
	}
	return min(perFile, perLetter-used-body), nil
}

func (s *Service) addAttachment(ctx context.Context, a Actor, corrID int64, name string, r io.Reader) (Attachment, error) {
	display := displayName(name)
	key := newBlobKey()
	var p *principal
	var room int64
	err := s.change(ctx, func(tx *gorm.DB) error {
		var err error
		if p, err = loadPrincipal(ctx, tx, a); err != nil {
			return err
		}
		if _, err := s.editableDocument(ctx, tx, p, corrID, false); err != nil {
			return err
		}
		if room, err = s.letterRoom(ctx, tx, corrID); err != nil {
			return err
		}
		if room < 0 {
			return fmt.Errorf("letter %d is full: %w", corrID, ErrTooLarge)
		}
		return tx.WithContext(ctx).Create(&pendingBlobRow{BlobKey: key, Since: s.clock()}).Error
	})
	if err != nil {
		return Attachment{}, wrapPublic("add attachment", err)
	}
	forget := func() {
		// A fresh context: the caller's may be cancelled already.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := s.blobs.Delete(ctx, key); err != nil && !errors.Is(err, blob.ErrNotFound) {
			s.log.Warn("delete attachment blob; the sweeper will retry", "key", key, "err", err)
			return
		}
		if err := s.db.Gorm.WithContext(ctx).Where("blob_key = ?", key).Delete(&pendingBlobRow{}).Error; err != nil {
			s.log.Warn("forget pending attachment blob", "key", key, "err", err)
		}
	}

	// Sniff the type from the first bytes, then stream everything on.
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		forget()
		return Attachment{}, fmt.Errorf("add attachment: read upload: %w", err)
	}
	head = head[:n]
	ctype := http.DetectContentType(head)
	lr := &limitReader{r: io.MultiReader(bytes.NewReader(head), r), limit: room}
	info, err := s.blobs.PutKey(ctx, key, lr, -1)
	if err != nil {
		forget()
		if errors.Is(err, errLimit) {
			return Attachment{}, fmt.Errorf("attachment over %d bytes: %w", room, ErrTooLarge)
		}
		return Attachment{}, fmt.Errorf("add attachment: store: %w", err)
	}

	var out Attachment
	err = s.change(ctx, func(tx *gorm.DB) error {
		p, err := loadPrincipal(ctx, tx, a)
		if err != nil {
			return err
		}
		e, err := s.editableDocument(ctx, tx, p, corrID, true)
		if err != nil {
			return err
		}
		room, err := s.letterRoom(ctx, tx, corrID)
		if err != nil {
			return err
		}
		if info.Size > room {
			return fmt.Errorf("attachment of %d bytes, room for %d: %w", info.Size, room, ErrTooLarge)
		}
		row := attachmentRow{CorrespondenceID: corrID, Name: display, ContentType: ctype, Size: info.Size,
			SHA256: info.SHA256, BlobKey: key, CreatedBy: ptr(p.id), CreatedAt: s.clock()}
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			return err
		}
		if err := tx.WithContext(ctx).Where("blob_key = ?", key).Delete(&pendingBlobRow{}).Error; err != nil {
			return err
		}
		out = Attachment{ID: row.ID, CorrespondenceID: corrID, Name: display, ContentType: ctype, Size: info.Size,
			SHA256: info.SHA256, CreatedBy: p.login, CreatedAt: row.CreatedAt}
		return s.record(ctx, tx, p, event{corrID: corrID, entryID: e.ID, action: "attach", comment: display,
			details: map[string]any{"attachment": row.ID, "name": display, "size": info.Size, "sha256": info.SHA256,
				"content_type": ctype}})
	})
	if err != nil {
		forget()
		return Attachment{}, wrapPublic("add attachment", err)
	}
	return out, nil
}

type attachmentView struct {
	Row   attachmentRow `gorm:"embedded"`
	Login *string
}

func (v attachmentView) attachment() Attachment {
	r := v.Row
	return Attachment{ID: r.ID, CorrespondenceID: r.CorrespondenceID, Name: r.Name, ContentType: r.ContentType,
		Size: r.Size, SHA256: r.SHA256, CreatedBy: deref(v.Login), CreatedAt: r.CreatedAt}
}

const attachmentSelect = `SELECT a.id, a.correspondence_id, a.name, a.content_type, a.size, a.sha256, a.created_at,
	(SELECT u.login FROM users u WHERE u.id = a.created_by)
FROM correspondence_attachments a`

// appendAttachment appends each row of attachmentSelect to *to.
func appendAttachment(to *[]Attachment) func(r rowScanner) error {
	return func(r rowScanner) error {
		var a Attachment
		var login *string
		if err := r.Scan(&a.ID, &a.CorrespondenceID, &a.Name, &a.ContentType, &a.Size, &a.SHA256, &a.CreatedAt, &login); err != nil {
			return err
		}
		a.CreatedBy = deref(login)
		*to = append(*to, a)
		return nil
	}
}

func (s *Service) openAttachment(ctx context.Context, a Actor, corrID, attID int64) (Attachment, io.ReadCloser, error) {
	var p *principal
	var es []entryView
	var rows []attachmentView
	err := s.read(ctx, func(q *gorm.DB) error {
		var err error
		if p, err = loadPrincipal(ctx, q, a); err != nil {
			return err
		}
		if es, _, err = s.visibleEntries(ctx, q, p, corrID); err != nil || len(es) == 0 {
			return err
		}
		if err := q.WithContext(ctx).Raw(`SELECT a.*, u.login FROM correspondence_attachments a
LEFT JOIN users u ON u.id = a.created_by WHERE a.id = ? AND a.correspondence_id = ?`, attID, corrID).Scan(&rows).Error; err != nil {
			return fmt.Errorf("load attachment %d: %w", attID, err)
		}
		return nil
	})
	if err != nil {
		return Attachment{}, nil, err
	}
	if len(es) == 0 || len(rows) == 0 {
		return Attachment{}, nil, notFound("attachment", attID)
	}
	if err := s.auditRead(ctx, p, corrID, Classification(es[0].Classification), "download",
		map[string]any{"attachment": attID}); err != nil {
		return Attachment{}, nil, err
	}
	rc, err := s.blobs.Open(ctx, rows[0].Row.BlobKey)
	if err != nil {
		return Attachment{}, nil, fmt.Errorf("open attachment %d: %w", attID, err)
	}
	return rows[0].attachment(), rc, nil
}

func (s *Service) deleteAttachment(ctx context.Context, a Actor, corrID, attID int64) error {
	var key string
	err := s.change(ctx, func(tx *gorm.DB) error {
		p, err := loadPrincipal(ctx, tx, a)
		if err != nil {
			return err
		}
		e, err := s.editableDocument(ctx, tx, p, corrID, true)
		if err != nil {
			return err
		}
		var row attachmentRow
		err = tx.WithContext(ctx).Where("id = ? AND correspondence_id = ?", attID, corrID).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return notFound("attachment", attID)
		} else if err != nil {
			return err
		}
		key = row.BlobKey
		if err := tx.WithContext(ctx).Delete(&row).Error; err != nil {
			return err
		}
		if err := tx.WithContext(ctx).Create(&pendingBlobRow{BlobKey: key, Since: s.clock()}).Error; err != nil {
			return err
		}
		return s.record(ctx, tx, p, event{corrID: corrID, entryID: e.ID, action: "detach", comment: row.Name,
			details: map[string]any{"attachment": attID, "name": row.Name, "sha256": row.SHA256}})
	})
	if err != nil {
		return wrapPublic("delete attachment", err)
	}
	if err := s.blobs.Delete(ctx, key); err != nil && !errors.Is(err, blob.ErrNotFound) {
		s.log.Warn("delete attachment blob; the sweeper will retry", "key", key, "err", err)
		return nil
	}
	if err := s.db.Gorm.WithContext(ctx).Where("blob_key = ?", key).Delete(&pendingBlobRow{}).Error; err != nil {
		s.log.Warn("forget deleted attachment blob", "key", key, "err", err)
	}
	return nil
}

// sweepBatch bounds one sweep.
const sweepBatch = 1000

func (s *Service) sweepUploads(ctx context.Context, olderThan time.Time) (int, error) {
	var rows []pendingBlobRow
	if err := s.db.Gorm.WithContext(ctx).Where("since < ?", olderThan.UTC()).Order("since").Limit(sweepBatch).Find(&rows).Error; err != nil {
		return 0, fmt.Errorf("find pending attachment blobs: %w", err)
	}
	n := 0
	for _, r := range rows {
		var used int64
		if err := s.db.Gorm.WithContext(ctx).Model(&attachmentRow{}).Where("blob_key = ?", r.BlobKey).Count(&used).Error; err != nil {
			return n, err
		}
		if used == 0 {
			if err := s.blobs.Delete(ctx, r.BlobKey); err != nil && !errors.Is(err, blob.ErrNotFound) {
				return n, fmt.Errorf("sweep attachment blob %s: %w", r.BlobKey, err)
			}
			n++
		}
		if err := s.db.Gorm.WithContext(ctx).Where("blob_key = ?", r.BlobKey).Delete(&pendingBlobRow{}).Error; err != nil {
			return n, err
		}
	}
	return n, nil
}
