package delivery

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/policy"
)

// Blobs is the part of the blob store the queue and its worker use;
// blob.Store satisfies it.
type Blobs interface {
	QueueBlobs
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
}

// Policy is the national-mail policy asked again at send time;
// *policy.Service satisfies it.
type Policy interface {
	Decide(ctx context.Context, dir policy.Direction, addressOrDomain string) (policy.Decision, error)
	RecordRefusal(ctx context.Context, r policy.Refusal) error
}

// Mailbox delivers bounces and delay notices into a local user's INBOX;
// *mailstore.Store satisfies it.
type Mailbox interface {
	// Deliver stores raw for the users and returns when it is durable.
	Deliver(ctx context.Context, recipients []int64, raw io.Reader) error
}

// Options build a Queue that sends.
type Options struct {
	DB *db.DB
	// Pool is River's connection pool on PostgreSQL (from the same DSN;
	// LISTEN/NOTIFY needs pgx); nil on SQLite, where River shares the
	// writer's connection.
	Pool    *pgxpool.Pool
	Blobs   Blobs
	Router  *Router
	Sender  *Sender
	Policy  Policy
	Mailbox Mailbox
	Audit   *audit.Sealer
	// Hostname is smtp.hostname: the reporting MTA of bounces.
	Hostname string
	// RetryIntervals are the waits after each failed attempt; the last
	// repeats (delivery.retry_intervals).
	RetryIntervals []time.Duration
	MaxAge         time.Duration // delivery.max_age: then it bounces
	DelayNotice    time.Duration // delivery.delay_notice: one notice; 0: none
	Concurrency    int           // delivery.concurrency: jobs at once on this node
	// Work runs the worker once Start is called (serve); without, the
	// queue records, lists, retries and drops (admin commands).
	Work bool
	// NodeID names this node to River, the same across its restarts (and
	// different from every other node's): a restarted node takes back at
	// once the jobs it was running when it died. "" lets River choose one
	// per process.
	NodeID string
	// FetchPollInterval overrides how often River looks for due jobs.
	FetchPollInterval time.Duration
	Registerer        prometheus.Registerer
	Logger            *slog.Logger
	Now               func() time.Time
}

// engine is what the worker and the queue's care share.
type engine struct {
	o       Options
	db      *db.DB
	blobs   Blobs
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
}

// New returns the relay queue with its jobs: Enqueue inserts a job per
// destination domain with the entries, and Start runs the worker when
// o.Work is set.
func New(o Options) (*Queue, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.RetryIntervals) == 0 {
		o.RetryIntervals = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 2 * time.Hour}
	}
	e := &engine{o: o, db: o.DB, blobs: o.Blobs, log: o.Logger, now: o.Now}
	var w *worker
	if o.Work {
		if o.Router == nil || o.Sender == nil || o.Policy == nil || o.Mailbox == nil {
			return nil, errors.New("delivery: a working queue needs a router, a sender, the policy and the mail store")
		}
		w = &worker{e: e}
	}
	if o.Registerer != nil {
		m, err := newMetrics(o.Registerer, e)
		if err != nil {
			return nil, err
		}
		e.metrics = m
	}
	j, err := newJobs(o, w)
	if err != nil {
		return nil, err
	}
	return &Queue{db: o.DB, blobs: o.Blobs, now: o.Now, jobs: j, eng: e}, nil
}

// Start runs the worker until Stop.
func (q *Queue) Start(ctx context.Context) error {
	if q.jobs == nil || !q.eng.o.Work {
		return errors.New("delivery: this queue does not send")
	}
	if err := q.jobs.start(ctx); err != nil {
		return err
	}
	q.started.Store(true)
	sctx, cancel := context.WithCancel(ctx)
	q.stopSweep = cancel
	q.swept.Add(1)
	go func() { defer q.swept.Done(); q.runSweeper(sctx, time.Hour) }()
	return nil
}

// Stop lets the jobs in flight finish (for a few seconds, then cancels
// them: they run again on the next start) and stops the worker.
func (q *Queue) Stop(ctx context.Context) error {
	if !q.started.Swap(false) {
		return nil
	}
	q.stopSweep()
	q.swept.Wait()
	return q.jobs.stop(ctx)
}

// blob is the package's blob type, kept for the doc links.
var _ Blobs = (blob.Store)(nil)
