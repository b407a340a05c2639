package policy_test

import (
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/policy"
)

// TestSummaryWarmUpKeepsTheDashboardsClosedDays: after a pass of the
// warm-up, the dashboard's summary takes the closed days from what the
// warm-up read — a counter written into a closed day afterwards (which no
// writer does) is not seen — so the window it prepares is the one the
// dashboard asks for.
func TestSummaryWarmUpKeepsTheDashboardsClosedDays(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		now := time.Now().UTC()
		hour := now.Add(-72*time.Hour).Unix() / 3600
		count := func(who string, n int) {
			t.Helper()
			err := d.Writer().Exec("INSERT INTO policy_refusal_counts (hour, who, domain, reason, count) VALUES (?, ?, '', ?, ?)",
				hour, who, policy.ReasonPolicy, n).Error
			if err != nil {
				t.Fatal(err)
			}
		}
		count("before@mof.gov.sy", 5)
		if err := e.pol.WarmSummary(e.ctx, now); err != nil {
			t.Fatal(err)
		}
		count("after@mof.gov.sy", 7)
		since, until := policy.DashboardPeriod(time.Now())
		v, err := e.pol.Summary(e.ctx, audit.New(d, nil), since, until)
		if err != nil {
			t.Fatal(err)
		}
		if v.Total != 5 || len(v.ByUser) != 1 || v.ByUser[0].Key != "before@mof.gov.sy" {
			t.Fatalf("summary after the warm-up: total %d, by user %+v; want the 5 refusals counted before it", v.Total, v.ByUser)
		}
	})
}
