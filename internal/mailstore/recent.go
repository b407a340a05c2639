package mailstore

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// ClaimRecent takes the \Recent flag (RFC 3501 §2.3.2) of the mailbox's
// messages with UIDs below upto that no session has taken yet, and returns
// the lowest UID taken: the caller owns [from, upto) (empty when from >=
// upto). The mark (mailboxes.first_recent_uid) only moves up, in one
// transaction, so one session at a time owns a message's \Recent flag, on
// every node sharing the database.
func (s *Store) ClaimRecent(ctx context.Context, userID, mailboxID int64, upto uint32) (from uint32, err error) {
	err = s.tx(ctx, func(tx *gorm.DB) error {
		lock := ""
		if s.postgres() {
			lock = " FOR UPDATE"
		}
		var marks []int64
		if err := tx.Raw("SELECT first_recent_uid FROM mailboxes WHERE id = ? AND user_id = ?"+lock,
			mailboxID, userID).Scan(&marks).Error; err != nil {
			return err
		}
		if len(marks) == 0 {
			return ErrNotFound
		}
		from = uint32(marks[0])
		if from >= upto {
			return nil
		}
		return tx.Exec("UPDATE mailboxes SET first_recent_uid = ? WHERE id = ?", upto, mailboxID).Error
	})
	if err != nil {
		return 0, fmt.Errorf("claim recent of mailbox %d: %w", mailboxID, err)
	}
	return from, nil
}

// CountRecent counts the mailbox's messages that no session has taken as
// \Recent yet (STATUS RECENT): UIDs at or above Mailbox.FirstRecentUID.
func (s *Store) CountRecent(ctx context.Context, userID, mailboxID int64) (uint32, error) {
	var n []int64
	err := s.db.Reader().WithContext(ctx).Raw(`SELECT COUNT(*) FROM mailbox_messages mm
		JOIN mailboxes m ON m.id = mm.mailbox_id
		WHERE m.id = ? AND m.user_id = ? AND mm.uid >= m.first_recent_uid`, mailboxID, userID).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count recent of mailbox %d: %w", mailboxID, err)
	}
	if len(n) == 0 {
		return 0, nil
	}
	return uint32(n[0]), nil
}
