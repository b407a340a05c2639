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

// copyJob is one COPY or MOVE as its transaction carries it out.
type copyJob struct {
	userID, srcID int64
	dst           mailboxRow
	uids          []uint32 // ascending
	move          bool
	quota         int64 // the user's, for a COPY
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
	j := copyJob{userID: userID, srcID: srcID, dst: dst, uids: sortedUIDs(uids), move: move}
	if !move {
		if j.quota, err = s.quota(ctx, userID); err != nil {
			return Copied{}, err
		}
	}
	unlock := s.lock(userID)
	defer unlock()
	var res Copied
	var events []Event
	err = s.tx(ctx, func(tx *gorm.DB) error {
		var err error
		res, events, err = s.copyTx(tx, j)
		return err
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

// copyTx is the transaction of a COPY or MOVE: errRollback when none of
// the UIDs is there.
func (s *Store) copyTx(tx *gorm.DB, j copyJob) (Copied, []Event, error) {
	if err := lockUser(tx, j.userID); err != nil {
		return Copied{}, nil, err
	}
	// Lock both mailbox rows (in id order) before reading, so that no
	// expunge or flag change of the source slips in between.
	for _, id := range sortedIDs(j.srcID, j.dst.ID) {
		res := tx.Exec("UPDATE mailboxes SET uid_next = uid_next WHERE id = ? AND user_id = ?", id, j.userID)
		if res.Error != nil {
			return Copied{}, nil, res.Error
		}
		if res.RowsAffected == 0 {
			return Copied{}, nil, fmt.Errorf("mailbox %d: %w", id, ErrNotFound)
		}
	}
	src, err := readRows(tx, j.srcID, j.uids)
	if err != nil {
		return Copied{}, nil, err
	}
	if len(src) == 0 {
		return Copied{}, nil, errRollback
	}
	var size int64
	for _, r := range src {
		size += r.size
	}
	if !j.move {
		if err := addUsage(tx, j.userID, size, j.quota, true); err != nil {
			return Copied{}, nil, err
		}
	}
	srcBox, d, err := takeCopyBoxes(tx, j, len(src), size)
	if err != nil {
		return Copied{}, nil, err
	}
	rows, res, err := copyRows(tx, j, d, src)
	if err != nil {
		return Copied{}, nil, err
	}
	if j.move {
		if srcBox, err = removeMoved(tx, j, srcBox, res.SrcUIDs, size); err != nil {
			return Copied{}, nil, err
		}
		if err := s.recordExpunged(tx, j.srcID, res.SrcUIDs, srcBox.HighestModseq); err != nil {
			return Copied{}, nil, err
		}
	} else {
		counts := map[int64]int64{}
		for _, r := range src {
			counts[r.messageID]++
		}
		if err := s.addRefs(tx, counts, +1); err != nil {
			return Copied{}, nil, err
		}
	}
	if err := insertRows(tx, rows); err != nil {
		return Copied{}, nil, err
	}
	return res, copyEvents(j, res, d, srcBox), nil
}

// takeCopyBoxes takes the UIDs of n messages of size bytes in the
// destination and, for a MOVE between two mailboxes, takes them out of the
// source's counters with a new MODSEQ; mailbox rows in id order (the lock
// order). It returns the source (for a MOVE) and the destination as
// allocated.
func takeCopyBoxes(tx *gorm.DB, j copyJob, n int, size int64) (srcBox, d mailboxRow, err error) {
	lockSrc := func() error {
		if !j.move || j.srcID == j.dst.ID {
			return nil
		}
		var rows []mailboxRow
		if err := tx.Raw(`UPDATE mailboxes SET highest_modseq = highest_modseq + 1, messages = messages - ?, size = size - ?
			WHERE id = ? AND user_id = ? RETURNING `+mailboxCols, n, size, j.srcID, j.userID).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("mailbox %d: %w", j.srcID, ErrNotFound)
		}
		srcBox = rows[0]
		return nil
	}
	lockDst := func() error {
		var err error
		d, err = allocate(tx, j.userID, j.dst.ID, int64(n), size)
		return err
	}
	first, second := lockSrc, lockDst
	if j.dst.ID < j.srcID {
		first, second = lockDst, lockSrc
	}
	if err := first(); err != nil {
		return mailboxRow{}, mailboxRow{}, err
	}
	if err := second(); err != nil {
		return mailboxRow{}, mailboxRow{}, err
	}
	return srcBox, d, nil
}

// copyRows makes the destination rows of src, from the first UID of d
// on, with their keywords in the destination's spelling (adding new ones
// to the mailbox).
func copyRows(tx *gorm.DB, j copyJob, d mailboxRow, src []srcRow) ([]newRow, Copied, error) {
	boxKW := keywordsFromColumn(d.Keywords)
	grew := false
	rows := make([]newRow, len(src))
	res := Copied{DstMailboxID: j.dst.ID, DstUIDValidity: uint32(d.UIDValidity)}
	for i, r := range src {
		f := r.flags
		f.keywords = slices.Clone(f.keywords)
		var g bool
		var err error
		boxKW, g, err = canonKeywords(boxKW, &f)
		if err != nil {
			return nil, Copied{}, err
		}
		grew = grew || g
		uid := uint32(d.UIDNext) + uint32(i)
		rows[i] = newRow{mailboxID: j.dst.ID, userID: j.userID, messageID: r.messageID, uid: uid,
			modseq: d.HighestModseq, flags: f, internal: r.internal, size: r.size}
		res.SrcUIDs = append(res.SrcUIDs, r.uid)
		res.DstUIDs = append(res.DstUIDs, uid)
	}
	if grew {
		if err := tx.Exec("UPDATE mailboxes SET keywords = ? WHERE id = ?", keywordsColumn(boxKW), j.dst.ID).Error; err != nil {
			return nil, Copied{}, err
		}
	}
	return rows, res, nil
}

// removeMoved deletes the moved rows from the source. A MOVE into the same
// mailbox counts it here: the new copies are one change, the removal of
// the old ones the next (its own MODSEQ, so events stay in strict MODSEQ
// order). It returns the source as it now is.
func removeMoved(tx *gorm.DB, j copyJob, srcBox mailboxRow, uids []uint32, size int64) (mailboxRow, error) {
	for _, b := range batches(uids, 500) {
		if err := tx.Exec("DELETE FROM mailbox_messages WHERE mailbox_id = ? AND uid IN ?", j.srcID, b).Error; err != nil {
			return mailboxRow{}, err
		}
	}
	if j.srcID != j.dst.ID {
		return srcBox, nil
	}
	var rows []mailboxRow
	if err := tx.Raw(`UPDATE mailboxes SET highest_modseq = highest_modseq + 1, messages = messages - ?, size = size - ?
		WHERE id = ? RETURNING `+mailboxCols, len(uids), size, j.srcID).Scan(&rows).Error; err != nil {
		return mailboxRow{}, err
	}
	return rows[0], nil
}

// copyEvents are the events of a COPY (the append) or a MOVE (and the
// expunge: first when the mailboxes differ, after the append when it is
// one mailbox, in MODSEQ order).
func copyEvents(j copyJob, res Copied, d, srcBox mailboxRow) []Event {
	appended := Event{Kind: EventAppend, UserID: j.userID, MailboxID: j.dst.ID, ModSeq: uint64(d.HighestModseq),
		UIDs: res.DstUIDs, Messages: uint32(d.Messages)}
	if !j.move {
		return []Event{appended}
	}
	expunged := Event{Kind: EventExpunge, UserID: j.userID, MailboxID: j.srcID, ModSeq: uint64(srcBox.HighestModseq),
		UIDs: res.SrcUIDs, Messages: uint32(srcBox.Messages)}
	if j.srcID == j.dst.ID {
		return []Event{appended, expunged}
	}
	return []Event{expunged, appended}
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
		if err := s.recordExpunged(tx, mailboxID, gone, mb.HighestModseq); err != nil {
			return err
		}
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
