package audit_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db/dbtest"
)

// BenchmarkSearchMillionEventsOneFilter measures the audit log's page
// (Search, 50 events) over 1,000,000 events on PostgreSQL with each one
// filter the API takes, and reports each one's 99th percentile in ms
// (DESIGN.md §4a; the admin page's figure is 50 ms). Run with
// -bench BenchmarkSearchMillionEventsOneFilter -benchtime 1x.
func BenchmarkSearchMillionEventsOneFilter(b *testing.B) {
	d := dbtest.Open(b, "postgres")
	ctx := context.Background()
	err := d.Writer().Exec(`INSERT INTO audit_events (created_at, actor, action, target, details, row_mac)
		SELECT now() - i * interval '1 second', 'user:u' || (i % 5000) || '@mof.gov.sy',
			(ARRAY['user.add','policy.refused','policy.deny','user.passwd','entry.register'])[1 + i % 5],
			'user:t' || (i % 20000) || '@mof.gov.sy', '{}', md5(i::text)
		FROM generate_series(1, 1000000) i`).Error
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Writer().Exec("ANALYZE audit_events").Error; err != nil {
		b.Fatal(err)
	}
	l := newLog(d)
	now := time.Now().UTC()
	filters := map[string]audit.Filter{
		"none":   {},
		"actor":  {Actor: "user:u77@mof.gov.sy"},
		"action": {Action: "policy.deny"},
		"object": {Target: "user:t1234@mof.gov.sy"},
		"since":  {Since: now.Add(-24 * time.Hour)},
		"until":  {Until: now.Add(-100 * 24 * time.Hour)},
	}
	b.ResetTimer()
	for range b.N {
		for name, f := range filters {
			f.Limit = 50
			var took []time.Duration
			for range 200 {
				t0 := time.Now()
				if _, err := l.Search(ctx, reader(true), f); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(t0))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100])/float64(time.Millisecond), name+"-p99-ms")
		}
	}
}
