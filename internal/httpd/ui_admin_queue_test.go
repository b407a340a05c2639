package httpd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/delivery"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/testenv"
)

// queueEnv is the test organisation's server with an outbound queue (one
// that records, lists, retries and drops, as the admin commands' does)
// and, when given, a status report.
type queueEnv struct {
	*apiEnv
	queue *delivery.Queue
}

// newQueueEnv starts the API and the pages on a fresh database of the
// driver, with the queue on it and status as Options.Status.
func newQueueEnv(t *testing.T, driver string, status func(context.Context, directory.Principal) (StatusReport, error)) *queueEnv {
	t.Helper()
	ctx := context.Background()
	var dsn string
	switch driver {
	case db.SQLite:
		dsn = filepath.Join(t.TempDir(), "diwan.db")
	default:
		dsn = testenv.Postgres(t)
	}
	d, err := db.Open(ctx, db.Options{Driver: driver, DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := newAPIEnvOn(t, d, true, nil)
	o := delivery.Options{DB: d, Blobs: e.blobs, Audit: audit.NewSealer(auditKey)}
	if d.IsPostgres() {
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		o.Pool = pool
	}
	q, err := delivery.New(o)
	if err != nil {
		t.Fatal(err)
	}
	// The same services, served with the queue and the status report.
	e.ts = startTLS(t, Options{Directory: e.dir, Workflow: e.wf, Policy: e.pol, Audit: e.log, Queue: q, Status: status,
		BaseURL: "https://diwan.example.gov", MailSetup: testMailSetup}, nil)
	return &queueEnv{apiEnv: e, queue: q}
}

// enqueue puts a message to each recipient in the queue and returns their
// entries' ids, in order.
func (e *queueEnv) enqueue(to ...string) []int64 {
	e.t.Helper()
	ctx := context.Background()
	raw := "From: clerk@mof.gov.sy\r\nSubject: queued\r\n\r\nHello.\r\n"
	if err := e.queue.Enqueue(ctx, delivery.Message{From: mofClerk, To: to}, strings.NewReader(raw), int64(len(raw))); err != nil {
		e.t.Fatal(err)
	}
	es, _, err := e.queue.List(ctx, delivery.ListOptions{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []int64
	for _, x := range es[len(es)-len(to):] {
		ids = append(ids, x.ID)
	}
	return ids
}

// TestAdminQueuePageListsRetriesAndDrops: an administrator sees the
// pending recipients (every state when asked) with a retry and a drop
// form each; retry makes one
// due now and drop gives it up (both audited with the administrator); an
// unknown id and one no longer pending are said above the list, nothing
// changed; a form without its CSRF token is refused; a clerk finds no
// such page.
func TestAdminQueuePageListsRetriesAndDrops(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newQueueEnv(t, driver, nil)
		ids := e.enqueue("omar@moh.gov.sy", "huda@moh.gov.sy")
		b := e.uiLogin(adminLogin)
		b.lang = "en"
		resp, body := b.get("/admin/queue")
		wantPage(t, resp, body, http.StatusOK, `id="queue-`+fmt.Sprint(ids[0])+`"`, "omar@moh.gov.sy", "huda@moh.gov.sy",
			fmt.Sprintf(`action="/admin/queue/%d/retry"`, ids[0]), fmt.Sprintf(`action="/admin/queue/%d/drop"`, ids[1]))

		resp, _ = b.post(fmt.Sprintf("/admin/queue/%d/retry", ids[0]), url.Values{})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != fmt.Sprintf("/admin/queue?done=retry&id=%d", ids[0]) {
			t.Fatalf("retry: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, _ = b.post(fmt.Sprintf("/admin/queue/%d/drop", ids[1]), url.Values{})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("drop: %d", resp.StatusCode)
		}
		resp, body = b.get(resp.Header.Get("Location"))
		wantPage(t, resp, body, http.StatusOK, `class="flash"`, fmt.Sprintf("%d was dropped", ids[1]))
		if x, err := e.queue.Get(context.Background(), ids[1]); err != nil || x.State != delivery.StateFailed {
			t.Errorf("dropped entry: %+v, %v", x, err)
		}
		recs, err := e.log.List(context.Background(), audit.Filter{Actor: "user:admin", TargetPrefix: "queue:"})
		if err != nil || len(recs) != 2 || recs[0].Action != "queue.drop" || recs[1].Action != "queue.retry" {
			t.Errorf("audited acts: %+v, %v", recs, err)
		}

		resp, body = b.post(fmt.Sprintf("/admin/queue/%d/drop", ids[1]), url.Values{})
		wantPage(t, resp, body, http.StatusConflict, fmt.Sprintf("Queue entry %d is no longer pending", ids[1]), `id="queue-`)
		resp, body = b.post("/admin/queue/99999/retry", url.Values{})
		wantPage(t, resp, body, http.StatusNotFound, "There is no queue entry 99999")
		for _, path := range []string{"/admin/queue", "/admin/queue?state=pending"} {
			resp, body = b.get(path)
			wantPage(t, resp, body, http.StatusOK, fmt.Sprintf(`id="queue-%d"`, ids[0]))
			if strings.Contains(body, fmt.Sprintf(`id="queue-%d"`, ids[1])) {
				t.Errorf("%s lists the dropped entry", path)
			}
		}
		resp, body = b.get("/admin/queue?state=all")
		wantPage(t, resp, body, http.StatusOK, fmt.Sprintf(`id="queue-%d"`, ids[0]), fmt.Sprintf(`id="queue-%d"`, ids[1]),
			"dropped from the queue by user:admin")
		resp, body = b.get("/admin/queue?state=lost")
		wantPage(t, resp, body, http.StatusUnprocessableEntity, `id="state-error"`)

		resp, body = b.post(fmt.Sprintf("/admin/queue/%d/drop", ids[0]), url.Values{"csrf_token": {"forged"}})
		wantPage(t, resp, body, http.StatusForbidden)
		if x, _ := e.queue.Get(context.Background(), ids[0]); x.State != delivery.StatePending {
			t.Errorf("a CSRF-less drop changed the entry: %+v", x)
		}

		wantNoSuchAdminPage(t, e.apiEnv, "/admin/queue", fmt.Sprintf("/admin/queue/%d/drop", ids[0]))
	})
}

// wantNoSuchAdminPage: for a clerk and a ministry administrator the pages do
// not exist (404), GET and POST (when post is not "") alike.
func wantNoSuchAdminPage(t *testing.T, e *apiEnv, get, post string) {
	t.Helper()
	_, err := e.dir.AddUser(context.Background(), operator, directory.NewUser{Address: "madmin@mof.gov.sy", Name: "Ministry admin",
		Roles: []string{"ministry_admin"}, Password: testPassword})
	if err != nil && !errors.Is(err, directory.ErrExists) {
		t.Fatal(err)
	}
	logins := []string{mofClerk, "madmin@mof.gov.sy"}
	for _, login := range logins {
		b := e.uiLogin(login)
		resp, body := b.get(get)
		wantPage(t, resp, body, http.StatusNotFound)
		if post == "" {
			continue
		}
		if b.csrf == "" {
			b.get("/account")
		}
		resp, body = b.post(post, url.Values{})
		wantPage(t, resp, body, http.StatusNotFound)
	}
}
