package smtp_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/policy"
	"diwan.gov.sy/diwan/internal/smtp"
)

// rawConn is a TCP connection to a listener from a chosen loopback
// address, for tests that write many commands at once and read what comes
// back, to the end.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	r    *textproto.Reader
}

func dialFrom(t testing.TB, from, addr string) *rawConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	return &rawConn{t: t, conn: conn, r: textproto.NewReader(bufio.NewReader(conn))}
}

// replies reads replies until the server closes the connection.
func (c *rawConn) replies() []string {
	c.t.Helper()
	var out []string
	for {
		code, msg, err := c.r.ReadResponse(0)
		if err != nil {
			if _, ok := err.(*textproto.Error); !ok {
				var ne net.Error
				if asNetErr(err, &ne) && ne.Timeout() {
					c.t.Fatalf("the server did not close the connection; replies so far: %d", len(out))
				}
				return out
			}
		}
		out = append(out, fmt.Sprintf("%d %s", code, msg))
	}
}

func asNetErr(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}

// writeAsync writes s without waiting for the server to read it: a
// server that closes the connection early makes the write fail, which is
// what these tests expect of it.
func (c *rawConn) writeAsync(s string) {
	go io.WriteString(c.conn, s)
}

// TestInboundRefusesPipelinedCommandsAfter421: a client refused for the
// twentieth time gets 421 and nothing it pipelined after that command is
// answered or acted on: neither the 6,001 RCPTs that follow nor a DATA
// whose message would otherwise be delivered (RFC 5321 §3.8).
func TestInboundRefusesPipelinedCommandsAfter421(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := dialFrom(t, "127.0.0.1", e.addr(smtp.Inbound))
	var b strings.Builder
	b.WriteString("EHLO client.test\r\nMAIL FROM:<clerk@moct.gov.sy>\r\nRCPT TO:<ali@mof.gov.sy>\r\n")
	for i := range 20 {
		fmt.Fprintf(&b, "RCPT TO:<probe%d@mof.gov.sy>\r\n", i)
	}
	for i := range 6001 {
		fmt.Fprintf(&b, "RCPT TO:<after%d@mof.gov.sy>\r\n", i)
	}
	b.WriteString("DATA\r\n" + message("clerk@moct.gov.sy", "ali@mof.gov.sy", "after 421", "pipelined") + ".\r\nQUIT\r\n")
	c.writeAsync(b.String())
	got := c.replies()
	// 220, EHLO, MAIL, RCPT ali, 19 refusals, then the 421 and nothing more.
	if len(got) != 24 || !strings.HasPrefix(got[22], "550 5.1.1") || !strings.HasPrefix(got[23], "421 4.7.0") {
		t.Fatalf("%d replies, want 24 ending with 550 5.1.1 and 421 4.7.0; the last ones: %q", len(got), got[max(0, len(got)-3):])
	}
	waitFor(t, 5*time.Second, "the session to end", func() bool { return e.sessions() == 0 })
	if got := e.metric("unknown_recipient", "mof.gov.sy"); got != 20 {
		t.Fatalf("unknown_recipient metric = %v, want 20 (nothing after the 421)", got)
	}
	e.nothingWritten()
}

// TestSubmissionRefusesPipelinedAuthAfter421: after the third failed AUTH
// (421), a pipelined AUTH with the right password is not run.
func TestSubmissionRefusesPipelinedAuthAfter421(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	c := dialFrom(t, "127.0.0.1", e.addr(smtp.Submissions))
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	c.conn, c.r = tc, textproto.NewReader(bufio.NewReader(tc))
	var b strings.Builder
	b.WriteString("EHLO client.test\r\n")
	for range 3 {
		fmt.Fprintf(&b, "AUTH PLAIN %s\r\n", plain("ali@mof.gov.sy", "wrong password"))
	}
	fmt.Fprintf(&b, "AUTH PLAIN %s\r\nMAIL FROM:<ali@mof.gov.sy>\r\nRCPT TO:<sara@mof.gov.sy>\r\nDATA\r\n", plain("ali@mof.gov.sy", password))
	b.WriteString(message("ali@mof.gov.sy", "sara@mof.gov.sy", "after 421", "pipelined") + ".\r\n")
	c.writeAsync(b.String())
	got := c.replies()
	if len(got) != 5 || !strings.HasPrefix(got[4], "421 4.7.0") {
		t.Fatalf("replies %q, want 220, EHLO, two 535 and the 421, then nothing", got)
	}
	waitFor(t, 5*time.Second, "the session to end", func() bool { return e.sessions() == 0 })
	if strings.Contains(e.logs.text(), "result=ok") {
		t.Fatal("the AUTH pipelined after the 421 was run")
	}
	e.nothingWritten()
}

