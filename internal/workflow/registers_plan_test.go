package workflow_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// bounded matches a plan whose range of a book index is bounded by the
// cursor: SQLite's "(registry_id=? AND <expr><?)", PostgreSQL's
// "Index Cond: ((registry_id = …) AND (ROW(COALESCE(…), id) < ROW(…".
var bounded = regexp.MustCompile(`registry_id=\? AND <expr>[<>]\?|Index Cond: \(\(registry_id = \S+\) AND \(ROW\((COALESCE\(registered_at, created_at\)|CASE WHEN .* END), id\) [<>] ROW`)

// The first page and a page deep in a large book are ranges of a book
// index of 00015 in every order, read from the entries first: no sort of
// the registry's entries, on either database, whatever the clerk's
// clearance.
func TestRegisterPagesAreRangesOfABookIndex(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		const n = 20000
		f.must(f.wf.SeedRegisterForBenchmark(f.ctx, "MOCT", n))
		clerk := f.actor("clerk@moct.gov.sy")
		mid := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(n / 2 * 30 * time.Second).Format(time.RFC3339Nano)
		cases := []struct {
			name  string
			f     workflow.RegisterFilter
			index string
		}{
			{"newest", workflow.RegisterFilter{}, "registry_entries_book_date"},
			{"newest deep", workflow.RegisterFilter{After: workflow.RegisterCursorForTest(workflow.SortNewest, mid, n/2)}, "registry_entries_book_date"},
			{"oldest deep", workflow.RegisterFilter{Sort: workflow.SortOldest, After: workflow.RegisterCursorForTest(workflow.SortOldest, mid, n/2)}, "registry_entries_book_date"},
			{"due deep", workflow.RegisterFilter{Sort: workflow.SortDue, After: workflow.RegisterCursorForTest(workflow.SortDue, "2025-01-05", n/2)}, "registry_entries_book_due"},
			{"incoming deep", workflow.RegisterFilter{Direction: workflow.Incoming, After: workflow.RegisterCursorForTest(workflow.SortNewest, mid, n/2)}, "registry_entries_book_date"},
		}
		// Cleared for normal documents only, the clerk's filter on the
		// documents is one SQLite would rather drive the join from.
		for _, clearance := range []workflow.Clearance{workflow.Secret, workflow.Normal} {
			_, err := f.wf.SetMembership(f.ctx, workflow.OperatorActor(operator), "clerk@moct.gov.sy", workflow.MembershipChange{Clearance: clearance})
			f.must(err)
			for _, c := range cases {
				plan, err := workflow.ExplainRegisterForTest(f.ctx, f.wf, clerk, c.f)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				checkRegisterPlan(t, c.name+" "+string(clearance), strings.Join(plan, "\n"), c.index, c.f.After != "")
			}
		}
	})
}

func checkRegisterPlan(t *testing.T, name, plan, index string, deep bool) {
	t.Helper()
	if !strings.Contains(plan, index) {
		t.Errorf("%s: the plan does not use %s:\n%s", name, index, plan)
	}
	if strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort Key") || strings.Contains(plan, "Sort  (") ||
		strings.Contains(plan, "SCAN c") || strings.Contains(plan, "Seq Scan on registry_entries") || strings.Contains(plan, "Seq Scan on correspondence") {
		t.Errorf("%s: the plan sorts or scans:\n%s", name, plan)
	}
	// A deep page starts its range at the cursor: the key bounds it.
	if deep && !bounded.MatchString(plan) {
		t.Errorf("%s: the range of the index is not bounded by the cursor:\n%s", name, plan)
	}
}
