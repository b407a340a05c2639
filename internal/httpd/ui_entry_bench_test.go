package httpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/testenv"
	"diwan.gov.sy/diwan/internal/workflow"
)

// entryPageClients is the number of concurrent logged-in browsers of the
// entry page's run.
const entryPageClients = 16

// entryPageFiller is how many other entries the database holds.
const entryPageFiller = 10000

// BenchmarkEntryPagePostgres measures GET /entries/{id} on PostgreSQL:
// 16 logged-in browsers (each its own session and HTTP/1.1 connection
// over TLS), and for comparison one alone, read the page of an incoming
// entry with a timeline of about ten events, three attachments and its
// action forms (refer, start, answer, close, return: departments and
// reply letters read), among some 10,000 entries. b.N is the number of pages. It reports the p50 and p99 of the
// server's time of a page (as its request log gives it) and of the
// browsers' (with loopback TLS), the page's size, and the CPU a page costs.
//
//	go test -run '^$' -bench EntryPagePostgres -benchtime 8000x ./internal/httpd/
func BenchmarkEntryPagePostgres(b *testing.B) {
	if _, set := os.LookupEnv("GOGC"); !set {
		defer debug.SetGCPercent(debug.SetGCPercent(200)) // as diwan serve runs
	}
	dsn := testenv.Postgres(b)
	d, err := db.Open(context.Background(), db.Options{Driver: db.Postgres, DSN: dsn})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	server := &serverTimes{}
	e := newAPIEnvOn(b, d, true, slog.New(server))
	url := e.ts.url + entryPath(seedEntryPage(b, e))
	path := url[len(e.ts.url):]
	server.path.Store(&path)
	browsers, size := loggedInBrowsers(b, e, url)
	for _, n := range []int{1, entryPageClients} {
		b.Run(fmt.Sprintf("browsers=%d", n), func(b *testing.B) {
			server.reset()
			cpu0, pg0 := processCPU(), postgresCPU(dsn)
			b.ResetTimer()
			lat := readPages(b, browsers[:n], url)
			b.StopTimer()
			cpu, pg := processCPU()-cpu0, postgresCPU(dsn)-pg0
			srv := server.sorted()
			b.ReportMetric(ms(quantile(srv, 0.50)), "server-p50-ms")
			b.ReportMetric(ms(quantile(srv, 0.99)), "server-p99-ms")
			b.ReportMetric(ms(quantile(lat, 0.50)), "client-p50-ms")
			b.ReportMetric(ms(quantile(lat, 0.99)), "client-p99-ms")
			b.ReportMetric(float64(size), "page-bytes")
			// The CPU per page of this process (server and browsers) and
			// of PostgreSQL: what the times come to on a machine not shared.
			b.ReportMetric(ms(cpu/time.Duration(b.N)), "process-cpu-ms/page")
			b.ReportMetric(ms(pg/time.Duration(b.N)), "postgres-cpu-ms/page")
			b.Logf("server n=%d p50=%s p99=%s max=%s; client p50=%s p99=%s; page %d bytes", len(srv), quantile(srv, 0.50),
				quantile(srv, 0.99), quantile(srv, 1), quantile(lat, 0.50), quantile(lat, 0.99), size)
		})
	}
}

