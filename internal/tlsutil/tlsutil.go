// Package tlsutil holds the server side of Diwan's TLS set-up: loading the
// certificate and key that every listener (HTTPS, SMTP, IMAP) presents, and
// generating a self-signed pair under the data directory when the
// configuration names none, so that a fresh machine starts with TLS on.
//
// It must never weaken a configuration it is given (no TLS below 1.2, no
// insecure cipher suites), never replace a complete pair whose certificate is
// still valid, and never log: errors go back to the caller, naming the file
// concerned.
package tlsutil

import (
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
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/net/idna"
)

// Validity of a generated certificate. 825 days is the longest validity
// Apple platforms accept for a TLS server certificate; a shorter one only
// means more frequent regeneration.
const selfSignedValidity = 825 * 24 * time.Hour

// renewBefore: a generated pair found expired, or this close to expiry, is
// replaced on the next start.
const renewBefore = 7 * 24 * time.Hour

// EnsureSelfSigned returns the paths of the self-signed pair under
// dir/tls/ (cert.pem and key.pem), generating it when either file is
// missing or the certificate has expired (or expires within a week);
// generated reports whether a new pair was written.
//
// A new pair is an ECDSA P-256 key (PKCS #8, mode 0600) and a certificate
// (mode 0644) valid for 825 days, whose subject alternative names are hosts
// (DNS names, IDNs in their ASCII form, and IP addresses; empty entries and
// unspecified addresses such as 0.0.0.0 are skipped) plus localhost,
// 127.0.0.1 and ::1. Each file is written to a temporary file, synced and
// renamed into place, the key first, so a crash never leaves a half-written
// file under the final name. An existing pair is returned as it is, even when
// it does not parse: Load then reports what is wrong with it.
func EnsureSelfSigned(dir string, hosts []string) (certFile, keyFile string, generated bool, err error) {
	tlsDir := filepath.Join(dir, "tls")
	certFile = filepath.Join(tlsDir, "cert.pem")
	keyFile = filepath.Join(tlsDir, "key.pem")

	certExists, err := isFile(certFile)
	if err != nil {
		return "", "", false, err
	}
	keyExists, err := isFile(keyFile)
	if err != nil {
		return "", "", false, err
	}
	if certExists && keyExists && !expiring(certFile, time.Now()) {
		return certFile, keyFile, false, nil
	}

	certPEM, keyPEM, err := generate(hosts, time.Now())
	if err != nil {
		return "", "", false, err
	}
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return "", "", false, fmt.Errorf("create %s: %w", tlsDir, err)
	}
	if err := writeAtomic(keyFile, keyPEM, 0o600); err != nil {
		return "", "", false, err
	}
	if err := writeAtomic(certFile, certPEM, 0o644); err != nil {
		return "", "", false, err
	}
	syncDir(tlsDir)
	return certFile, keyFile, true, nil
}

// Load reads a PEM certificate chain and its private key and returns a
// server tls.Config (TLS 1.2 or later) presenting them. The error names the
// file that is missing, unreadable or malformed, or both files when the key
// does not match the certificate. The returned config may be shared by
// several listeners: http.Server.ServeTLS clones it before adding its
// protocols.
func Load(certFile, keyFile string) (*tls.Config, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS key: %w", err)
	}
	if err := checkCertPEM(certPEM); err != nil {
		return nil, fmt.Errorf("TLS certificate %s: %w", certFile, err)
	}
	if err := checkKeyPEM(keyPEM); err != nil {
		return nil, fmt.Errorf("TLS key %s: %w", keyFile, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("TLS key %s does not fit certificate %s: %w", keyFile, certFile, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
	}, nil
}

// checkCertPEM requires at least one CERTIFICATE block and that every such
// block parses.
func checkCertPEM(data []byte) error {
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		n++
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", n, err)
		}
	}
	if n == 0 {
		return errors.New("no PEM certificate found")
	}
	return nil
}

// checkKeyPEM requires a PEM block that holds a private key.
func checkKeyPEM(data []byte) error {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return errors.New("no PEM private key found")
		}
		if block.Type == "PRIVATE KEY" || strings.HasSuffix(block.Type, " PRIVATE KEY") {
			return nil
		}
	}
}

// expiring reports whether the first certificate in file has expired or
// expires within renewBefore. A file that cannot be read or parsed is not
// expiring: it is returned as it is for Load to report.
func expiring(file string, now time.Time) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false
	}
	return now.Add(renewBefore).After(cert.NotAfter)
}

// generate creates a key and a self-signed certificate for hosts, PEM encoded.
func generate(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	dnsNames, ips, err := subjectAltNames(hosts)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("generate certificate serial: %w", err)
	}
	notBefore := now.Add(-time.Hour) // tolerate clocks a little behind
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   dnsNames[0],
			Organization: []string{"Diwan (self-signed)"},
		},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create self-signed certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode TLS key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// subjectAltNames splits hosts into DNS names and IP addresses, adds
// localhost, 127.0.0.1 and ::1, and removes duplicates. The first DNS name
// is the first host given, or localhost.
func subjectAltNames(hosts []string) (dnsNames []string, ips []net.IP, err error) {
	seenDNS := map[string]bool{}
	seenIP := map[string]bool{}
	for _, h := range append(hosts[:len(hosts):len(hosts)], "localhost", "127.0.0.1", "::1") {
		h = strings.TrimSpace(h)
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		h = strings.TrimSuffix(h, ".")
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if ip.IsUnspecified() || seenIP[ip.String()] {
				continue
			}
			seenIP[ip.String()] = true
			ips = append(ips, ip)
			continue
		}
		name, err := asciiHost(h)
		if err != nil {
			return nil, nil, err
		}
		if seenDNS[name] {
			continue
		}
		seenDNS[name] = true
		dnsNames = append(dnsNames, name)
	}
	return dnsNames, ips, nil
}

// asciiHost returns a DNS name as it goes into a certificate: lower case,
// internationalised names in their A-label (xn--) form.
func asciiHost(h string) (string, error) {
	ascii := true
	for i := 0; i < len(h); i++ {
		if h[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(h), nil
	}
	name, err := idna.Lookup.ToASCII(h)
	if err != nil {
		return "", fmt.Errorf("host name %q for the certificate: %w", h, err)
	}
	return name, nil
}

// writeAtomic writes data to a temporary file beside name, syncs it, sets
// mode and renames it over name.
func writeAtomic(name string, data []byte, mode os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// syncDir makes the renames in dir durable where the platform allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// isFile reports whether name exists as a regular file. Any error other than
// "does not exist" is returned, naming the file.
func isFile(name string) (bool, error) {
	fi, err := os.Stat(name)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case !fi.Mode().IsRegular():
		return false, fmt.Errorf("%s is not a regular file", name)
	}
	return true, nil
}
