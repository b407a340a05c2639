package httpd

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/delivery"
)

// TestQueueAPIServesOnlyTheInstanceAdministrators: an administrator lists
// the queue, retries and drops an entry (answered as it now stands,
// audited with them as actor), and is told 409 for one no longer pending
// and 404 for an unknown id; a ministry administrator and a clerk are
// refused 403 by the queue itself on every route, an unknown id too, and
// nothing changes.
func TestQueueAPIServesOnlyTheInstanceAdministrators(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newQueueEnv(t, driver, nil)
		e.addMinistryAdmin()
		ids := e.enqueue("omar@moh.gov.sy", "huda@moh.gov.sy")
		for _, login := range []string{mofAdmin, mofClerk} {
			c := e.withToken(login)
			c.wantError("GET", "/api/v1/queue", nil, http.StatusForbidden, "forbidden", "")
			for _, path := range []string{fmt.Sprintf("/api/v1/queue/%d/", ids[0]), "/api/v1/queue/99999/"} {
				c.wantError("POST", path+"retry", nil, http.StatusForbidden, "forbidden", "")
				c.wantError("POST", path+"drop", nil, http.StatusForbidden, "forbidden", "")
			}
		}
		if x, err := e.queue.Get(context.Background(), ids[0]); err != nil || x.State != delivery.StatePending {
			t.Fatalf("after the refusals: %+v, %v", x, err)
		}

		adm := e.withToken(adminLogin)
		var l list[queueEntryDTO]
		adm.call("GET", "/api/v1/queue?state=pending", nil, http.StatusOK, &l)
		if l.Total != 2 || len(l.Items) != 2 || l.Items[0].ID != ids[0] || l.Items[0].NextAttemptAt == nil {
			t.Fatalf("queue: %+v", l)
		}
		var got queueEntryDTO
		adm.call("POST", fmt.Sprintf("/api/v1/queue/%d/retry", ids[0]), nil, http.StatusOK, &got)
		if got.ID != ids[0] || got.State != delivery.StatePending {
			t.Errorf("retry answered %+v", got)
		}
		got = queueEntryDTO{}
		adm.call("POST", fmt.Sprintf("/api/v1/queue/%d/drop", ids[1]), nil, http.StatusOK, &got)
		if got.ID != ids[1] || got.State != delivery.StateFailed || got.NextAttemptAt != nil {
			t.Errorf("drop answered %+v", got)
		}
		adm.wantError("POST", fmt.Sprintf("/api/v1/queue/%d/drop", ids[1]), nil, http.StatusConflict, "not_pending", "")
		adm.wantError("POST", "/api/v1/queue/99999/retry", nil, http.StatusNotFound, "not_found", "id")
		adm.wantError("POST", "/api/v1/queue/x/retry", nil, http.StatusNotFound, "not_found", "id")
		recs, err := e.log.List(context.Background(), audit.Filter{TargetPrefix: "queue:"})
		if err != nil || len(recs) != 2 || recs[0].Actor != "user:admin" || recs[1].Actor != "user:admin" {
			t.Errorf("audited acts: %+v, %v", recs, err)
		}
	})
}
