package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/httpd"
	"diwan.gov.sy/diwan/internal/smtp"
)

// statusCheckTimeout bounds the checks of one status report, so that a
// database or a store that hangs leaves the page slow, not stuck.
const statusCheckTimeout = 5 * time.Second

// statusReporter tells the status page (/admin/status, httpd.Options.Status)
// about the serving process: its listeners as configured and as bound
// (recorded by Serve as each binds), the database's and the blob store's
// health checked at each call, and the build.
type statusReporter struct {
	e       *Env
	started time.Time

	mu        sync.Mutex
	listeners []httpd.ListenerStatus // in the page's order; Bound filled as they bind
}

func newStatusReporter(e *Env, started time.Time) *statusReporter {
	cfg := e.Config
	web := httpd.ListenerHTTPS
	if !cfg.HTTP.TLS {
		web = httpd.ListenerHTTP
	}
	return &statusReporter{e: e, started: started, listeners: []httpd.ListenerStatus{
		{Role: httpd.ListenerSMTPInbound, Configured: cfg.SMTP.InboundAddr},
		{Role: httpd.ListenerSMTPSubmission, Configured: cfg.SMTP.SubmissionAddr},
		{Role: httpd.ListenerSMTPSubmissions, Configured: cfg.SMTP.SubmissionsAddr},
		{Role: httpd.ListenerIMAP, Configured: cfg.IMAP.Addr},
		{Role: httpd.ListenerIMAPS, Configured: cfg.IMAP.TLSAddr},
		{Role: web, Configured: cfg.HTTP.Addr},
	}}
}

// bound records the address a listener of role bound (nil: none).
func (r *statusReporter) bound(role string, addr net.Addr) {
	if addr == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.listeners {
		if r.listeners[i].Role == role {
			r.listeners[i].Bound = addr.String()
		}
	}
}

// boundSMTP records the SMTP listeners srv bound.
func (r *statusReporter) boundSMTP(addrs map[smtp.Listener]net.Addr) {
	r.bound(httpd.ListenerSMTPInbound, addrs[smtp.Inbound])
	r.bound(httpd.ListenerSMTPSubmission, addrs[smtp.Submission])
	r.bound(httpd.ListenerSMTPSubmissions, addrs[smtp.Submissions])
}

// Report checks the database and the blob store and says what the
// process listens on, to an enabled administrator of the instance; anyone
// else is refused (directory.ErrForbidden) before anything is checked.
func (r *statusReporter) Report(ctx context.Context, caller directory.Principal) (httpd.StatusReport, error) {
	if caller.Disabled || !caller.HasRole(directory.RoleAdmin) {
		return httpd.StatusReport{}, fmt.Errorf("the status of the process: %w", directory.ErrForbidden)
	}
	ctx, cancel := context.WithTimeout(ctx, statusCheckTimeout)
	defer cancel()
	r.mu.Lock()
	listeners := append([]httpd.ListenerStatus(nil), r.listeners...)
	r.mu.Unlock()
	return httpd.StatusReport{Version: Version, Commit: Commit, Started: r.started, Listeners: listeners,
		Database: r.database(ctx), Blob: r.blob(ctx)}, nil
}

func (r *statusReporter) database(ctx context.Context) httpd.DatabaseStatus {
	d := r.e.DB
	s := httpd.DatabaseStatus{Driver: d.Dialect(), Addr: d.Addr()}
	t0 := time.Now()
	s.Err = d.Ping(ctx)
	s.Ping = time.Since(t0)
	s.Schema, s.Latest, s.SchemaErr = d.SchemaVersion(ctx)
	return s
}

func (r *statusReporter) blob(ctx context.Context) httpd.BlobStatus {
	cfg := r.e.Config
	s := httpd.BlobStatus{Kind: "fs", Where: cfg.BlobDir()}
	if cfg.Blob.Driver == "s3" {
		s.Kind, s.Where = "s3", cfg.Blob.S3.Endpoint+"/"+cfg.Blob.S3.Bucket
	}
	t0 := time.Now()
	s.Err = blobRoundTrip(ctx, r.e.Blob)
	s.RoundTrip = time.Since(t0)
	if u, ok, err := blob.DiskUsage(r.e.Blob); ok {
		s.Disk, s.DiskErr = &httpd.DiskUsage{Used: u.Used, Free: u.Free, Total: u.Total}, err
	}
	return s
}

// blobRoundTrip writes a small object under a key of its own
// (status/<random>), reads it back, compares and deletes it.
func blobRoundTrip(ctx context.Context, st blob.Store) error {
	var b [16]byte
	rand.Read(b[:])
	key := "status/" + hex.EncodeToString(b[:])
	want := []byte("diwan status check " + key)
	if _, err := st.PutKey(ctx, key, bytes.NewReader(want), int64(len(want))); err != nil {
		return fmt.Errorf("status check: put: %w", err)
	}
	rc, err := st.Open(ctx, key)
	if err == nil {
		var got []byte
		got, err = io.ReadAll(rc)
		rc.Close()
		if err == nil && !bytes.Equal(got, want) {
			err = fmt.Errorf("read back %d bytes that differ from the %d written", len(got), len(want))
		}
	}
	if derr := st.Delete(context.WithoutCancel(ctx), key); err == nil && derr != nil {
		err = fmt.Errorf("delete: %w", derr)
	}
	if err != nil {
		return fmt.Errorf("status check: %w", err)
	}
	return nil
}
