package httpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/secrets"
	"diwan.gov.sy/diwan/internal/testenv"
)

// auditKey is the master key of the test servers: their services seal
// their audit events with it, and the benchmarks' linker links them.
var auditKey = secrets.Random()

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
// off); "durable" a cluster of its own with both on. The audit linker runs
// as in diwan serve. The clients share the
// server's two cores, so each run is made twice: "lean" clients write each
// request and read its answer on their connection, as load generators do;
// "net-http" clients are net/http's, with its transport's goroutines.
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
			newDSN := func(b *testing.B) (string, error) { return testenv.Postgres(b), nil }
			if durable {
				c := testenv.NewCluster(b, true)
				newDSN = func(*testing.B) (string, error) { return c.CreateDatabase(context.Background()) }
			}
			for _, lean := range []bool{true, false} {
				client := "lean"
				if !lean {
					client = "net-http"
				}
				b.Run(client, func(b *testing.B) {
					dsn, err := newDSN(b)
					if err != nil {
						b.Fatal(err)
					}
					d, err := db.Open(context.Background(), db.Options{Driver: db.Postgres, DSN: dsn})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { d.Close() })
					if _, err := d.Migrate(context.Background()); err != nil {
						b.Fatal(err)
					}
					runLetterLoad(b, newAPIEnvOn(b, d, true, slog.New(slog.DiscardHandler)), lean)
				})
			}
		})
	}
}

// loadCall names the calls of one letter, in order.
var loadCalls = []string{"create", "register", "dispatch", "find incoming", "register incoming", "refer"}

func runLetterLoad(b *testing.B, e *apiEnv, lean bool) {
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
	callers := make(chan caller, loadClients)
	var warm sync.WaitGroup
	for range loadClients {
		if lean {
			lc, err := dialLean(tr.TLSClientConfig, e.ts.url)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { lc.conn.Close() })
			callers <- lc
			continue
		}
		callers <- stdCaller{hc}
		warm.Go(func() {
			var who map[string]any
			if err := (stdCaller{hc}).call(make([][]time.Duration, len(loadCalls)), 0, sender, "GET", e.ts.url+"/api/v1/session", nil, http.StatusOK, &who); err != nil {
				failed.CompareAndSwap(nil, err)
			}
		})
	}
	warm.Wait()

	// The audit linker chains the run's events as diwan serve's does.
	linking, stopLinking := context.WithCancel(context.Background())
	linked := make(chan struct{})
	go func() { defer close(linked); audit.Open(e.db, audit.Options{Keys: auditKey}).Run(linking) }()
	defer func() { stopLinking(); <-linked }()
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
			c := <-callers
			for next.Add(1) <= int64(b.N) {
				if err := oneLetter(c, e.ts.url, sender, receiver, mine); err != nil {
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
func oneLetter(c caller, url, sender, receiver string, lat [][]time.Duration) error {
	var d draftDTO
	if err := c.call(lat, 0, sender, "POST", url+"/api/v1/correspondence", map[string]any{
		"subject": "طلب بيانات", "body": "نص", "sender_registry": "MOCT",
		"recipients": []map[string]string{{"registry": "MOF"}},
	}, http.StatusCreated, &d); err != nil {
		return err
	}
	var out entryDTO
	if err := c.call(lat, 1, sender, "POST", fmt.Sprintf("%s/api/v1/entries/%d/register", url, d.EntryID), v(d.Version), http.StatusOK, &out); err != nil {
		return err
	}
	if err := c.call(lat, 2, sender, "POST", fmt.Sprintf("%s/api/v1/entries/%d/dispatch", url, d.EntryID), v(out.Version), http.StatusOK, &out); err != nil {
		return err
	}
	var doc correspondenceDTO
	if err := c.call(lat, 3, receiver, "GET", fmt.Sprintf("%s/api/v1/correspondence/%d", url, d.ID), nil, http.StatusOK, &doc); err != nil {
		return err
	}
	in := doc.Entry
	if err := c.call(lat, 4, receiver, "POST", fmt.Sprintf("%s/api/v1/entries/%d/register", url, in.ID), v(in.Version), http.StatusOK, &in); err != nil {
		return err
	}
	return c.call(lat, 5, receiver, "POST", fmt.Sprintf("%s/api/v1/entries/%d/refer", url, in.ID),
		v(in.Version, "to_department", "LEGAL", "instruction", "action"), http.StatusOK, &in)
}

// caller sends the calls of one client.
type caller interface {
	call(lat [][]time.Duration, i int, token, method, url string, body any, want int, out any) error
}

// stdCaller sends calls with a net/http client.
type stdCaller struct{ hc *http.Client }

func (c stdCaller) call(lat [][]time.Duration, i int, token, method, url string, body any, want int, out any) error {
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
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", loadCalls[i], err)
	}
	return readAnswer(lat, i, began, method, resp, want, out)
}

// readAnswer reads resp to its end, records the call's latency since began,
// insists on the status and decodes the answer into out.
func readAnswer(lat [][]time.Duration, i int, began time.Time, method string, resp *http.Response, want int, out any) error {
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

// leanCaller sends calls on one TLS connection of its own, writing each
// request in one piece and reading its answer in the caller's goroutine, as
// load generators do: no transport goroutines or connection pool.
type leanCaller struct {
	conn *tls.Conn
	r    *bufio.Reader
	host string
	buf  bytes.Buffer
}

func dialLean(cfg *tls.Config, base string) (*leanCaller, error) {
	u, err := neturl.Parse(base)
	if err != nil {
		return nil, err
	}
	conn, err := tls.Dial("tcp", u.Host, cfg)
	if err != nil {
		return nil, err
	}
	return &leanCaller{conn: conn, r: bufio.NewReader(conn), host: u.Host}, nil
}

func (c *leanCaller) call(lat [][]time.Duration, i int, token, method, url string, body any, want int, out any) error {
	u, err := neturl.Parse(url)
	if err != nil {
		return err
	}
	var payload []byte
	if body != nil {
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	c.buf.Reset()
	fmt.Fprintf(&c.buf, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n", method, u.RequestURI(), c.host, token)
	if body != nil {
		fmt.Fprintf(&c.buf, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(payload))
	}
	c.buf.WriteString("\r\n")
	c.buf.Write(payload)
	began := time.Now()
	if _, err := c.conn.Write(c.buf.Bytes()); err != nil {
		return fmt.Errorf("%s: %w", loadCalls[i], err)
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", loadCalls[i], err)
	}
	if resp.Close {
		return fmt.Errorf("%s: the server closes the connection", loadCalls[i])
	}
	return readAnswer(lat, i, began, method, resp, want, out)
}
