package main

import (
	"crypto/tls"
	"fmt"
	"net/smtp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"diwan.gov.sy/diwan/internal/testenv"
)

// A message answered 250 is durable: `diwan serve` killed with SIGKILL
// while several clients submit mail, then started again, has every
// acknowledged message in the recipient's INBOX (messages cut off before
// their 250 may or may not be there). On SQLite and on PostgreSQL.
func TestKilledServerKeepsEveryAcknowledgedMessage(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			extra := `smtp: {hostname: mail.mof.gov.sy, inbound_addr: "", submission_addr: "127.0.0.1:0", submissions_addr: "", rate_per_minute: 0}
imap: {addr: "127.0.0.1:0", tls_addr: ""}
`
			if db == "postgres" {
				extra += fmt.Sprintf("database: {driver: postgres, dsn: %q}\n", testenv.Postgres(t))
			}
			in := newInstance(t, extra)
			in.env = []string{"DIWAN_BOOTSTRAP_ADMIN_PASSWORD=bootstrap admin password"}
			in.ok("", "admin", "ministry", "add", "MOF", "--name-ar", "وزارة المالية", "--name-en", "Ministry of Finance")
			in.ok("", "admin", "domain", "add", "mof.gov.sy", "--ministry", "MOF")
			in.ok("ali password long\n", "admin", "user", "add", "ali@mof.gov.sy", "--name", "Ali", "--ministry", "MOF", "--role", "staff", "--password-stdin")
			in.ok("sara password long\n", "admin", "user", "add", "sara@mof.gov.sy", "--name", "Sara", "--ministry", "MOF", "--role", "staff", "--password-stdin")
			s := in.serve()

			// Load: 4 clients, 300 messages at most; the server is killed
			// 1 s after the first acknowledgement or once half of them are
			// acknowledged, whichever comes first, so it dies with messages
			// in flight.
			const clients, total = 4, 300
			addr := s.addrOf(t, "smtp submission")
			var next atomic.Int64
			var mu sync.Mutex
			acked := map[int64]bool{}
			var errs []error // how each client ended
			var wg sync.WaitGroup
			firstAcked, halfAcked := make(chan struct{}), make(chan struct{})
			var firstOnce, halfOnce sync.Once
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := submitUntilError(addr, &next, total, func(n int64) {
						mu.Lock()
						acked[n] = true
						k := len(acked)
						mu.Unlock()
						firstOnce.Do(func() { close(firstAcked) })
						if k >= total/2 {
							halfOnce.Do(func() { close(halfAcked) })
						}
					})
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}()
			}
			clientsDone := make(chan struct{})
			go func() { wg.Wait(); close(clientsDone) }()
			select {
			case <-firstAcked:
			case <-clientsDone:
			case <-time.After(60 * time.Second):
			}
			select {
			case <-halfAcked:
			case <-time.After(time.Second):
			}
			if err := s.cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			<-s.done
			s.done <- nil // the clean-up waits on it
			wg.Wait()
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n == 0 {
				t.Fatalf("no message was acknowledged before the kill (clients ended with %v):\n%s", errs, s.stderr.String())
			}

			s = in.serve()
			ic, sel := s.openInbox(t, "sara@mof.gov.sy", "sara password long")
			stored := map[int64]int{}
			if sel.NumMessages > 0 {
				msgs, err := ic.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true}).Collect()
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range msgs {
					if k, err := strconv.ParseInt(strings.TrimPrefix(m.Envelope.Subject, "load "), 10, 64); err == nil {
						stored[k]++
					}
				}
			}
			var lost []int64
			for k := range acked {
				if stored[k] == 0 {
					lost = append(lost, k)
				}
			}
			t.Logf("%d messages acknowledged before SIGKILL, %d in the INBOX after the restart", n, sel.NumMessages)
			if len(lost) > 0 {
				t.Fatalf("%d acknowledged messages lost after SIGKILL: %v", len(lost), lost)
			}
			s.stop(t)
		})
	}
}

// submitUntilError logs in as ali on the submission listener and sends
// messages numbered from next (to total) to sara on one connection,
// calling ok with each number answered 250, until the first failure.
func submitUntilError(addr string, next *atomic.Int64, total int64, ok func(int64)) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		return err
	}
	if err := c.Auth(smtp.PlainAuth("", "ali@mof.gov.sy", "ali password long", "127.0.0.1")); err != nil {
		return err
	}
	for {
		n := next.Add(1)
		if n > total {
			return nil
		}
		if err := c.Mail("ali@mof.gov.sy"); err != nil {
			return err
		}
		if err := c.Rcpt("sara@mof.gov.sy"); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		msg := fmt.Sprintf("From: ali@mof.gov.sy\r\nTo: sara@mof.gov.sy\r\nSubject: load %d\r\nMessage-ID: <load.%d@mof.gov.sy>\r\n\r\n%s\r\n",
			n, n, strings.Repeat("The budget figures are attached.\r\n", 40))
		if _, err := w.Write([]byte(msg)); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		ok(n)
	}
}
