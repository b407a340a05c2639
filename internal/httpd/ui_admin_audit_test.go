package httpd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	auditRow     = regexp.MustCompile(`<tr id="event-(\d+)">`)
	auditNextURL = regexp.MustCompile(`<a id="next-page" href="([^"]+)"`)
	auditAction  = regexp.MustCompile(`<td dir="ltr" class="audit-action">([^<]*)</td>`)
)

// auditRows are the ids of the events a page lists, in its order.
func auditRows(body string) []string {
	var ids []string
	for _, m := range auditRow.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// TestAdminAuditPageFiltersAndPagesNewestFirst: the audit log page lists
// the events newest first, 50 a page, the next page by the cursor of its
// link, each with its actor, action, object, details and link in the
// chain; each filter (actor, action, object, since, until as a date or an
// RFC 3339 time) narrows it.
func TestAdminAuditPageFiltersAndPagesNewestFirst(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		adm := e.withToken(adminLogin)
		start := time.Now().UTC().Add(-time.Second)
		for i := range 55 {
			adm.call("POST", "/api/v1/policy/rules", map[string]any{"pattern": fmt.Sprintf("p%d.example.sy", i), "action": "deny", "note": "note " + fmt.Sprint(i)}, http.StatusCreated, nil)
		}
		if _, err := e.log.LinkPending(context.Background()); err != nil {
			t.Fatal(err)
		}
		b := e.uiLogin(adminLogin)
		b.lang = "en"
		resp, body := b.get("/admin/audit?action=policy.deny")
		wantPage(t, resp, body, http.StatusOK, "policy:p54.example.sy", "note 54", "Linked as", `<code class="hash" dir="ltr">`)
		first := auditRows(body)
		if len(first) != auditPerPage {
			t.Fatalf("first page: %d events, want %d", len(first), auditPerPage)
		}
		for _, m := range auditAction.FindAllStringSubmatch(body, -1) {
			if m[1] != "policy.deny" {
				t.Fatalf("action filter lists %q", m[1])
			}
		}
		next := auditNextURL.FindStringSubmatch(body)
		if next == nil || !strings.Contains(next[1], "action=policy.deny") || !strings.Contains(next[1], "cursor=") {
			t.Fatalf("next page link: %v", next)
		}
		resp, body = b.get(strings.ReplaceAll(next[1], "&amp;", "&"))
		wantPage(t, resp, body, http.StatusOK, "policy:p0.example.sy", `id="first-page"`)
		second := auditRows(body)
		if len(second) != 5 || auditNextURL.MatchString(body) {
			t.Fatalf("second page: %d events (next link %v), want the last 5", len(second), auditNextURL.MatchString(body))
		}
		if a, z := auditEventID(t, first[len(first)-1]), auditEventID(t, second[0]); z >= a {
			t.Errorf("second page starts at event %d after %d: not newest first", z, a)
		}

		today := start.Format(time.DateOnly)
		tomorrow := start.Add(24 * time.Hour).Format(time.DateOnly)
		for _, f := range []struct {
			query string
			want  int
		}{
			{"actor=" + url.QueryEscape("user:admin") + "&action=policy.deny", 50},
			{"object=" + url.QueryEscape("policy:p7.example.sy"), 1},
			{"action=policy.deny&since=" + today + "&until=" + tomorrow, 50},
			{"action=policy.deny&since=" + url.QueryEscape(start.Add(time.Hour).Format(time.RFC3339)), 0},
			{"action=policy.deny&until=" + url.QueryEscape(start.Format(time.RFC3339Nano)), 0},
			{"actor=" + url.QueryEscape("user:nobody"), 0},
		} {
			resp, body := b.get("/admin/audit?" + f.query)
			wantPage(t, resp, body, http.StatusOK)
			if got := len(auditRows(body)); got != f.want {
				t.Errorf("%s: %d events, want %d", f.query, got, f.want)
			}
		}
	})
}

func auditEventID(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAdminAuditPageRefusesBadFilterValues: a time that is neither a date
// nor RFC 3339, an until not after since, an overlong filter and a forged
// cursor are each said next to their field (or above the page), 422, the
// form refilled and no event listed.
func TestAdminAuditPageRefusesBadFilterValues(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.uiLogin(adminLogin)
		b.lang = "en"
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"since=yesterday&action=user.add", []string{`id="since-error"`, `value="yesterday"`, `value="user.add"`}},
			{"until=2026-13-01", []string{`id="until-error"`, "Enter a date as YYYY-MM-DD"}},
			{"since=2026-05-02&until=2026-05-01", []string{`id="until-error"`, "Until must come after since."}},
			{"actor=" + strings.Repeat("a", maxAuditFilter+1), []string{`id="actor-error"`, "At most 400 characters."}},
			{"cursor=abc", []string{`role="alert"`, "The link of the page is not valid"}},
		} {
			resp, body := b.get("/admin/audit?" + c.query)
			wantPage(t, resp, body, http.StatusUnprocessableEntity, c.want...)
			if strings.Contains(body, `id="audit-events"`) || !strings.Contains(body, "Correct the filters") {
				t.Errorf("%s: events listed beside the error", c.query)
			}
		}
	})
}

// TestAdminAuditVerifyShowsTheAnswerAndTheFirstBrokenLink: "verify the
// chain" answers what `diwan admin audit verify` prints: ok with the
// numbers of events linked and waiting, and, once an event is changed in
// the database, the first broken link. A form without the CSRF token is
// refused; for a clerk and a ministry administrator the page and the form
// do not exist.
func TestAdminAuditVerifyShowsTheAnswerAndTheFirstBrokenLink(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		linked, err := e.log.LinkPending(context.Background())
		if err != nil || linked < 3 {
			t.Fatalf("link: %d, %v", linked, err)
		}
		b := e.uiLogin(adminLogin)
		b.lang = "en"
		b.get("/admin/audit")
		resp, body := b.post("/admin/audit/verify", url.Values{})
		wantPage(t, resp, body, http.StatusOK, `id="verify-answer"`, `id="audit-events"`, `href="/admin/audit?lang=ar"`)
		// The login since the linking waits (no linker runs in this test).
		okLine := regexp.MustCompile(fmt.Sprintf(`<samp id="verify-line" dir="ltr">ok %d events \(([1-9]\d*) waiting\)</samp>`, linked))
		m := okLine.FindStringSubmatch(body)
		if m == nil || !strings.Contains(body, fmt.Sprintf("The chain is intact: %d events linked, %s waiting", linked, m[1])) {
			t.Fatalf("intact chain: the answer is not ok %d events:\n%s", linked, body)
		}

		if err := e.db.Writer().Exec(`UPDATE audit_events SET actor = 'cli:mallory' WHERE seq = 3`).Error; err != nil {
			t.Fatal(err)
		}
		resp, body = b.post("/admin/audit/verify", url.Values{})
		wantPage(t, resp, body, http.StatusOK, `verify-answer broken`, "The chain is broken at event", `<samp id="verify-line" dir="ltr">broken at event`)

		resp, body = b.post("/admin/audit/verify", url.Values{"csrf_token": {""}})
		wantPage(t, resp, body, http.StatusForbidden)
		if strings.Contains(body, "verify-answer") {
			t.Error("a CSRF-less verification was answered")
		}
		wantNoSuchAdminPage(t, e, "/admin/audit", "/admin/audit/verify")
	})
}
