package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivershared/baseservice"
	"github.com/riverqueue/river/rivershared/riverpilot"
	"github.com/riverqueue/river/rivertype"
	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/db"
)

// riverQueue is the River queue of the delivery jobs.
const riverQueue = "delivery"

// sendArgs is one River job: the relay_queue entries of one message
// (blob) for one destination domain. The entries name their job
// (relay_queue.job_id); the job finds its entries by message and domain.
type sendArgs struct {
	BlobKey string `json:"blob_key"`
	Domain  string `json:"domain"`
}

func (sendArgs) Kind() string { return "delivery.send" }

// InsertOpts: attempts count only the worker's own failures (database or
// blob store trouble), with River's back-off; a remote's temporary failure
// snoozes the job on the retry schedule without spending an attempt.
func (sendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: riverQueue, MaxAttempts: 25}
}

// jobs is River on one database: it inserts the jobs with the entries
// they send, makes one due now, and runs the worker.
type jobs interface {
	// enqueue records rows (all of one message) and a job per domain in
	// one transaction: when it returns nil both are durable.
	enqueue(ctx context.Context, rows []relayRow) error
	// retry makes the job available now.
	retry(ctx context.Context, jobID int64) error
	start(ctx context.Context) error
	stop(ctx context.Context) error
}

// riverConfig is River's configuration: with w, a node that works the
// queue (serve); without, one that only inserts and retries (admin
// commands).
func riverConfig(o Options, w *worker) *river.Config {
	c := &river.Config{Logger: o.Logger}
	if w == nil {
		return c
	}
	c.ID = o.NodeID
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	c.Workers = workers
	c.Queues = map[string]river.QueueConfig{riverQueue: {MaxWorkers: max(o.Concurrency, 1)}}
	// A job sends one message to one domain, trying its hops in turn.
	c.JobTimeout = jobTimeout
	c.RescueStuckJobsAfter = jobTimeout + 5*time.Minute
	c.FetchCooldown = fetchCooldown
	c.FetchPollInterval = o.FetchPollInterval
	if c.FetchPollInterval == 0 {
		c.FetchPollInterval = defaultPollInterval(o.DB)
	}
	return c
}

// jobTimeout bounds one job: a message sent to one domain's hops.
const jobTimeout = 30 * time.Minute

// fetchCooldown is the shortest time between two fetches of jobs; River's
// default (100 ms) would hold a job inserted right after another.
const fetchCooldown = 2 * time.Millisecond

// defaultPollInterval is how often River looks for due jobs. New jobs do
// not wait for it: PostgreSQL pushes them (LISTEN/NOTIFY, to every node),
// and on SQLite the process that inserts them wakes its own worker
// (wakingDriver). The poll finds the snoozed jobs coming due, jobs made
// due by an admin command in another process, and on PostgreSQL what a
// lost notification missed.
func defaultPollInterval(*db.DB) time.Duration { return 500 * time.Millisecond }

// newJobs builds River on the database: on SQLite over the writer's own
// connection (River's statements queue with Diwan's in Go, never in
// SQLite's busy handler, and a job is inserted in the transaction of its
// entries); on PostgreSQL over pool, whose LISTEN/NOTIFY pushes new jobs.
func newJobs(o Options, w *worker) (jobs, error) {
	cfg := riverConfig(o, w)
	if o.DB.IsPostgres() {
		if o.Pool == nil {
			return nil, fmt.Errorf("delivery: PostgreSQL needs a pgx pool for River")
		}
		c, err := river.NewClient(riverpgxv5.New(o.Pool), cfg)
		if err != nil {
			return nil, fmt.Errorf("delivery: river: %w", err)
		}
		return &pgJobs{pool: o.Pool, client: c}, nil
	}
	sqlDB, err := o.DB.Writer().DB()
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	d := &wakingDriver{Driver: riversqlite.New(sqlDB), pilot: &wakingPilot{}}
	c, err := river.NewClient[*sql.Tx](d, cfg)
	if err != nil {
		return nil, fmt.Errorf("delivery: river: %w", err)
	}
	return &sqliteJobs{db: o.DB, client: c, wake: d.pilot}, nil
}

// sqliteJobs is River on SQLite.
type sqliteJobs struct {
	db     *db.DB
	client *river.Client[*sql.Tx]
	wake   *wakingPilot
}

// wakingDriver is riversqlite's driver with a pilot that keeps River's
// way to wake this client's producers. SQLite has no LISTEN/NOTIFY, and
// River wakes its producers itself only for jobs inserted outside a
// transaction; the queue inserts its jobs inside the transaction of their
// entries, so it wakes them itself once that commits (River's
// PilotInitParams.NotifyNonTxJobInsert, made for this). Without it a job
// would wait for the next poll.
type wakingDriver struct {
	*riversqlite.Driver
	pilot *wakingPilot
}

// SupportsListener and SupportsListenNotify are false: riversqlite
// emulates LISTEN/NOTIFY by polling a table every 50 ms on the writer's
// connection (p50 37 ms from commit to start, measured), where waking the
// worker directly costs nothing and takes a millisecond.
func (d *wakingDriver) SupportsListener() bool     { return false }
func (d *wakingDriver) SupportsListenNotify() bool { return false }

func (d *wakingDriver) PluginInit(*baseservice.Archetype) {}
func (d *wakingDriver) PluginPilot() riverpilot.Pilot     { return d.pilot }

type wakingPilot struct {
	riverpilot.StandardPilot
	notify func(context.Context, []*rivertype.JobInsertResult)
}

