package delivery_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexedwards/argon2id"
	"github.com/jackc/pgx/v5/pgxpool"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/delivery"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/secrets"
	"diwan.gov.sy/diwan/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// queueCare is a queue that records, lists, retries and drops (as the
// admin commands' does) on a fresh database of a driver, with the
// directory of its callers on the same database.
type queueCare struct {
	t     *testing.T
	queue *delivery.Queue
	dir   *directory.Service
	log   *audit.Log
}

func newQueueCare(t *testing.T, driver string) *queueCare {
	t.Helper()
	ctx := context.Background()
	var dsn string
	if driver == db.SQLite {
		dsn = filepath.Join(t.TempDir(), "diwan.db")
	} else {
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
	blobs, err := blob.NewFS(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	key := secrets.Random()
	o := delivery.Options{DB: d, Blobs: blobs, Audit: audit.NewSealer(key)}
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
	dir := directory.New(d, directory.Options{Audit: audit.NewSealer(key),
		HashParams: &argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	if _, err := dir.AddMinistry(ctx, "cli:test", directory.Ministry{Code: "MOF", NameAR: "وزارة المالية", NameEN: "Finance"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddDomain(ctx, "cli:test", "mof.gov.sy", "MOF"); err != nil {
		t.Fatal(err)
	}
	return &queueCare{t: t, queue: q, dir: dir, log: audit.New(d, nil)}
}

// caller adds a user of the roles and reads them as the directory says
// who calls; disabled disables them first.
func (e *queueCare) caller(login string, disabled bool, roles ...string) directory.Principal {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.dir.AddUser(ctx, "cli:test", directory.NewUser{Address: login, Name: login, Roles: roles, Password: "correct horse battery"})
	if err != nil {
		e.t.Fatal(err)
	}
	if disabled {
		if err := e.dir.Disable(ctx, "cli:test", login); err != nil {
			e.t.Fatal(err)
		}
	}
	p, err := e.dir.Principal(ctx, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// enqueue records a message to each recipient and returns their ids.
func (e *queueCare) enqueue(to ...string) []int64 {
	e.t.Helper()
	ctx := context.Background()
	raw := "From: ali@mof.gov.sy\r\nSubject: queued\r\n\r\nHello.\r\n"
	if err := e.queue.Enqueue(ctx, delivery.Message{From: "ali@mof.gov.sy", To: to}, strings.NewReader(raw), int64(len(raw))); err != nil {
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

// TestQueueAsLetsOnlyAnEnabledAdministratorCareForTheQueue: an
// administrator of the instance lists, reads, retries and drops entries,
// each act audited with them as actor; a ministry administrator, a clerk
// and a disabled administrator are refused (ErrForbidden) by every method,
// before anything is read or changed, even for an entry that does not
// exist.
func TestQueueAsLetsOnlyAnEnabledAdministratorCareForTheQueue(t *testing.T) {
	for _, driver := range dbtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			e := newQueueCare(t, driver)
			ctx := context.Background()
			ids := e.enqueue("omar@moh.gov.sy", "huda@moh.gov.sy")
			root := e.caller("root@mof.gov.sy", false, directory.RoleAdmin)
			refused := map[string]directory.Principal{
				"ministry admin": e.caller("madmin@mof.gov.sy", false, directory.RoleMinistryAdmin),
				"clerk":          e.caller("ali@mof.gov.sy", false, "clerk"),
				"disabled admin": e.caller("old@mof.gov.sy", true, directory.RoleAdmin),
			}
			for name, who := range refused {
				for _, id := range []int64{ids[0], 99999} {
					if _, _, err := e.queue.ListAs(ctx, who, delivery.ListOptions{}); !errors.Is(err, delivery.ErrForbidden) {
						t.Errorf("%s: list: %v, want ErrForbidden", name, err)
					}
					if _, err := e.queue.GetAs(ctx, who, id); !errors.Is(err, delivery.ErrForbidden) {
						t.Errorf("%s: get %d: %v, want ErrForbidden", name, id, err)
					}
					if err := e.queue.RetryAs(ctx, who, id); !errors.Is(err, delivery.ErrForbidden) {
						t.Errorf("%s: retry %d: %v, want ErrForbidden", name, id, err)
					}
					if err := e.queue.DropAs(ctx, who, id); !errors.Is(err, delivery.ErrForbidden) {
						t.Errorf("%s: drop %d: %v, want ErrForbidden", name, id, err)
					}
				}
			}
			if x, err := e.queue.Get(ctx, ids[0]); err != nil || x.State != delivery.StatePending {
				t.Fatalf("after the refusals: %+v, %v", x, err)
			}
			if recs, err := e.log.List(ctx, audit.Filter{TargetPrefix: "queue:"}); err != nil || len(recs) != 0 {
				t.Fatalf("refused acts audited: %+v, %v", recs, err)
			}
			e.wantAdministratorCares(root, ids)
		})
	}
}

// wantAdministratorCares: an administrator lists, reads, retries and
// drops, audited as themselves; an unknown id is ErrNotFound.
func (e *queueCare) wantAdministratorCares(root directory.Principal, ids []int64) {
	t, ctx := e.t, context.Background()
	es, total, err := e.queue.ListAs(ctx, root, delivery.ListOptions{State: delivery.StatePending})
	if err != nil || total != 2 || len(es) != 2 || es[0].ID != ids[0] {
		t.Fatalf("list: %+v (%d), %v", es, total, err)
	}
	if x, err := e.queue.GetAs(ctx, root, ids[1]); err != nil || x.To != "huda@moh.gov.sy" {
		t.Fatalf("get: %+v, %v", x, err)
	}
	if _, err := e.queue.GetAs(ctx, root, 99999); !errors.Is(err, delivery.ErrNotFound) {
		t.Errorf("get of an unknown id: %v, want ErrNotFound", err)
	}
	if err := e.queue.RetryAs(ctx, root, ids[0]); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if err := e.queue.DropAs(ctx, root, ids[1]); err != nil {
		t.Fatalf("drop: %v", err)
	}
	if err := e.queue.DropAs(ctx, root, ids[1]); !errors.Is(err, delivery.ErrNotPending) {
		t.Errorf("second drop: %v, want ErrNotPending", err)
	}
	if x, err := e.queue.GetAs(ctx, root, ids[1]); err != nil || x.State != delivery.StateFailed ||
		x.LastError != "dropped from the queue by user:root@mof.gov.sy" {
		t.Errorf("dropped entry: %+v, %v", x, err)
	}
	recs, err := e.log.List(ctx, audit.Filter{TargetPrefix: "queue:"})
	if err != nil || len(recs) != 2 || recs[0].Action != "queue.drop" || recs[1].Action != "queue.retry" ||
		recs[0].Actor != "user:root@mof.gov.sy" || recs[1].Actor != "user:root@mof.gov.sy" {
		t.Errorf("audited acts: %+v, %v", recs, err)
	}
}
