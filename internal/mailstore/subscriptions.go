package mailstore

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// Subscriptions to names that are not mailboxes live in
// mailbox_subscriptions; a mailbox's own subscription is its subscribed
// column. DeleteMailbox moves a subscription from the column to the table,
// insertMailbox moves it back (RFC 3501 §6.3.6: DELETE leaves the
// subscription alone).

// SetSubscribed subscribes or unsubscribes a name, a mailbox or not
// (RFC 3501 §6.3.6-§6.3.7). Unsubscribing a name that is neither a mailbox
// nor subscribed is ErrNotFound.
func (s *Store) SetSubscribed(ctx context.Context, userID int64, name string, subscribed bool) error {
	name, err := CanonicalName(name)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Exec("UPDATE mailboxes SET subscribed = ? WHERE user_id = ? AND name = ?", subscribed, userID, name)
		if res.Error != nil || res.RowsAffected > 0 {
			return res.Error
		}
		if subscribed {
			return tx.Exec(`INSERT INTO mailbox_subscriptions (user_id, name) VALUES (?, ?)
				ON CONFLICT (user_id, name) DO NOTHING`, userID, name).Error
		}
		res = tx.Exec("DELETE FROM mailbox_subscriptions WHERE user_id = ? AND name = ?", userID, name)
		if res.Error == nil && res.RowsAffected == 0 {
			return fmt.Errorf("mailbox %q: %w", name, ErrNotFound)
		}
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("subscribe %q: %w", name, err)
	}
	return nil
}

// Subscriptions returns the subscribed names that are not mailboxes,
// sorted.
func (s *Store) Subscriptions(ctx context.Context, userID int64) ([]string, error) {
	var names []string
	err := s.db.Reader().WithContext(ctx).Raw(`SELECT name FROM mailbox_subscriptions s WHERE user_id = ?
		AND NOT EXISTS (SELECT 1 FROM mailboxes m WHERE m.user_id = s.user_id AND m.name = s.name)
		ORDER BY name LIMIT ?`, userID, MaxMailboxes).Scan(&names).Error
	if err != nil {
		return nil, fmt.Errorf("subscriptions of user %d: %w", userID, err)
	}
	return names, nil
}

// keepSubscription records the subscription of a mailbox being deleted.
func keepSubscription(tx *gorm.DB, userID int64, name string) error {
	return tx.Exec(`INSERT INTO mailbox_subscriptions (user_id, name) VALUES (?, ?)
		ON CONFLICT (user_id, name) DO NOTHING`, userID, name).Error
}

// takeSubscription removes the subscription recorded for name and reports
// whether there was one: a mailbox created under that name is subscribed.
func takeSubscription(tx *gorm.DB, userID int64, name string) (bool, error) {
	res := tx.Exec("DELETE FROM mailbox_subscriptions WHERE user_id = ? AND name = ?", userID, name)
	return res.RowsAffected > 0, res.Error
}
