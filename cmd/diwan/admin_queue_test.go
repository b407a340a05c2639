package main

import (
	"crypto/tls"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"diwan.gov.sy/diwan/internal/delivery/deliverytest"
	"diwan.gov.sy/diwan/internal/testenv"
)

// relayInstance is an instance whose mail for moh.gov.sy goes to rem
// (without TLS: the fake remote has none), retried only after an hour,
// with the user ali@mof.gov.sy and the submission and IMAP listeners.
func relayInstance(t *testing.T, dbName string, rem *deliverytest.Remote) *instance {
	t.Helper()
	extra := `smtp: {hostname: mail.mof.gov.sy, inbound_addr: "", submission_addr: "127.0.0.1:0", submissions_addr: "", rate_per_minute: 0}
imap: {addr: "127.0.0.1:0", tls_addr: ""}
` + fmt.Sprintf("delivery: {require_tls: false, retry_intervals: [1h], transports: {\"moh.gov.sy\": %q}}\n", rem.Addr)
	if dbName == "postgres" {
		extra += fmt.Sprintf("database: {driver: postgres, dsn: %q}\n", testenv.Postgres(t))
	}
	in := newInstance(t, extra)
	in.env = []string{"DIWAN_BOOTSTRAP_ADMIN_PASSWORD=bootstrap admin password"}
	in.ok("", "admin", "ministry", "add", "MOF", "--name-ar", "وزارة المالية", "--name-en", "Ministry of Finance")
	in.ok("", "admin", "domain", "add", "mof.gov.sy", "--ministry", "MOF")
	in.ok("ali password long\n", "admin", "user", "add", "ali@mof.gov.sy", "--name", "Ali", "--ministry", "MOF", "--role", "staff", "--password-stdin")
	return in
}

// submitTo sends a small message from ali to the recipient.
func submitTo(t *testing.T, addr, to, subject string) {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true}) // the self-signed pair of data_dir
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "ali@mof.gov.sy", "ali password long")); err != nil {
		t.Fatal(err)
	}
	msg := "From: ali@mof.gov.sy\r\nTo: " + to + "\r\nSubject: " + subject + "\r\n\r\nHello.\r\n"
	if err := c.SendMail("ali@mof.gov.sy", []string{to}, strings.NewReader(msg)); err != nil {
		t.Fatalf("submit: %v", err)
	}
}

// waitUntil waits for cond with a deadline.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var queueLine = regexp.MustCompile(`(?m)^(\d+)\s+ali@mof\.gov\.sy\s+omar@moh\.gov\.sy\s+moh\.gov\.sy\s+\d+\s+(\w+)\s+(\d+)\s`)

// `diwan admin queue list|retry|drop` on a message the remote keeps
// refusing with 451: list shows it pending with its attempts and last
// error; retry makes the serving node try it at once (the schedule says
// an hour); drop gives it up and bounces it into the sender's INBOX. An
// unknown id, or one no longer pending, fails with a one-line reason.
func TestAdminQueueListRetryDrop(t *testing.T) {
	for _, dbName := range []string{"sqlite", "postgres"} {
		t.Run(dbName, func(t *testing.T) {
			rem := deliverytest.NewRemote(t)
			rem.Set(nil, func() *smtp.SMTPError { return deliverytest.Reply(451, smtp.EnhancedCode{4, 3, 0}, "busy") })
			in := relayInstance(t, dbName, rem)
			s := in.serve()
			submitTo(t, s.addrOf(t, "smtp submission"), "omar@moh.gov.sy", "queued")
			waitUntil(t, 30*time.Second, "the first attempt", func() bool { return len(rem.Mails()) >= 1 })

			var m []string
			waitUntil(t, 10*time.Second, "the attempt recorded", func() bool {
				m = queueLine.FindStringSubmatch(in.ok("", "admin", "queue", "list"))
				return m != nil && m[3] == "1"
			})
			if m[2] != "pending" || !strings.Contains(in.ok("", "admin", "queue", "list"), "451 4.3.0 busy") {
				t.Fatalf("queue list:\n%s\nwant the entry pending with its last error", in.ok("", "admin", "queue", "list"))
			}
			id := m[1]
			if out := in.ok("", "admin", "queue", "retry", id); strings.TrimSpace(out) != "retrying "+id {
				t.Fatalf("retry printed %q", out)
			}
			waitUntil(t, 10*time.Second, "a second attempt after retry", func() bool { return len(rem.Mails()) >= 2 })

			if out := in.ok("", "admin", "queue", "drop", id); strings.TrimSpace(out) != "dropped "+id {
				t.Fatalf("drop printed %q", out)
			}
			if m := queueLine.FindStringSubmatch(in.ok("", "admin", "queue", "list", "--state", "failed")); m == nil || m[1] != id {
				t.Fatalf("the dropped entry is not listed as failed:\n%s", in.ok("", "admin", "queue", "list"))
			}
			c, sel := s.openInbox(t, "ali@mof.gov.sy", "ali password long")
			if sel.NumMessages != 1 {
				t.Fatalf("ali's INBOX holds %d messages, want the bounce", sel.NumMessages)
			}
			msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			rep, err := deliverytest.ParseDSN(msgs[0].BodySection[0].Bytes)
			if err != nil || rep.Recipients["omar@moh.gov.sy"].Get("Action") != "failed" {
				t.Fatalf("the bounce: %v %v", rep, err)
			}

			in.fails("not pending", "", "admin", "queue", "drop", id)
			in.fails("not pending", "", "admin", "queue", "retry", id)
			in.fails("no such queue entry", "", "admin", "queue", "retry", "9999")
			in.fails("no such queue entry", "", "admin", "queue", "drop", "9999")
			in.fails("not a queue entry id", "", "admin", "queue", "drop", "abc")
			if out := in.ok("", "admin", "audit", "verify"); !strings.HasPrefix(out, "ok ") {
				t.Fatalf("audit verify: %s", out)
			}
		})
	}
}

