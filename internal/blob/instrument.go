package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"diwan.gov.sy/diwan/internal/prom"

	"github.com/prometheus/client_golang/prometheus"
)

// Operations, the op label of the metrics of Instrument.
const (
	opPut    = "put"
	opGet    = "get"
	opStat   = "stat"
	opDelete = "delete"
	opList   = "list"
	opPing   = "ping"
)

// durationBuckets span a file system's sub-millisecond opens to an S3
// upload of a large attachment.
var durationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Instrument returns s with every call timed and every failure counted in
// reg, labelled store=name (blob.driver: "fs", "s3"):
//
//	diwan_blob_operation_duration_seconds{op, store}  histogram
//	diwan_blob_operation_errors_total{op, store}
//
// op is put (Put and PutKey, until the object is durable: it includes
// reading the caller's stream), get (Open and OpenRange, until the object is
// ready to read; a read that fails later counts as an error of get), stat,
// delete, list (the store's own time, without fn's) and ping. A failure is
// counted when the store failed: ErrNotFound and ErrSizeMismatch are
// answers about the key or the stream, and a call whose context was
// cancelled or whose stream failed was given up by its caller; those are
// timed but not counted.
//
// The returned Store keeps s's contract and only observes it. Stores
// instrumented with one name on one registry share the series.
func Instrument(s Store, name string, reg prometheus.Registerer) (Store, error) {
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "diwan", Subsystem: "blob", Name: "operation_duration_seconds",
		Help:    "Time of blob store operations, by operation (put, get, stat, delete, list, ping) and store; get is the time until the object is ready to read.",
		Buckets: durationBuckets,
	}, []string{"op", "store"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "diwan", Subsystem: "blob", Name: "operation_errors_total",
		Help: "Blob store operations that failed, by operation and store (a missing key, a refused stream or a cancelled call is not a failure).",
	}, []string{"op", "store"})
	var err error
	if duration, err = prom.Register(reg, duration); err != nil {
		return nil, fmt.Errorf("blob: register metrics: %w", err)
	}
	if failures, err = prom.Register(reg, failures); err != nil {
		return nil, fmt.Errorf("blob: register metrics: %w", err)
	}
	m := &instrumented{s: s, ops: make(map[string]opMetrics)}
	for _, op := range []string{opPut, opGet, opStat, opDelete, opList, opPing} {
		// Every series exists from the start, at zero: a rate over a
		// series that appears with its first failure misses that failure.
		m.ops[op] = opMetrics{
			duration: duration.WithLabelValues(op, name),
			errors:   failures.WithLabelValues(op, name),
		}
	}
	return m, nil
}

type opMetrics struct {
	duration prometheus.Observer
	errors   prometheus.Counter
}

// instrumented is the Store of Instrument.
type instrumented struct {
	s   Store
	ops map[string]opMetrics // by op; read-only once built
}

// done records one call of op that started at start and ended with err.
// callerFault says the caller's stream failed.
func (m *instrumented) done(op string, start time.Time, err error, callerFault bool) {
	o := m.ops[op]
	o.duration.Observe(time.Since(start).Seconds())
	if failed(err) && !callerFault {
		o.errors.Inc()
	}
}

// failed reports whether err is a failure of the store (see Instrument).
func failed(err error) bool {
	return err != nil && err != io.EOF &&
		!errors.Is(err, ErrNotFound) && !errors.Is(err, ErrSizeMismatch) && !errors.Is(err, context.Canceled)
}

func (m *instrumented) Put(ctx context.Context, r io.Reader, size int64) (Info, error) {
	start := time.Now()
	pr, callerFailed := m.watch(r)
	info, err := m.s.Put(ctx, pr, size)
	m.done(opPut, start, err, callerFailed())
	return info, err
}

func (m *instrumented) PutKey(ctx context.Context, key string, r io.Reader, size int64) (Info, error) {
	start := time.Now()
	pr, callerFailed := m.watch(r)
	info, err := m.s.PutKey(ctx, key, pr, size)
	m.done(opPut, start, err, callerFailed())
	return info, err
}

// watch wraps the caller's stream so that its failures are told apart from
// the store's. A file section (a spool file the S3 store sends straight
// from disk, without part buffers) is passed through as it is: wrapping it
// would hide its ReadAt and cost two part buffers per message (a 49 MiB
// message grew RSS by 37 MiB instead of 5); a file's read errors are rare
// enough to be counted as the store's.
func (m *instrumented) watch(r io.Reader) (io.Reader, func() bool) {
	if _, ok := r.(fileSection); ok {
		return r, func() bool { return false }
	}
	cr := &callerReader{r: r}
	return cr, cr.failed.Load
}

func (m *instrumented) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := m.s.Open(ctx, key)
	m.done(opGet, start, err, false)
	if err != nil {
		return nil, err
	}
	return &readCounter{ReadCloser: rc, errors: m.ops[opGet].errors}, nil
}

func (m *instrumented) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := m.s.OpenRange(ctx, key, offset, length)
	m.done(opGet, start, err, false)
	if err != nil {
		return nil, err
	}
	return &readCounter{ReadCloser: rc, errors: m.ops[opGet].errors}, nil
}

func (m *instrumented) Stat(ctx context.Context, key string) (Info, error) {
	start := time.Now()
	info, err := m.s.Stat(ctx, key)
	m.done(opStat, start, err, false)
	return info, err
}

func (m *instrumented) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := m.s.Delete(ctx, key)
	m.done(opDelete, start, err, false)
	return err
}

func (m *instrumented) List(ctx context.Context, prefix string, fn func(Info) error) error {
	start := time.Now()
	var inFn time.Duration // the caller's time, taken out of the store's
	var fnErr error
	err := m.s.List(ctx, prefix, func(i Info) error {
		t := time.Now()
		fnErr = fn(i)
		inFn += time.Since(t)
		return fnErr
	})
	o := m.ops[opList]
	o.duration.Observe((time.Since(start) - inFn).Seconds())
	if failed(err) && (fnErr == nil || !errors.Is(err, fnErr)) {
		o.errors.Inc()
	}
	return err
}

func (m *instrumented) Ping(ctx context.Context) error {
	start := time.Now()
	err := m.s.Ping(ctx)
	m.done(opPing, start, err, false)
	return err
}

// callerReader notes whether the caller's stream failed, so that a Put it
// breaks is not counted as the store's failure. (The S3 store reads the
// stream on another goroutine while it uploads the previous part.)
type callerReader struct {
	r      io.Reader
	failed atomic.Bool
}

func (c *callerReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.failed.Store(true)
	}
	return n, err
}

// readCounter counts the first failed read of an opened object as a
// failure of get.
type readCounter struct {
	io.ReadCloser
	errors  prometheus.Counter
	counted bool
}

func (r *readCounter) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if !r.counted && failed(err) {
		r.counted = true
		r.errors.Inc()
	}
	return n, err
}
