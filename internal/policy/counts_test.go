package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/policy"
)

// sameSummary fails unless Service.Summary (the counters) and Summarize
// (the events) give the same counts over [since, until).
func sameSummary(t *testing.T, p *policy.Service, l *audit.Log, since, until time.Time) policy.Violations {
	t.Helper()
	ctx := context.Background()
	want, err := policy.Summarize(ctx, l, since, until)
	if err != nil {
		t.Fatal(err)
	}
	var got policy.Violations
	for range 2 { // the second time with the closed days' sums kept
		got, err = p.Summary(ctx, l, since, until)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("[%s, %s): from the counters\n%+v\nfrom the events\n%+v", since.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano), got, want)
		}
	}
	return got
}

// countersTotal is the sum of every counter.
func countersTotal(t *testing.T, d *db.DB) int {
	t.Helper()
	var n int64
	if err := d.Writer().Raw("SELECT COALESCE(CAST(SUM(count) AS BIGINT), 0) FROM policy_refusal_counts").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// TestViolationCountsAreWrittenWithTheRefusalsAndMatchTheEvents: refusals
// of every kind (summed per minute, by many domains, with and without a
// user or a domain) and refused SMTP logins are counted by the counters
// exactly as Summarize counts the events, over whole hours, a day that
// ends within an hour, and less than an hour.
func TestViolationCountsAreWrittenWithTheRefusalsAndMatchTheEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		rec := func(r policy.Refusal) {
			t.Helper()
			if err := e.pol.RecordRefusal(e.ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 130 {
			rec(policy.Refusal{Reason: policy.ReasonPolicy, Rule: "default", Listener: "inbound", Client: "203.0.113.9",
				Domain: fmt.Sprintf("d%d.example", i%25)})
			if i%40 == 0 {
				e.clock.Advance(policy.RefusalWindow) // the next refusal writes the sum of the window
			}
		}
		for range 3 {
			rec(policy.Refusal{Reason: policy.ReasonPolicy, Rule: "default", Listener: "submission", User: "ali@mof.gov.sy",
				Client: "192.0.2.1", To: "x@gmail.com", Domain: "gmail.com"})
			rec(policy.Refusal{Reason: policy.ReasonRelay, Rule: "relay:percent-hack", Listener: "inbound", Client: "198.51.100.4"})
		}
		rec(policy.Refusal{Reason: policy.ReasonSpoofing, Rule: "spoofing:header-from", Listener: "submission",
			User: "ali@mof.gov.sy", Client: "192.0.2.1", Domain: "mof.gov.sy", Header: "boss@mof.gov.sy"})
		dir := directory.New(d, directory.Options{HashParams: cheapParams, AddressMaxFailures: 1, ThrottleDelay: -1})
		login := directory.WithClient(e.ctx, "smtp:203.0.113.20")
		for range 3 {
			if _, err := dir.Authenticate(login, "nobody@mof.gov.sy", "wrong"); !errors.Is(err, directory.ErrInvalidCredentials) {
				t.Fatal(err)
			}
		}
		if err := e.pol.FlushRefusals(e.ctx); err != nil {
			t.Fatal(err)
		}
		if err := dir.FlushRefusals(e.ctx); err != nil {
			t.Fatal(err)
		}
		if n := countersTotal(t, d); n != 137 {
			t.Fatalf("the counters count %d refusals, want 137", n)
		}
		l := audit.New(d, nil)
		now := time.Now().UTC()
		hour := now.Truncate(time.Hour)
		v := sameSummary(t, e.pol, l, now.Add(-24*time.Hour), hour.Add(2*time.Hour)) // whole hours from the counters
		if v.Total != 140 {
			t.Fatalf("Total = %d, want 140 (137 refusals and 3 logins)", v.Total)
		}
		sameSummary(t, e.pol, l, now.Add(-24*time.Hour), now.Add(time.Second)) // the API's since=24h
		sameSummary(t, e.pol, l, now.AddDate(0, 0, -30), now.Add(time.Minute))
		sameSummary(t, e.pol, l, hour, hour.Add(time.Hour))
		sameSummary(t, e.pol, l, now.Add(-time.Minute), now.Add(time.Minute))
		sameSummary(t, e.pol, l, hour.Add(time.Hour), hour.Add(3*time.Hour)) // nothing
	})
}

