package httpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/testenv"
)

// loadClients is the number of concurrent API clients of the load run.
const loadClients = 64

// BenchmarkLetterLoadPostgres is the load run of issue 6: 64 concurrent API
// clients over HTTPS, each on its own connection with an API token, take
// complete letters through the API on PostgreSQL: create, register,
// dispatch, find the incoming entry, register it, refer it. b.N is the
// number of letters. It reports letters/s and the p50/p99 of each call.
//
//	go test -run '^$' -bench LetterLoad -benchtime 2000x ./internal/httpd/
//
// "fsync-off" uses the shared test cluster (fsync and synchronous commit
// off); "durable" a cluster of its own with both on.
func BenchmarkLetterLoadPostgres(b *testing.B) {
	if _, set := os.LookupEnv("GOGC"); !set {
		// As diwan serve runs (internal/app).
		defer debug.SetGCPercent(debug.SetGCPercent(200))
	}
	for _, durable := range []bool{false, true} {
		name := "fsync-off"
		if durable {
			name = "durable"
		}
		b.Run(name, func(b *testing.B) {
			var dsn string
			if durable {
				c := testenv.NewCluster(b, true)
				var err error
				if dsn, err = c.CreateDatabase(context.Background()); err != nil {
					b.Fatal(err)
				}
			} else {
				dsn = testenv.Postgres(b)
			}
			d, err := db.Open(context.Background(), db.Options{Driver: db.Postgres, DSN: dsn})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { d.Close() })
			if _, err := d.Migrate(context.Background()); err != nil {
				b.Fatal(err)
			}
			runLetterLoad(b, newAPIEnvOn(b, d, true, slog.New(slog.DiscardHandler)))
		})
	}
}

// loadCall names the calls of one letter, in order.
var loadCalls = []string{"create", "register", "dispatch", "find incoming", "register incoming", "refer"}

func runLetterLoad(b *testing.B, e *apiEnv) {
	sender, receiver := e.withToken(moctClerk).token, e.withToken(mofClerk).token
	base := e.ts.client.Transport.(*http.Transport)
	// HTTP/1.1, a connection per client, as 64 separate programs would.
	tr := &http.Transport{
		TLSClientConfig:     base.TLSClientConfig.Clone(),
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: loadClients,
	}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: time.Minute}

	lat := make([][]time.Duration, len(loadCalls))
	var mu sync.Mutex
	var next atomic.Int64
	var failed atomic.Value

	// Each client connects first (TCP and TLS), as a client that keeps its
	// connection has done long before: the run measures calls.
	var warm sync.WaitGroup
	for range loadClients {
		warm.Go(func() {
			var who map[string]any
			if err := loadCall(hc, make([][]time.Duration, len(loadCalls)), 0, sender, "GET", e.ts.url+"/api/v1/session", nil, http.StatusOK, &who); err != nil {
				failed.CompareAndSwap(nil, err)
			}
		})
	}
	warm.Wait()

	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < loadClients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([][]time.Duration, len(loadCalls))
			defer func() {
				mu.Lock()
				for i := range mine {
					lat[i] = append(lat[i], mine[i]...)
				}
				mu.Unlock()
			}()
			for next.Add(1) <= int64(b.N) {
				if err := oneLetter(hc, e.ts.url, sender, receiver, mine); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "letters/s")
	for i, name := range loadCalls {
		ds := lat[i]
		slices.Sort(ds)
		if len(ds) == 0 {
			continue
		}
		p := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
		b.Logf("%-18s n=%d p50=%s p99=%s max=%s", name, len(ds), p(0.50).Round(10*time.Microsecond),
			p(0.99).Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond))
		if name == "create" || name == "register" {
			b.ReportMetric(float64(p(0.99).Microseconds())/1000, "p99-"+name+"-ms")
		}
	}
	var all []time.Duration
	for _, ds := range lat {
		all = append(all, ds...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[min(len(all)-1, int(0.99*float64(len(all))))].Microseconds())/1000, "p99-call-ms")
	}
}

// oneLetter takes one letter from MOCT to MOF through the API, recording
// each call's latency in lat (indexed as loadCalls).
func oneLetter(hc *http.Client, url, sender, receiver string, lat [][]time.Duration) error {
	var d draftDTO
	if err := loadCall(hc, lat, 0, sender, "POST", url+"/api/v1/correspondence", map[string]any{
		"subject": "طلب بيانات", "body": "نص", "sender_registry": "MOCT",
		"recipients": []map[string]string{{"registry": "MOF"}},
	}, http.StatusCreated, &d); err != nil {
		return err
	}
	var out entryDTO
	if err := loadCall(hc, lat, 1, sender, "POST", fmt.Sprintf("%s/api/v1/entries/%d/register", url, d.EntryID), v(d.Version), http.StatusOK, &out); err != nil {
		return err
	}
	if err := loadCall(hc, lat, 2, sender, "POST", fmt.Sprintf("%s/api/v1/entries/%d/dispatch", url, d.EntryID), v(out.Version), http.StatusOK, &out); err != nil {
		return err
	}
	var doc correspondenceDTO
	if err := loadCall(hc, lat, 3, receiver, "GET", fmt.Sprintf("%s/api/v1/correspondence/%d", url, d.ID), nil, http.StatusOK, &doc); err != nil {
		return err
	}
	in := doc.Entry
	if err := loadCall(hc, lat, 4, receiver, "POST", fmt.Sprintf("%s/api/v1/entries/%d/register", url, in.ID), v(in.Version), http.StatusOK, &in); err != nil {
		return err
	}
	return loadCall(hc, lat, 5, receiver, "POST", fmt.Sprintf("%s/api/v1/entries/%d/refer", url, in.ID),
		v(in.Version, "to_department", "LEGAL", "instruction", "action"), http.StatusOK, &in)
}

func loadCall(hc *http.Client, lat [][]time.Duration, i int, token, method, url string, body any, want int, out any) error {
	var r io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	began := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", loadCalls[i], err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	lat[i] = append(lat[i], time.Since(began))
	if err != nil {
		return fmt.Errorf("%s: %w", loadCalls[i], err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %s", method, loadCalls[i], resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}
