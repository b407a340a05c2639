package main

import (
	"bufio"
	"crypto/tls"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// serve passes imap.max_connections_per_ip and
// imap.max_connections_per_user_ip to the IMAP server and its metrics to
// /metrics; every login is a log line.
func TestServeAppliesIMAPLimitsAndServesIMAPMetrics(t *testing.T) {
	in := newInstance(t, `imap: {addr: "", tls_addr: "127.0.0.1:0", max_connections_per_ip: 2, max_connections_per_user_ip: 1}
`)
	in.ok("", "admin", "ministry", "add", "MOF", "--name-ar", "وزارة المالية", "--name-en", "Ministry of Finance")
	in.ok("", "admin", "domain", "add", "mof.gov.sy", "--ministry", "MOF")
	in.ok("ali password long\n", "admin", "user", "add", "ali@mof.gov.sy", "--name", "Ali", "--ministry", "MOF", "--role", "staff", "--password-stdin")
	s := in.serve()
	addr := s.addrOf(t, "imap (TLS)")
	insecure := &tls.Config{InsecureSkipVerify: true} // the self-signed pair of data_dir

	first, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: insecure})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := first.Login("ali@mof.gov.sy", "ali password long").Wait(); err != nil {
		t.Fatal(err)
	}
	second, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: insecure})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := second.Login("ali@mof.gov.sy", "ali password long").Wait(); err == nil || !strings.Contains(err.Error(), "LIMIT") {
		t.Fatalf("second login of one user from one address: %v, want NO [LIMIT]", err)
	}

	third, err := tls.Dial("tcp", addr, insecure)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	third.SetReadDeadline(time.Now().Add(10 * time.Second))
	greeting, err := bufio.NewReader(third).ReadString('\n')
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if greeting != "* BYE Too many connections from your address\r\n" {
		t.Fatalf("third connection from one address: %q", greeting)
	}

	code, body := s.get(t, "/metrics")
	for _, want := range []string{
		`diwan_imap_sessions{listener="imaps"} 2`,
		`diwan_imap_refusals_total{reason="connections_per_ip"} 1`,
		`diwan_imap_refusals_total{reason="connections_per_user_ip"} 1`,
		`diwan_imap_logins_total{result="ok"} 1`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET /metrics = %d, without %s", code, want)
		}
	}
	if logs := s.stderr.String(); !strings.Contains(logs, "protocol=imap user=ali@mof.gov.sy client=127.0.0.1") {
		t.Errorf("no login line in the log:\n%s", logs)
	}
}
