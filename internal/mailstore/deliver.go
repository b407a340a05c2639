package mailstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/message"
	"diwan.gov.sy/diwan/internal/spool"
)

// spool reads r to its end (at most maxBytes; more is ErrTooBig) and
// hashes it.
func (s *Store) spool(r io.Reader) (*spool.Spool, error) {
	sp, err := spool.Read(r, spool.Options{Limit: s.maxBytes, Memory: s.memSpool, Dir: s.spoolDir, Hash: true})
	if errors.Is(err, spool.ErrTooBig) {
		return nil, fmt.Errorf("message of more than %d bytes: %w", s.maxBytes, ErrTooBig)
	}
	return sp, err
}

// blobKey is where a message with the SHA-256 sum lives. One level of 256
// directories spreads the files of the filesystem store (a few thousand
// per directory at a million messages) while the directories themselves
// are made, and fsynced, only once: a second level would make almost every
// delivery create (and fsync) new directories until the store holds
// hundreds of thousands of messages.
func blobKey(sum string) string {
	return "msg/" + sum[0:2] + "/" + sum
}

// incoming is a spooled, parsed message ready to be stored.
type incoming struct {
	sp     *spool.Spool
	key    string
	parsed *message.Parsed
	env    string // JSON
	body   string // JSON
}

// receive spools, parses and stores the blob of a message; check, when
// not nil, may refuse it by its size before the blob is stored, and may
// return the state of its content's row when it read it (saving pin a
// query). The caller closes in.sp.
func (s *Store) receive(ctx context.Context, raw io.Reader, check func(size int64, key string) (*content, error)) (*incoming, error) {
	sp, err := s.spool(raw)
	if err != nil {
		return nil, err
	}
	key := blobKey(sp.Sum())
	var known *content
	if check != nil {
		if known, err = check(sp.Size(), key); err != nil {
			sp.Close()
			return nil, err
		}
	}
	in := &incoming{sp: sp, key: key}
	in.parsed, err = message.Parse(sp.Reader())
	if err != nil {
		sp.Close()
		return nil, fmt.Errorf("parse message: %w", err)
	}
	env, err := json.Marshal(in.parsed.Envelope)
	if err != nil {
		sp.Close()
		return nil, err
	}
	body, err := json.Marshal(in.parsed.Body)
	if err != nil {
		sp.Close()
		return nil, err
	}
	in.env, in.body = string(env), string(body)
	if err := s.putBlob(ctx, in, known); err != nil {
		sp.Close()
		return nil, err
	}
	return in, nil
}

// errTombstoned: the sweep is deleting the blob of this content; the
// delivery waits and stores it again.
var errTombstoned = errors.New("mailstore: content being swept")

