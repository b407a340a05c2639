package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"diwan.gov.sy/diwan/internal/app"
	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/delivery"
	"diwan.gov.sy/diwan/internal/delivery/deliverytest"
	"diwan.gov.sy/diwan/internal/policy"
)

// relayNode is a node whose mail for moh.gov.sy goes to rem
// (delivery.transports), retried every second, without TLS (the fake
// remote has none) and without an inbound listener (the remote shares its
// address: that would be a loop).
func relayNode(t *testing.T, b backend, rem *deliverytest.Remote, edit func(*config.Config)) *node {
	t.Helper()
	return startNode(t, b, func(cfg *config.Config) {
		cfg.SMTP.InboundAddr = ""
		cfg.Delivery.Transports = map[string]string{"moh.gov.sy": rem.Addr}
		cfg.Delivery.RequireTLS = false
		cfg.Delivery.RetryIntervals = []config.Duration{config.Duration(time.Second)}
		if edit != nil {
			edit(cfg)
		}
	})
}

// sendTo submits a small message from ali to the recipients.
func (n *node) sendTo(t *testing.T, subject string, to ...string) {
	t.Helper()
	c, err := gosmtp.DialStartTLS(n.submission, insecure)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "ali@mof.gov.sy", aliPassword)); err != nil {
		t.Fatal(err)
	}
	msg := "From: ali@mof.gov.sy\r\nTo: " + strings.Join(to, ", ") + "\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@mof.gov.sy>\r\n\r\nHello.\r\n"
	if err := c.SendMail("ali@mof.gov.sy", to, strings.NewReader(msg)); err != nil {
		t.Fatalf("submit %s: %v", subject, err)
	}
}

// until waits for cond, failing the test with what it last said.
func until(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// inboxMessages returns the raw messages of user's INBOX.
func (n *node) inboxMessages(t *testing.T, user, password string) [][]byte {
	t.Helper()
	c := n.imapLogin(t, user, password)
	defer c.Logout()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var set imap.SeqSet
	set.AddRange(1, sel.NumMessages)
	msgs, err := c.Fetch(set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		for _, b := range m.BodySection {
			out = append(out, b.Bytes)
		}
	}
	return out
}

// bounces returns the DSNs in ali's INBOX.
func (n *node) bounces(t *testing.T) []deliverytest.Report {
	t.Helper()
	var out []deliverytest.Report
	for _, raw := range n.inboxMessages(t, "ali@mof.gov.sy", aliPassword) {
		if rep, err := deliverytest.ParseDSN(raw); err == nil {
			out = append(out, rep)
		} else {
			t.Logf("not a DSN: %v", err)
		}
	}
	return out
}

// A remote that answers 451 then 250: the message is delivered on the
// retry, once, and no bounce is sent.
func TestDeliveryRetriesAfter451ThenDelivers(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rem := deliverytest.NewRemote(t)
			var tries int
			rem.Set(nil, func() *gosmtp.SMTPError {
				tries++
				if tries == 1 {
					return deliverytest.Reply(451, gosmtp.EnhancedCode{4, 3, 0}, "try again later")
				}
				return nil
			})
			n := relayNode(t, b, rem, nil)
			n.sendTo(t, "retry", "omar@moh.gov.sy")
			until(t, 30*time.Second, "delivered on the retry", func() bool { return len(rem.Messages()) == 1 })
			got := rem.Messages()[0]
			if got.From != "ali@mof.gov.sy" || len(got.To) != 1 || got.To[0] != "omar@moh.gov.sy" {
				t.Fatalf("remote got MAIL FROM %q RCPT %v", got.From, got.To)
			}
			if !bytes.Contains(got.Raw, []byte("Subject: retry")) {
				t.Fatalf("remote got another message:\n%s", got.Raw)
			}
			if tries != 2 {
				t.Fatalf("%d DATA transactions, want 2", tries)
			}
			if bs := n.bounces(t); len(bs) != 0 {
				t.Fatalf("%d bounces after a delivery", len(bs))
			}
		})
	}
}

