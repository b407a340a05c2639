// Package resolver builds the DNS resolver every part of Diwan uses for
// MX, A/AAAA and the TXT records of SPF, DKIM and DMARC (dns.servers).
package resolver

import (
	"context"
	"errors"
	"net"
	"time"
)

// dialTimeout bounds reaching one server.
const dialTimeout = 5 * time.Second

// New returns a resolver that asks servers (host:port) in order, the next
// when one cannot be reached; with none, the system's (/etc/resolv.conf).
// It asks over TCP (RFC 7766: every server answers there), so that a
// server that is down is known at once and the next one asked.
func New(servers []string) *net.Resolver {
	if len(servers) == 0 {
		return net.DefaultResolver
	}
	list := append([]string(nil), servers...)
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: dialTimeout}
			var errs []error
			for _, s := range list {
				c, err := d.DialContext(ctx, "tcp", s)
				if err == nil {
					return c, nil
				}
				errs = append(errs, err)
			}
			return nil, errors.Join(errs...)
		},
	}
}
