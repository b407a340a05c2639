package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
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

// BenchmarkViolations100kRefusals measures the violations dashboard as an
// administrator asks for it (ViolationsAs over the last 30 days, per user,
// domain and day) with 100,000 refusal events spread over 30 days among
// 1,000,000 audit events, on each database, and reports the 50th and 99th
// percentile of 200 calls in ms (the dashboard's figure: p99 ≤ 50 ms on
// PostgreSQL), and the first call's ("cold-ms", which reads all 30 days'
// counters). 3,000 users and clients and 5,000 domains, drawn "zipf" as
// refusals come in practice, a few of them most often, or "flat", all
// alike. The counters are filled by the backfill of migration 00022. Run
// with -benchtime 1x.
func BenchmarkViolations100kRefusals(b *testing.B) {
	for _, driver := range dbtest.Drivers {
		for _, dist := range []string{"zipf", "flat"} {
			b.Run(driver+"/"+dist, func(b *testing.B) {
				d := dbtest.Open(b, driver)
				now := time.Now().UTC()
				t0 := time.Now()
				fillRefusals(b, d, now, dist)
				t1 := time.Now()
				fillOtherEvents(b, d, 900_000)
				b.Logf("set-up: refusals %v, other events %v", t1.Sub(t0), time.Since(t1))
				var rows int64
				if err := d.Writer().Raw("SELECT COUNT(*) FROM policy_refusal_counts").Scan(&rows).Error; err != nil {
					b.Fatal(err)
				}
				p, err := policy.New(d, policy.Options{})
				if err != nil {
					b.Fatal(err)
				}
				admin := directory.Principal{Login: "admin", Roles: []string{directory.RoleAdmin}}
				l := audit.New(d, nil)
				ctx := context.Background()
				b.ResetTimer()
				for range b.N {
					var took []time.Duration
					for range 200 {
						t0 := time.Now()
						v, err := p.ViolationsAs(ctx, admin, l, t0.AddDate(0, 0, -30), t0.Add(time.Second))
						if err != nil {
							b.Fatal(err)
						}
						took = append(took, time.Since(t0))
						if v.Total != 100_000 {
							b.Fatalf("%d refusals counted, want 100000", v.Total)
						}
					}
					b.ReportMetric(float64(took[0])/float64(time.Millisecond), "cold-ms")
					slices.Sort(took)
					ms := func(q int) float64 { return float64(took[len(took)*q/100]) / float64(time.Millisecond) }
					b.ReportMetric(ms(50), "p50-ms")
					b.ReportMetric(ms(99), "p99-ms")
					b.ReportMetric(float64(rows), "counter-rows")
				}
			})
		}
	}
}

// fillRefusals writes 100,000 policy.refused events (count 1) over the 30
// days before now (less an hour at the start, for the time the set-up
// takes, and a minute at the end), then fills the counters from them.
func fillRefusals(b testing.TB, d *db.DB, now time.Time, dist string) {
	b.Helper()
	r := rand.New(rand.NewPCG(20, 26))
	whos, domains := rand.NewZipf(r, 1.1, 4, 2999), rand.NewZipf(r, 1.1, 4, 4999)
	reasons := []string{policy.ReasonPolicy, policy.ReasonPolicy, policy.ReasonPolicy, policy.ReasonRelay, policy.ReasonSpoofing}
	const total, batch = 100_000, 500
	for start := 0; start < total; start += batch {
		var q strings.Builder
		q.WriteString(audit.InsertColumns + " VALUES ")
		var args []any
		for i := start; i < start+batch; i++ {
			w, dom := int(whos.Uint64()), int(domains.Uint64())
			if dist == "flat" {
				w, dom = r.IntN(3000), r.IntN(5000)
			}
			ip := fmt.Sprintf("198.51.%d.%d", w/250, w%250)
			details := map[string]any{"count": 1, "reason": reasons[i%len(reasons)], "rule": "default",
				"client": ip, "domain": fmt.Sprintf("d%d.example", dom)}
			actor := "smtp:" + ip
			if w%2 == 0 {
				user := fmt.Sprintf("u%d@mof.gov.sy", w)
				actor, details["user"] = "user:"+user, user
			}
			js, _ := json.Marshal(details)
			at := now.Add(-time.Minute - time.Duration(r.Int64N(int64(30*24*time.Hour-time.Hour))))
			row := audit.Row{CreatedAt: at.Truncate(time.Microsecond), Actor: actor, Action: policy.ActionRefused,
				Target: "domain:" + details["domain"].(string), Details: string(js)}
			if i > start {
				q.WriteString(", ")
			}
			q.WriteString(audit.InsertValues)
			args = append(args, row.Args()...)
		}
		if err := d.Writer().Exec(q.String(), args...).Error; err != nil {
			b.Fatal(err)
		}
	}
	backfill(b, d)
}

// fillOtherEvents writes n events of other actions over the same 30 days.
func fillOtherEvents(b *testing.B, d *db.DB, n int) {
	b.Helper()
	q := `INSERT INTO audit_events (created_at, actor, action, target, details, row_mac)
		SELECT now() - i * interval '2 seconds', 'cli:root', 'user.add', 'user:u' || i || '@mof.gov.sy', '{}', md5(i::text)
		FROM generate_series(1, ?) i`
	if !d.IsPostgres() {
		// As Go writes a UTC time, which is what SQLite keeps.
		q = `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
		INSERT INTO audit_events (created_at, actor, action, target, details, row_mac)
		SELECT strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || (i * 2) || ' seconds') || '.000000 +0000 UTC',
			'cli:root', 'user.add', 'user:u' || i || '@mof.gov.sy', '{}', NULL FROM s`
	}
	if err := d.Writer().Exec(q, n).Error; err != nil {
		b.Fatal(err)
	}
	an := "ANALYZE audit_events"
	if d.IsPostgres() {
		an = "VACUUM ANALYZE"
	}
	if err := d.Writer().Exec(an).Error; err != nil {
		b.Fatal(err)
	}
}
