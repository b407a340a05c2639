package mailstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/message"
)

// status reads a mailbox's counters.
func status(tx *gorm.DB, userID int64, r mailboxRow) (Status, error) {
	st := Status{Mailbox: r.mailbox(), Messages: uint32(r.Messages), Size: r.Size}
	var counts struct {
		Unseen      int64 `gorm:"column:unseen"`
		Deleted     int64 `gorm:"column:deleted"`
		DeletedSize int64 `gorm:"column:deleted_size"`
	}
	// The \Deleted messages are few and have an index of their own: their
	// sizes cost no more than their count.
	err := tx.Raw(`SELECT
		(SELECT count(*) FROM mailbox_messages`+indexedBy(tx, "mailbox_messages_unseen")+` WHERE mailbox_id = ? AND NOT seen) AS unseen,
		d.n AS deleted, d.size AS deleted_size
		FROM (SELECT count(*) AS n, COALESCE(sum(size), 0) AS size FROM mailbox_messages`+indexedBy(tx, "mailbox_messages_deleted")+`
			WHERE mailbox_id = ? AND deleted) d`,
		r.ID, r.ID).Scan(&counts).Error
	if err != nil {
		return st, err
	}
	st.Unseen, st.Deleted, st.DeletedSize = uint32(counts.Unseen), uint32(counts.Deleted), counts.DeletedSize
	return st, nil
}

// indexedBy makes SQLite read the counts of SELECT and STATUS from their
// partial indexes (the unseen, the \Deleted messages) instead of walking
// the mailbox in its primary key, which its planner prefers without
// statistics: on 100,000 messages, 2 ms instead of 25 ms each. PostgreSQL
// picks them itself.
func indexedBy(tx *gorm.DB, index string) string {
	if tx.Dialector.Name() == "postgres" {
		return ""
	}
	return " INDEXED BY " + index
}

// Status reads a mailbox's counters by name (STATUS).
func (s *Store) Status(ctx context.Context, userID int64, name string) (Status, error) {
	name, err := CanonicalName(name)
	if err != nil {
		return Status{}, err
	}
	var st Status
	err = s.readTx(ctx, func(tx *gorm.DB) error {
		r, err := findMailbox(tx, userID, name)
		if err != nil {
			return err
		}
		st, err = status(tx, userID, r)
		return err
	})
	if err != nil {
		return Status{}, fmt.Errorf("status of %q: %w", name, err)
	}
	return st, nil
}

// Select returns what SELECT/EXAMINE needs, from one snapshot: events with
// a ModSeq up to Selected.HighestModSeq are already reflected in it.
func (s *Store) Select(ctx context.Context, userID int64, name string) (Selected, error) {
	name, err := CanonicalName(name)
	if err != nil {
		return Selected{}, err
	}
	if name == Inbox {
		if err := s.EnsureUser(ctx, userID); err != nil {
			return Selected{}, err
		}
	}
	var sel Selected
	err = s.readTx(ctx, func(tx *gorm.DB) error {
		r, err := findMailbox(tx, userID, name)
		if err != nil {
			return err
		}
		sel.Status, err = status(tx, userID, r)
		if err != nil {
			return err
		}
		sel.UIDs, err = s.selectUIDs(tx, r)
		if err != nil {
			return err
		}
		var first []int64
		if err := tx.Raw("SELECT COALESCE(min(uid), 0) FROM mailbox_messages"+indexedBy(tx, "mailbox_messages_unseen")+
			" WHERE mailbox_id = ? AND NOT seen", r.ID).Scan(&first).Error; err != nil {
			return err
		}
		if len(first) > 0 {
			sel.FirstUnseen = uint32(first[0])
		}
		sel.Flags = append(slices.Clone(systemFlags), keywordsFromColumn(r.Keywords)...)
		return nil
	})
	if err != nil {
		return Selected{}, fmt.Errorf("select %q: %w", name, err)
	}
	// The counters and the list come from one snapshot; keep them in step
	// all the same.
	sel.Messages = uint32(len(sel.UIDs))
	return sel, nil
}

