package main

// The set-up of the federation tests (federation_test.go): two real
// `diwan serve` processes, mof.gov.sy (A) and moh.gov.sy (B), each with its
// own data directory, database and blob store, its MX listener on port 25
// of its own loopback address, a certificate for its MX host name from a
// test CA that both trust (tls.ca_file), and a real DNS server (dnsmasq)
// that holds their MX, A, SPF, DKIM and DMARC records.

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mathrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/testenv"
)

// testCA is a certificate authority of the test: the government CA the
// instances trust through tls.ca_file.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Diwan test government CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, file: filepath.Join(t.TempDir(), "ca.pem"), pool: x509.NewCertPool()}
	ca.pool.AddCert(cert)
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue writes a server certificate for host (and the IP addresses) signed
// by the CA, and its key, under dir.
func (ca *testCA) issue(t testing.TB, dir, host string, ips ...net.IP) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		IPAddresses:  ips,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, host+".pem"), filepath.Join(dir, host+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

// client is the TLS configuration of a mail client of the instance whose
// MX host name is host.
func (ca *testCA) client(host string) *tls.Config {
	return &tls.Config{RootCAs: ca.pool, ServerName: host}
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

var (
	loopbackMu    sync.Mutex
	loopbackTaken = map[int]bool{}
)

// loopbackNet picks X so that port 25 of 127.0.X.2 up to 127.0.X.(1+n)
// is free now, and no other test of this binary has it: the test that
// holds it runs its MX listeners there. Another process binding one first
// is seen as EADDRINUSE, and another X is tried.
func loopbackNet(t testing.TB, n int) int {
	t.Helper()
	loopbackMu.Lock()
	defer loopbackMu.Unlock()
	for range 50 {
		x := 10 + mathrand.IntN(241)
		if loopbackTaken[x] {
			continue
		}
		if err := port25Free(x, n); err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			testenv.Unavailable(t, "port 25 on 127.0.X.Y (needs root or CAP_NET_BIND_SERVICE)", err)
		}
		loopbackTaken[x] = true
		t.Cleanup(func() { loopbackMu.Lock(); delete(loopbackTaken, x); loopbackMu.Unlock() })
		return x
	}
	t.Fatal("no 127.0.X.0/24 with port 25 free after 50 tries")
	return 0
}

func port25Free(x, n int) error {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range n {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.%d.%d:25", x, 2+i))
		if err != nil {
			return err
		}
		ls = append(ls, l)
	}
	return nil
}

// benchUserPassword is the password of the users u1 … uN.
const benchUserPassword = "bench-user-password"

// peer is one Diwan instance of the federation.
type peer struct {
	*instance
	domain   string // mof.gov.sy
	host     string // mail.mof.gov.sy, its MX
	ip       string // its MX listener's address, 127.0.X.2
	ministry string
	ca       *testCA
	users    map[string]string // login → password
	dkim     []string          // the TXT records of `diwan admin domain dkim`, as dnsmasq options
	srv      *server
	// submission and imap are where the running server listens.
	submission, imap string
	// transports is its delivery.transports; retry its
	// delivery.retry_intervals.
	transports map[string]string
	retry      string
	dsn        string // PostgreSQL; "" SQLite
	dns        string // host:port of the DNS server, once it runs
}

// federationOptions shape a federation.
type federationOptions struct {
	postgres bool
	// transportsToB routes A's mail for moh.gov.sy to B's port 25 by
	// delivery.transports, and leaves B's MX and address out of the DNS.
	transportsToB bool
	// users adds u1 … uN to both domains (password benchUserPassword).
	users int
	// retry is delivery.retry_intervals of both ("[1s]" when empty).
	retry string
}

// Zone is more dnsmasq options for the federation's DNS server.
type Zone = testenv.Zone

// federation is A (mof.gov.sy) and B (moh.gov.sy).
type federation struct {
	t    testing.TB
	ca   *testCA
	x    int // A is 127.0.x.2, B 127.0.x.3
	a, b *peer
	dns  string
}

// newFederation configures both instances, creates their users (ali@ and
// sara@ of each domain, and clerk@ of its registry at diwan@) and DKIM
// keys, starts the DNS server with their
// records, then starts both servers.
func newFederation(t testing.TB, o federationOptions) *federation {
	t.Helper()
	f := &federation{t: t, ca: newTestCA(t), x: loopbackNet(t, 3)}
	f.a = f.newPeer(t, "MOF", "mof.gov.sy", fmt.Sprintf("127.0.%d.2", f.x), o)
	f.b = f.newPeer(t, "MOH", "moh.gov.sy", fmt.Sprintf("127.0.%d.3", f.x), o)
	zone := append(f.a.records(), f.b.records()...)
	if o.transportsToB {
		f.a.transports = map[string]string{f.b.domain: f.b.ip + ":25"}
		zone = slices.DeleteFunc(zone, func(r string) bool {
			return strings.HasPrefix(r, "mx-host="+f.b.domain+",") || strings.HasPrefix(r, "host-record="+f.b.host+",")
		})
	}
	f.dns = testenv.DNS(t, zone)
	for _, p := range []*peer{f.a, f.b} {
		p.dns = f.dns
		p.writeConfig()
	}
	f.a.start()
	f.b.start()
	return f
}

// otherIP is a loopback address of the federation's /24 that is neither
// instance: a stranger's server.
func (f *federation) otherIP() string { return fmt.Sprintf("127.0.%d.4", f.x) }

func (f *federation) newPeer(t testing.TB, ministry, domain, ip string, o federationOptions) *peer {
	t.Helper()
	p := &peer{instance: newInstance(t, "smtp: {}\nimap: {}\nhttp: {}\n"), domain: domain, host: "mail." + domain, ip: ip,
		ministry: ministry, ca: f.ca, users: map[string]string{}, retry: cmp.Or(o.retry, "[1s]")}
	if o.postgres {
		p.dsn = testenv.Postgres(t)
	}
	p.writeConfig()
	p.ok("", "admin", "ministry", "add", ministry, "--name-ar", "وزارة "+ministry, "--name-en", "Ministry "+ministry)
	p.ok("", "admin", "domain", "add", domain, "--ministry", ministry)
	for _, u := range []string{"ali", "sara"} {
		login, pw := u+"@"+domain, u+" password of "+domain
		p.ok(pw+"\n", "admin", "user", "add", login, "--name", u, "--ministry", ministry, "--role", "staff", "--password-stdin")
		p.users[login] = pw
	}
	// The registry of the ministry, whose clerk may send as its mailbox.
	p.ok("", "admin", "registry", "add", ministry, "--ministry", ministry, "--name-ar", "ديوان "+ministry,
		"--name-en", "Registry "+ministry, "--address", "diwan@"+domain)
	clerk := "clerk@" + domain
	p.ok(benchUserPassword+"\n", "admin", "user", "add", clerk, "--name", "clerk", "--ministry", ministry, "--role", "clerk", "--password-stdin")
	p.users[clerk] = benchUserPassword
	p.ok("", "admin", "member", clerk, "--registry", ministry)
	for i := range o.users {
		login := fmt.Sprintf("u%d@%s", i+1, domain)
		p.ok(benchUserPassword+"\n", "admin", "user", "add", login, "--name", login, "--ministry", ministry, "--role", "staff", "--password-stdin")
		p.users[login] = benchUserPassword
	}
	p.dkim = dkimRecords(t, p.ok("", "admin", "domain", "dkim", domain))
	return p
}

// dkimTXT finds the records `diwan admin domain dkim` printed: lines
// "NAME TXT "v=DKIM1; ..."" (the value possibly split in quoted strings).
var dkimTXT = regexp.MustCompile(`(?m)^(\S+\._domainkey\.\S+?)\.?\s+(?:IN\s+)?TXT\s+(.+)$`)

// dkimRecords turns the records printed into dnsmasq options, a value over
// 255 bytes split into several strings.
func dkimRecords(t testing.TB, out string) []string {
	t.Helper()
	var opts []string
	for _, m := range dkimTXT.FindAllStringSubmatch(out, -1) {
		value := joinTXT(m[2])
		var parts []string
		for len(value) > 255 {
			parts = append(parts, `"`+value[:255]+`"`)
			value = value[255:]
		}
		parts = append(parts, `"`+value+`"`)
		opts = append(opts, "txt-record="+m[1]+","+strings.Join(parts, ","))
	}
	if len(opts) == 0 {
		t.Fatalf("diwan admin domain dkim printed no TXT record:\n%s", out)
	}
	return opts
}

// joinTXT is the value of a TXT record written as one or more quoted
// strings (or bare).
func joinTXT(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "("), ")")
	if !strings.Contains(s, `"`) {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	for _, q := range regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(s, -1) {
		b.WriteString(strings.ReplaceAll(q[1], `\"`, `"`))
	}
	return b.String()
}