type queueEntry struct {
	ID            int64   `json:"id"`
	From          string  `json:"from"`
	To            string  `json:"to"`
	Domain        string  `json:"domain"`
	State         string  `json:"state"`
	Attempts      int     `json:"attempts"`
	NextAttemptAt *string `json:"next_attempt_at"`
	LastError     string  `json:"last_error"`
}

// metric returns the value of the series line that starts with name (its
// labels included), or "" when absent.
func metric(body, name string) string {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

// GET /api/v1/queue and POST /api/v1/queue/{id}/retry|drop for an
// administrator; 403 for anyone else, 404 for an unknown id, 409 for one
// no longer pending. /metrics shows the queue's length and the outcomes
// of attempts by result and domain.
func TestQueueAPIAndMetrics(t *testing.T) {
	for _, dbName := range []string{"sqlite", "postgres"} {
		t.Run(dbName, func(t *testing.T) {
			rem := deliverytest.NewRemote(t)
			rem.Set(nil, func() *smtp.SMTPError { return deliverytest.Reply(451, smtp.EnhancedCode{4, 3, 0}, "busy") })
			in := relayInstance(t, dbName, rem)
			in.ok("root password long\n", "admin", "user", "add", "root@mof.gov.sy", "--name", "Root", "--ministry", "MOF", "--role", "admin", "--password-stdin")
			admin := strings.TrimSpace(in.ok("", "admin", "user", "token", "root@mof.gov.sy"))
			staff := strings.TrimSpace(in.ok("", "admin", "user", "token", "ali@mof.gov.sy"))
			s := in.serve()
			submitTo(t, s.addrOf(t, "smtp submission"), "omar@moh.gov.sy", "queued")

			var list struct {
				Items []queueEntry `json:"items"`
				Total int64        `json:"total"`
			}
			waitUntil(t, 30*time.Second, "the first attempt recorded", func() bool {
				s.api(t, "GET", "/api/v1/queue?state=pending", admin, nil, 200, &list)
				return len(list.Items) == 1 && list.Items[0].Attempts == 1
			})
			e := list.Items[0]
			if e.From != "ali@mof.gov.sy" || e.To != "omar@moh.gov.sy" || e.Domain != "moh.gov.sy" || e.NextAttemptAt == nil ||
				!strings.Contains(e.LastError, "451") || list.Total != 1 {
				t.Fatalf("queue: %+v (total %d)", e, list.Total)
			}
			_, body := s.get(t, "/metrics")
			if metric(body, "diwan_delivery_queue_length") != "1" ||
				metric(body, `diwan_delivery_deliveries_total{domain="moh.gov.sy",result="retry"}`) != "1" ||
				metric(body, "diwan_delivery_queue_oldest_seconds") == "" {
				t.Fatalf("/metrics:\n%s", grepLines(body, "diwan_delivery"))
			}

			s.api(t, "GET", "/api/v1/queue", staff, nil, 403, nil)
			path := fmt.Sprintf("/api/v1/queue/%d/", e.ID)
			s.api(t, "POST", path+"retry", staff, nil, 403, nil)
			var got queueEntry
			s.api(t, "POST", path+"retry", admin, nil, 200, &got)
			if got.ID != e.ID || got.State != "pending" {
				t.Fatalf("retry answered %+v", got)
			}
			waitUntil(t, 10*time.Second, "a second attempt after retry", func() bool { return len(rem.Mails()) >= 2 })
			got = queueEntry{}
			s.api(t, "POST", path+"drop", admin, nil, 200, &got)
			if got.State != "failed" || got.NextAttemptAt != nil {
				t.Fatalf("drop answered %+v", got)
			}
			s.api(t, "POST", path+"drop", admin, nil, 409, nil)
			s.api(t, "POST", path+"retry", admin, nil, 409, nil)
			s.api(t, "POST", "/api/v1/queue/9999/drop", admin, nil, 404, nil)
			s.api(t, "GET", "/api/v1/queue?state=lost", admin, nil, 400, nil)

			_, body = s.get(t, "/metrics")
			if metric(body, "diwan_delivery_queue_length") != "0" ||
				metric(body, `diwan_delivery_deliveries_total{domain="moh.gov.sy",result="dropped"}`) != "1" ||
				metric(body, "diwan_delivery_bounces_total") != "1" {
				t.Fatalf("/metrics after the drop:\n%s", grepLines(body, "diwan_delivery"))
			}
		})
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
