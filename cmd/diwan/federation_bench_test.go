package main

// The figures of issue 18 (mail between two national servers), measured
// on the federation of the tests: run with
//
//	(cd /work/shared/bench/mailload && go build -o /tmp/mailload .)
//	DIWAN_MAILLOAD=/tmp/mailload go test -run '^$' -bench BenchmarkFederation -benchtime 1x -timeout 30m ./cmd/diwan/
//
// DIWAN_BENCH_DB=postgres puts each instance on its own PostgreSQL
// database; DIWAN_BENCH_RETRY sets delivery.retry_intervals of both
// (default "[30s]"); DIWAN_BENCH_OUTAGE the time B is stopped (2m).
// Figures are logged and reported as benchmark metrics.
//
// As measured on a shared 2-core machine (load average 5 to 15 from other
// work), 2,000 × 10 KiB, SQLite / PostgreSQL: p50 from A's 250 to the
// EXISTS on B 7.6 / 10.9 ms (local mail is in the INBOX before its 250);
// end-to-end rate to B 57–80 / 72–81 msgs/s against 214–296 / 141–171
// locally (0.19–0.31× / 0.47–0.51×), 0 lost; CPU per message to B: A
// 7.8–8.9 / 5.8–6.4 ms, B 4.7–5.5 / 4.6–5.0 ms, against A 3.8 / 4.0 ms
// locally. B stopped 2 minutes mid-run: every message arrived once, the
// last 15.5 / 12.8 s after B was back with retry_intervals [30s], 4 min
// 12 s with the default schedule (SQLite).

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// benchUsers is how many users of each domain mailload sends to.
const benchUsers = 4

func BenchmarkFederation(b *testing.B) {
	ml := os.Getenv("DIWAN_MAILLOAD")
	if ml == "" {
		b.Skip("set DIWAN_MAILLOAD to a mailload binary (/work/shared/bench/README.md)")
	}
	outage, err := time.ParseDuration(cmp.Or(os.Getenv("DIWAN_BENCH_OUTAGE"), "2m"))
	if err != nil {
		b.Fatal(err)
	}
	f := newFederation(b, federationOptions{postgres: os.Getenv("DIWAN_BENCH_DB") == "postgres", users: benchUsers,
		retry: cmp.Or(os.Getenv("DIWAN_BENCH_RETRY"), "[30s]")})
	b.Logf("retry_intervals %s, database %s", f.a.retry, cmp.Or(os.Getenv("DIWAN_BENCH_DB"), "sqlite"))
	for range b.N {
		b.Run("Latency", func(b *testing.B) {
			local := latencies(b, f.a, f.a, 100)
			remote := latencies(b, f.a, f.b, 200)
			b.Logf("250 on A to visible: local (A to A) %s; remote (A to B) %s", local, remote)
			b.ReportMetric(float64(remote.p50.Milliseconds()), "remote-p50-ms")
			b.ReportMetric(float64(local.p50.Milliseconds()), "local-p50-ms")
		})
		b.Run("Rate", func(b *testing.B) {
			cpu := f.cpu(b)
			local := mailload(b, ml, f.a, f.a, "-e2e-wait", "5m")
			cpu = f.logCPU(b, "local", cpu, 2000)
			before := f.benchInboxes(b)
			remote := mailload(b, ml, f.a, f.b, "-e2e-wait", "5m")
			lost := f.lost(b, before, remote)
			f.logCPU(b, "remote", cpu, 2000)
			b.Logf("e2e msgs/s: local %v, remote %v (%.2f×); lost %d", local["e2e_msgs_per_s"], remote["e2e_msgs_per_s"],
				num(remote["e2e_msgs_per_s"])/num(local["e2e_msgs_per_s"]), lost)
			b.ReportMetric(num(local["e2e_msgs_per_s"]), "local-msgs/s")
			b.ReportMetric(num(remote["e2e_msgs_per_s"]), "remote-msgs/s")
			b.ReportMetric(float64(lost), "lost")
		})
		b.Run("Outage", func(b *testing.B) { f.outageRun(b, ml, outage) })
	}
}

// spread is a sample of durations, summed up.
type spread struct {
	n             int
	p50, p90, max time.Duration
}

func (s spread) String() string {
	return fmt.Sprintf("n=%d p50=%s p90=%s max=%s", s.n, s.p50.Round(time.Microsecond*100), s.p90.Round(time.Microsecond*100), s.max.Round(time.Microsecond*100))
}

func spreadOf(ds []time.Duration) spread {
	slices.Sort(ds)
	return spread{n: len(ds), p50: ds[len(ds)/2], p90: ds[len(ds)*9/10], max: ds[len(ds)-1]}
}

