package mailstore

import "context"

// SearchInGo evaluates c with the reference (Go) evaluation, for tests that
// compare it with the SQL one.
func (s *Store) SearchInGo(ctx context.Context, userID, mailboxID int64, c *Criteria) ([]uint32, error) {
	return s.searchGo(ctx, userID, mailboxID, c)
}

// Grouped is how many writes have committed in a transaction shared with
// other writes.
func (s *Store) Grouped() int64 { return s.grouped.Load() }

// UIDListsKept is how many mailboxes' UID lists the store keeps for SELECT.
func (s *Store) UIDListsKept() int {
	s.uidLists.mu.Lock()
	defer s.uidLists.mu.Unlock()
	return len(s.uidLists.entries)
}
