package httpd

import (
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/policy"
)

// The violations dashboard (/admin/violations, DESIGN.md §3a): the
// refusals of the national-mail policy over the last 30 days, per day as
// a chart the server draws, the users and domains refused most, each
// leading to its events in the audit log; and the same counts as CSV
// (/admin/violations.csv). The policy service decides who may read them
// (policy.ViolationsAs): for anyone else the page does not exist.

// violationsDays is the period of the dashboard, today included.
const violationsDays = policy.DashboardDays

// violationsTop is how many users and domains the dashboard lists.
const violationsTop = 10

// refusalReasons are the reasons of a refusal, in the order of the
// columns of the tables and the CSV.
var refusalReasons = []string{policy.ReasonPolicy, policy.ReasonRelay, policy.ReasonSpoofing, policy.ReasonAuth}

// violationRow is one user, domain or day of the dashboard.
type violationRow struct {
	Key      string
	Total    int
	ByReason []int // in the order of refusalReasons
	Href     string
}

// violationTable is a table of the dashboard, its headings translated.
type violationTable struct {
	ID, Caption, KeyHead, TotalHead string
	ReasonHeads                     []string // in the order of refusalReasons
	Rows                            []violationRow
}

// table makes a table of the page with rows; what is the key's kind:
// "day", "user" or "domain".
func (d *violationsPage) table(p *uiPage, what string, rows []violationRow) violationTable {
	t := violationTable{ID: "violations-" + what + "s", Caption: p.T("admin.violations." + what + "s.caption"),
		KeyHead: p.T("admin.violations.col." + what), TotalHead: p.T("admin.violations.col.total"), Rows: rows}
	for _, r := range refusalReasons {
		t.ReasonHeads = append(t.ReasonHeads, p.T("admin.violations.reason."+r))
	}
	return t
}

// violationsPage is what admin_violations.html shows.
type violationsPage struct {
	Since, Until string // the period's first day, and today (YYYY-MM-DD, UTC)
	Total        int
	Truncated    bool
	Chart        template.HTML
	Days         violationTable // the days with refusals, the newest first
	Users        violationTable
	Domains      violationTable
	CSV          map[string]string // by → the CSV of the period
}

// getViolations shows the dashboard.
func (s *Server) getViolations(c *gin.Context) {
	p := s.newAdminPage(c, "violations")
	now := time.Now().UTC()
	first, until := policy.DashboardPeriod(now)
	v, err := s.opts.Policy.ViolationsAs(c.Request.Context(), principalOf(c).Principal, s.opts.Audit, first, until)
	if err != nil {
		s.policyFail(c, "summarise violations", err)
		return
	}
	d := &violationsPage{Since: first.Format(time.DateOnly), Until: now.Format(time.DateOnly), Total: v.Total,
		Truncated: v.Truncated, CSV: map[string]string{}}
	for _, by := range []string{"day", "user", "domain"} {
		d.CSV[by] = "/admin/violations.csv?" + url.Values{"since": {d.Since}, "by": {by}}.Encode()
	}
	d.Users = d.table(p, "user", violationRows(top(v.ByUser), userEvents))
	d.Domains = d.table(p, "domain", violationRows(top(v.ByDomain), domainEvents))
	days := violationRows(v.ByDay, dayEvents)
	slices.Reverse(days)
	d.Days = d.table(p, "day", days)
	d.Chart = dayChart(p, first, v.ByDay).SVG()
	p.Data = d
	s.render(c, http.StatusOK, "admin_violations", p)
}

func top(cs []policy.Count) []policy.Count { return cs[:min(len(cs), violationsTop)] }

// violationRows are the counts as the tables show them, each leading to
// its events (href).
func violationRows(cs []policy.Count, href func(key string) string) []violationRow {
	out := make([]violationRow, len(cs))
	for i, n := range cs {
		out[i] = violationRow{Key: n.Key, Total: n.Total, Href: href(n.Key), ByReason: make([]int, len(refusalReasons))}
		for j, r := range refusalReasons {
			out[i].ByReason[j] = n.ByReason[r]
		}
	}
	return out
}

