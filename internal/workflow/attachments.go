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
			return nil, &TransitionError{Object: "entry", ID: e.ID, Action: "attach", State: State(e.State), Reason: whyNotAttach(&e)}
		}
		return &e, nil
	}
	return nil, fmt.Errorf("attachments of correspondence %d: %w", corrID, ErrForbidden)
}

// whyNotAttach says why the attachments of e no longer change.
func whyNotAttach(e *entryView) string {
	switch {
	case e.FrozenAt != nil || e.Number != nil:
		return "registered letters are frozen; their document and attachments no longer change"
	case e.Direction == string(Outgoing):
		return "attachments change only while the letter is a draft"
	default:
		return "attachments change only on a paper letter not yet registered"
	}
}

// attachmentBytes is the size of the letter's attachments together.
func attachmentBytes(ctx context.Context, q *gorm.DB, corrID int64) (int64, error) {
	return attachmentsOn(ctx, q).AttachmentBytes(corrID)
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
	st := attachmentsOn(ctx, tx)
	used, err := st.AttachmentBytes(corrID)
	if err != nil {
		return 0, err
	}
	body, err := st.BodyBytes(corrID)
	if err != nil {
		return 0, err
	}
	return min(perFile, perLetter-used-body), nil
}

func (s *Service) addAttachment(ctx context.Context, a Actor, corrID int64, name string, r io.Reader) (Attachment, error) {
	display := displayName(name)
	key := newBlobKey()
	room, err := s.reserveUpload(ctx, a, corrID, key)
	if err != nil {
		return Attachment{}, wrapPublic("add attachment", err)
	}
	forget := func() { s.forgetBlob(ctx, key, "forget pending attachment blob") }

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
	row := attachmentRow{CorrespondenceID: corrID, Name: display, ContentType: ctype, Size: info.Size,
		SHA256: info.SHA256, BlobKey: key}
	out, err := s.recordAttachment(ctx, a, row)
	if err != nil {
		forget()
		return Attachment{}, wrapPublic("add attachment", err)
	}
	return out, nil
}

// reserveUpload checks that a may attach to the letter now and that it has
// room left, and notes key as pending before the upload starts; it returns
// the room.
func (s *Service) reserveUpload(ctx context.Context, a Actor, corrID int64, key string) (int64, error) {
	var room int64
	err := s.change(ctx, func(tx *gorm.DB) error {
		p, err := loadPrincipal(ctx, tx, a)
		if err != nil {
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
		return attachmentsOn(ctx, tx).AddPendingBlob(key, s.clock())
	})
	return room, err
}

// recordAttachment stores the row of an uploaded attachment (its blob
// stored), checking again that a may attach and that it fits, and forgets
// its key as pending.
func (s *Service) recordAttachment(ctx context.Context, a Actor, row attachmentRow) (Attachment, error) {
	var out Attachment
	err := s.change(ctx, func(tx *gorm.DB) error {
		p, err := loadPrincipal(ctx, tx, a)
		if err != nil {
			return err
		}
		e, err := s.editableDocument(ctx, tx, p, row.CorrespondenceID, true)
		if err != nil {
			return err
		}
		room, err := s.letterRoom(ctx, tx, row.CorrespondenceID)
		if err != nil {
			return err
		}
		if row.Size > room {
			return fmt.Errorf("attachment of %d bytes, room for %d: %w", row.Size, room, ErrTooLarge)
		}
		row.CreatedBy, row.CreatedAt = ptr(p.id), s.clock()
		st := attachmentsOn(ctx, tx)
		if err := st.InsertAttachment(&row); err != nil {
			return err
		}
		if err := st.ForgetPendingBlob(row.BlobKey); err != nil {
			return err
		}
		out = row.attachment(p.login)
		return s.record(ctx, tx, p, event{corrID: row.CorrespondenceID, entryID: e.ID, action: "attach", comment: row.Name,
			details: map[string]any{"attachment": row.ID, "name": row.Name, "size": row.Size, "sha256": row.SHA256,
				"content_type": row.ContentType}})
	})
	return out, err
}

// forgetBlob deletes the blob under key and forgets it as pending; what
// fails is left to the sweeper (what: the log line of a failed forget).
func (s *Service) forgetBlob(ctx context.Context, key, what string) {
	// A fresh context: the caller's may be cancelled already.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.blobs.Delete(ctx, key); err != nil && !errors.Is(err, blob.ErrNotFound) {
		s.log.Warn("delete attachment blob; the sweeper will retry", "key", key, "err", err)
		return
	}
	if err := attachmentsOn(ctx, s.db.Writer()).ForgetPendingBlob(key); err != nil {
		s.log.Warn(what, "key", key, "err", err)
	}
}

