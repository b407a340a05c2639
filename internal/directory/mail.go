package directory

import (
	"context"
	"fmt"
)

// Quota returns the mail storage quota in bytes (0: unlimited) of each of
// userIDs that names a user; an ID that names none is absent from the map.
// It reads the database every time (a quota set by another process counts
// at once), on the read pool: the mail store asks before each delivery and
// passes the number into its own conditional update of the usage.
func (s *Service) Quota(ctx context.Context, userIDs []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(userIDs))
	if len(userIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		ID         int64 `gorm:"column:id"`
		QuotaBytes int64 `gorm:"column:quota_bytes"`
	}
	if err := s.db.Reader().WithContext(ctx).Table("users").Select("id, quota_bytes").Where("id IN ?", userIDs).
		Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("quota of %d user(s): %w", len(userIDs), err)
	}
	for _, r := range rows {
		out[r.ID] = r.QuotaBytes
	}
	return out, nil
}
