package tlsutil

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEnsureSelfSignedGeneratesOnceAndReuses(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, generated, err := EnsureSelfSigned(dir, []string{"mail.moct.gov.sy"})
	if err != nil {
		t.Fatal(err)
	}
	if !generated {
		t.Fatal("first call: generated = false, want true")
	}
	if want := filepath.Join(dir, "tls", "cert.pem"); certFile != want {
		t.Errorf("certFile = %q, want %q", certFile, want)
	}
	if want := filepath.Join(dir, "tls", "key.pem"); keyFile != want {
		t.Errorf("keyFile = %q, want %q", keyFile, want)
	}
	cert1, _ := os.ReadFile(certFile)
	key1, _ := os.ReadFile(keyFile)

	certFile2, keyFile2, generated, err := EnsureSelfSigned(dir, []string{"mail.moct.gov.sy"})
	if err != nil {
		t.Fatal(err)
	}
	if generated {
		t.Error("second call: generated = true, want the existing pair reused")
	}
	if certFile2 != certFile || keyFile2 != keyFile {
		t.Errorf("second call returned %q, %q; want %q, %q", certFile2, keyFile2, certFile, keyFile)
	}
	cert2, _ := os.ReadFile(certFile)
	key2, _ := os.ReadFile(keyFile)
	if !bytes.Equal(cert1, cert2) || !bytes.Equal(key1, key2) {
		t.Error("the existing pair was rewritten")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "tls", "*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestEnsureSelfSignedFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX modes")
	}
	certFile, keyFile, _, err := EnsureSelfSigned(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]os.FileMode{keyFile: 0o600, certFile: 0o644} {
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", filepath.Base(file), got, want)
		}
	}
}

func TestEnsureSelfSignedCertificate(t *testing.T) {
	hosts := []string{"mail.moct.gov.sy", "10.1.2.3", "", "0.0.0.0", "[fd00::5]", "وزارة.gov.sy", "Mail.MOCT.gov.sy."}
	certFile, keyFile, _, err := EnsureSelfSigned(t.TempDir(), hosts)
	if err != nil {
		t.Fatal(err)
	}
	cert := readCert(t, certFile)

	wantDNS := []string{"mail.moct.gov.sy", "xn--mgbexc3i.gov.sy", "localhost"}
	if !slices.Equal(cert.DNSNames, wantDNS) {
		t.Errorf("DNS SANs = %q, want %q", cert.DNSNames, wantDNS)
	}
	var ips []string
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	wantIPs := []string{"10.1.2.3", "fd00::5", "127.0.0.1", "::1"}
	if !slices.Equal(ips, wantIPs) {
		t.Errorf("IP SANs = %q, want %q", ips, wantIPs)
	}
	if cert.Subject.CommonName != "mail.moct.gov.sy" {
		t.Errorf("CN = %q", cert.Subject.CommonName)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", cert.PublicKey)
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d > 825*24*time.Hour {
		t.Errorf("validity %s, longer than 825 days", d)
	}
	if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Error("no server-auth extended key usage")
	}

	// The certificate verifies for each name when trusted as its own root.
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, name := range []string{"mail.moct.gov.sy", "xn--mgbexc3i.gov.sy", "localhost", "127.0.0.1", "::1", "10.1.2.3"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "evil.example.com", Roots: roots}); err == nil {
		t.Error("verifies for a host it was not made for")
	}

	// The key is PKCS #8.
	keyPEM, _ := os.ReadFile(keyFile)
	block, _ := pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("key PEM block %v, want PRIVATE KEY", block)
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Errorf("key: %v", err)
	}
}

func TestEnsureSelfSignedRegeneratesIncompletePair(t *testing.T) {
	dir := t.TempDir()
	certFile, _, _, err := EnsureSelfSigned(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(certFile); err != nil {
		t.Fatal(err)
	}
	_, _, generated, err := EnsureSelfSigned(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !generated {
		t.Error("a pair missing its certificate was not regenerated")
	}
}

func TestEnsureSelfSignedRenewsExpiredCertificate(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := generate(nil, time.Now().Add(-900*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tls", "cert.pem"), certPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "tls", "key.pem"), keyPEM, 0o600)

	certFile, _, generated, err := EnsureSelfSigned(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !generated {
		t.Fatal("an expired self-signed certificate was kept")
	}
	if cert := readCert(t, certFile); !time.Now().Before(cert.NotAfter) {
		t.Errorf("renewed certificate expires %s", cert.NotAfter)
	}
}

func TestLoadServesGeneratedPair(t *testing.T) {
	certFile, keyFile, _, err := EnsureSelfSigned(t.TempDir(), []string{"mail.moct.gov.sy"})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if conf.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", conf.MinVersion)
	}
	if len(conf.Certificates) != 1 {
		t.Fatalf("%d certificates", len(conf.Certificates))
	}

	// A real handshake with a client that trusts the certificate.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	handshakes := make(chan error, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			err = c.(*tls.Conn).Handshake()
			c.Close()
			handshakes <- err
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, certFile))
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "mail.moct.gov.sy"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-handshakes; err != nil {
		t.Fatalf("server handshake: %v", err)
	}

	// TLS 1.1 and below are refused.
	c, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: tls.VersionTLS11})
	if err == nil {
		c.Close()
		t.Error("a TLS 1.1 client was accepted")
	}
	if err := <-handshakes; err == nil {
		t.Error("server completed a TLS 1.1 handshake")
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _, err := EnsureSelfSigned(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("this is not a certificate\n"), 0o600)
	badBlock := filepath.Join(dir, "bad-block.pem")
	os.WriteFile(badBlock, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}), 0o600)
	otherDir := t.TempDir()
	otherCert, _, _, err := EnsureSelfSigned(otherDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name      string
		cert, key string
		wantInErr []string
	}{
		{"garbage certificate", garbage, keyFile, []string{garbage, "certificate"}},
		{"malformed certificate block", badBlock, keyFile, []string{badBlock, "certificate"}},
		{"garbage key", certFile, garbage, []string{garbage, "key"}},
		{"certificate as key", certFile, certFile, []string{certFile, "key"}},
		{"missing certificate", missing, keyFile, []string{missing}},
		{"missing key", certFile, missing, []string{missing}},
		{"key of another certificate", otherCert, keyFile, []string{otherCert, keyFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.cert, tc.key)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.wantInErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestSubjectAltNamesRefusesInvalidIDN(t *testing.T) {
	if _, _, err := subjectAltNames([]string{"bad\u200d.gov.sy"}); err == nil {
		t.Error("an invalid internationalised name was accepted")
	}
	dns, ips, err := subjectAltNames(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dns, []string{"localhost"}) || len(ips) != 2 || !ips[0].Equal(net.IPv4(127, 0, 0, 1)) || !ips[1].Equal(net.IPv6loopback) {
		t.Errorf("defaults: %q %v", dns, ips)
	}
}

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
