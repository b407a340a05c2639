package mailstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Expunged messages and QRESYNC (RFC 7162).
//
// Every expunge (EXPUNGE, MOVE out of a mailbox, RENAME of INBOX) records
// the UIDs that went with the MODSEQ of the change in mailbox_expunged, in
// the transaction that removes them. Vanished answers from it. The sweep
// prunes rows older than Options.ExpungedRetention and raises the
// mailbox's expunged_floor to the highest MODSEQ it pruned: a client that
// knew the mailbox at a MODSEQ below the floor can no longer be told
// exactly what went, and Vanished says so (the session then reports every
// UID the client may know that no longer exists, as RFC 7162 §3.2.5.2
// allows).

// DefaultExpungedRetention is Options.ExpungedRetention when zero: a
// client that resynchronises within 90 days learns exactly what went.
const DefaultExpungedRetention = 90 * 24 * time.Hour

// recordExpunged notes uids as expunged from the mailbox at modseq.
func (s *Store) recordExpunged(tx *gorm.DB, mailboxID int64, uids []uint32, modseq int64) error {
	now := s.now()
	for _, b := range batches(uids, 200) {
		var sb strings.Builder
		args := make([]any, 0, 4*len(b))
		for i, uid := range b {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?)")
			args = append(args, mailboxID, uid, modseq, now)
		}
		err := tx.Exec(`INSERT INTO mailbox_expunged (mailbox_id, uid, modseq, expunged_at) VALUES `+sb.String()+`
			ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq, expunged_at = excluded.expunged_at`,
			args...).Error
		if err != nil {
			return fmt.Errorf("record expunged uids of mailbox %d: %w", mailboxID, err)
		}
	}
	return nil
}

// Vanished returns the UIDs expunged from the mailbox after MODSEQ since,
// ascending, and whether that list is complete (false: records older than
// the retention were pruned, and some UIDs that went after since may be
// missing).
func (s *Store) Vanished(ctx context.Context, userID, mailboxID int64, since uint64) ([]uint32, bool, error) {
	var uids []uint32
	complete := false
	err := s.readTx(ctx, func(tx *gorm.DB) error {
		var floor []int64
		if err := tx.Raw("SELECT expunged_floor FROM mailboxes WHERE id = ? AND user_id = ?", mailboxID, userID).
			Scan(&floor).Error; err != nil {
			return err
		}
		if len(floor) == 0 {
			return fmt.Errorf("mailbox %d: %w", mailboxID, ErrNotFound)
		}
		complete = since >= uint64(floor[0])
		uids = uids[:0]
		return tx.Raw("SELECT uid FROM mailbox_expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
			mailboxID, int64(since)).Scan(&uids).Error
	})
	if err != nil {
		return nil, false, fmt.Errorf("vanished from mailbox %d: %w", mailboxID, err)
	}
	return uids, complete, nil
}

// pruneExpunged deletes the records older than the retention and raises
// the floors of their mailboxes; it returns how many went.
func (s *Store) pruneExpunged(ctx context.Context) (int64, error) {
	cutoff := s.now() - int64(s.retention/time.Second)
	var n int64
	err := s.tx(ctx, func(tx *gorm.DB) error {
		err := tx.Exec(`UPDATE mailboxes SET expunged_floor = (SELECT CASE WHEN max(e.modseq) > mailboxes.expunged_floor
				THEN max(e.modseq) ELSE mailboxes.expunged_floor END
			FROM mailbox_expunged e WHERE e.mailbox_id = mailboxes.id AND e.expunged_at < ?)
			WHERE id IN (SELECT mailbox_id FROM mailbox_expunged WHERE expunged_at < ?)`, cutoff, cutoff).Error
		if err != nil {
			return err
		}
		res := tx.Exec("DELETE FROM mailbox_expunged WHERE expunged_at < ?", cutoff)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("prune expunged uids: %w", err)
	}
	return n, nil
}

// Changed returns the UID, flags and MODSEQ of every message of the
// mailbox whose MODSEQ is above since, ascending by UID: what a client
// that knew the mailbox at since must learn (QRESYNC, CHANGEDSINCE). It
// reads the messages by their MODSEQ index, not the whole mailbox (the
// index is partial, WHERE modseq > 0: the query says so to use it).
func (s *Store) Changed(ctx context.Context, userID, mailboxID int64, since uint64) ([]FlagUpdate, error) {
	rows, err := s.db.Reader().WithContext(ctx).Raw(`SELECT uid, modseq, seen, answered, flagged, deleted, draft, keywords
		FROM mailbox_messages WHERE mailbox_id = ? AND user_id = ? AND modseq > ? AND modseq > 0`,
		mailboxID, userID, int64(min(since, 1<<63-1))).Rows()
	if err != nil {
		return nil, fmt.Errorf("changes in mailbox %d: %w", mailboxID, err)
	}
	defer rows.Close()
	var out []FlagUpdate
	for rows.Next() {
		var u FlagUpdate
		var f flagSet
		var kw string
		var ms int64
		if err := rows.Scan(&u.UID, &ms, &f.seen, &f.answered, &f.flagged, &f.deleted, &f.draft, &kw); err != nil {
			return nil, fmt.Errorf("changes in mailbox %d: %w", mailboxID, err)
		}
		f.keywords = keywordsFromColumn(kw)
		u.Flags, u.ModSeq = f.list(), uint64(ms)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("changes in mailbox %d: %w", mailboxID, err)
	}
	slices.SortFunc(out, func(a, b FlagUpdate) int { return cmp.Compare(a.UID, b.UID) })
	return out, nil
}
