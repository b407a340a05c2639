package httpd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/directory"
)

// TestAdminStatusPageShowsListenersChecksAndQueue: the status page shows
// each listener with its configured and its bound address (a configured
// one not bound, and one turned off, said so), the database's and the blob
// store's checks as the process reports them — a failed check named, its
// error in the log and not on the page —, the schema version, the disk use
// of the fs store, the build, and the delivery queue's pending count and
// oldest age read from the queue itself. A caller the process's report
// refuses finds no such page, an administrator too; a clerk and a ministry
// administrator find none.
func TestAdminStatusPageShowsListenersChecksAndQueue(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		var dbDown, refuse atomic.Bool
		var self atomic.Value // the server's own bound address
		status := func(ctx context.Context, caller directory.Principal) (StatusReport, error) {
			if refuse.Load() || !caller.HasRole(directory.RoleAdmin) {
				return StatusReport{}, fmt.Errorf("status: %w", directory.ErrForbidden)
			}
			bound, _ := self.Load().(string)
			r := StatusReport{Version: "v9.8.7", Commit: "abc1234", Started: time.Now().Add(-time.Hour),
				Listeners: []ListenerStatus{
					{Role: ListenerSMTPInbound, Configured: "127.0.0.1:2525"},
					{Role: ListenerIMAP},
					{Role: ListenerHTTPS, Configured: "127.0.0.1:0", Bound: bound},
				},
				Database: DatabaseStatus{Driver: driver, Addr: "db.example", Ping: 1500 * time.Microsecond, Schema: 21, Latest: 22},
				Blob: BlobStatus{Kind: "fs", Where: "/srv/blobs", RoundTrip: 2 * time.Millisecond,
					Disk: &DiskUsage{Used: 3e9, Free: 1e9, Total: 4e9}},
			}
			if dbDown.Load() {
				r.Database.Err = errors.New("dial tcp 10.9.9.9:5432: secret detail")
			}
			return r, nil
		}
		e := newQueueEnv(t, driver, status)
		self.Store(strings.TrimPrefix(e.ts.url, "https://"))
		e.enqueue("omar@moh.gov.sy", "huda@moh.gov.sy")
		b := e.uiLogin(adminLogin)
		b.lang = "en"
		resp, body := b.get("/admin/status")
		wantPage(t, resp, body, http.StatusOK,
			`<tr id="listener-https">`, `<td dir="ltr" class="bound">`+strings.TrimPrefix(e.ts.url, "https://")+`</td>`,
			"SMTP inbound (25)", "Not listening", "IMAP, STARTTLS (143)", "Off",
			`<dd dir="ltr" id="version">v9.8.7</dd>`, "abc1234",
			"answered in 1.5 ms", "21, latest 22: migrations pending",
			"write, read and delete in 2.0 ms", "3.0 GB used (75%), 1.0 GB free, of 4.0 GB",
			`<dd class="num" id="queue-pending">2</dd>`)
		if strings.Contains(body, `id="queue-oldest" dir="ltr">—`) || !strings.Contains(body, `id="queue-oldest">`) {
			t.Errorf("the oldest pending entry's age is not shown")
		}

		dbDown.Store(true)
		resp, body = b.get("/admin/status")
		wantPage(t, resp, body, http.StatusOK, "Not answering")
		if strings.Contains(body, "secret detail") {
			t.Error("the page shows the database's error")
		}
		if !strings.Contains(e.ts.logs.String(), "secret detail") {
			t.Error("the database's error is not logged")
		}
		refuse.Store(true)
		resp, body = b.get("/admin/status")
		wantPage(t, resp, body, http.StatusNotFound)
		if strings.Contains(body, "v9.8.7") || strings.Contains(body, `id="queue-pending"`) {
			t.Error("a refused status page shows the report or the queue")
		}
		refuse.Store(false)
		wantNoSuchAdminPage(t, e.apiEnv, "/admin/status", "")
	})
}