// putBlob stores the blob after making sure no sweep can delete it before
// the caller's transaction references it (see sweep.go for the protocol).
func (s *Store) putBlob(ctx context.Context, in *incoming, known *content) error {
	deadline := time.Now().Add(s.tombstoneMx)
	for {
		err := s.pin(ctx, in.key, known)
		known = nil
		if err == nil {
			break
		}
		if !errors.Is(err, errTombstoned) || time.Now().After(deadline) {
			return fmt.Errorf("store message %s: %w", in.key, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	pctx, cancel := context.WithTimeout(ctx, s.putTimeout)
	defer cancel()
	var err error
	for try := 0; try < 2; try++ {
		// Once more after a failure: an object store can refuse a put
		// of a key whose previous object it is still removing (a sweep
		// that has just finished with this content).
		if _, err = s.blobs.PutKey(pctx, in.key, in.sp.Reader(), in.sp.Size()); err == nil || pctx.Err() != nil {
			break
		}
	}
	if err != nil {
		in.sp.Lend()
		return fmt.Errorf("store message %s: %w", in.key, err)
	}
	return nil
}

// content is the state of a content's messages row, as pin reads it.
type content struct {
	Present  bool  `gorm:"column:present"`
	Refs     int64 `gorm:"column:refs"`
	Deleting bool  `gorm:"column:deleting"`
}

// contentCols selects the content state of messages row msg (LEFT
// JOINed, NULL when there is none) as the columns of content.
const contentCols = "msg.id IS NOT NULL AS present, COALESCE(msg.refs, 0) AS refs, COALESCE(msg.deleting, FALSE) AS deleting"

// pin makes an existing unreferenced row of the content young again, so
// that the sweep leaves it alone for the grace period; a row being swept
// is errTombstoned. known, when not nil, is the row's state as the caller
// has just read it.
func (s *Store) pin(ctx context.Context, key string, known *content) error {
	if known == nil {
		var rows []content
		if err := s.db.Reader().WithContext(ctx).Raw("SELECT TRUE AS present, refs, deleting FROM messages WHERE blob_key = ?", key).Scan(&rows).Error; err != nil {
			return err
		}
		known = &content{}
		if len(rows) > 0 {
			known = &rows[0]
		}
	}
	switch {
	case !known.Present:
		return nil
	case known.Deleting:
		return errTombstoned
	case known.Refs > 0:
		return nil
	}
	res := s.db.Writer().WithContext(ctx).Exec("UPDATE messages SET orphaned_at = ? WHERE blob_key = ? AND refs = 0 AND NOT deleting", s.now(), key)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return s.pin(ctx, key, nil) // changed meanwhile: look again
	}
	return nil
}

// upsertSQL inserts the message row or adds refs to the existing one, and
// returns its id; no row when the sweep has claimed it (upsertArgs).
const upsertSQL = `INSERT INTO messages (blob_key, size, header_size, sent_date, envelope, structure,
		search_subject, search_from, search_to, search_cc, search_bcc, search_header, search_text,
		refs, orphaned_at, created_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (blob_key) DO UPDATE SET refs = messages.refs + excluded.refs,
		orphaned_at = CASE WHEN messages.refs + excluded.refs = 0 THEN excluded.orphaned_at END
		WHERE NOT messages.deleting
	RETURNING id`

func (s *Store) upsertArgs(in *incoming, refs int64) []any {
	p := in.parsed
	var sent any
	if d := p.Envelope.Date; !d.IsZero() {
		sent = sentClock(d)
	}
	return []any{in.key, in.sp.Size(), p.Body.BodyStart, sent, in.env, in.body,
		p.Search.Subject, p.Search.From, p.Search.To, p.Search.Cc, p.Search.Bcc, p.Search.Header, p.Search.Text,
		refs, orphanedAt(refs, s.now()), s.now()}
}

// upsertMessage inserts the message row or adds refs to the existing one,
// and returns its id; errTombstoned when the sweep got there first.
func (s *Store) upsertMessage(tx *gorm.DB, in *incoming, refs int64) (int64, error) {
	var ids []int64
	if err := tx.Raw(upsertSQL, s.upsertArgs(in, refs)...).Scan(&ids).Error; err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, errTombstoned
	}
	return ids[0], nil
}

// storeOne upserts the message with one reference and inserts its one
// mailbox row (r.messageID is filled in); on PostgreSQL in one statement.
func (s *Store) storeOne(tx *gorm.DB, in *incoming, r newRow) error {
	if !s.postgres() {
		id, err := s.upsertMessage(tx, in, 1)
		if err != nil {
			return err
		}
		r.messageID = id
		return insertRows(tx, []newRow{r})
	}
	args := append(s.upsertArgs(in, 1), r.mailboxID, r.uid, r.userID, r.modseq, r.flags.seen, r.flags.answered,
		r.flags.flagged, r.flags.deleted, r.flags.draft, keywordsColumn(r.flags.keywords), r.internal, r.size)
	var ids []int64
	err := tx.Raw(`WITH m AS (`+upsertSQL+`)
		INSERT INTO mailbox_messages (mailbox_id, uid, user_id, message_id, modseq, seen, answered, flagged,
			deleted, draft, keywords, internal_date, size)
		SELECT ?::bigint, ?::bigint, ?::bigint, m.id, ?::bigint, ?::boolean, ?::boolean, ?::boolean,
			?::boolean, ?::boolean, ?::text, ?::bigint, ?::bigint FROM m
		RETURNING message_id`, args...).Scan(&ids).Error
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return errTombstoned
	}
	return nil
}

func orphanedAt(refs, now int64) any {
	if refs == 0 {
		return now
	}
	return nil
}

// abandon records a stored blob that no transaction came to reference, so
// that the sweep removes it after the grace period.
func (s *Store) abandon(in *incoming) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.tx(ctx, func(tx *gorm.DB) error {
		_, err := s.upsertMessage(tx, in, 0)
		return err
	})
	if err != nil && !errors.Is(err, errTombstoned) {
		s.log.Warn("mailstore: cannot record an unreferenced blob; it stays until a full sweep",
			"key", in.key, "err", err)
	}
}

// newRow is one mailbox_messages row to insert.
type newRow struct {
	mailboxID, userID, messageID int64
	uid                          uint32
	modseq                       int64
	flags                        flagSet
	internal                     int64
	size                         int64
}

