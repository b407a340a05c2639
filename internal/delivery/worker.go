package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/policy"
)

// worker sends one job: the pending entries of one message for one
// domain.
type worker struct {
	river.WorkerDefaults[sendArgs]
	e *engine
}

// fate is what became of one entry in an attempt.
type fate struct {
	state  string // StateSent, StateFailed, or StatePending (try again)
	reply  string // the remote's reply, or the reason
	status string // enhanced status code ("5.1.1", "4.4.1")
	remote string // the host that answered; "" when none did
}

// Work routes and sends the job's pending entries, records each one's
// fate, bounces what failed and, while some remain, snoozes the job
// until the next attempt of the retry schedule.
func (w *worker) Work(ctx context.Context, job *river.Job[sendArgs]) error {
	e := w.e
	rows, err := e.pendingRows(ctx, job.Args)
	if err != nil || len(rows) == 0 {
		return err
	}
	now := e.now().UTC().Truncate(time.Microsecond)
	out := e.attempt(ctx, rows, now)
	if ctx.Err() != nil {
		// Stopping: this attempt does not count; the job runs again at
		// the next start.
		return river.JobSnooze(0)
	}
	delay := e.settle(rows, out, now)
	notice := e.delayNotice(rows, out, now)
	// The sender is told before the outcome is recorded: a notice is never
	// lost to a crash in between (at worst it is sent twice).
	e.tellSender(ctx, rows, out, notice, now)
	applied, err := e.record(ctx, rows, out, notice, now, delay)
	if err != nil {
		return err
	}
	e.afterAttempt(ctx, rows, out, applied)
	for i := range rows {
		if applied[i] && out[i].state == StatePending {
			return river.JobSnooze(delay)
		}
	}
	return nil
}

// pendingRows loads the job's entries still pending: its message's, for
// its domain.
func (e *engine) pendingRows(ctx context.Context, a sendArgs) ([]relayRow, error) {
	var rows []relayRow
	err := e.db.Writer().WithContext(ctx).Where("blob_key = ? AND domain = ? AND state = ?", a.BlobKey, a.Domain, StatePending).
		Order("id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("delivery: load entries of %s for %s: %w", a.BlobKey, a.Domain, err)
	}
	return rows, nil
}

// every gives all rows the same fate.
func every(rows []relayRow, o fate) []fate {
	out := make([]fate, len(rows))
	for i := range out {
		out[i] = o
	}
	return out
}

// attempt asks the policy again, routes the domain and sends.
func (e *engine) attempt(ctx context.Context, rows []relayRow, now time.Time) []fate {
	first := rows[0]
	if o, refused := e.checkPolicy(ctx, rows); refused {
		return every(rows, o)
	}
	hops, err := e.o.Router.Route(ctx, first.Domain)
	switch {
	case errors.Is(err, ErrNoMailDomain):
		return every(rows, fate{state: StateFailed, status: "5.1.2", reply: "no mail server for " + first.Domain + ": " + err.Error()})
	case errors.Is(err, ErrLoop):
		return every(rows, fate{state: StateFailed, status: "5.4.6", reply: "routing loop: " + err.Error()})
	case err != nil:
		return every(rows, fate{state: StatePending, status: "4.4.3", reply: "routing " + first.Domain + ": " + err.Error()})
	}
	env := Envelope{From: first.MailFrom, UTF8: first.Smtputf8, Size: first.Size}
	for _, r := range rows {
		env.To = append(env.To, r.RcptTo)
	}
	results, remote := e.o.Sender.Send(ctx, hops, env, func() (io.ReadCloser, error) {
		return e.blobs.Open(ctx, first.BlobKey)
	})
	byTo := make(map[string]RcptResult, len(results))
	for _, r := range results {
		byTo[r.To] = r
	}
	out := make([]fate, len(rows))
	for i, r := range rows {
		res, ok := byTo[r.RcptTo]
		switch {
		case !ok:
			out[i] = fate{state: StatePending, status: "4.4.0", reply: "no answer for this recipient", remote: remote}
		case res.Delivered:
			out[i] = fate{state: StateSent, status: res.Status, reply: res.Reply, remote: remote}
		case res.Permanent:
			out[i] = fate{state: StateFailed, status: res.Status, reply: res.Reply, remote: remote}
		default:
			out[i] = fate{state: StatePending, status: res.Status, reply: res.Reply, remote: remote}
		}
	}
	return out
}