// loggedInBrowsers logs entryPageClients browsers in as MOF's clerk, each
// with its own HTTP/1.1 connection, made by a first read of url; it
// returns them and the page's size.
func loggedInBrowsers(b *testing.B, e *apiEnv, url string) ([]*http.Client, int) {
	clients := make([]*http.Client, entryPageClients)
	base := e.ts.client.Transport.(*http.Transport)
	size := 0
	for i := range clients {
		ui := e.uiLogin(mofClerk)
		cfg := base.TLSClientConfig.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		tr := &http.Transport{TLSClientConfig: cfg, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
		b.Cleanup(tr.CloseIdleConnections)
		clients[i] = &http.Client{Transport: tr, Jar: ui.hc.Jar, Timeout: time.Minute}
		n, err := getPage(clients[i], url)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	return clients, size
}

// readPages has the clients read url b.N times in all, as fast as each
// can, and returns the time of each read, sorted.
func readPages(b *testing.B, clients []*http.Client, url string) []time.Duration {
	var (
		mu     sync.Mutex
		lat    []time.Duration
		next   atomic.Int64
		failed atomic.Value
		wg     sync.WaitGroup
	)
	for _, c := range clients {
		wg.Go(func() {
			var mine []time.Duration
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if _, err := getPage(c, url); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	return lat
}

// processCPU is the CPU time this process has used (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// postgresCPU is the CPU time the PostgreSQL server of dsn has used: its
// postmaster's and its children's (the backends), read from /proc in
// clock ticks of 10 ms (Linux's USER_HZ); 0 where that cannot be read.
func postgresCPU(dsn string) time.Duration {
	u, err := neturl.Parse(dsn)
	if err != nil {
		return 0
	}
	flag := "-p " + u.Port() + " "
	procs, _ := filepath.Glob("/proc/[0-9]*")
	stats := map[string][2]int64{} // pid → ppid, ticks
	master := ""
	for _, dir := range procs {
		pid := filepath.Base(dir)
		cmd, err := os.ReadFile(dir + "/cmdline")
		if err != nil || !bytes.Contains(cmd, []byte("postgres")) {
			continue
		}
		if bytes.Contains(bytes.ReplaceAll(cmd, []byte{0}, []byte(" ")), []byte(flag)) {
			master = pid
		}
		st, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		// The fields after the command's closing parenthesis: state (3),
		// ppid (4), ..., utime (14), stime (15).
		f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.ParseInt(f[1], 10, 64)
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		stats[pid] = [2]int64{ppid, ut + stime}
	}
	var ticks int64
	for pid, st := range stats {
		if pid == master || strconv.FormatInt(st[0], 10) == master {
			ticks += st[1]
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// quantile is the q-quantile of sorted durations (q = 1: the largest).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(q*float64(len(ds))))].Round(10 * time.Microsecond)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// serverTimes is a log handler that keeps the duration the server's
// request log (observe) gives each GET of one path: the server's time,
// from the request's routing to its last byte written, without the
// network and TLS.
type serverTimes struct {
	path atomic.Pointer[string]
	mu   sync.Mutex
	ds   []time.Duration
}

func (h *serverTimes) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h *serverTimes) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *serverTimes) WithGroup(string) slog.Handler                { return h }

func (h *serverTimes) Handle(_ context.Context, r slog.Record) error {
	want := h.path.Load()
	if want == nil || r.Message != "http request" {
		return nil
	}
	var path, method string
	var d time.Duration
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "path":
			path = a.Value.String()
		case "method":
			method = a.Value.String()
		case "duration":
			d = a.Value.Duration()
		}
		return true
	})
	if method == http.MethodGet && path == *want {
		h.mu.Lock()
		h.ds = append(h.ds, d)
		h.mu.Unlock()
	}
	return nil
}

func (h *serverTimes) reset() {
	h.mu.Lock()
	h.ds = nil
	h.mu.Unlock()
}

func (h *serverTimes) sorted() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	ds := slices.Clone(h.ds)
	slices.Sort(ds)
	return ds
}

// getPage reads a page and insists on 200; it returns the page's size.
func getPage(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return int(n), err
}

// seedEntryPage makes the entry the run reads — a letter from MOCT with
// three attachments, registered and dispatched, registered at MOF,
// referred to two departments, commented on and in progress — and
// entryPageFiller other drafts; it returns the MOF entry's id.
func seedEntryPage(b *testing.B, e *apiEnv) int64 {
	ctx := context.Background()
	moct := workflow.UserActor(e.userID(moctClerk), moctClerk)
	mof := workflow.UserActor(e.userID(mofClerk), mofClerk)
	must := func(en workflow.Entry, err error) workflow.Entry {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
		return en
	}
	out := must(e.wf.CreateDraft(ctx, moct, workflow.NewCorrespondence{Subject: "طلب بيانات الموازنة للعام القادم",
		Body: string(bytes.Repeat([]byte("نص الكتاب وتفاصيل الطلب. "), 80)), SenderRegistry: "MOCT", Priority: workflow.PriorityUrgent,
		Recipients: []workflow.RecipientInput{{Registry: "MOF"}}}))
	for i := range 3 {
		if _, err := e.wf.AddAttachment(ctx, moct, out.CorrespondenceID, fmt.Sprintf("ملحق-%d.pdf", i+1), bytes.NewReader(pdfBytes(20000))); err != nil {
			b.Fatal(err)
		}
	}
	out = must(e.wf.Act(ctx, moct, out.ID, workflow.Transition{Action: workflow.ActionRegister, Version: out.Version}))
	must(e.wf.Act(ctx, moct, out.ID, workflow.Transition{Action: workflow.ActionDispatch, Version: out.Version}))
	pg, err := e.wf.Entries(ctx, mof, workflow.ListFilter{Registry: "MOF", Direction: workflow.Incoming})
	if err != nil || len(pg.Items) != 1 {
		b.Fatalf("the incoming entry: %v %+v", err, pg)
	}
	in := pg.Items[0]
	in = must(e.wf.Act(ctx, mof, in.ID, workflow.Transition{Action: workflow.ActionRegister, Version: in.Version}))
	for _, dep := range []string{"LEGAL", "BUDGET"} {
		in = must(e.wf.Act(ctx, mof, in.ID, workflow.Transition{Action: workflow.ActionRefer, Version: in.Version,
			ToDepartment: dep, Instruction: workflow.InstructionStudy, Comment: "للدراسة وإبداء الرأي خلال أسبوع"}))
	}
	refs, err := e.wf.Referrals(ctx, mof, workflow.ReferralFilter{EntryID: in.ID})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range refs.Items {
		if _, err := e.wf.ActOnReferral(ctx, mof, r.ID, workflow.ReferralTransition{Action: workflow.ActionComment,
			Version: r.Version, Comment: "يرجى الإسراع"}); err != nil {
			b.Fatal(err)
		}
	}
	in = must(e.wf.Entry(ctx, mof, in.ID))
	must(e.wf.Act(ctx, mof, in.ID, workflow.Transition{Action: workflow.ActionStart, Version: in.Version}))
	seedDrafts(b, e, moct, entryPageFiller)
	return in.ID
}

// seedDrafts creates n drafts at MOCT, four at a time.
func seedDrafts(b *testing.B, e *apiEnv, a workflow.Actor, n int) {
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				_, err := e.wf.CreateDraft(context.Background(), a, workflow.NewCorrespondence{Subject: fmt.Sprintf("كتاب رقم %d", i),
					SenderRegistry: "MOCT", Recipients: []workflow.RecipientInput{{Registry: "MOF"}}})
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}
