package app

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"

	"diwan.gov.sy/diwan/internal/delivery"
	"diwan.gov.sy/diwan/internal/resolver"
)

// OpenQueue builds the outbound queue on the environment. With work it
// sends (serve: Start runs the worker, one River client per node, and its
// metrics go to /metrics); without it records, lists, retries and drops
// (admin commands). The returned function releases what it opened (River's
// pool on PostgreSQL), after Stop.
func (e *Env) OpenQueue(ctx context.Context, work bool) (*delivery.Queue, *SelfAddrs, func(), error) {
	cfg := e.Config
	o := delivery.Options{
		DB: e.DB, Blobs: e.Blob, Policy: e.Policy, Mailbox: e.Mail, Audit: e.Sealer,
		Hostname:    cfg.SMTP.Hostname,
		MaxAge:      cfg.Delivery.MaxAge.Duration(),
		DelayNotice: cfg.Delivery.DelayNotice.Duration(),
		Concurrency: cfg.Delivery.Concurrency,
		Work:        work,
		NodeID:      nodeID(cfg.DataDir),
		Logger:      e.Log,
	}
	for _, d := range cfg.Delivery.RetryIntervals {
		o.RetryIntervals = append(o.RetryIntervals, d.Duration())
	}
	self := &SelfAddrs{}
	if work {
		roots, err := outboundRoots(cfg.TLS.CAFile)
		if err != nil {
			return nil, nil, nil, err
		}
		o.Router = delivery.NewRouter(resolver.New(cfg.DNS.Servers), cfg.Delivery.Transports, self.Has)
		o.Sender = delivery.NewSender(delivery.SenderOptions{
			Hostname: cfg.SMTP.Hostname, RootCAs: roots, RequireTLS: cfg.Delivery.RequireTLS,
			ConnectTimeout: cfg.Delivery.ConnectTimeout.Duration(), CommandTimeout: cfg.Delivery.CommandTimeout.Duration(),
		})
		o.Registerer = e.Metrics
	}
	release := func() {}
	if e.DB.IsPostgres() {
		pool, err := riverPool(ctx, cfg.DatabaseDSN(), cfg.Delivery.Concurrency)
		if err != nil {
			return nil, nil, nil, err
		}
		o.Pool, release = pool, pool.Close
	}
	q, err := delivery.New(o)
	if err != nil {
		release()
		return nil, nil, nil, err
	}
	return q, self, release, nil
}

// riverPool is River's own pool on PostgreSQL, from database.dsn: one
// connection stays in LISTEN (new jobs are pushed), the others fetch and
// complete jobs and take the queue's inserts, apart from Diwan's pool.
func riverPool(ctx context.Context, dsn string, concurrency int) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("delivery: database.dsn cannot be parsed")
	}
	pc.MaxConns = int32(max(8, concurrency+4))
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("delivery: river pool: %w", err)
	}
	return pool, nil
}

// outboundRoots are the CAs outbound TLS trusts: the system's and
// tls.ca_file's (government CAs).
func outboundRoots(caFile string) (*x509.CertPool, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if caFile == "" {
		return roots, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tls.ca_file: %w", err)
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls.ca_file %s: no PEM certificate in it", caFile)
	}
	return roots, nil
}

// SelfAddrs are the addresses of this node's inbound SMTP listener: a
// route to one of them is a loop (RFC 5321 §5.1). Set once the listener is
// bound; before, none.
type SelfAddrs struct {
	addrs atomic.Pointer[[]netip.Addr]
	any   atomic.Bool // bound to the unspecified address: every local one
}

// Set records the inbound listener's address.
func (s *SelfAddrs) Set(a net.Addr) {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return
	}
	ip = ip.Unmap()
	if ip.IsUnspecified() {
		s.any.Store(true)
		return
	}
	list := []netip.Addr{ip}
	s.addrs.Store(&list)
}

// Has reports whether ip is one of this node's inbound addresses.
func (s *SelfAddrs) Has(ip netip.Addr) bool {
	if s.any.Load() {
		return localAddr(ip)
	}
	if p := s.addrs.Load(); p != nil {
		for _, a := range *p {
			if a == ip {
				return true
			}
		}
	}
	return false
}

// localAddr reports whether ip is an address of this machine.
func localAddr(ip netip.Addr) bool {
	if ip.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok && x.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// newDelivery builds the queue that sends, for serve; stop (deferred by
// serve before the database closes) stops the worker and releases it.
func newDelivery(ctx context.Context, e *Env) (*delivery.Queue, *SelfAddrs, func(), error) {
	q, self, release, err := e.OpenQueue(ctx, true)
	if err != nil {
		return nil, nil, nil, err
	}
	stop := func() {
		if err := q.Stop(context.WithoutCancel(ctx)); err != nil {
			e.Log.Error("delivery: stop", slog.Any("err", err))
		}
		release()
	}
	return q, self, stop, nil
}

// nodeID names this node to River: its host name and its data directory,
// the same across restarts and different for two nodes on one host.
func nodeID(dataDir string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	sum := sha256.Sum256([]byte(dataDir))
	if len(host) > 60 {
		host = host[:60]
	}
	return "diwan-" + host + "-" + hex.EncodeToString(sum[:6])
}
