package httpd

// The status page (/admin/status, DESIGN.md §3a): what this process
// listens on, whether its database and blob store answer and how fast,
// the schema's version, the outbound queue's length and its oldest
// waiting recipient, the disk use of the filesystem blob store, and the
// build. The process's facts come from internal/app (Options.Status); the
// queue's from the same queue as /admin/queue. Only the instance's
// administrators see it: both refuse anyone else, who finds no such page.
// The errors behind a failed check go to the log, the page says which
// check failed.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/delivery"
	"diwan.gov.sy/diwan/internal/directory"
)

// StatusReport is what the process tells the status page about itself;
// internal/app builds one per request. A check that failed carries its
// error, which the page logs and does not show.
type StatusReport struct {
	Version, Commit string
	Started         time.Time
	Listeners       []ListenerStatus
	Database        DatabaseStatus
	Blob            BlobStatus
}

// Listener roles (ListenerStatus.Role), in the order of the page.
const (
	ListenerSMTPInbound     = "smtp_inbound"     // smtp.inbound_addr, MX (25)
	ListenerSMTPSubmission  = "smtp_submission"  // smtp.submission_addr, 587 STARTTLS
	ListenerSMTPSubmissions = "smtp_submissions" // smtp.submissions_addr, 465 TLS
	ListenerIMAP            = "imap"             // imap.addr, 143 STARTTLS
	ListenerIMAPS           = "imaps"            // imap.tls_addr, 993
	ListenerHTTPS           = "https"            // http.addr with http.tls
	ListenerHTTP            = "http"             // http.addr without TLS (behind a proxy)
)

// ListenerStatus is one protocol listener: the address configured ("":
// turned off) and the one actually bound ("": not listening).
type ListenerStatus struct {
	Role       string
	Configured string
	Bound      string
}

// DatabaseStatus is the database's health.
type DatabaseStatus struct {
	Driver string        // sqlite or postgres
	Addr   string        // file or host:port, without a password
	Ping   time.Duration // one round trip (SELECT 1)
	Err    error         // the ping's failure
	// Schema is the version of the last migration applied, Latest the
	// newest this build knows (they differ while migrations are pending).
	Schema, Latest int64
	SchemaErr      error
}

// BlobStatus is the blob store's health: a small object written, read
// back and deleted.
type BlobStatus struct {
	Kind      string // fs or s3
	Where     string // the directory, or the endpoint and bucket
	RoundTrip time.Duration
	Err       error
	// Disk is the filesystem of an fs store (nil for s3).
	Disk    *DiskUsage
	DiskErr error
}

// DiskUsage is a filesystem's space, in bytes.
type DiskUsage struct{ Used, Free, Total int64 }

// statusPageData is what admin_status.html shows.
type statusPageData struct {
	Report    *StatusReport // nil when this server was given no Status
	Uptime    string
	Queue     *queueStatus // nil when this server has no queue
	QueueFail bool
}

// queueStatus is the delivery queue's length and the age of its oldest
// pending recipient.
type queueStatus struct {
	Pending   int64
	OldestAge string // "" when nothing is pending
}

// statusPage shows the status of this process. Status and the queue
// decide who may read them: anyone they refuse finds no such page.
func (s *Server) statusPage(c *gin.Context) {
	who, ok := s.callerForPage(c)
	if !ok {
		return
	}
	p := s.newAdminPage(c, "status")
	d := &statusPageData{}
	p.Data = d
	ctx := c.Request.Context()
	if s.opts.Status != nil {
		r, err := s.opts.Status(ctx, who)
		if err != nil {
			s.uiStatusFail(c, "report the status", err)
			return
		}
		d.Report = &r
		if !r.Started.IsZero() {
			d.Uptime = time.Since(r.Started).Round(time.Second).String()
		}
		s.logStatusErrors(ctx, &r)
	}
	if s.opts.Queue != nil {
		q, err := s.pendingQueue(ctx, who)
		if errors.Is(err, delivery.ErrForbidden) {
			s.uiStatusFail(c, "read the outbound queue", err)
			return
		}
		if err != nil {
			s.log.ErrorContext(ctx, "status: the outbound queue", "error", err)
			d.QueueFail = true
		}
		d.Queue = q
	}
	s.render(c, http.StatusOK, "admin_status", p)
}

// uiStatusFail answers a failure to read the status: for a caller it is
// refused to, the page does not exist (404).
func (s *Server) uiStatusFail(c *gin.Context, doing string, err error) {
	if errors.Is(err, directory.ErrForbidden) || errors.Is(err, delivery.ErrForbidden) {
		s.uiNotFound(c)
		return
	}
	s.uiInternal(c, doing, err)
}

// pendingQueue reads the pending entries' count and the oldest of them
// (the queue lists oldest first): one page of one entry.
func (s *Server) pendingQueue(ctx context.Context, who directory.Principal) (*queueStatus, error) {
	es, total, err := s.opts.Queue.ListAs(ctx, who, delivery.ListOptions{State: delivery.StatePending, Limit: 1})
	if err != nil {
		return nil, err
	}
	q := &queueStatus{Pending: total}
	if len(es) > 0 {
		q.OldestAge = max(0, time.Since(es[0].CreatedAt)).Round(time.Second).String()
	}
	return q, nil
}

// logStatusErrors logs each failed check of r once.
func (s *Server) logStatusErrors(ctx context.Context, r *StatusReport) {
	for what, err := range map[string]error{
		"database": r.Database.Err, "schema version": r.Database.SchemaErr,
		"blob store": r.Blob.Err, "disk use": r.Blob.DiskErr,
	} {
		if err != nil {
			s.log.ErrorContext(ctx, "status: "+what, "error", err)
		}
	}
}

// Millis is a duration in milliseconds, to a tenth.
func (d DatabaseStatus) Millis() string { return statusMillis(d.Ping) }

// Millis is the round trip in milliseconds, to a tenth.
func (b BlobStatus) Millis() string { return statusMillis(b.RoundTrip) }

func statusMillis(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

// UsedPercent is the share of the filesystem in use, in whole percent.
func (u DiskUsage) UsedPercent() int64 {
	if u.Total <= 0 {
		return 0
	}
	return u.Used * 100 / u.Total
}

// Size writes a number of bytes for people, as attachments' sizes are
// written, with terabytes: "512 B", "3.4 GB", "1.2 TB".
func (u DiskUsage) Size(n int64) string {
	if n >= 1e12 {
		return fmt.Sprintf("%.1f TB", float64(n)/1e12)
	}
	return byteSize(n)
}