// refusedAt writes a policy.refused event at a given time, as an older
// Diwan wrote them (no counters).
func refusedAt(tx *gorm.DB, at time.Time, actor, target string, details map[string]any) error {
	b, err := json.Marshal(details)
	if err != nil {
		return err
	}
	r := audit.Row{CreatedAt: at.UTC().Truncate(time.Microsecond), Actor: actor, Action: policy.ActionRefused, Target: target, Details: string(b)}
	return audit.Insert(context.Background(), tx, r)
}

// backfill runs the statement of migration 00022 that fills the counters
// from the audit log.
func backfill(t testing.TB, d *db.DB) {
	t.Helper()
	b, err := fs.ReadFile(db.MigrationFS(d.Dialect()), "00022_policy_refusal_counts.sql")
	if err != nil {
		t.Fatal(err)
	}
	q := string(b)
	q = q[strings.Index(q, "INSERT INTO policy_refusal_counts"):]
	if err := d.Writer().Exec(strings.TrimSuffix(strings.TrimSpace(q), ";")).Error; err != nil {
		t.Fatalf("backfill: %v", err)
	}
}

// TestViolationCountsOfEarlierRefusalsAreFilledByTheMigration: the
// refusals recorded before the counters existed, over 30 days and of every
// shape an event has had, are counted by the migration as Summarize counts
// them.
func TestViolationCountsOfEarlierRefusalsAreFilledByTheMigration(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		now := time.Now().UTC()
		err := d.Transaction(e.ctx, func(tx *gorm.DB) error {
			for i := range 600 {
				at := now.Add(-time.Duration(i) * 73 * time.Minute)
				ip := fmt.Sprintf("203.0.113.%d", i%7)
				details := map[string]any{"reason": []string{policy.ReasonPolicy, policy.ReasonRelay, policy.ReasonSpoofing}[i%3],
					"rule": "default", "client": ip, "domain": fmt.Sprintf("d%d.example", i%11)}
				actor := "smtp:" + ip
				switch i % 5 {
				case 0: // an older event: no count
				case 1:
					details["count"] = 1
				case 2: // summed, by domain, some without one
					details["count"] = 9
					details["domains"] = map[string]int{"d1.example": 3, "other": 2, fmt.Sprintf("e%d.example", i%4): 1}
				case 3: // a user's, without a domain
					user := fmt.Sprintf("u%d@mof.gov.sy", i%4)
					actor, details["user"] = "user:"+user, user
					delete(details, "domain")
					details["count"] = 2
				case 4: // summed, all of one domain
					details["count"] = 4
				}
				if err := refusedAt(tx, at, actor, "domain:x", details); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Writer().Exec("DELETE FROM policy_refusal_counts").Error; err != nil {
			t.Fatal(err)
		}
		backfill(t, d)
		if n := countersTotal(t, d); n != 120*(1+1+9+2+4) {
			t.Fatalf("the counters count %d refusals, want %d", n, 120*17)
		}
		l := audit.New(d, nil)
		day := now.Truncate(24 * time.Hour)
		sameSummary(t, e.pol, l, now.AddDate(0, 0, -31), now.Add(time.Second))
		sameSummary(t, e.pol, l, now.Add(-24*time.Hour), now.Add(time.Second))
		sameSummary(t, e.pol, l, day.AddDate(0, 0, -7), day)
		sameSummary(t, e.pol, l, now.Add(-100*time.Minute), now.Add(-70*time.Minute))
		sameSummary(t, e.pol, l, now.Add(-300*time.Hour).Add(17*time.Minute), now.Add(-3*time.Hour).Add(-5*time.Minute))
	})
}
