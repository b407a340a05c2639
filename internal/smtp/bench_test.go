package smtp_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/smtp"
)

// benchSend sends b.N messages of 10 KiB over 16 connections to the real
// listener (SQLite, filesystem blobs, fsync on) and reports msgs/s: each
// 250 means stored and committed. Connections are opened (and, for
// submission, logged in) before the clock starts. The rate limit and the
// connection limit per address are on, raised so as not to throttle.
func benchSend(b *testing.B, l smtp.Listener) { benchSendOpts(b, l, nil) }

func benchSendOpts(b *testing.B, l smtp.Listener, tweak func(*smtp.Options)) {
	e := newEnv(b, db.SQLite, func(o *smtp.Options) {
		o.MaxMessageBytes = 1 << 20
		// The per-address limits run, raised above what one client
		// address sends here.
		o.RatePerMinute = 1 << 30
		o.MaxConnectionsPerIP = 20
		if tweak != nil {
			tweak(o)
		}
	})
	const conns = 16
	body := strings.Repeat(strings.Repeat("x", 98)+"\r\n", 100)
	clients := make([]*client, conns)
	for i := range clients {
		if l == smtp.Inbound {
			clients[i] = e.inbound()
			clients[i].starttls()
		} else {
			clients[i] = e.login("ali@mof.gov.sy")
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				from := "ali@mof.gov.sy"
				if l == smtp.Inbound {
					from = "clerk@moct.gov.sy"
				}
				msg := message(from, "sara@mof.gov.sy", fmt.Sprintf("m%d", next.Load()), body)
				c.conn.SetDeadline(time.Now().Add(time.Minute))
				c.tp.PrintfLine("MAIL FROM:<%s>", from)
				c.tp.PrintfLine("RCPT TO:<sara@mof.gov.sy>")
				c.tp.PrintfLine("DATA")
				for _, want := range []int{250, 250, 354} {
					if code, msg := c.read(); code != want {
						b.Errorf("reply %d %s, want %d", code, msg, want)
						return
					}
				}
				w := c.tp.DotWriter()
				w.Write([]byte(msg))
				w.Close()
				if code, msg := c.read(); code != 250 {
					b.Errorf("DATA: %d %s", code, msg)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func BenchmarkSubmission(b *testing.B) { benchSend(b, smtp.Submission) }
func BenchmarkInbound(b *testing.B)    { benchSend(b, smtp.Inbound) }
