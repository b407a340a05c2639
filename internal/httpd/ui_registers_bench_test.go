package httpd

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/testenv"
	"diwan.gov.sy/diwan/internal/workflow"
)

// registerClients is the number of concurrent logged-in clients of the
// register benchmarks.
const registerClients = 16

// BenchmarkRegistersPagePostgres measures GET /registers on PostgreSQL
// with 1,000,000 entries in one registry (DIWAN_BENCH_REGISTER_ENTRIES
// sets another number) and 16 concurrent clients, each logged in with a
// session of its own on a connection of its own: the first page, and a
// page half-way down the book (after some 500,000 entries);
// DIWAN_BENCH_CLIENTS sets another number of clients. b.N is the
// number of pages asked for. It reports the p50 and p99 of the server's
// time (from its request log: the handler and its database calls) and of
// the client's (loopback HTTPS round trip), and the page's size.
//
//	go test -run '^$' -bench 'RegistersPage' -benchtime 3000x -timeout 60m ./internal/httpd/
func BenchmarkRegistersPagePostgres(b *testing.B) {
	benchRegisters(b, db.Postgres, benchEntries(1_000_000))
}

// BenchmarkRegistersPageSQLite is BenchmarkRegistersPagePostgres on
// SQLite with 100,000 entries (DIWAN_BENCH_REGISTER_ENTRIES too).
func BenchmarkRegistersPageSQLite(b *testing.B) {
	benchRegisters(b, db.SQLite, benchEntries(100_000))
}

func benchEntries(n int) int {
	if v, err := strconv.Atoi(os.Getenv("DIWAN_BENCH_REGISTER_ENTRIES")); err == nil && v > 0 {
		return v
	}
	return n
}

// benchRegisters seeds the book once, then runs the pages as
// sub-benchmarks (a benchmark with sub-benchmarks runs once).
func benchRegisters(b *testing.B, driver string, n int) {
	if _, set := os.LookupEnv("GOGC"); !set {
		defer debug.SetGCPercent(debug.SetGCPercent(200)) // as diwan serve runs
	}
	times, path := &serverTimes{}, "/registers"
	times.path.Store(&path)
	e := newAPIEnvOn(b, dbtest.Open(b, driver), true, slog.New(times))
	pgDSN := "" // the cluster's, whose CPU a page costs too
	if driver == db.Postgres {
		pgDSN = testenv.Postgres(b)
	}
	ctx := context.Background()
	began := time.Now()
	if err := e.wf.SeedRegisterForBenchmark(ctx, "MOF", n); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: %d entries seeded in %s", driver, n, time.Since(began).Round(time.Millisecond))
	// A cursor half-way down: the page of entries older than the middle
	// of the seed (an entry every 30 s from 2025-01-01 on).
	middle := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n/2) * 30 * time.Second)
	deep, err := e.wf.Register(ctx, e.actorOf(mofClerk), workflow.RegisterFilter{To: middle.Format(time.DateOnly), Limit: 1})
	if err != nil || deep.Next == "" {
		b.Fatalf("a cursor half-way down: %v", err)
	}
	clientCount := registerClients
	if v, err := strconv.Atoi(os.Getenv("DIWAN_BENCH_CLIENTS")); err == nil && v > 0 {
		clientCount = v
	}
	clients := make([]*http.Client, clientCount)
	for i := range clients {
		clients[i] = benchClient(e, e.uiLogin(mofClerk))
	}
	for _, page := range []struct{ name, path string }{
		{"first", "/registers"},
		{"deep", "/registers?after=" + url.QueryEscape(deep.Next)},
	} {
		b.Run(page.name, func(b *testing.B) { runRegisterPages(b, e.ts.url+page.path, clients, times, pgDSN) })
	}
}

// benchClient is a logged-in browser's client on a connection of its own
// (HTTP/1.1, as a browser's page loads are one at a time per tab).
func benchClient(e *apiEnv, u *uiClient) *http.Client {
	base := e.ts.client.Transport.(*http.Transport)
	cfg := base.TLSClientConfig.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	tr := &http.Transport{TLSClientConfig: cfg, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: 1}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Jar: u.hc.Jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// runRegisterPages has the clients read page b.N times in all. Its
// cpu-ms/page is this process's (server and clients); on PostgreSQL
// (pgDSN set) postgres-cpu-ms/page is the cluster's.
func runRegisterPages(b *testing.B, page string, clients []*http.Client, times *serverTimes, pgDSN string) {
	var next atomic.Int64
	var failed atomic.Value
	var size atomic.Int64
	var mu sync.Mutex
	var client []time.Duration
	get := func(hc *http.Client) (time.Duration, error) {
		began := time.Now()
		resp, err := hc.Get(page)
		if err != nil {
			return 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(began)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: status %d", page, resp.StatusCode)
		}
		size.Store(int64(len(body)))
		return d, err
	}
	for _, hc := range clients { // each connection made, the caches warm
		if _, err := get(hc); err != nil {
			b.Fatal(err)
		}
	}
	times.reset()
	cpu0, pg0 := processCPU(), time.Duration(0)
	if pgDSN != "" {
		pg0 = postgresCPU(pgDSN)
	}
	b.ResetTimer()
	began := time.Now()
	var wg sync.WaitGroup
	for _, hc := range clients {
		wg.Go(func() {
			var mine []time.Duration
			for next.Add(1) <= int64(b.N) {
				d, err := get(hc)
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				mine = append(mine, d)
			}
			mu.Lock()
			client = append(client, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	b.StopTimer()
	b.ReportMetric(ms(processCPU()-cpu0)/float64(b.N), "cpu-ms/page")
	if pgDSN != "" {
		b.ReportMetric(ms(postgresCPU(pgDSN)-pg0)/float64(b.N), "postgres-cpu-ms/page")
	}
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	server := times.sorted()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pages/s")
	b.ReportMetric(float64(size.Load()), "page-bytes")
	for _, m := range []struct {
		name string
		ds   []time.Duration
	}{{"server", server}, {"client", client}} {
		p50, p99 := percentiles(m.ds)
		b.ReportMetric(ms(p50), "p50-"+m.name+"-ms")
		b.ReportMetric(ms(p99), "p99-"+m.name+"-ms")
	}
	if size.Load() > 150<<10 {
		b.Errorf("the page has %d bytes, more than 150 KB", size.Load())
	}
}

// percentiles are the median and the 99th percentile of ds (sorted here).
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(ds)
	return quantile(ds, 0.50), quantile(ds, 0.99)
}