func insertRows(tx *gorm.DB, rows []newRow) error {
	for len(rows) > 0 {
		b := rows[:min(len(rows), 200)]
		rows = rows[len(b):]
		q := make([]byte, 0, 64*len(b))
		q = append(q, `INSERT INTO mailbox_messages (mailbox_id, uid, user_id, message_id, modseq, seen, answered, flagged,
			deleted, draft, keywords, internal_date, size) VALUES `...)
		args := make([]any, 0, 13*len(b))
		for i, r := range b {
			if i > 0 {
				q = append(q, ',')
			}
			q = append(q, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"...)
			args = append(args, r.mailboxID, r.uid, r.userID, r.messageID, r.modseq, r.flags.seen, r.flags.answered,
				r.flags.flagged, r.flags.deleted, r.flags.draft, keywordsColumn(r.flags.keywords), r.internal, r.size)
		}
		if err := tx.Exec(string(q), args...).Error; err != nil {
			return err
		}
	}
	return nil
}

// allocate takes n UIDs and a new MODSEQ in a mailbox of the user and
// counts size bytes into it; it locks the mailbox row until commit.
func allocate(tx *gorm.DB, userID, mailboxID int64, n, size int64) (mailboxRow, error) {
	return allocateWhere(tx, "id = ?", mailboxID, userID, n, size)
}

// allocateInbox is allocate in the user's INBOX.
func allocateInbox(tx *gorm.DB, userID int64, n, size int64) (mailboxRow, error) {
	return allocateWhere(tx, "name = ?", Inbox, userID, n, size)
}

// allocateOne takes the usage of one message of size bytes (within
// quota, as addUsage) and one UID in the mailbox; on PostgreSQL in one
// statement.
func (s *Store) allocateOne(tx *gorm.DB, userID, mailboxID, size, quota int64) (mailboxRow, error) {
	return s.allocateOneWhere(tx, "id = ?", mailboxID, userID, size, quota)
}

// allocateOneWhere is allocateOne in the mailbox of the user that cond
// (on box) names. A mailbox that is not there is ErrNotFound and a full
// quota ErrOverQuota, with nothing changed either way.
func (s *Store) allocateOneWhere(tx *gorm.DB, cond string, box any, userID, size, quota int64) (mailboxRow, error) {
	if !s.postgres() {
		var r mailboxRow
		err := addUsage(tx, userID, size, quota, true)
		if err == nil {
			r, err = allocateWhere(tx, cond, box, userID, 1, size)
			if errors.Is(err, ErrNotFound) {
				if uerr := addUsage(tx, userID, -size, 0, false); uerr != nil {
					return mailboxRow{}, uerr
				}
			}
		}
		return r, err
	}
	var rows []mailboxRow
	// The usage is counted only when the mailbox exists (the statements
	// of a WITH all run, whatever the final UPDATE finds).
	err := tx.Raw(`WITH b AS (SELECT id AS box_id FROM mailboxes WHERE `+cond+` AND user_id = ?),
		u AS (
			UPDATE mail_users SET used_bytes = used_bytes + ? WHERE user_id = ? AND `+quotaRoom+`
				AND EXISTS (SELECT 1 FROM b)
			RETURNING user_id)
		UPDATE mailboxes SET `+allocateSet+`
		FROM u, b WHERE mailboxes.id = b.box_id AND mailboxes.user_id = u.user_id
		RETURNING `+mailboxCols, box, userID, size, userID, size, quota, size, 1, 1, size).Scan(&rows).Error
	if err != nil {
		return mailboxRow{}, err
	}
	if len(rows) == 0 {
		return mailboxRow{}, notAllocated(tx, cond, box, userID, size, quota)
	}
	return firstAllocated(rows[0], 1)
}

// notAllocated says why an allocation in the mailbox cond names took
// nothing: no mailbox, no mail store, or the quota.
func notAllocated(tx *gorm.DB, cond string, box any, userID, size, quota int64) error {
	var n int64
	if err := tx.Raw("SELECT count(*) FROM mailboxes WHERE "+cond+" AND user_id = ?", box, userID).Scan(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("mailbox %v of user %d: %w", box, userID, ErrNotFound)
	}
	if err := addUsage(tx, userID, size, quota, true); err != nil {
		return err
	}
	return fmt.Errorf("mailbox %v of user %d: usage and UID not taken", box, userID)
}

// allocateSet is the SET of an allocation of ? UIDs for ? messages of ?
// bytes, with a new MODSEQ.
const allocateSet = `uid_next = uid_next + ?, highest_modseq = highest_modseq + 1,
	messages = messages + ?, size = size + ?`

func allocateWhere(tx *gorm.DB, cond string, box any, userID, n, size int64) (mailboxRow, error) {
	var rows []mailboxRow
	err := tx.Raw(`UPDATE mailboxes SET `+allocateSet+`
		WHERE `+cond+` AND user_id = ? RETURNING `+mailboxCols, n, n, size, box, userID).Scan(&rows).Error
	if err != nil {
		return mailboxRow{}, err
	}
	if len(rows) == 0 {
		return mailboxRow{}, fmt.Errorf("mailbox %v of user %d: %w", box, userID, ErrNotFound)
	}
	return firstAllocated(rows[0], n)
}

// firstAllocated turns the mailbox row an allocation of n UIDs returned
// into one whose UIDNext is the first UID allocated.
func firstAllocated(r mailboxRow, n int64) (mailboxRow, error) {
	if r.UIDNext > 1<<32-1 {
		return mailboxRow{}, fmt.Errorf("mailbox %d has used up its UIDs", r.ID)
	}
	r.UIDNext -= n
	return r, nil
}

// appendTarget is the mailbox an APPEND goes to, with the user's usage
// and the state of the content's row.
type appendTarget struct {
	ID        int64 `gorm:"column:id"`
	UsedBytes int64 `gorm:"column:used_bytes"`
	// Named and tagged: gorm skips an embedded field of an unexported
	// type, which left the content's state always zero (absent), so an
	// APPEND of content being swept stored its blob without waiting.
	Content content `gorm:"embedded"`
}

// Append stores raw in the named mailbox (APPEND).
func (s *Store) Append(ctx context.Context, userID int64, mailbox string, raw io.Reader, o AppendOptions) (Appended, error) {
	name, err := CanonicalName(mailbox)
	if err != nil {
		return Appended{}, err
	}
	flags, err := parseFlags(o.Flags)
	if err != nil {
		return Appended{}, err
	}
	quota, err := s.ensureUser(ctx, userID)
	if err != nil {
		return Appended{}, err
	}
	var t appendTarget
	// Refuse before storing what cannot fit; the transaction checks again.
	in, err := s.receive(ctx, raw, func(size int64, key string) (*content, error) {
		var targets []appendTarget
		if err := s.db.Reader().WithContext(ctx).Raw(`SELECT mb.id, COALESCE(mu.used_bytes, 0) AS used_bytes, `+contentCols+`
			FROM mailboxes mb LEFT JOIN mail_users mu ON mu.user_id = mb.user_id
				LEFT JOIN messages msg ON msg.blob_key = ?
			WHERE mb.user_id = ? AND mb.name = ?`, key, userID, name).Scan(&targets).Error; err != nil {
			return nil, err
		}
		if len(targets) == 0 {
			return nil, fmt.Errorf("mailbox %q: %w", name, ErrNotFound)
		}
		t = targets[0]
		if quota > 0 && t.UsedBytes+size > quota {
			return nil, fmt.Errorf("user %d: %d bytes used of %d: %w", userID, t.UsedBytes, quota, ErrOverQuota)
		}
		return &t.Content, nil
	})
	if err != nil {
		return Appended{}, err
	}
	defer in.sp.Close()
	internal := o.InternalDate
	if internal.IsZero() {
		internal = s.clock()
	}
	var res Appended
	write := func(tx *gorm.DB) ([]Event, error) {
		r, err := s.allocateOne(tx, userID, t.ID, in.sp.Size(), quota)
		if err != nil {
			return nil, err
		}
		f := flags
		boxKW, grew, err := canonKeywords(keywordsFromColumn(r.Keywords), &f)
		if err != nil {
			return nil, err
		}
		if grew {
			if err := tx.Exec("UPDATE mailboxes SET keywords = ? WHERE id = ?", keywordsColumn(boxKW), t.ID).Error; err != nil {
				return nil, err
			}
		}
		uid := uint32(r.UIDNext)
		if err := s.storeOne(tx, in, newRow{mailboxID: t.ID, userID: userID, uid: uid,
			modseq: r.HighestModseq, flags: f, internal: internal.Unix(), size: in.sp.Size()}); err != nil {
			return nil, err
		}
		res = Appended{MailboxID: t.ID, UIDValidity: uint32(r.UIDValidity), UID: uid,
			ModSeq: uint64(r.HighestModseq), Size: in.sp.Size()}
		return []Event{{Kind: EventAppend, UserID: userID, MailboxID: t.ID, ModSeq: uint64(r.HighestModseq),
			UIDs: []uint32{uid}, Messages: uint32(r.Messages)}}, nil
	}
	if err := s.commitStored(ctx, in, []int64{userID}, write); err != nil {
		return Appended{}, fmt.Errorf("append to %q: %w", name, err)
	}
	return res, nil
}

// commitStored commits the write that references the stored blob of in;
// when the sweep took the content meanwhile it stores the blob again and
// retries. A blob no write came to reference is left to the sweep.
func (s *Store) commitStored(ctx context.Context, in *incoming, users []int64, write func(tx *gorm.DB) ([]Event, error)) error {
	var err error
	for attempt := 0; ; attempt++ {
		err = s.commitWrite(ctx, users, write)
		if errors.Is(err, errTombstoned) && attempt < 3 {
			if err = s.putBlob(ctx, in, nil); err == nil {
				continue
			}
		}
		break
	}
	if err != nil {
		s.abandon(in)
	}
	return err
}

// deliverOneSQL takes the usage and a UID in the recipient's INBOX (when
// it exists and the quota has room), upserts the message and inserts its
// mailbox row, in one statement; it returns the mailbox as allocated and
// how many mailbox rows it stored (0: the sweep has claimed the content).
const deliverOneSQL = `WITH b AS (SELECT id AS box_id FROM mailboxes WHERE name = ? AND user_id = ?),
	u AS (
		UPDATE mail_users SET used_bytes = used_bytes + ? WHERE user_id = ? AND ` + quotaRoom + `
			AND EXISTS (SELECT 1 FROM b)
		RETURNING user_id),
	a AS (
		UPDATE mailboxes SET ` + allocateSet + `
		FROM u, b WHERE mailboxes.id = b.box_id AND mailboxes.user_id = u.user_id
		RETURNING ` + mailboxCols + `),
	m AS (
		INSERT INTO messages (blob_key, size, header_size, sent_date, envelope, structure,
			search_subject, search_from, search_to, search_cc, search_bcc, search_header, search_text,
			refs, orphaned_at, created_at)
		SELECT ?::text, ?::bigint, ?::bigint, ?::bigint, ?::text, ?::text,
			?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text,
			?::bigint, ?::bigint, ?::bigint
		WHERE EXISTS (SELECT 1 FROM a)
		ON CONFLICT (blob_key) DO UPDATE SET refs = messages.refs + excluded.refs,
			orphaned_at = CASE WHEN messages.refs + excluded.refs = 0 THEN excluded.orphaned_at END
			WHERE NOT messages.deleting
		RETURNING id),
	r AS (
		INSERT INTO mailbox_messages (mailbox_id, uid, user_id, message_id, modseq, internal_date, size)
		SELECT a.id, a.uid_next - 1, ?::bigint, m.id, a.highest_modseq, ?::bigint, ?::bigint FROM a, m
		RETURNING message_id)
	SELECT a.*, (SELECT count(*) FROM r) AS stored FROM a`

// deliverOne is Deliver's write for one recipient.
func (s *Store) deliverOne(tx *gorm.DB, in *incoming, u, quota, now int64, delivered *[]int64, failed *[]*RecipientError) ([]Event, error) {
	r, err := s.storeInInbox(tx, in, u, quota, now)
	if errors.Is(err, ErrOverQuota) || errors.Is(err, ErrNotFound) {
		*failed = append(*failed, &RecipientError{UserID: u, Err: err})
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	*delivered = append(*delivered, u)
	return []Event{{Kind: EventAppend, UserID: u, MailboxID: r.ID,
		ModSeq: uint64(r.HighestModseq), UIDs: []uint32{uint32(r.UIDNext)}, Messages: uint32(r.Messages)}}, nil
}

// storeInInbox takes the usage and a UID in u's INBOX and stores the
// message there; it returns the INBOX as allocated (UIDNext is the
// message's UID). On PostgreSQL it is one statement instead of four: the
// committer's transaction is a round trip shorter per delivery.
func (s *Store) storeInInbox(tx *gorm.DB, in *incoming, u, quota, now int64) (mailboxRow, error) {
	if !s.postgres() {
		r, err := s.allocateOneWhere(tx, "name = ?", Inbox, u, in.sp.Size(), quota)
		if err != nil {
			return mailboxRow{}, err
		}
		return r, s.storeOne(tx, in, newRow{mailboxID: r.ID, userID: u, uid: uint32(r.UIDNext),
			modseq: r.HighestModseq, internal: now, size: in.sp.Size()})
	}
	var rows []struct {
		Box    mailboxRow `gorm:"embedded"` // named: gorm skips embedded unexported types
		Stored int64      `gorm:"column:stored"`
	}
	args := []any{Inbox, u, in.sp.Size(), u, in.sp.Size(), quota, in.sp.Size(), 1, 1, in.sp.Size()}
	args = append(args, s.upsertArgs(in, 1)...)
	args = append(args, u, now, in.sp.Size())
	if err := tx.Raw(deliverOneSQL, args...).Scan(&rows).Error; err != nil {
		return mailboxRow{}, err
	}
	switch {
	case len(rows) == 0:
		return mailboxRow{}, notAllocated(tx, "name = ?", Inbox, u, in.sp.Size(), quota)
	case rows[0].Stored == 0:
		return mailboxRow{}, errTombstoned
	}
	return firstAllocated(rows[0].Box, 1)
}

// Deliver stores raw once and puts it in the INBOX of every recipient.
func (s *Store) Deliver(ctx context.Context, recipients []int64, raw io.Reader) error {
	users := slices.Clone(recipients)
	slices.Sort(users)
	users = slices.Compact(users)
	if len(users) == 0 {
		return errors.New("deliver: no recipients")
	}
	derr := &DeliveryError{}
	quotas, err := s.ensureUsers(ctx, users)
	if err != nil {
		return err
	}
	users = slices.DeleteFunc(users, func(u int64) bool {
		if _, ok := quotas[u]; ok {
			return false
		}
		derr.Failed = append(derr.Failed, &RecipientError{UserID: u, Err: fmt.Errorf("user %d: %w", u, ErrNotFound)})
		return true
	})
	if len(users) == 0 {
		return derr
	}
	in, err := s.receive(ctx, raw, nil)
	if err != nil {
		return err
	}
	defer in.sp.Close()
	now := s.clock().Unix()
	var delivered []int64
	var failed []*RecipientError
	write := func(tx *gorm.DB) ([]Event, error) {
		delivered, failed = nil, nil
		if len(users) == 1 {
			return s.deliverOne(tx, in, users[0], quotas[users[0]], now, &delivered, &failed)
		}
		return s.deliverMany(tx, in, users, quotas, now, &delivered, &failed)
	}
	if err := s.commitStored(ctx, in, users, write); err != nil {
		return fmt.Errorf("deliver to %d recipient(s): %w", len(users), err)
	}
	if len(delivered) == 0 {
		s.abandon(in)
	}
	derr.Failed = append(derr.Failed, failed...)
	derr.Delivered = delivered
	if len(derr.Failed) > 0 {
		return derr
	}
	return nil
}

// deliverMany is Deliver's write for several recipients: users in ID order
// (the lock order), each: usage, then INBOX; then one message row for all.
func (s *Store) deliverMany(tx *gorm.DB, in *incoming, users []int64, quotas map[int64]int64, now int64,
	delivered *[]int64, failed *[]*RecipientError) ([]Event, error) {
	var rows []newRow
	var events []Event
	for _, u := range users {
		if err := addUsage(tx, u, in.sp.Size(), quotas[u], true); err != nil {
			if !errors.Is(err, ErrOverQuota) && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			*failed = append(*failed, &RecipientError{UserID: u, Err: err})
			continue
		}
		r, err := allocateInbox(tx, u, 1, in.sp.Size())
		if errors.Is(err, ErrNotFound) {
			if err := addUsage(tx, u, -in.sp.Size(), 0, false); err != nil {
				return nil, err
			}
			*failed = append(*failed, &RecipientError{UserID: u, Err: err})
			continue
		}
		if err != nil {
			return nil, err
		}
		uid := uint32(r.UIDNext)
		rows = append(rows, newRow{mailboxID: r.ID, userID: u, uid: uid,
			modseq: r.HighestModseq, internal: now, size: in.sp.Size()})
		events = append(events, Event{Kind: EventAppend, UserID: u, MailboxID: r.ID,
			ModSeq: uint64(r.HighestModseq), UIDs: []uint32{uid}, Messages: uint32(r.Messages)})
		*delivered = append(*delivered, u)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	msgID, err := s.upsertMessage(tx, in, int64(len(rows)))
	if err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i].messageID = msgID
	}
	return events, insertRows(tx, rows)
}
