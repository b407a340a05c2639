package mailstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"gorm.io/gorm"
)

// srcRow is a message read for copying.
type srcRow struct {
	uid       uint32
	messageID int64
	flags     flagSet
	internal  int64
	size      int64
}

// readRows reads the rows of uids (ascending) present in the mailbox.
func readRows(tx *gorm.DB, mailboxID int64, uids []uint32) ([]srcRow, error) {
	var out []srcRow
	for _, b := range batches(uids, 500) {
		cond, args := uidCond(b)
		rows, err := tx.Raw(`SELECT mm.uid, mm.message_id, mm.seen, mm.answered, mm.flagged, mm.deleted, mm.draft, mm.keywords,
				mm.internal_date, mm.size
			FROM mailbox_messages mm WHERE mm.mailbox_id = ? AND `+cond+` ORDER BY mm.uid`,
			append([]any{mailboxID}, args...)...).Rows()
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var r srcRow
			var kw string
			if err := rows.Scan(&r.uid, &r.messageID, &r.flags.seen, &r.flags.answered, &r.flags.flagged,
				&r.flags.deleted, &r.flags.draft, &kw, &r.internal, &r.size); err != nil {
				rows.Close()
				return nil, err
			}
			if len(b) > 1 && !inSorted(b, r.uid) {
				continue
			}
			r.flags.keywords = keywordsFromColumn(kw)
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Copy copies uids into the mailbox named dest (COPY, RFC 9051 §6.4.7).
func (s *Store) Copy(ctx context.Context, userID, mailboxID int64, uids []uint32, dest string) (Copied, error) {
	return s.copyMove(ctx, userID, mailboxID, uids, dest, false)
}

// Move is Copy and the removal of the source messages in one transaction
// (MOVE, RFC 6851).
func (s *Store) Move(ctx context.Context, userID, mailboxID int64, uids []uint32, dest string) (Copied, error) {
	return s.copyMove(ctx, userID, mailboxID, uids, dest, true)
}

func (s *Store) copyMove(ctx context.Context, userID, srcID int64, uids []uint32, dest string, move bool) (Copied, error) {
	what := "copy"
	if move {
		what = "move"
	}
	name, err := CanonicalName(dest)
	if err != nil {
		return Copied{}, err
	}
	if err := s.checkMailbox(ctx, userID, srcID); err != nil {
		return Copied{}, err
	}
	dst, err := findMailbox(s.db.Reader().WithContext(ctx), userID, name)
	if err != nil {
		return Copied{}, err
	}
	var quota int64
	if !move {
		if quota, err = s.quota(ctx, userID); err != nil {
			return Copied{}, err
		}
	}
	uids = sortedUIDs(uids)
	unlock := s.lock(userID)
	defer unlock()
	var res Copied
	var events []Event
	err = s.tx(ctx, func(tx *gorm.DB) error {
		res, events = Copied{}, nil
		if err := lockUser(tx, userID); err != nil {
			return err
		}
		// Lock both mailbox rows (in id order) before reading, so that no
		// expunge or flag change of the source slips in between.
		for _, id := range sortedIDs(srcID, dst.ID) {
			res := tx.Exec("UPDATE mailboxes SET uid_next = uid_next WHERE id = ? AND user_id = ?", id, userID)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return fmt.Errorf("mailbox %d: %w", id, ErrNotFound)
			}
		}
		src, err := readRows(tx, srcID, uids)
		if err != nil {
			return err
		}
		if len(src) == 0 {
			return errRollback
		}
		var size int64
		for _, r := range src {
			size += r.size
		}
		if !move {
			if err := addUsage(tx, userID, size, quota, true); err != nil {
				return err
			}
		}
		// Mailbox rows in id order (the lock order).
		var srcBox mailboxRow
		lockSrc := func() error {
			if !move || srcID == dst.ID {
				return nil
			}
			var rows []mailboxRow
			if err := tx.Raw(`UPDATE mailboxes SET highest_modseq = highest_modseq + 1, messages = messages - ?, size = size - ?
				WHERE id = ? AND user_id = ? RETURNING `+mailboxCols, len(src), size, srcID, userID).Scan(&rows).Error; err != nil {
				return err
			}
			if len(rows) == 0 {
				return fmt.Errorf("mailbox %d: %w", srcID, ErrNotFound)
			}
			srcBox = rows[0]
			return nil
		}
		var d mailboxRow
		lockDst := func() error {
			var err error
			d, err = allocate(tx, userID, dst.ID, int64(len(src)), size)
			return err
		}
		first, second := lockSrc, lockDst
		if dst.ID < srcID {
			first, second = lockDst, lockSrc
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		boxKW := keywordsFromColumn(d.Keywords)
		grew := false
		rows := make([]newRow, len(src))
		res = Copied{DstMailboxID: dst.ID, DstUIDValidity: uint32(d.UIDValidity)}
		for i, r := range src {
			f := r.flags
			f.keywords = slices.Clone(f.keywords)
			var g bool
			boxKW, g, err = canonKeywords(boxKW, &f)
			if err != nil {
				return err
			}
			grew = grew || g
			uid := uint32(d.UIDNext) + uint32(i)
			rows[i] = newRow{mailboxID: dst.ID, userID: userID, messageID: r.messageID, uid: uid,
				modseq: d.HighestModseq, flags: f, internal: r.internal, size: r.size}
			res.SrcUIDs = append(res.SrcUIDs, r.uid)
			res.DstUIDs = append(res.DstUIDs, uid)
		}
		if grew {
			if err := tx.Exec("UPDATE mailboxes SET keywords = ? WHERE id = ?", keywordsColumn(boxKW), dst.ID).Error; err != nil {
				return err
			}
		}
		if move {
			for _, b := range batches(res.SrcUIDs, 500) {
				if err := tx.Exec("DELETE FROM mailbox_messages WHERE mailbox_id = ? AND uid IN ?", srcID, b).Error; err != nil {
					return err
				}
			}
			if srcID == dst.ID {
				// MOVE into the same mailbox: the new copies are one
				// change, the removal of the old ones the next (its own
				// MODSEQ, so events stay in strict MODSEQ order).
				var rows []mailboxRow
				if err := tx.Raw(`UPDATE mailboxes SET highest_modseq = highest_modseq + 1, messages = messages - ?, size = size - ?
					WHERE id = ? RETURNING `+mailboxCols, len(src), size, srcID).Scan(&rows).Error; err != nil {
					return err
				}
				srcBox = rows[0]
			}
		} else {
			counts := map[int64]int64{}
			for _, r := range src {
				counts[r.messageID]++
			}
			if err := s.addRefs(tx, counts, +1); err != nil {
				return err
			}
		}
		if err := insertRows(tx, rows); err != nil {
			return err
		}
		appended := Event{Kind: EventAppend, UserID: userID, MailboxID: dst.ID, ModSeq: uint64(d.HighestModseq),
			UIDs: res.DstUIDs, Messages: uint32(d.Messages)}
		if !move {
			events = []Event{appended}
			return nil
		}
		expunged := Event{Kind: EventExpunge, UserID: userID, MailboxID: srcID, ModSeq: uint64(srcBox.HighestModseq),
			UIDs: res.SrcUIDs, Messages: uint32(srcBox.Messages)}
		if srcID == dst.ID {
			events = []Event{appended, expunged}
		} else {
			events = []Event{expunged, appended}
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		return Copied{DstMailboxID: dst.ID, DstUIDValidity: dst.mailbox().UIDValidity}, nil
	}
	if err != nil {
		return Copied{}, fmt.Errorf("%s to %q: %w", what, name, err)
	}
	s.publish(ctx, events...)
	return res, nil
}

// Expunge removes the messages with \Deleted (of uids, when not nil).
func (s *Store) Expunge(ctx context.Context, userID, mailboxID int64, uids []uint32) ([]uint32, error) {
	if err := s.checkMailbox(ctx, userID, mailboxID); err != nil {
		return nil, err
	}
	if uids != nil {
		uids = sortedUIDs(uids)
		if len(uids) == 0 {
			return nil, nil
		}
	}
	unlock := s.lock(userID)
	defer unlock()
	var gone []uint32
	var ev Event
	err := s.tx(ctx, func(tx *gorm.DB) error {
		gone = nil
		if err := lockUser(tx, userID); err != nil {
			return err
		}
		var rows []mailboxRow
		if err := tx.Raw("UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ? AND user_id = ? RETURNING "+mailboxCols,
			mailboxID, userID).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("mailbox %d: %w", mailboxID, ErrNotFound)
		}
		mb := rows[0]
		counts := map[int64]int64{}
		var size int64
		del := func(cond string, args ...any) error {
			r, err := tx.Raw("DELETE FROM mailbox_messages WHERE mailbox_id = ? AND deleted"+cond+" RETURNING uid, message_id, size",
				append([]any{mailboxID}, args...)...).Rows()
			if err != nil {
				return err
			}
			defer r.Close()
			for r.Next() {
				var uid uint32
				var id, sz int64
				if err := r.Scan(&uid, &id, &sz); err != nil {
					return err
				}
				gone = append(gone, uid)
				counts[id]++
				size += sz
			}
			return r.Err()
		}
		if uids == nil {
			if err := del(""); err != nil {
				return err
			}
		} else {
			for _, b := range batches(uids, 500) {
				if err := del(" AND uid IN ?", b); err != nil {
					return err
				}
			}
		}
		if len(gone) == 0 {
			return errRollback
		}
		slices.Sort(gone)
		if err := tx.Exec("UPDATE mailboxes SET messages = messages - ?, size = size - ? WHERE id = ?",
			len(gone), size, mailboxID).Error; err != nil {
			return err
		}
		if err := s.addRefs(tx, counts, -1); err != nil {
			return err
		}
		if err := addUsage(tx, userID, -size, 0, false); err != nil {
			return err
		}
		ev = Event{Kind: EventExpunge, UserID: userID, MailboxID: mailboxID, ModSeq: uint64(mb.HighestModseq),
			UIDs: gone, Messages: uint32(mb.Messages) - uint32(len(gone))}
		return nil
	})
	if errors.Is(err, errRollback) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("expunge mailbox %d: %w", mailboxID, err)
	}
	s.publish(ctx, ev)
	return gone, nil
}

// sortedIDs returns the distinct ids ascending.
func sortedIDs(ids ...int64) []int64 {
	slices.Sort(ids)
	return slices.Compact(ids)
}