// A 550 for the recipient: the sender gets a bounce in their INBOX, a DSN
// naming the recipient with a 5.x.x status, and the message is not tried
// again.
func TestDeliveryBouncesOn550IntoSendersInbox(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rem := deliverytest.NewRemote(t)
			rem.Set(func(string) *gosmtp.SMTPError {
				return deliverytest.Reply(550, gosmtp.EnhancedCode{5, 1, 1}, "no such user")
			}, nil)
			n := relayNode(t, b, rem, nil)
			n.sendTo(t, "bounce", "nobody@moh.gov.sy")
			var bs []deliverytest.Report
			until(t, 30*time.Second, "a bounce in ali's INBOX", func() bool { bs = n.bounces(t); return len(bs) > 0 })
			h, ok := bs[0].Recipients["nobody@moh.gov.sy"]
			if !ok || h.Get("Action") != "failed" || !strings.HasPrefix(h.Get("Status"), "5.1.1") {
				t.Fatalf("DSN recipients %v, want nobody@moh.gov.sy failed 5.1.1", bs[0].Recipients)
			}
			if len(rem.Messages()) != 0 {
				t.Fatal("the remote took a message it refused")
			}
		})
	}
}

// One of two recipients refused with 550: only that one bounces; the
// other is delivered.
func TestDeliveryBouncesOnlyTheRecipientRefused(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rem := deliverytest.NewRemote(t)
			rem.Set(func(to string) *gosmtp.SMTPError {
				if strings.HasPrefix(to, "gone@") {
					return deliverytest.Reply(550, gosmtp.EnhancedCode{5, 1, 1}, "no such user")
				}
				return nil
			}, nil)
			n := relayNode(t, b, rem, nil)
			n.sendTo(t, "half", "omar@moh.gov.sy", "gone@moh.gov.sy")
			var bs []deliverytest.Report
			until(t, 30*time.Second, "a bounce in ali's INBOX", func() bool { bs = n.bounces(t); return len(bs) > 0 })
			if len(bs[0].Recipients) != 1 || bs[0].Recipients["gone@moh.gov.sy"] == nil {
				t.Fatalf("DSN recipients %v, want only gone@moh.gov.sy", bs[0].Recipients)
			}
			got := rem.Messages()
			if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "omar@moh.gov.sy" {
				t.Fatalf("remote got %v, want one message for omar@moh.gov.sy", got)
			}
		})
	}
}

// queueOf opens the node's outbound queue beside it, as an admin command
// does.
func (n *node) queueOf(t *testing.T) (*app.Env, *delivery.Queue) {
	t.Helper()
	e, err := app.Open(context.Background(), n.cfg, slog.New(slog.DiscardHandler), false, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	q, _, release, err := e.OpenQueue(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release(); e.Close() })
	return e, q
}

// pending counts the queue's pending entries.
func pending(t *testing.T, q *delivery.Queue) int64 {
	t.Helper()
	_, n, err := q.List(context.Background(), delivery.ListOptions{State: delivery.StatePending})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Messages queued while the remote refuses stay queued across a stop;
// started again, the node delivers each of them once.
func TestDeliveryResumesAfterRestartAndDeliversOnce(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rem := deliverytest.NewRemote(t)
			rem.Set(nil, func() *gosmtp.SMTPError {
				return deliverytest.Reply(421, gosmtp.EnhancedCode{4, 3, 2}, "closing for maintenance")
			})
			n := relayNode(t, b, rem, nil)
			n.sendTo(t, "first", "omar@moh.gov.sy")
			n.sendTo(t, "second", "huda@moh.gov.sy")
			until(t, 30*time.Second, "both tried once", func() bool { return len(rem.Mails()) >= 2 })
			if err := n.stop(); err != nil {
				t.Fatal(err)
			}
			rem.Set(nil, nil)
			n = serveNode(t, n.cfg)
			until(t, 30*time.Second, "both delivered after the restart", func() bool { return len(rem.Messages()) >= 2 })
			_, q := n.queueOf(t)
			until(t, 10*time.Second, "the queue empty", func() bool { return pending(t, q) == 0 })
			got := map[string]int{}
			for _, m := range rem.Messages() {
				got[m.To[0]]++
			}
			if len(rem.Messages()) != 2 || got["omar@moh.gov.sy"] != 1 || got["huda@moh.gov.sy"] != 1 {
				t.Fatalf("remote got %v, want each message once", got)
			}
		})
	}
}