// mailboxUIDs reads the UIDs of a mailbox, ascending, from the primary
// key alone. The callers have checked in the same transaction, or just
// before, that the mailbox is the user's. On SQLite the UIDs come as one
// comma-separated string (group_concat over the primary key, in its
// order): one row per message through database/sql and the driver was
// most of SELECT's time on a large mailbox. On PostgreSQL string_agg
// measured no faster than the rows (BenchmarkUIDs10k: 4.1–4.9 ms against
// 4.4 ms); SELECT keeps large lists instead (uidcache.go).
func mailboxUIDs(tx *gorm.DB, mailboxID int64) ([]uint32, error) {
	return mailboxUIDsFrom(tx, mailboxID, 0)
}

// mailboxUIDsFrom is mailboxUIDs for the UIDs from from on.
func mailboxUIDsFrom(tx *gorm.DB, mailboxID int64, from uint32) ([]uint32, error) {
	if tx.Dialector.Name() != "postgres" {
		var list []sql.NullString
		if err := tx.Raw("SELECT group_concat(uid) FROM mailbox_messages WHERE mailbox_id = ? AND uid >= ?", mailboxID, from).
			Scan(&list).Error; err != nil {
			return nil, err
		}
		if len(list) == 0 {
			return []uint32{}, nil
		}
		return parseUIDList(list[0].String)
	}
	rows, err := tx.Raw("SELECT uid FROM mailbox_messages WHERE mailbox_id = ? AND uid >= ? ORDER BY uid", mailboxID, from).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	uids := make([]uint32, 0, 64)
	for rows.Next() {
		var u int64
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		uids = append(uids, uint32(u))
	}
	return uids, rows.Err()
}

// parseUIDList reads "1,2,5" into ascending UIDs (sorting them if the
// database did not keep the index order).
func parseUIDList(s string) ([]uint32, error) {
	uids := make([]uint32, 0, strings.Count(s, ",")+1)
	var u uint64
	digits := false
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if digits {
				uids = append(uids, uint32(u))
			}
			u, digits = 0, false
			continue
		}
		c := s[i]
		if c < '0' || c > '9' || u > 1<<32 {
			return nil, fmt.Errorf("uid list: unexpected %q", c)
		}
		u, digits = u*10+uint64(c-'0'), true
	}
	if !slices.IsSorted(uids) {
		slices.Sort(uids)
	}
	return uids, nil
}

// UIDs returns the UIDs of the mailbox, ascending.
func (s *Store) UIDs(ctx context.Context, userID, mailboxID int64) ([]uint32, error) {
	if err := s.checkMailbox(ctx, userID, mailboxID); err != nil {
		return nil, err
	}
	uids, err := mailboxUIDs(s.db.Reader().WithContext(ctx), mailboxID)
	if err != nil {
		return nil, fmt.Errorf("uids of mailbox %d: %w", mailboxID, err)
	}
	return uids, nil
}

// fetchBatch is how many messages Fetch loads per query.
const fetchBatch = 256

// Fetch calls fn for each message of uids still in the mailbox, in UID
// order, loading them in batches. No database connection is held while fn
// runs.
func (s *Store) Fetch(ctx context.Context, userID, mailboxID int64, uids []uint32, o FetchOptions, fn func(*MessageInfo) error) error {
	found, err := s.fetch(ctx, userID, mailboxID, uids, o, fn)
	if err != nil || found {
		return err
	}
	// Nothing found: the messages are gone, or the mailbox is. A row found
	// proves the mailbox (of this user) exists, so only an empty answer
	// costs this second query.
	return s.checkMailbox(ctx, userID, mailboxID)
}