// latencies sends n messages one at a time from ali of from to sara of to
// over one submission connection, each once the previous is visible, and
// measures from the 250 after DATA to the EXISTS of sara's INBOX in IDLE.
func latencies(b *testing.B, from, to *peer, n int) spread {
	box := to.openMailbox(b, "sara@"+to.domain)
	c, err := smtp.Dial(from.submission)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(from.ca.client(from.host)); err != nil {
		b.Fatal(err)
	}
	login := "ali@" + from.domain
	if err := c.Auth(smtp.PlainAuth("", login, from.users[login], "127.0.0.1")); err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	for i := range n {
		have := box.count()
		id := fmt.Sprintf("latency.%d.%d@%s", i, time.Now().UnixNano(), from.domain)
		msg := fedMessage(login, "sara@"+to.domain, id, "latency")
		if err := c.Mail(login); err != nil {
			b.Fatal(err)
		}
		if err := c.Rcpt("sara@" + to.domain); err != nil {
			b.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write([]byte(msg)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		accepted := time.Now()
		box.wait(have+1, fedWait)
		ds = append(ds, time.Since(accepted))
	}
	return spreadOf(ds)
}

// mailload runs the e2e workload of mailload on from's submission port to
// the users u1 … uN of to, read on to's IMAP, and returns its result.
func mailload(b *testing.B, bin string, from, to *peer, args ...string) map[string]any {
	b.Helper()
	cmd := mailloadCmd(bin, from, to, args...)
	b.Logf("%s", strings.Join(cmd.Args, " "))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("mailload: %v\n%s", err, out)
	}
	return mailloadResult(b, out, "e2e")
}

func mailloadCmd(bin string, from, to *peer, args ...string) *exec.Cmd {
	var users []string
	for i := range benchUsers {
		users = append(users, fmt.Sprintf("u%d@%s:%s", i+1, to.domain, benchUserPassword))
	}
	login := "ali@" + from.domain
	all := append([]string{"-label", from.domain + "->" + to.domain, "-w", "e2e", "-n", "2000", "-s", "10240",
		"-smtp", from.submission, "-smtp-user", login, "-smtp-pass", from.users[login], "-imap", to.imap,
		"-smtp-tls", "starttls", "-imap-tls", "starttls", "-insecure-skip-verify", "-users", strings.Join(users, ",")}, args...)
	return exec.Command(bin, all...)
}

func mailloadResult(b *testing.B, out []byte, workload string) map[string]any {
	b.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r map[string]any
		if json.Unmarshal(sc.Bytes(), &r) == nil && r["workload"] == workload {
			b.Logf("mailload: %s", sc.Text())
			return r
		}
	}
	b.Fatalf("mailload printed no %s result:\n%s", workload, out)
	return nil
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// lost waits for A's queue to drain and returns how many of the
// deliveries mailload expected are not in B's INBOXes (negative: more
// than expected arrived); before is what they held before the run.
func (f *federation) lost(b *testing.B, before int, r map[string]any) int {
	b.Helper()
	f.a.drained(b, 10*time.Minute)
	return before + int(num(r["deliveries_expected"])) - f.benchInboxes(b)
}

// inboxSize is how many messages login's INBOX holds (STATUS).
func (p *peer) inboxSize(b testing.TB, login string) int {
	c, err := imapclient.DialStartTLS(p.imap, &imapclient.Options{TLSConfig: p.ca.client(p.host)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(login, p.users[login]).Wait(); err != nil {
		b.Fatal(err)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		b.Fatal(err)
	}
	return int(*st.NumMessages)
}

// outageRun is the submission run of mailload with B stopped for outage
// once a quarter of the messages are visible there: every message must
// arrive once B is back, each once. (mailload's e2e reading cannot follow
// B's IMAP through a restart: the arrivals are counted here.)
func (f *federation) outageRun(b *testing.B, bin string, outage time.Duration) {
	before := f.benchInboxes(b)
	cmd := mailloadCmd(bin, f.a, f.b, "-w", "smtp")
	b.Logf("%s", strings.Join(cmd.Args, " "))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	box := f.b.openMailbox(b, "u1@"+f.b.domain)
	box.wait(box.count()+2000/benchUsers/4, 5*time.Minute)
	stopped := time.Now()
	f.b.stop(b)
	b.Logf("B stopped once a quarter arrived, for %s", outage)
	<-time.After(outage) // the outage itself: B is down this long
	f.b.start()
	back := time.Now()
	b.Logf("B back after %s", back.Sub(stopped).Round(time.Second))
	select {
	case err := <-done:
		if err != nil {
			b.Fatalf("mailload: %v\n%s", err, out.String())
		}
	case <-time.After(15 * time.Minute):
		b.Fatal("mailload did not end within 15 minutes of B's return")
	}
	r := mailloadResult(b, out.Bytes(), "smtp")
	want := before + int(num(r["accepted"]))
	deadline := time.Now().Add(outage + 15*time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	got := f.benchInboxes(b)
	for ; got < want && time.Now().Before(deadline); got = f.benchInboxes(b) {
		<-tick.C
	}
	all := time.Now()
	f.a.drained(b, time.Minute)
	got = f.benchInboxes(b)
	b.Logf("outage of %s: %d of %d accepted messages arrived, the last %s after B was back; lost %d, %d more than sent",
		outage, got-before, want-before, all.Sub(back).Round(100*time.Millisecond), max(want-got, 0), max(got-want, 0))
	b.ReportMetric(all.Sub(back).Seconds(), "s-after-back")
	b.ReportMetric(float64(want-got), "lost")
}

// benchInboxes is how many messages the INBOXes of B's u1 … uN hold.
func (f *federation) benchInboxes(b *testing.B) int {
	n := 0
	for i := range benchUsers {
		n += f.b.inboxSize(b, fmt.Sprintf("u%d@%s", i+1, f.b.domain))
	}
	return n
}

// cpu is the CPU time A's and B's processes used so far.
func (f *federation) cpu(b *testing.B) [2]time.Duration {
	return [2]time.Duration{processCPU(b, f.a.srv.cmd.Process.Pid), processCPU(b, f.b.srv.cmd.Process.Pid)}
}

// logCPU logs the CPU A and B used per message since before, and returns
// the CPU times now.
func (f *federation) logCPU(b *testing.B, what string, before [2]time.Duration, msgs int) [2]time.Duration {
	now := f.cpu(b)
	b.Logf("%s run: CPU per message A %.2f ms, B %.2f ms", what,
		float64((now[0]-before[0]).Microseconds())/1000/float64(msgs), float64((now[1]-before[1]).Microseconds())/1000/float64(msgs))
	return now
}

// processCPU is the user and system time of a process (/proc/PID/stat,
// in clock ticks of 10 ms).
func processCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name (in parentheses): utime and
	// stime are the 12th and 13th.
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
