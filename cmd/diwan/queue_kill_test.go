package main

import (
	"crypto/tls"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"diwan.gov.sy/diwan/internal/delivery/deliverytest"
)

// A message for another national server answered 250 is not lost when
// `diwan serve` is killed with SIGKILL before it was sent: started again,
// the node sends every acknowledged message (a message whose remote 250
// came just before the kill, before it was marked sent, may arrive twice).
// A job the kill left running is taken back at the next start (the
// node's River id is the same across restarts). On SQLite and on
// PostgreSQL.
func TestKilledServerSendsEveryAcknowledgedRelayMessage(t *testing.T) {
	for _, dbName := range []string{"sqlite", "postgres"} {
		t.Run(dbName, func(t *testing.T) { killWhileRelaying(t, dbName) })
	}
}

func killWhileRelaying(t *testing.T, dbName string) {
	rem := deliverytest.NewRemote(t)
	in := relayInstance(t, dbName, rem)
	s := in.serve()
	addr := s.addrOf(t, "smtp submission")

	var next atomic.Int64
	var mu sync.Mutex
	acked := map[int64]bool{}
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			relayUntilError(addr, &next, func(n int64) {
				mu.Lock()
				acked[n] = true
				k := len(acked)
				mu.Unlock()
				if k >= 60 {
					once.Do(func() { close(enough) })
				}
			})
		}()
	}
	select {
	case <-enough:
	case <-time.After(20 * time.Second):
	}
	if err := s.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-s.done
	s.done <- nil // the clean-up waits on it
	wg.Wait()
	sentBefore := len(rem.Messages())
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n == 0 {
		t.Fatalf("no message acknowledged before the kill:\n%s", s.stderr.String())
	}

	s = in.serve()
	subject := regexp.MustCompile(`(?m)^Subject: relay (\d+)\r?$`)
	var got map[int64]int
	defer func() {
		if t.Failed() {
			t.Logf("queue after the restart:\n%s", in.ok("", "admin", "queue", "list", "--state", "pending"))
		}
	}()
	waitUntil(t, 60*time.Second, "every acknowledged message at the remote", func() bool {
		got = map[int64]int{}
		for _, m := range rem.Messages() {
			if sm := subject.FindSubmatch(m.Raw); sm != nil {
				k, _ := strconv.ParseInt(string(sm[1]), 10, 64)
				got[k]++
			}
		}
		for k := range acked {
			if got[k] == 0 {
				return false
			}
		}
		return true
	})
	twice := 0
	for _, c := range got {
		if c > 1 {
			twice++
		}
	}
	t.Logf("%d acknowledged before SIGKILL, %d sent before it, all %d at the remote after the restart (%d twice)",
		n, sentBefore, len(got), twice)
	if twice > 8 { // at most the jobs in flight at the kill (delivery.concurrency)
		t.Fatalf("%d messages arrived twice", twice)
	}
	s.stop(t)
}

// relayUntilError sends messages numbered from next to omar@moh.gov.sy
// on one connection, calling ok with each number answered 250, until the
// first failure.
func relayUntilError(addr string, next *atomic.Int64, ok func(int64)) {
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true}) // the self-signed pair of data_dir
	if err != nil {
		return
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "ali@mof.gov.sy", "ali password long")); err != nil {
		return
	}
	for {
		n := next.Add(1)
		msg := fmt.Sprintf("From: ali@mof.gov.sy\r\nTo: omar@moh.gov.sy\r\nSubject: relay %d\r\n\r\n%s\r\n",
			n, strings.Repeat("The budget figures are attached.\r\n", 40))
		if err := c.SendMail("ali@mof.gov.sy", []string{"omar@moh.gov.sy"}, strings.NewReader(msg)); err != nil {
			return
		}
		ok(n)
	}
}
