package smtp_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/smtp"
)

// TestShutdownLetsDataInProgressFinish: when Serve's context ends, idle
// sessions get 421 4.3.2 at once, no connection is accepted any more, and
// a message being received is received and stored (250) before its
// session too gets 421.
func TestShutdownLetsDataInProgressFinish(t *testing.T) {
	e := newEnv(t, db.SQLite, nil)
	msg := message("clerk@moct.gov.sy", "ali@mof.gov.sy", "shutdown", strings.Repeat("line\r\n", 100))
	busy := e.inbound()
	busy.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
	busy.do(250, "", "RCPT TO:<ali@mof.gov.sy>")
	busy.do(354, "", "DATA")
	busy.writeRaw(msg[:200])
	waitFor(t, 5*time.Second, "DATA to start", func() bool { return smtp.InDataForTest(e.srv) == 1 })
	idle := e.inbound()
	idle.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")

	e.cancel()
	idle.expect(421, "4.3.2")
	if !idle.closed(5 * time.Second) {
		t.Fatal("idle session not closed")
	}
	if c, err := net.DialTimeout("tcp", e.addr(smtp.Inbound), time.Second); err == nil {
		c.Close()
		t.Fatal("a connection was accepted after shutdown began")
	}
	busy.writeRaw(msg[200:] + ".\r\n")
	busy.expect(250, "2.0.0")
	busy.expect(421, "4.3.2")
	if err := e.stop(); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if n := len(e.inbox("ali@mof.gov.sy")); n != 1 {
		t.Fatalf("ali has %d messages, want the one finished during shutdown", n)
	}
}

// TestShutdownTimeoutCutsDataWith421: a transfer that does not finish
// within the shutdown timeout gets 421 and leaves nothing.
func TestShutdownTimeoutCutsDataWith421(t *testing.T) {
	e := newEnv(t, db.SQLite, func(o *smtp.Options) { o.ShutdownTimeout = 300 * time.Millisecond })
	busy := e.inbound()
	busy.do(250, "", "MAIL FROM:<clerk@moct.gov.sy>")
	busy.do(250, "", "RCPT TO:<ali@mof.gov.sy>")
	busy.do(354, "", "DATA")
	busy.writeRaw("From: <clerk@moct.gov.sy>\r\n\r\nslow")
	waitFor(t, 5*time.Second, "DATA to start", func() bool { return smtp.InDataForTest(e.srv) == 1 })
	start := time.Now()
	e.cancel()
	busy.expect(421, "4.3.2")
	if !busy.closed(5 * time.Second) {
		t.Fatal("session not closed")
	}
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	e.nothingWritten()
}
