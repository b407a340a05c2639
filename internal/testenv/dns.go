package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Zone is what a test's DNS server answers: dnsmasq options without the
// leading "--", e.g. "mx-host=moh.gov.sy,mail.moh.gov.sy,10",
// "address=/mail.moh.gov.sy/127.0.0.3",
// `txt-record=moh.gov.sy,"v=spf1 ip4:127.0.0.3 -all"`. A TXT value longer
// than 255 bytes is given as several comma-separated quoted strings.
type Zone []string

// DNS starts a dnsmasq answering only zone (no upstream, no hosts file) on
// a free UDP and TCP port of 127.0.0.1, stopped when the test ends, and
// returns its host:port for dns.servers. Without dnsmasq the test is
// skipped (failed under CI=true).
func DNS(t testing.TB, zone Zone) string {
	t.Helper()
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		bin = "/usr/sbin/dnsmasq"
		if _, err := os.Stat(bin); err != nil {
			Unavailable(t, "dnsmasq (apt-get install dnsmasq-base)", err)
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "dnsmasq.conf")
	if err := os.WriteFile(conf, []byte(strings.Join(append(zone, `txt-record=`+probeName+`,"ready"`), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		port, err := freeUDPAndTCPPort()
		if err != nil {
			t.Fatal(err)
		}
		addr, err := startDNSMasq(t, bin, conf, port)
		if err == nil {
			return addr
		}
		t.Logf("dnsmasq on port %d: %v (trying another port)", port, err)
	}
	t.Fatal("dnsmasq did not start on any of 5 ports")
	return ""
}

func startDNSMasq(t testing.TB, bin, conf string, port int) (string, error) {
	cmd := exec.Command(bin, "--no-daemon", "--conf-file="+conf, fmt.Sprintf("--port=%d", port),
		"--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll",
		"--user=root", "--pid-file=", "--log-facility=-")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return "", fmt.Errorf("exited: %s", strings.TrimSpace(out.String()))
		default:
		}
		if dnsAnswers(addr) {
			t.Cleanup(func() { cmd.Process.Kill(); <-done })
			return addr, nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return "", fmt.Errorf("no answer within 10 s: %s", strings.TrimSpace(out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// probeName is a record every test server holds, asked for to learn it is
// ready.
const probeName = "diwan-probe.test"

// dnsAnswers reports whether the test DNS server on addr answers.
func dnsAnswers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	txt, err := r.LookupTXT(ctx, probeName)
	return err == nil && len(txt) == 1 && txt[0] == "ready"
}

// freeUDPAndTCPPort returns a port free on 127.0.0.1 for both UDP and TCP
// at the time of asking.
func freeUDPAndTCPPort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no port free for both UDP and TCP")
}
