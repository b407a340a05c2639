package policy

import (
	"context"
	"time"
)

// WarmSummary is one pass of KeepSummaryWarm at now.
func (s *Service) WarmSummary(ctx context.Context, now time.Time) error {
	return s.warmSummary(ctx, now)
}