// A deny rule added while a message waits for its retry stops it: the
// sender gets a bounce naming the rule, and the refusal is audited.
func TestDeliveryBouncesMessageDeniedWhileQueued(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rem := deliverytest.NewRemote(t)
			rem.Set(nil, func() *gosmtp.SMTPError { return deliverytest.Reply(451, gosmtp.EnhancedCode{4, 3, 0}, "busy") })
			n := relayNode(t, b, rem, nil)
			n.sendTo(t, "denied", "omar@moh.gov.sy")
			until(t, 30*time.Second, "tried once", func() bool { return len(rem.Mails()) >= 1 })
			e, _ := n.queueOf(t)
			ctx := context.Background()
			since := time.Now().Add(-time.Minute)
			if _, err := e.Policy.Deny(ctx, "cli:test", "moh.gov.sy", "closed network"); err != nil {
				t.Fatal(err)
			}
			var bs []deliverytest.Report
			until(t, 30*time.Second, "a bounce in ali's INBOX", func() bool { bs = n.bounces(t); return len(bs) > 0 })
			h := bs[0].Recipients["omar@moh.gov.sy"]
			if h == nil || !strings.HasPrefix(h.Get("Status"), "5.7.1") || !strings.Contains(h.Get("Diagnostic-Code"), "deny:moh.gov.sy") {
				t.Fatalf("DSN recipients %v, want omar@moh.gov.sy 5.7.1 naming deny:moh.gov.sy", bs[0].Recipients)
			}
			until(t, 10*time.Second, "the refusal audited", func() bool {
				v, err := policy.Summarize(ctx, e.Audit, since, time.Now().Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range v.ByDomain {
					if c.Key == "moh.gov.sy" && c.ByReason[policy.ReasonPolicy] > 0 {
						return true
					}
				}
				return false
			})
		})
	}
}

// A message accepted is pushed to the worker, not found by a poll (River
// polls every 500 ms): the remote sees MAIL FROM within tens of
// milliseconds of the 250. Each message is sent while no job runs, so
// that no other job's end wakes the worker for it.
func TestDeliveryStartsWithinTensOfMillisecondsOfAcceptance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rem := deliverytest.NewRemote(t)
			n := relayNode(t, b, rem, nil)
			e, _ := n.queueOf(t)
			const count = 20
			lat := make([]time.Duration, 0, count)
			for i := range count {
				until(t, 10*time.Second, "no job waiting or running", func() bool {
					var busy int64
					err := e.DB.Reader().Raw("SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'running')").Scan(&busy).Error
					return err == nil && busy == 0
				})
				n.sendTo(t, fmt.Sprintf("push%d", i), "omar@moh.gov.sy")
				accepted := time.Now()
				var at time.Time
				until(t, 10*time.Second, "MAIL FROM at the remote", func() bool {
					if m := rem.Mails(); len(m) > i {
						at = m[i]
						return true
					}
					return false
				})
				lat = append(lat, at.Sub(accepted))
			}
			slices.Sort(lat)
			p50, p90 := lat[count/2], lat[count*9/10]
			t.Logf("%s: 250 → MAIL FROM at the remote: p50 %s, p90 %s, max %s", b.name, p50, p90, lat[count-1])
			if p50 > 100*time.Millisecond {
				t.Fatalf("p50 %s from the 250 to the remote's MAIL FROM, want under 100ms", p50)
			}
		})
	}
}

// Mail from the null sender <> (itself a bounce or a receipt) is never
// bounced (RFC 5321 §4.5.5): refused by the remote, it is given up
// silently, even when it names a local user.
func TestDeliveryNeverBouncesTheNullSender(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rem := deliverytest.NewRemote(t)
			rem.Set(func(string) *gosmtp.SMTPError {
				return deliverytest.Reply(550, gosmtp.EnhancedCode{5, 1, 1}, "no such user")
			}, nil)
			n := relayNode(t, b, rem, nil)
			e, q := n.queueOf(t)
			ctx := context.Background()
			ali, err := e.Directory.UserByLogin(ctx, "ali@mof.gov.sy")
			if err != nil {
				t.Fatal(err)
			}
			msg := "From: MAILER-DAEMON@mof.gov.sy\r\nSubject: receipt\r\n\r\nreceipt\r\n"
			if err := q.Enqueue(ctx, delivery.Message{UserID: ali.ID, From: "", To: []string{"nobody@moh.gov.sy"}},
				strings.NewReader(msg), int64(len(msg))); err != nil {
				t.Fatal(err)
			}
			until(t, 30*time.Second, "the entry given up", func() bool {
				l, _, err := q.List(ctx, delivery.ListOptions{State: delivery.StateFailed})
				return err == nil && len(l) == 1
			})
			// The sender's notice, if one were sent, is delivered before
			// the entry's state is read back: none may be there now.
			if msgs := n.inboxMessages(t, "ali@mof.gov.sy", aliPassword); len(msgs) != 0 {
				t.Fatalf("%d messages in ali's INBOX after a refused <> message, want none", len(msgs))
			}
		})
	}
}

