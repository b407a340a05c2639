package workflow

import (
	"context"
	"fmt"
)

// The statements of the entry page (entry_page.go).

// correspondenceOfEntry is the correspondence an entry is of; ErrNotFound
// when there is no such entry. It says nothing of access: the caller
// decides that with what it reads next.
func (s *Service) correspondenceOfEntry(ctx context.Context, id int64) (int64, error) {
	var ids []int64
	if err := s.db.Writer().WithContext(ctx).Raw(`SELECT correspondence_id FROM registry_entries WHERE id = ?`, id).Scan(&ids).Error; err != nil {
		return 0, fmt.Errorf("read entry %d: %w", id, err)
	}
	if len(ids) != 1 {
		return 0, notFound("entry", id)
	}
	return ids[0], nil
}

// replyCandidates are the outgoing entries in scope (entryScope's
// condition and arguments) of letters that reference corrID and are not
// cancelled, newest first, at most limit (by the index
// correspondence_references_referenced).
func (x *txn) replyCandidates(scope string, args []any, corrID int64, limit int) ([]entryView, error) {
	q, err := x.db()
	if err != nil {
		return nil, err
	}
	sql := entrySelect + ` WHERE ` + scope + ` AND e.direction = 'outgoing' AND e.state <> 'cancelled'
	AND e.correspondence_id IN (SELECT x.correspondence_id FROM correspondence_references x WHERE x.referenced_id = ?)
	ORDER BY e.id DESC LIMIT ` + fmt.Sprint(limit)
	var es []entryView
	if err := scanRows(x.ctx, q, sql, append(append([]any{}, args...), corrID), appendEntry(&es)); err != nil {
		return nil, fmt.Errorf("letters referencing correspondence %d: %w", corrID, err)
	}
	return es, nil
}