func (p *wakingPilot) PilotInit(a *baseservice.Archetype, params *riverpilot.PilotInitParams) {
	p.StandardPilot.PilotInit(a, params)
	p.notify = params.NotifyNonTxJobInsert
}

// jobsCommitted wakes this process's producers for jobs just committed
// (nothing when it does not work the queue).
func (p *wakingPilot) jobsCommitted(ctx context.Context, res []*rivertype.JobInsertResult) {
	if p.notify != nil && len(res) > 0 {
		p.notify(ctx, res)
	}
}

func (j *sqliteJobs) enqueue(ctx context.Context, rows []relayRow) error {
	var inserted []*rivertype.JobInsertResult
	err := j.db.Transaction(ctx, func(tx *gorm.DB) error {
		inserted = inserted[:0]
		stx, ok := tx.Statement.ConnPool.(*sql.Tx)
		if !ok {
			return fmt.Errorf("transaction is a %T, not a *sql.Tx", tx.Statement.ConnPool)
		}
		for _, g := range byDomain(rows) {
			first := rows[g[0]]
			res, err := j.client.InsertTx(ctx, stx, sendArgs{BlobKey: first.BlobKey, Domain: first.Domain}, nil)
			if err != nil {
				return fmt.Errorf("insert job: %w", err)
			}
			inserted = append(inserted, res)
			for _, i := range g {
				rows[i].JobID = &res.Job.ID
			}
		}
		return tx.Create(&rows).Error
	})
	if err == nil {
		j.wake.jobsCommitted(ctx, inserted)
	}
	return err
}

func (j *sqliteJobs) retry(ctx context.Context, id int64) error {
	return retryJob(ctx, func(ctx context.Context) (*rivertype.JobRow, error) { return j.client.JobRetry(ctx, id) })
}

// start first frees the jobs a killed process left running: on SQLite
// this process is the only one that works the queue (one node), so none
// can still be running elsewhere, and they need not wait for River's
// rescuer (RescueStuckJobsAfter). On PostgreSQL another node may be
// running them: there they wait for the rescuer.
func (j *sqliteJobs) start(ctx context.Context) error {
	res := j.db.Writer().WithContext(ctx).Exec(`UPDATE river_job SET state = 'available' WHERE state = 'running' AND queue = ?`, riverQueue)
	if res.Error != nil {
		return fmt.Errorf("free the jobs left running: %w", res.Error)
	}
	return j.client.Start(ctx)
}
func (j *sqliteJobs) stop(ctx context.Context) error {
	return stopRiver(ctx, j.client.Stop, j.client.StopAndCancel)
}

// pgJobs is River on PostgreSQL.
type pgJobs struct {
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
}

const insertRelayRow = `INSERT INTO relay_queue (created_at, user_id, mail_from, rcpt_to, domain, blob_key, size,
	smtputf8, state, next_attempt_at, job_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

func (j *pgJobs) enqueue(ctx context.Context, rows []relayRow) error {
	return pgx.BeginFunc(ctx, j.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, g := range byDomain(rows) {
			first := rows[g[0]]
			res, err := j.client.InsertTx(ctx, tx, sendArgs{BlobKey: first.BlobKey, Domain: first.Domain}, nil)
			if err != nil {
				return fmt.Errorf("insert job: %w", err)
			}
			for _, i := range g {
				r := rows[i]
				b.Queue(insertRelayRow, r.CreatedAt, r.UserID, r.MailFrom, r.RcptTo, r.Domain, r.BlobKey, r.Size,
					r.Smtputf8, r.State, r.NextAttemptAt, res.Job.ID)
			}
		}
		return tx.SendBatch(ctx, &b).Close()
	})
}

func (j *pgJobs) retry(ctx context.Context, id int64) error {
	return retryJob(ctx, func(ctx context.Context) (*rivertype.JobRow, error) { return j.client.JobRetry(ctx, id) })
}

// retryJob makes a job available now. River leaves a running job alone,
// and a job that has just run stays "running" until River's completer
// records its snooze a moment later: retrying then would be lost, so a
// running job is retried again until it is not (for a few seconds: a job
// still running then is sending right now, which is what was asked).
func retryJob(ctx context.Context, retry func(context.Context) (*rivertype.JobRow, error)) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		row, err := retry(ctx)
		if err != nil || row.State != rivertype.JobStateRunning || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// start first frees the jobs this node was running when it was killed
// (River's attempted_by ends with this node's id, Options.NodeID): no other
// node runs them, so they need not wait for River's rescuer
// (RescueStuckJobsAfter). Jobs of another node that died wait for it.
func (j *pgJobs) start(ctx context.Context) error {
	if id := j.client.ID(); id != "" {
		_, err := j.pool.Exec(ctx, `UPDATE river_job SET state = 'available'
			WHERE state = 'running' AND queue = $1 AND attempted_by[array_upper(attempted_by, 1)] = $2`, riverQueue, id)
		if err != nil {
			return fmt.Errorf("free the jobs left running: %w", err)
		}
	}
	return j.client.Start(ctx)
}
func (j *pgJobs) stop(ctx context.Context) error {
	return stopRiver(ctx, j.client.Stop, j.client.StopAndCancel)
}

// stopRiver lets running jobs finish for a while, then cancels them (a
// cancelled send is tried again on the next start).
func stopRiver(ctx context.Context, stop, cancel func(context.Context) error) error {
	sctx, done := context.WithTimeout(ctx, 10*time.Second)
	defer done()
	if err := stop(sctx); err == nil {
		return nil
	}
	cctx, done2 := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done2()
	return cancel(cctx)
}