// checkPolicy asks the national policy about the domain now: a rule added
// since the message was accepted stops it (refused, audited as the SMTP
// path audits its refusals). A policy that cannot answer is a temporary
// failure.
func (e *engine) checkPolicy(ctx context.Context, rows []relayRow) (fate, bool) {
	first := rows[0]
	d, err := e.o.Policy.Decide(ctx, policy.Outbound, first.Domain)
	if err != nil {
		e.log.Error("delivery: policy check", slog.String("domain", first.Domain), slog.Any("err", err))
		return fate{state: StatePending, status: "4.3.0", reply: "policy check failed"}, true
	}
	if d.Allow {
		return fate{}, false
	}
	for _, r := range rows {
		ref := policy.Refusal{Reason: policy.ReasonPolicy, Rule: d.Rule, Listener: "delivery", User: r.MailFrom,
			From: r.MailFrom, To: r.RcptTo, Domain: d.Domain}
		if err := e.o.Policy.RecordRefusal(ctx, ref); err != nil {
			e.log.Error("delivery: refusal not recorded", slog.Any("refusal", ref), slog.Any("err", err))
		}
	}
	return fate{state: StateFailed, status: "5.7.1",
		reply: fmt.Sprintf("refused by the national mail policy (rule %s): %s is not a national domain", d.Rule, first.Domain)}, true
}

// settle turns what is still pending past delivery.max_age into failures
// and returns the wait before the next attempt: the retry schedule's
// interval for the attempt made, never past max_age.
func (e *engine) settle(rows []relayRow, out []fate, now time.Time) time.Duration {
	deadline := rows[0].CreatedAt.Add(e.o.MaxAge)
	attempts := 0
	for i, r := range rows {
		attempts = max(attempts, r.Attempts+1)
		if out[i].state == StatePending && !now.Before(deadline) {
			out[i].state = StateFailed
			out[i].reply = "gave up after " + e.o.MaxAge.String() + "; last: " + out[i].reply
			out[i].status = "4.4.7"
		}
	}
	iv := e.o.RetryIntervals
	delay := iv[min(attempts-1, len(iv)-1)]
	if left := deadline.Sub(now); left < delay {
		delay = max(left, time.Second)
	}
	return delay
}

// delayNotice reports which entries get their one delay notice now.
func (e *engine) delayNotice(rows []relayRow, out []fate, now time.Time) []bool {
	n := make([]bool, len(rows))
	for i, r := range rows {
		n[i] = e.o.DelayNotice > 0 && out[i].state == StatePending && !r.DelayNotified &&
			now.Sub(r.CreatedAt) >= e.o.DelayNotice
	}
	return n
}

// record writes each entry's fate in one transaction, only onto entries
// still pending (one dropped meanwhile keeps its state); applied says
// which were written.
func (e *engine) record(ctx context.Context, rows []relayRow, out []fate, notice []bool, now time.Time, delay time.Duration) ([]bool, error) {
	applied := make([]bool, len(rows))
	err := e.db.Transaction(ctx, func(tx *gorm.DB) error {
		for i, r := range rows {
			o := out[i]
			set := map[string]any{"state": o.state, "attempts": gorm.Expr("attempts + 1"), "last_attempt_at": now,
				"last_error": o.reply, "status": o.status, "remote_mta": o.remote}
			if o.state == StatePending {
				set["next_attempt_at"] = now.Add(delay)
			} else {
				set["done_at"] = now
			}
			if o.state == StateSent {
				set["last_error"] = ""
			}
			if notice[i] {
				set["delay_notified"] = true
			}
			res := tx.Model(&relayRow{}).Where("id = ? AND state = ?", r.ID, StatePending).Updates(set)
			if res.Error != nil {
				return res.Error
			}
			applied[i] = res.RowsAffected == 1
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("delivery: record the attempt for %s: %w", rows[0].Domain, err)
	}
	return applied, nil
}

// tellSender sends the bounce of what failed and the delay notice of
// what waits past delivery.delay_notice.
func (e *engine) tellSender(ctx context.Context, rows []relayRow, out []fate, notice []bool, now time.Time) {
	var failed, delayed []int
	for i := range rows {
		if out[i].state == StateFailed {
			failed = append(failed, i)
		}
		if notice[i] {
			delayed = append(delayed, i)
		}
	}
	e.notify(ctx, rows, out, failed, "failed", now)
	e.notify(ctx, rows, out, delayed, "delayed", now)
}

// afterAttempt counts and logs the outcomes recorded, and removes the
// message once no entry needs it.
func (e *engine) afterAttempt(ctx context.Context, rows []relayRow, out []fate, applied []bool) {
	for i, r := range rows {
		if !applied[i] {
			continue
		}
		o := out[i]
		if e.metrics != nil {
			e.metrics.count(o.state, r.Domain)
		}
		e.log.Info("delivery: attempt", slog.Int64("id", r.ID), slog.String("to", r.RcptTo), slog.String("state", o.state),
			slog.String("status", o.status), slog.String("reply", o.reply), slog.String("remote", o.remote))
	}
	e.dropBlobWhenDone(ctx, rows[0].BlobKey)
}

// dropBlobWhenDone removes the message from the blob store once none of
// its entries is pending.
func (e *engine) dropBlobWhenDone(ctx context.Context, key string) {
	var n int64
	if err := e.db.Writer().WithContext(ctx).Model(&relayRow{}).Where("blob_key = ? AND state = ?", key, StatePending).
		Count(&n).Error; err != nil || n > 0 {
		return
	}
	if err := e.blobs.Delete(ctx, key); err != nil {
		e.log.Warn("delivery: remove a sent message", slog.String("key", key), slog.Any("err", err))
	}
}