func (r attachmentRow) attachment(createdBy string) Attachment {
	return Attachment{ID: r.ID, CorrespondenceID: r.CorrespondenceID, Name: r.Name, ContentType: r.ContentType,
		Size: r.Size, SHA256: r.SHA256, CreatedBy: createdBy, CreatedAt: r.CreatedAt}
}

// attachmentList is what attachmentSelect reads: the attachments, and the
// ids of the users who added them, for the directory to name after the
// read (nameCreators).
type attachmentList struct {
	items    []Attachment
	creators []int64 // of items, by index; 0 for none
}

// appendRow appends one row of attachmentSelect.
func (l *attachmentList) appendRow(r rowScanner) error {
	var a Attachment
	var by *int64
	if err := r.Scan(&a.ID, &a.CorrespondenceID, &a.Name, &a.ContentType, &a.Size, &a.SHA256, &a.CreatedAt, &by); err != nil {
		return err
	}
	l.items = append(l.items, a)
	l.creators = append(l.creators, deref(by))
	return nil
}

// nameCreators sets CreatedBy of l's items to the logins of their
// creators, asking the directory once for all of them; it is called after
// the read that listed them, holding no connection.
func (s *Service) nameCreators(ctx context.Context, l attachmentList) error {
	logins, err := s.logins(ctx, l.creatorIDs())
	if err != nil {
		return fmt.Errorf("name the authors of attachments: %w", err)
	}
	l.name(logins)
	return nil
}

// creatorIDs are the ids of l's creators.
func (l attachmentList) creatorIDs() []int64 {
	var ids []int64
	for _, id := range l.creators {
		if id != 0 {
			ids = append(ids, id)
		}
	}
	return ids
}

// shownAs is l with every creator shown as who (a registry's code), none
// left to name.
func (l attachmentList) shownAs(who string) attachmentList {
	for i := range l.items {
		l.items[i].CreatedBy = who
	}
	return attachmentList{items: l.items}
}

// name sets CreatedBy of l's items to their creators' logins.
func (l attachmentList) name(logins map[int64]string) {
	for i, id := range l.creators {
		l.items[i].CreatedBy = logins[id]
	}
}

func (s *Service) openAttachment(ctx context.Context, a Actor, corrID, attID int64) (Attachment, io.ReadCloser, error) {
	var p *principal
	var es []entryView
	var row attachmentRow
	var found bool
	err := s.read(ctx, func(q *gorm.DB) error {
		var err error
		if p, err = loadPrincipal(ctx, q, a); err != nil {
			return err
		}
		if es, _, err = s.visibleEntries(ctx, q, p, corrID); err != nil || len(es) == 0 {
			return err
		}
		row, found, err = attachmentsOn(ctx, q).Attachment(corrID, attID)
		return err
	})
	if err != nil {
		return Attachment{}, nil, err
	}
	if len(es) == 0 || !found || onlyRecalled(es) {
		return Attachment{}, nil, notFound("attachment", attID)
	}
	l := attachmentList{items: []Attachment{row.attachment("")}, creators: []int64{deref(row.CreatedBy)}}
	if err := s.nameCreators(ctx, l); err != nil {
		return Attachment{}, nil, err
	}
	if err := s.auditRead(ctx, p, corrID, Classification(es[0].Classification), "download",
		map[string]any{"attachment": attID}); err != nil {
		return Attachment{}, nil, err
	}
	rc, err := s.blobs.Open(ctx, row.BlobKey)
	if err != nil {
		return Attachment{}, nil, fmt.Errorf("open attachment %d: %w", attID, err)
	}
	return l.items[0], rc, nil
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
		st := attachmentsOn(ctx, tx)
		row, found, err := st.Attachment(corrID, attID)
		if err != nil {
			return err
		} else if !found {
			return notFound("attachment", attID)
		}
		key = row.BlobKey
		if err := st.DeleteAttachment(row.ID); err != nil {
			return err
		}
		if err := st.AddPendingBlob(key, s.clock()); err != nil {
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
	if err := attachmentsOn(ctx, s.db.Writer()).ForgetPendingBlob(key); err != nil {
		s.log.Warn("forget deleted attachment blob", "key", key, "err", err)
	}
	return nil
}

// sweepBatch bounds one sweep.
const sweepBatch = 1000

func (s *Service) sweepUploads(ctx context.Context, olderThan time.Time) (int, error) {
	st := attachmentsOn(ctx, s.db.Writer())
	rows, err := st.PendingBlobs(olderThan, sweepBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		used, err := st.BlobInUse(r.BlobKey)
		if err != nil {
			return n, err
		}
		if !used {
			if err := s.blobs.Delete(ctx, r.BlobKey); err != nil && !errors.Is(err, blob.ErrNotFound) {
				return n, fmt.Errorf("sweep attachment blob %s: %w", r.BlobKey, err)
			}
			n++
		}
		if err := st.ForgetPendingBlob(r.BlobKey); err != nil {
			return n, err
		}
	}
	return n, nil
}
