package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/blob/blobtest"
	"diwan.gov.sy/diwan/internal/testenv"
)

func instrument(t testing.TB, s blob.Store, name string, reg prometheus.Registerer) blob.Store {
	t.Helper()
	st, err := blob.Instrument(s, name, reg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The instrumented store keeps the contract: the conformance suite passes
// through it, on both stores.
func TestInstrumentedFS(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		return instrument(t, newFS(t), "fs", prometheus.NewRegistry())
	})
}

func TestInstrumentedS3(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		return instrument(t, newS3(t), "s3", prometheus.NewRegistry())
	})
}

// series finds the metric family name's series with the labels op and
// store in reg.
func series(t *testing.T, reg prometheus.Gatherer, name, op, store string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["op"] == op && labels["store"] == store {
				return m
			}
		}
	}
	t.Fatalf("no series %s{op=%q, store=%q}", name, op, store)
	return nil
}

// calls and failures are the number of op calls timed and of failures
// counted.
func calls(t *testing.T, reg prometheus.Gatherer, op string) uint64 {
	return series(t, reg, "diwan_blob_operation_duration_seconds", op, "fs").GetHistogram().GetSampleCount()
}

func failures(t *testing.T, reg prometheus.Gatherer, op string) float64 {
	return series(t, reg, "diwan_blob_operation_errors_total", op, "fs").GetCounter().GetValue()
}

func TestInstrumentTimesOperationsAndCountsStoreFailures(t *testing.T) {
	reg := prometheus.NewRegistry()
	fsys := newFS(t)
	s := instrument(t, fsys, "fs", reg)
	ctx := t.Context()

	// Every series is there, at zero, before the first call.
	for _, op := range []string{"put", "get", "stat", "delete", "list", "ping"} {
		if n, f := calls(t, reg, op), failures(t, reg, op); n != 0 || f != 0 {
			t.Fatalf("%s before any call: %d calls, %v failures", op, n, f)
		}
	}

	info, err := s.Put(ctx, strings.NewReader("hello"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutKey(ctx, "a/b", strings.NewReader("world"), -1); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Open(ctx, info.Key)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); err != nil || string(b) != "hello" {
		t.Fatalf("read back %q, %v", b, err)
	}
	rc.Close()
	rc, err = s.OpenRange(ctx, "a/b", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if _, err := s.Stat(ctx, info.Key); err != nil {
		t.Fatal(err)
	}
	var listed int
	stop := errors.New("stop")
	if err := s.List(ctx, "", func(blob.Info) error { listed++; return stop }); !errors.Is(err, stop) {
		t.Fatalf("List = %v, want the callback's error", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	// Answers and the caller's doing are timed, not counted as failures.
	if _, err := s.Open(ctx, "no/such"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open missing = %v", err)
	}
	if err := s.Delete(ctx, "no/such"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Delete missing = %v", err)
	}
	if _, err := s.Put(ctx, strings.NewReader("short"), 10); !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("Put short = %v", err)
	}
	if _, err := s.Put(ctx, blobtest.FailingReader(1, 100), -1); !errors.Is(err, blobtest.Err) {
		t.Fatalf("Put of a failing stream = %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cancelled, bytes.NewReader(make([]byte, 1<<20)), 1<<20); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context = %v", err)
	}

	for op, want := range map[string]uint64{"put": 5, "get": 3, "stat": 1, "delete": 1, "list": 1, "ping": 1} {
		if got := calls(t, reg, op); got != want {
			t.Errorf("%s: %d calls timed, want %d", op, got, want)
		}
		if f := failures(t, reg, op); f != 0 {
			t.Errorf("%s: %v failures counted, want 0", op, f)
		}
	}
	if sum := series(t, reg, "diwan_blob_operation_duration_seconds", "put", "fs").GetHistogram().GetSampleSum(); sum <= 0 || sum > 60 {
		t.Errorf("put: %v seconds in all, want a small positive time", sum)
	}

	// A store that fails (here: closed under its callers) is counted.
	fsys.Close()
	if _, err := s.Put(ctx, strings.NewReader("x"), 1); err == nil {
		t.Fatal("Put on a closed store succeeded")
	}
	if _, err := s.Open(ctx, info.Key); err == nil {
		t.Fatal("Open on a closed store succeeded")
	}
	if f := failures(t, reg, "put"); f != 1 {
		t.Errorf("put failures %v, want 1", f)
	}
	if f := failures(t, reg, "get"); f != 1 {
		t.Errorf("get failures %v, want 1", f)
	}
}

// A read that fails after Open counts as a failure of get, once; so does
// a store that cannot be reached. The S3 server is reached through a relay
// that the test cuts.
func TestInstrumentCountsS3CutOffMidRead(t *testing.T) {
	srv := testenv.S3(t)
	o := s3Options(srv, testenv.Bucket(t))
	direct, err := blob.NewS3(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	const size = 32 << 20
	info, err := direct.Put(t.Context(), blobtest.Stream(1, size), size)
	if err != nil {
		t.Fatal(err)
	}

	relay := testenv.NewProxy(t, srv.Endpoint)
	o.Endpoint = relay.Addr()
	viaRelay, err := blob.NewS3(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer viaRelay.Close()
	reg := prometheus.NewRegistry()
	s := instrument(t, viaRelay, "s3", reg)
	rc, err := s.Open(t.Context(), info.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	relay.Close()
	if n, err := io.Copy(io.Discard, rc); err == nil {
		t.Fatalf("read the whole object (%d more bytes) through a closed relay", n)
	}
	if _, err := s.Stat(t.Context(), info.Key); err == nil {
		t.Fatal("Stat through a closed relay succeeded")
	}
	for op, want := range map[string]float64{"get": 1, "stat": 1, "put": 0} {
		if f := series(t, reg, "diwan_blob_operation_errors_total", op, "s3").GetCounter().GetValue(); f != want {
			t.Errorf("%s failures %v, want %v", op, f, want)
		}
	}
}

func TestInstrumentSharesSeriesOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := instrument(t, newFS(t), "fs", reg)
	b := instrument(t, newFS(t), "fs", reg)
	if err := a.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := calls(t, reg, "ping"); got != 2 {
		t.Errorf("ping calls %d, want 2 (one series for both stores)", got)
	}
}

// BenchmarkInstrumentOpen4KiB is the wrapper's cost where it is largest
// relative to the work: opening and reading a small file.
func BenchmarkInstrumentOpen4KiB(b *testing.B) {
	run := func(b *testing.B, s blob.Store) {
		if _, err := s.PutKey(b.Context(), "bench/small", bytes.NewReader(make([]byte, 4096)), 4096); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 8192)
		for b.Loop() {
			rc, err := s.Open(b.Context(), "bench/small")
			if err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := rc.Read(buf); err != nil {
					break
				}
			}
			rc.Close()
		}
	}
	b.Run("fs", func(b *testing.B) { run(b, newFS(b)) })
	b.Run("fs-instrumented", func(b *testing.B) { run(b, instrument(b, newFS(b), "fs", prometheus.NewRegistry())) })
}
