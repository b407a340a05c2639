package policy_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/policy"
)

// BenchmarkSummarize100kRefusals measures the violations summary (per
// user, domain and day, over 30 days) of 100,000 refusal events among
// 1,000,000 audit events on PostgreSQL, and reports its 99th percentile in
// ms (the violations dashboard's figure is 50 ms). Run with -benchtime 1x.
func BenchmarkSummarize100kRefusals(b *testing.B) {
	d := dbtest.Open(b, "postgres")
	err := d.Writer().Exec(`INSERT INTO audit_events (created_at, actor, action, target, details, row_mac)
		SELECT now() - i * interval '2 seconds', 'smtp:198.51.' || (i % 250) || '.' || (i % 200),
			CASE WHEN i % 10 = 0 THEN 'policy.refused' ELSE 'user.add' END,
			'domain:d' || (i % 3000) || '.example',
			'{"count":1,"domain":"d' || (i % 3000) || '.example","reason":"policy","rule":"default"}', md5(i::text)
		FROM generate_series(1, 1000000) i`).Error
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Writer().Exec("ANALYZE audit_events").Error; err != nil {
		b.Fatal(err)
	}
	l := audit.New(d, nil)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		var took []time.Duration
		for range 10 {
			now := time.Now()
			t0 := time.Now()
			v, err := policy.Summarize(ctx, l, now.AddDate(0, 0, -30), now)
			if err != nil {
				b.Fatal(err)
			}
			if v.Total != 100000 {
				b.Fatalf("%d refusals counted, want 100000", v.Total)
			}
			took = append(took, time.Since(t0))
		}
		slices.Sort(took)
		b.ReportMetric(float64(took[len(took)*99/100])/float64(time.Millisecond), "p99-ms")
	}
}
