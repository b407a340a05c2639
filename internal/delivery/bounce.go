package delivery

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"time"
)

// headerLimit bounds the original header section put into a bounce.
const headerLimit = 64 << 10

// notify sends the sender one DSN (action "failed" or "delayed") for the
// entries idx of one message, into their INBOX. Mail from the null sender
// <> (itself a bounce or a receipt) never gets one (RFC 5321 §4.5.5), nor
// does a sender who is not a local user.
func (e *engine) notify(ctx context.Context, rows []relayRow, out []fate, idx []int, action string, now time.Time) {
	if len(idx) == 0 {
		return
	}
	first := rows[idx[0]]
	if first.MailFrom == "" {
		return
	}
	log := e.log.With(slog.String("from", first.MailFrom), slog.String("action", action), slog.String("key", first.BlobKey))
	if first.UserID == nil {
		log.Warn("delivery: no local user to notify")
		return
	}
	d := DSN{ReportingMTA: e.o.Hostname, To: first.MailFrom, ArrivalDate: first.CreatedAt,
		OriginalHeader: e.originalHeader(ctx, first.BlobKey), Now: now}
	for _, i := range idx {
		r, o := rows[i], out[i]
		d.Recipients = append(d.Recipients, DSNRecipient{Recipient: r.RcptTo, Action: action, Status: o.status,
			RemoteMTA: o.remote, Diagnostic: o.reply, LastAttempt: now, RetryUntil: r.CreatedAt.Add(e.o.MaxAge)})
	}
	raw, err := d.Build()
	if err == nil {
		err = e.o.Mailbox.Deliver(ctx, []int64{*first.UserID}, bytes.NewReader(raw))
	}
	if err != nil {
		log.Error("delivery: notice to the sender not delivered", slog.Any("err", err))
		return
	}
	if e.metrics != nil && action == "failed" {
		e.metrics.bounces.Inc()
	}
}

// originalHeader is the header section of the queued message (nil when
// it cannot be read: the bounce goes without it).
func (e *engine) originalHeader(ctx context.Context, key string) []byte {
	rc, err := e.blobs.Open(ctx, key)
	if err != nil {
		e.log.Warn("delivery: read the message for its header", slog.String("key", key), slog.Any("err", err))
		return nil
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, headerLimit))
	if err != nil {
		return nil
	}
	for _, sep := range [][]byte{[]byte("\r\n\r\n"), []byte("\n\n")} {
		if i := bytes.Index(b, sep); i >= 0 {
			return b[:i+len(sep)/2]
		}
	}
	return b
}