// A message still waiting after delivery.delay_notice gets its sender one
// "delayed" notice, however many attempts follow.
func TestDeliverySendsOneDelayNotice(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rem := deliverytest.NewRemote(t)
			rem.Set(nil, func() *gosmtp.SMTPError { return deliverytest.Reply(451, gosmtp.EnhancedCode{4, 4, 1}, "no answer") })
			n := relayNode(t, b, rem, func(cfg *config.Config) { cfg.Delivery.DelayNotice = config.Duration(time.Second) })
			n.sendTo(t, "slow", "omar@moh.gov.sy")
			var bs []deliverytest.Report
			until(t, 30*time.Second, "a delay notice", func() bool { bs = n.bounces(t); return len(bs) > 0 })
			h := bs[0].Recipients["omar@moh.gov.sy"]
			if h == nil || h.Get("Action") != "delayed" || !strings.HasPrefix(h.Get("Status"), "4.") || h.Get("Will-Retry-Until") == "" {
				t.Fatalf("notice recipients %v, want omar@moh.gov.sy delayed 4.x.x with Will-Retry-Until", bs[0].Recipients)
			}
			tries := len(rem.Mails())
			until(t, 30*time.Second, "two more attempts", func() bool { return len(rem.Mails()) >= tries+2 })
			if bs := n.bounces(t); len(bs) != 1 {
				t.Fatalf("%d notices after more attempts, want 1", len(bs))
			}
		})
	}
}

// The sweep removes a queued message no entry needs (its recording
// failed after the blob was stored) and keeps one still pending; a sent
// message's blob is removed once sent.
func TestDeliverySweepRemovesOnlyUnneededMessages(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rem := deliverytest.NewRemote(t)
			rem.Set(nil, func() *gosmtp.SMTPError { return deliverytest.Reply(451, gosmtp.EnhancedCode{4, 3, 0}, "busy") })
			n := relayNode(t, b, rem, nil)
			n.sendTo(t, "kept", "omar@moh.gov.sy")
			e, q := n.queueOf(t)
			ctx := context.Background()
			const orphan = "relay/00/00/00000000000000000000000000000000"
			if _, err := e.Blob.PutKey(ctx, orphan, strings.NewReader("x"), 1); err != nil {
				t.Fatal(err)
			}
			relayBlobs := func() []string {
				var keys []string
				if err := e.Blob.List(ctx, "relay/", func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
					t.Fatal(err)
				}
				return keys
			}
			if got := relayBlobs(); len(got) != 2 {
				t.Fatalf("relay blobs before the sweep: %v", got)
			}
			removed, err := q.Sweep(ctx, time.Now().Add(time.Minute))
			if err != nil || removed != 1 {
				t.Fatalf("sweep removed %d (%v), want the orphan", removed, err)
			}
			if got := relayBlobs(); len(got) != 1 || got[0] == orphan {
				t.Fatalf("relay blobs after the sweep: %v, want the pending message's", got)
			}
			rem.Set(nil, nil)
			l, _, err := q.List(ctx, delivery.ListOptions{})
			if err != nil || len(l) != 1 {
				t.Fatal(l, err)
			}
			if err := q.Retry(ctx, "cli:test", l[0].ID); err != nil {
				t.Fatal(err)
			}
			until(t, 30*time.Second, "the message sent and its blob removed", func() bool {
				return len(rem.Messages()) == 1 && len(relayBlobs()) == 0
			})
		})
	}
}