// auditEvents is the audit log's page of the refusals matching q.
func auditEvents(q url.Values) string {
	q.Set("action", policy.ActionRefused)
	return "/admin/audit?" + q.Encode()
}

// userEvents: the refusals of a user (login) or of a client nobody was
// logged in on ("smtp:IP"), as their actor.
func userEvents(key string) string {
	actor := key
	if !strings.HasPrefix(key, "smtp:") {
		actor = "user:" + key
	}
	return auditEvents(url.Values{"actor": {actor}})
}

// domainEvents: the refusals concerning a domain.
func domainEvents(key string) string {
	return auditEvents(url.Values{"object": {"domain:" + key}})
}

// dayEvents: the refusals of a day (UTC), until the next one.
func dayEvents(key string) string {
	day, err := time.Parse(time.DateOnly, key)
	if err != nil {
		return auditEvents(url.Values{})
	}
	return auditEvents(url.Values{"since": {key}, "until": {day.AddDate(0, 0, 1).Format(time.DateOnly)}})
}

// dayChart is the chart of refusals per day from first to today, the
// days without refusals as bars of zero, in the page's direction.
func dayChart(p *uiPage, first time.Time, byDay []policy.Count) barChart {
	counts := map[string]int{}
	for _, n := range byDay {
		counts[n.Key] = n.Total
	}
	ch := barChart{ID: "refusals-per-day", RTL: p.Dir == "rtl", Title: p.T("admin.violations.chart.title"),
		Desc: p.T("admin.violations.chart.desc", "Days", violationsDays, "Since", first.Format(time.DateOnly))}
	for i := range violationsDays {
		day := first.AddDate(0, 0, i).Format(time.DateOnly)
		ch.Bars = append(ch.Bars, chartBar{Label: day[5:], Value: counts[day], Href: dayEvents(day),
			Name:       p.T("admin.violations.chart.bar", "Day", day, "Count", counts[day]),
			LabelShown: (violationsDays-1-i)%7 == 0})
	}
	return ch
}

// violationsCSV writes the counts of ?since= (as the API reads it) by
// ?by=user|domain|day as CSV: UTF-8 with a byte-order mark, so that
// spreadsheets read Arabic right; lines ended by CRLF; a header row; and
// every cell that a spreadsheet would take for a formula defused.
func (s *Server) violationsCSV(c *gin.Context) {
	by := c.DefaultQuery("by", "user")
	if by == "" {
		by = "user"
	}
	if !oneOf(c, "by", by, policy.Groupings...) {
		return
	}
	now := time.Now().UTC()
	since, ok := parseSince(c, now)
	if !ok {
		return
	}
	v, err := s.opts.Policy.ViolationsAs(c.Request.Context(), principalOf(c).Principal, s.opts.Audit, since, now.Add(time.Second))
	if err != nil {
		s.policyFail(c, "export violations", err)
		return
	}
	counts := v.By(by)
	var b strings.Builder
	b.WriteString("\ufeff")
	w := csv.NewWriter(&b)
	w.UseCRLF = true // RFC 4180, as spreadsheets write it
	_ = w.Write(append([]string{by, "total"}, refusalReasons...))
	for _, n := range counts {
		row := []string{csvCell(n.Key), strconv.Itoa(n.Total)}
		for _, r := range refusalReasons {
			row = append(row, strconv.Itoa(n.ByReason[r]))
		}
		_ = w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		s.uiInternal(c, "export violations", errors.Join(errors.New("write CSV"), err))
		return
	}
	uiHeaders(c)
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="violations-by-%s-%s.csv"`, by, since.Format(time.DateOnly)))
	c.Data(http.StatusOK, "text/csv; charset=utf-8", []byte(b.String()))
}

// csvCell defuses a cell a spreadsheet would run as a formula (it starts
// with = + - @, or a tab or carriage return before one): a leading ' makes
// it text.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