// records are the peer's DNS records: MX, A, SPF, DKIM, DMARC. Outbound
// connections to another loopback address leave from 127.0.0.1 (the
// kernel's source for 127.0.0.0/8), so SPF names it beside the MX address.
func (p *peer) records() []string {
	return append([]string{
		fmt.Sprintf("mx-host=%s,%s,10", p.domain, p.host),
		fmt.Sprintf("host-record=%s,%s", p.host, p.ip),
		fmt.Sprintf(`txt-record=%s,"v=spf1 ip4:%s ip4:127.0.0.1 -all"`, p.domain, p.ip),
		fmt.Sprintf(`txt-record=_dmarc.%s,"v=DMARC1; p=reject; adkim=s; aspf=s"`, p.domain),
	}, p.dkim...)
}

// writeConfig writes the peer's configuration file.
func (p *peer) writeConfig() {
	p.t.Helper()
	cert, key := p.ca.issue(p.t, p.dir, p.host, net.ParseIP(p.ip))
	cfg := fmt.Sprintf(`data_dir: %s
http: {addr: "127.0.0.1:0", base_url: "https://%s"}
tls: {cert_file: %s, key_file: %s, ca_file: %s}
smtp: {hostname: %s, inbound_addr: "%s:25", submission_addr: "127.0.0.1:0", submissions_addr: "", rate_per_minute: 0}
imap: {addr: "127.0.0.1:0", tls_addr: ""}
policy: {inbound_auth: enforce}
`, p.dir, p.host, cert, key, p.ca.file, p.host, p.ip)
	if p.dsn != "" {
		cfg += fmt.Sprintf("database: {driver: postgres, dsn: %q}\n", p.dsn)
	}
	if p.dns != "" {
		cfg += fmt.Sprintf("dns: {servers: [%q]}\n", p.dns)
	}
	var routes []string
	for d, to := range p.transports {
		routes = append(routes, fmt.Sprintf("%q: %q", d, to))
	}
	cfg += fmt.Sprintf("delivery: {retry_intervals: %s, transports: {%s}}\n", p.retry, strings.Join(routes, ", "))
	if err := os.WriteFile(p.config, []byte(cfg), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// start runs `diwan serve` of the peer and learns where it listens.
func (p *peer) start() {
	p.t.Helper()
	p.srv = p.serve()
	p.submission = p.srv.addrOf(p.t, "smtp submission")
	p.imap = p.srv.addrOf(p.t, "imap (STARTTLS)")
}

// stop stops the peer's server (SIGTERM, clean exit).
func (p *peer) stop(t testing.TB) {
	t.Helper()
	p.srv.stop(t)
	p.srv = nil
}

// metric is the value of a series on the peer's /metrics (the whole
// series, labels included, e.g. `diwan_delivery_queue_length`); -1 when
// it is absent.
func (p *peer) metric(t testing.TB, series string) float64 {
	t.Helper()
	code, body := p.srv.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics of %s = %d", p.domain, code)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return -1
}

// drained waits, at most d, until the peer's outbound queue is empty.
func (p *peer) drained(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		n := p.metric(t, "diwan_delivery_queue_length")
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's outbound queue holds %v recipients after %s", p.domain, n, d)
		}
		<-tick.C
	}
}
