package httpd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// auditPage reads one page of the audit log through the API as c.
func auditPage(c *apiClient, query string) auditPageDTO {
	c.t.Helper()
	var p auditPageDTO
	c.call("GET", "/api/v1/audit?"+query, nil, http.StatusOK, &p)
	return p
}

// TestAuditLogIsReadNewestFirstWithFiltersAndCursor: an administrator
// reads the audit log newest first, filtered by actor, action, object and
// time, a page at a time: the pages, followed by their cursors, hold every
// matching event once, in the order of the log.
func TestAuditLogIsReadNewestFirstWithFiltersAndCursor(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		adm := e.withToken(adminLogin)
		start := time.Now().UTC().Add(-time.Second)
		for i := range 5 {
			adm.call("POST", "/api/v1/policy/rules", map[string]any{"pattern": fmt.Sprintf("p%d.example.sy", i), "action": "deny"}, http.StatusCreated, nil)
		}
		all := auditPage(adm, "per_page=200")
		if len(all.Items) < 5+10 || all.NextCursor != "" {
			t.Fatalf("whole log: %d events, next %q", len(all.Items), all.NextCursor)
		}
		for i := 1; i < len(all.Items); i++ {
			a, b := all.Items[i-1], all.Items[i]
			if a.Time.Before(b.Time) || (a.Time.Equal(b.Time) && a.ID < b.ID) {
				t.Fatalf("not newest first at %d: %+v then %+v", i, a, b)
			}
		}
		if top := all.Items[0]; top.Action != "policy.deny" || top.Actor != "user:admin" || top.Object != "policy:p4.example.sy" {
			t.Errorf("newest event %+v", top)
		}

		// Pages of 2, cursor to cursor, give the whole log once, in order.
		var ids []int64
		for q, n := "per_page=2", 0; ; n++ {
			p := auditPage(adm, q)
			for _, ev := range p.Items {
				ids = append(ids, ev.ID)
			}
			if p.NextCursor == "" || n > 100 {
				break
			}
			q = "per_page=2&cursor=" + url.QueryEscape(p.NextCursor)
		}
		if len(ids) != len(all.Items) {
			t.Fatalf("paged %d events, want %d", len(ids), len(all.Items))
		}
		for i, id := range ids {
			if id != all.Items[i].ID {
				t.Fatalf("page order differs at %d: %d, want %d", i, id, all.Items[i].ID)
			}
		}

		for _, f := range []struct {
			query string
			want  int
		}{
			{"action=policy.deny", 5},
			{"actor=" + url.QueryEscape("user:admin"), 5},
			{"object=" + url.QueryEscape("policy:p2.example.sy"), 1},
			{"action=policy.deny&since=" + url.QueryEscape(start.Format(time.RFC3339Nano)), 5},
			{"action=policy.deny&until=" + url.QueryEscape(start.Format(time.RFC3339Nano)), 0},
			{"action=user.add&until=2999-01-01", 6},
		} {
			if p := auditPage(adm, f.query+"&per_page=100"); len(p.Items) != f.want {
				t.Errorf("%s: %d events, want %d", f.query, len(p.Items), f.want)
			}
		}
		adm.wantError("GET", "/api/v1/audit?since=yesterday", nil, http.StatusBadRequest, "invalid_parameter", "since")
		adm.wantError("GET", "/api/v1/audit?cursor=abc", nil, http.StatusBadRequest, "invalid_parameter", "cursor")
		adm.wantError("GET", "/api/v1/audit?per_page=0", nil, http.StatusBadRequest, "invalid_parameter", "per_page")
		e.withToken(mofClerk).wantError("GET", "/api/v1/audit", nil, http.StatusForbidden, "forbidden", "")
	})
}

// TestAuditVerifyAnswersAsTheCommandAndFindsAChangedEvent: POST
// /audit/verify answers what `diwan admin audit verify` prints, as JSON;
// after an event is changed in the database it names the broken link.
// Only administrators may ask, and a cookie request needs the CSRF token.
func TestAuditVerifyAnswersAsTheCommandAndFindsAChangedEvent(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		ctx := context.Background()
		linked, err := e.log.LinkPending(ctx)
		if err != nil || linked == 0 {
			t.Fatalf("link: %d, %v", linked, err)
		}
		adm := e.login(adminLogin)
		var v auditVerifyDTO
		adm.call("POST", "/api/v1/audit/verify", nil, http.StatusOK, &v)
		if !v.OK || v.Linked != int64(linked) || v.Broken != nil || v.Result != fmt.Sprintf("ok %d events (%d waiting)", v.Linked, v.Waiting) {
			t.Errorf("intact chain: %+v", v)
		}

		if err := e.db.Writer().Exec(`UPDATE audit_events SET actor = 'cli:mallory' WHERE seq = 3`).Error; err != nil {
			t.Fatal(err)
		}
		adm.call("POST", "/api/v1/audit/verify", nil, http.StatusOK, &v)
		if v.OK || v.Broken == nil || v.Broken.Seq != 3 || !strings.HasPrefix(v.Result, "broken at event ") {
			t.Errorf("changed event: %+v", v)
		}

		e.withToken(mofClerk).wantError("POST", "/api/v1/audit/verify", nil, http.StatusForbidden, "forbidden", "")
		adm.csrf = ""
		adm.wantError("POST", "/api/v1/audit/verify", nil, http.StatusForbidden, "csrf", "")
	})
}
