package httpd

import (
	"context"
	"encoding/csv"
	"encoding/xml"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/policy"
)

// recordRefusals records refusals as the mail listeners do, n of each,
// and writes their counts.
func (e *apiEnv) recordRefusals(n int, rs ...policy.Refusal) {
	e.t.Helper()
	ctx := context.Background()
	for _, r := range rs {
		for range n {
			if err := e.pol.RecordRefusal(ctx, r); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	if err := e.pol.FlushRefusals(ctx); err != nil {
		e.t.Fatal(err)
	}
}

var chartSVG = regexp.MustCompile(`(?s)<svg id="refusals-per-day".*?</svg>`)

// dashboardChart is the chart of refusals per day of a dashboard page.
func dashboardChart(t *testing.T, body string) svgDoc {
	t.Helper()
	svg := chartSVG.FindString(body)
	var d svgDoc
	if err := xml.Unmarshal([]byte(svg), &d); err != nil {
		t.Fatalf("the dashboard's chart: %v\n%s", err, body)
	}
	if len(d.Links) != violationsDays {
		t.Fatalf("the chart has %d bars, want %d", len(d.Links), violationsDays)
	}
	return d
}

// The dashboard draws the refusals of the last 30 days per day, today's
// bar at the end of the reading direction (left in Arabic, right in
// English), and lists the users and domains refused most; each day, user
// and domain leads to its refusals in the audit log.
func TestViolationsDashboardChartsRefusalsAndLeadsToTheirEvents(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		e.recordRefusals(3, policy.Refusal{Reason: policy.ReasonPolicy, Rule: "default", Listener: "submission", User: mofStaff,
			Client: "127.0.0.1", To: "a@evil.example", Domain: "evil.example"})
		e.recordRefusals(1, policy.Refusal{Reason: policy.ReasonRelay, Rule: "relay:not-hosted", Listener: "inbound",
			Client: "203.0.113.9", To: "b@relay.example", Domain: "relay.example"})
		today := time.Now().UTC().Format(time.DateOnly)
		tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)

		b := e.policyAdmin()
		resp, body := b.get("/admin/violations")
		wantPolicyPage(t, resp, body, http.StatusOK, `id="refusals-per-day"`, `<title id="refusals-per-day-title">حالات الرفض في كل يوم خلال آخر 30 يوماً</title>`,
			`(بالتوقيت العالمي): 4.`, `aria-label="`+today+`: 4 حالة رفض"`)
		page := html.UnescapeString(body)
		for _, link := range []string{
			`href="/admin/audit?action=policy.refused&actor=user%3A` + strings.Replace(mofStaff, "@", "%40", 1) + `"`,
			`href="/admin/audit?action=policy.refused&actor=smtp%3A203.0.113.9"`,
			`href="/admin/audit?action=policy.refused&object=domain%3Aevil.example"`,
			`href="/admin/audit?action=policy.refused&since=` + today + `&until=` + tomorrow + `"`,
			`href="/admin/violations.csv?by=day&since=`,
		} {
			if !strings.Contains(page, link) {
				t.Errorf("the dashboard lacks the link %s", link)
			}
		}
		ar := dashboardChart(t, body)
		last, first := ar.Links[violationsDays-1].Rect, ar.Links[0].Rect
		if last.Value != 4 || last.Label != today[5:] || first.Value != 0 {
			t.Errorf("today's bar %+v, the first day's %+v", last, first)
		}
		if last.X >= first.X {
			t.Errorf("in Arabic today's bar (x=%d) is not left of the oldest (x=%d)", last.X, first.X)
		}
		b.lang = "en"
		resp, body = b.get("/admin/violations")
		wantPolicyPage(t, resp, body, http.StatusOK, `aria-label="`+today+`: 4 refusals"`, "Refusals from ")
		en := dashboardChart(t, body)
		if last, first := en.Links[violationsDays-1].Rect, en.Links[0].Rect; last.X <= first.X {
			t.Errorf("in English today's bar (x=%d) is not right of the oldest (x=%d)", last.X, first.X)
		}
	})
}

// readCSV fetches an export and returns its rows, insisting on its
// headers and its byte-order mark.
func readCSV(t *testing.T, b *uiClient, path string) [][]string {
	t.Helper()
	resp, body := b.get(path)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("%s: %d %s\n%s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="violations-by-`) {
		t.Errorf("%s: Content-Disposition %q", path, cd)
	}
	rest, ok := strings.CutPrefix(body, "\ufeff")
	if !ok {
		t.Errorf("%s: no byte-order mark", path)
	}
	if !strings.HasSuffix(rest, "\r\n") || strings.Count(rest, "\n") != strings.Count(rest, "\r\n") {
		t.Errorf("%s: lines not ended by CRLF: %q", path, rest)
	}
	rows, err := csv.NewReader(strings.NewReader(rest)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v\n%s", path, err, body)
	}
	return rows
}

// The export is CSV in UTF-8 with a byte-order mark and CRLF, as an attachment,
// grouped as ?by= says over ?since=; a cell a spreadsheet would run as a
// formula is made text; a bad ?by= or ?since= is refused.
func TestViolationsCSVExportIsExcelReadyAndDefusesFormulas(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		refuse := func(domain, client string) policy.Refusal {
			return policy.Refusal{Reason: policy.ReasonPolicy, Rule: "default", Listener: "inbound", Client: client, Domain: domain}
		}
		e.recordRefusals(2, refuse("وزارة.example", "192.0.2.1"))
		e.recordRefusals(1, refuse(`=HYPERLINK("http://x.example")`, "192.0.2.2"), refuse("+1", "192.0.2.3"),
			refuse("-1", "192.0.2.4"), refuse("@SUM(A1)", "192.0.2.5"))
		b := e.policyAdmin()
		rows := readCSV(t, b, "/admin/violations.csv?since=7d&by=domain")
		want := [][]string{
			{"domain", "total", "policy", "relay", "spoofing", "auth"},
			{"وزارة.example", "2", "2", "0", "0", "0"},
			{"'+1", "1", "1", "0", "0", "0"},
			{"'-1", "1", "1", "0", "0", "0"},
			{`'=HYPERLINK("http://x.example")`, "1", "1", "0", "0", "0"},
			{"'@SUM(A1)", "1", "1", "0", "0", "0"},
		}
		if !slices.EqualFunc(rows, want, slices.Equal) {
			t.Errorf("by domain:\n got %q\nwant %q", rows, want)
		}
		rows = readCSV(t, b, "/admin/violations.csv?by=day&since="+time.Now().UTC().Format(time.DateOnly))
		if len(rows) != 2 || rows[0][0] != "day" || rows[1][0] != time.Now().UTC().Format(time.DateOnly) || rows[1][1] != "6" {
			t.Errorf("by day: %q", rows)
		}
		if rows = readCSV(t, b, "/admin/violations.csv?by=user"); len(rows) != 6 || rows[1][0] != "smtp:192.0.2.1" {
			t.Errorf("by user: %q", rows)
		}
		resp, body := b.get("/admin/violations.csv?by=ministry")
		wantPolicyPage(t, resp, body, http.StatusBadRequest, `"field":"by"`)
		resp, body = b.get("/admin/violations.csv?since=yesterday")
		wantPolicyPage(t, resp, body, http.StatusBadRequest, `"field":"since"`)
	})
}
