package app

import (
	"context"
	"time"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/httpd"
)

// StatusReportAs is what the status page of a process serving e is told,
// asked by caller.
func StatusReportAs(ctx context.Context, e *Env, caller directory.Principal) (httpd.StatusReport, error) {
	return newStatusReporter(e, time.Now()).Report(ctx, caller)
}