// fetch is Fetch without the check of the mailbox; found reports whether
// any message was.
func (s *Store) fetch(ctx context.Context, userID, mailboxID int64, uids []uint32, o FetchOptions, fn func(*MessageInfo) error) (found bool, err error) {
	if !slices.IsSorted(uids) {
		uids = sortedUIDs(uids)
	}
	if o.FlagsOnly && len(uids) > 0 {
		return s.fetchFlags(ctx, userID, mailboxID, uids, o, fn)
	}
	cols := `mm.uid, mm.modseq, mm.seen, mm.answered, mm.flagged, mm.deleted, mm.draft, mm.keywords,
		mm.internal_date, mm.size, m.header_size, m.sent_date, m.blob_key`
	from := "mailbox_messages mm JOIN messages m ON m.id = mm.message_id"
	if o.MailboxOnly {
		// No join: half the work per message of a FETCH (UID FLAGS).
		cols = `mm.uid, mm.modseq, mm.seen, mm.answered, mm.flagged, mm.deleted, mm.draft, mm.keywords,
		mm.internal_date, mm.size, 0, NULL, ''`
		from = "mailbox_messages mm"
	}
	if o.Envelope {
		cols += ", m.envelope"
	}
	if o.Structure {
		cols += ", m.structure"
	}
	g := s.db.Reader().WithContext(ctx)
	batch := make([]*MessageInfo, 0, fetchBatch)
	for _, b := range batches(uids, fetchBatch) {
		cond, args := uidCond(b)
		if o.ChangedSince > 0 {
			cond += " AND mm.modseq > ?"
			args = append(args, int64(o.ChangedSince))
		}
		rows, err := g.Raw(`SELECT `+cols+` FROM `+from+`
			WHERE mm.mailbox_id = ? AND mm.user_id = ? AND `+cond+` ORDER BY mm.uid`,
			append([]any{mailboxID, userID}, args...)...).Rows()
		if err != nil {
			return false, fmt.Errorf("fetch from mailbox %d: %w", mailboxID, err)
		}
		batch = batch[:0]
		for rows.Next() {
			mi := &MessageInfo{}
			var f flagSet
			var kw string
			var modseq, internal int64
			var sent *int64
			var env, body []byte
			dest := []any{&mi.UID, &modseq, &f.seen, &f.answered, &f.flagged, &f.deleted, &f.draft, &kw,
				&internal, &mi.Size, &mi.HeaderSize, &sent, &mi.BlobKey}
			if o.Envelope {
				dest = append(dest, &env)
			}
			if o.Structure {
				dest = append(dest, &body)
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return false, fmt.Errorf("fetch from mailbox %d: %w", mailboxID, err)
			}
			if len(b) > 1 && !inSorted(b, mi.UID) {
				continue
			}
			f.keywords = keywordsFromColumn(kw)
			mi.Flags = f.list()
			mi.ModSeq = uint64(modseq)
			mi.InternalDate = time.Unix(internal, 0).UTC()
			if sent != nil {
				mi.SentDate = time.Unix(*sent, 0).UTC()
			}
			if o.Envelope {
				mi.Envelope = new(message.Envelope)
				if err := json.Unmarshal(env, mi.Envelope); err != nil {
					rows.Close()
					return false, fmt.Errorf("envelope of uid %d in mailbox %d: %w", mi.UID, mailboxID, err)
				}
			}
			if o.Structure {
				mi.Body = new(message.Part)
				if err := json.Unmarshal(body, mi.Body); err != nil {
					rows.Close()
					return false, fmt.Errorf("structure of uid %d in mailbox %d: %w", mi.UID, mailboxID, err)
				}
			}
			batch = append(batch, mi)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return false, fmt.Errorf("fetch from mailbox %d: %w", mailboxID, err)
		}
		for _, mi := range batch {
			found = true
			if err := fn(mi); err != nil {
				return false, err
			}
		}
	}
	return found, nil
}

// OpenRaw returns length bytes of a raw message from offset (-1: to the
// end).
func (s *Store) OpenRaw(ctx context.Context, blobKey string, offset, length int64) (io.ReadCloser, error) {
	rc, err := s.blobs.OpenRange(ctx, blobKey, offset, length)
	if err != nil {
		return nil, fmt.Errorf("open message %s: %w", blobKey, err)
	}
	return rc, nil
}