// TestInboundRateLimitPerAddress: smtp.rate_per_minute also bounds the
// transactions one connecting address starts on the MX, whatever the
// connection (a burst of a sixth, then 451 4.7.1); another address has a
// bucket of its own.
func TestInboundRateLimitPerAddress(t *testing.T) {
	e := newEnv(t, db.SQLite, func(o *smtp.Options) { o.RatePerMinute = 12 })
	msg := message("clerk@moct.gov.sy", "ali@mof.gov.sy", "rate", "x")
	for range 2 {
		c := e.inbound()
		c.send("clerk@moct.gov.sy", []string{"ali@mof.gov.sy"}, msg, 250, "")
	}
	c := e.inbound()
	c.do(451, "4.7.1", "MAIL FROM:<clerk@moct.gov.sy>")
	c.do(451, "4.7.1", "MAIL FROM:<clerk@moct.gov.sy>")
	if n := len(e.inbox("ali@mof.gov.sy")); n != 2 {
		t.Fatalf("ali has %d messages, want the burst of 2", n)
	}
	if got := e.metric("rate", ""); got != 2 {
		t.Fatalf("rate metric = %v, want 2", got)
	}
	o := dialFrom(t, "127.0.0.2", e.addr(smtp.Inbound))
	o.writeAsync("EHLO other.test\r\nMAIL FROM:<clerk@moct.gov.sy>\r\nQUIT\r\n")
	if got := o.replies(); len(got) != 4 || !strings.HasPrefix(got[2], "250") {
		t.Fatalf("another address: %q", got)
	}
}

// TestConnectionLimitPerAddress: past smtp.max_connections_per_ip open
// connections from one address on a listener, the next one gets 421 4.7.0
// in place of the greeting (over TLS on the implicit-TLS listener) and is
// closed; another address, or another listener, is not affected, and a
// connection that ends makes room.
func TestConnectionLimitPerAddress(t *testing.T) {
	e := newEnv(t, db.SQLite, func(o *smtp.Options) { o.MaxConnectionsPerIP = 3 })
	var open []*client
	for range 3 {
		open = append(open, dial(t, e.addr(smtp.Inbound)))
	}
	over := dialFrom(t, "127.0.0.1", e.addr(smtp.Inbound))
	if got := over.replies(); len(got) != 1 || got[0] != "421 4.7.0 Too many connections from your address" {
		t.Fatalf("the fourth connection: %q", got)
	}
	other := dialFrom(t, "127.0.0.2", e.addr(smtp.Inbound))
	other.writeAsync("QUIT\r\n")
	if got := other.replies(); len(got) != 2 || !strings.HasPrefix(got[0], "220") {
		t.Fatalf("another address: %q", got)
	}
	dial(t, e.addr(smtp.Submission)).do(221, "", "QUIT") // another listener

	for range 3 {
		dialTLS(t, e.addr(smtp.Submissions))
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.addr(smtp.Submissions), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	tlsOver := &rawConn{t: t, conn: conn, r: textproto.NewReader(bufio.NewReader(conn))}
	if got := tlsOver.replies(); len(got) != 1 || !strings.HasPrefix(got[0], "421 4.7.0") {
		t.Fatalf("the fourth implicit-TLS connection: %q", got)
	}

	open[0].do(221, "", "QUIT")
	waitFor(t, 5*time.Second, "room for a new connection", func() bool {
		c := dialFrom(t, "127.0.0.1", e.addr(smtp.Inbound))
		line, err := c.r.ReadLine()
		c.conn.Close()
		return err == nil && strings.HasPrefix(line, "220")
	})
	if got := e.metric("connections", ""); got < 2 {
		t.Fatalf("connections refusal metric = %v, want at least 2", got)
	}
}

// TestRefusedMailFloodAddsFewAuditRows: 10,000 refused MAIL FROM from one
// address cost the audit log a handful of events, whose counts add up to
// every refusal, while the metric counts each one. Twice: 10,000 commands
// pipelined over five connections (the server acts on 20 of each: the
// 421 ends them), and 10,000 refusals over 500 connections, 10 at a time,
// with the rate limit off.
func TestRefusedMailFloodAddsFewAuditRows(t *testing.T) {
	for _, driver := range dbtest.Drivers {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver, nil)
			flood := func(conns, perConn int) {
				t.Helper()
				cmds := "EHLO flood.test\r\n" + strings.Repeat("MAIL FROM:<x@gmail.com>\r\n", perConn)
				var wg sync.WaitGroup
				work := make(chan int)
				for range 10 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range work {
							c := dialFrom(t, "127.0.0.1", e.addr(smtp.Inbound))
							c.writeAsync(cmds)
							c.replies()
							c.conn.Close()
						}
					}()
				}
				for i := range conns {
					work <- i
				}
				close(work)
				wg.Wait()
				waitFor(t, 10*time.Second, "the sessions to end", func() bool { return e.sessions() == 0 })
			}
			started := time.Now()
			flood(5, 2000)
			if got := e.metric(policy.ReasonPolicy, "gmail.com"); got != 100 {
				t.Fatalf("pipelined: policy metric = %v, want 100 (20 a connection)", got)
			}
			flood(500, 20)
			recs := e.refusals()
			rows := e.count("SELECT COUNT(*) FROM audit_events WHERE action = ?", policy.ActionRefused)
			t.Logf("%s: 10,100 refused MAIL FROM in %v: %d audit events", driver, time.Since(started).Round(time.Millisecond), rows)
			if n := refusalCount(recs, policy.ReasonPolicy); n != 10100 {
				t.Fatalf("the events count %d refusals, want 10100", n)
			}
			if got := e.metric(policy.ReasonPolicy, "gmail.com"); got != 10100 {
				t.Fatalf("policy metric = %v, want 10100", got)
			}
			if rows > 10 {
				t.Fatalf("%d audit events for one address and reason, want a handful", rows)
			}
		})
	}
}
