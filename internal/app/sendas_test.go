package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"diwan.gov.sy/diwan/internal/app"
	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/policy"
	"diwan.gov.sy/diwan/internal/workflow"
)

const clerkPassword = "clerk password long"

// seedRegistries adds the registries MOF (diwan@mof.gov.sy) and MOF2
// (diwan2@mof.gov.sy) with their clerks clerk@ and clerk2@mof.gov.sy.
func seedRegistries(t *testing.T) func(context.Context, *app.Env) {
	return func(ctx context.Context, e *app.Env) {
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		op := workflow.OperatorActor("cli:test")
		for _, r := range []workflow.Registry{
			{Code: "MOF", Ministry: "MOF", NameAR: "ديوان المالية", NameEN: "MOF registry", Address: "diwan@mof.gov.sy"},
			{Code: "MOF2", Ministry: "MOF", NameAR: "ديوان ٢", NameEN: "MOF registry 2", Address: "diwan2@mof.gov.sy"},
		} {
			_, err := e.Workflow.AddRegistry(ctx, op, r)
			must(err)
		}
		for login, reg := range map[string]string{"clerk@mof.gov.sy": "MOF", "clerk2@mof.gov.sy": "MOF2"} {
			_, err := e.Directory.AddUser(ctx, "cli:test", directory.NewUser{Address: login, Name: login, Ministry: "MOF",
				Roles: []string{"clerk"}, Password: clerkPassword})
			must(err)
			_, err = e.Workflow.SetMembership(ctx, op, login, workflow.MembershipChange{AddRegistry: reg})
			must(err)
		}
	}
}

// submitAs submits msg on the node's submission listener as login, with
// the envelope sender from, to sara@mof.gov.sy; the first refusal is
// returned.
func (n *node) submitAs(login, password, from, msg string) error {
	c, err := smtp.Dial(n.submission)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.StartTLS(insecure); err != nil {
		return err
	}
	if err := c.Auth(smtp.PlainAuth("", login, password, "127.0.0.1")); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt("sara@mof.gov.sy"); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// refusedSendAs fails the test unless err is the send-as refusal.
func refusedSendAs(t *testing.T, what string, err error) {
	t.Helper()
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 550 || !strings.Contains(te.Msg, "5.7.1 You may not send as <diwan@mof.gov.sy>") {
		t.Errorf("%s: %v, want 550 5.7.1 You may not send as <diwan@mof.gov.sy>", what, err)
	}
}

// TestSubmissionSendsAsRegistryForItsClerksOnly: a registry's clerk may
// submit mail whose envelope sender, header From (and Sender) are the
// registry's mailbox (DESIGN.md §4); a user who is no clerk, and a clerk
// of another registry, get the send-as refusal, audited as spoofing.
func TestSubmissionSendsAsRegistryForItsClerksOnly(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			n := startSeededNode(t, b, nil, seedRegistries(t))
			msg := func(subject string, extra string) string {
				return "From: MOF registry <diwan@mof.gov.sy>\r\n" + extra + "To: sara@mof.gov.sy\r\nSubject: " + subject +
					"\r\nMessage-ID: <" + subject + "@mof.gov.sy>\r\n\r\nregistry mail\r\n"
			}
			if err := n.submitAs("clerk@mof.gov.sy", clerkPassword, "diwan@mof.gov.sy", msg("envelope", "")); err != nil {
				t.Fatalf("clerk as the registry: %v", err)
			}
			if err := n.submitAs("clerk@mof.gov.sy", clerkPassword, "diwan@mof.gov.sy",
				msg("sender", "Sender: clerk@mof.gov.sy\r\n")); err != nil {
				t.Fatalf("clerk as the registry with Sender: %v", err)
			}
			if err := n.submitAs("clerk@mof.gov.sy", clerkPassword, "", msg("null", "")); err != nil {
				t.Fatalf("clerk as the registry in header From under the null sender: %v", err)
			}
			refusedSendAs(t, "staff as the registry", n.submitAs("ali@mof.gov.sy", aliPassword, "diwan@mof.gov.sy", msg("ali", "")))
			refusedSendAs(t, "another registry's clerk", n.submitAs("clerk2@mof.gov.sy", clerkPassword, "diwan@mof.gov.sy", msg("clerk2", "")))
			refusedSendAs(t, "another registry's clerk, header From", n.submitAs("clerk2@mof.gov.sy", clerkPassword, "", msg("clerk2null", "")))

			c := n.imapLogin(t, "sara@mof.gov.sy", saraPassword)
			sel, err := c.Select("INBOX", nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if sel.NumMessages != 3 {
				t.Fatalf("sara's INBOX has %d messages, want the clerk's 3", sel.NumMessages)
			}
			fetch, err := c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{Envelope: true}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range fetch {
				if len(m.Envelope.From) != 1 || m.Envelope.From[0].Addr() != "diwan@mof.gov.sy" {
					t.Errorf("message %q is from %+v", m.Envelope.Subject, m.Envelope.From)
				}
			}
			if err := n.stop(); err != nil { // writes the refusals still counted
				t.Fatal(err)
			}
			wantRefusedAs(t, n, []string{"user:ali@mof.gov.sy", "user:clerk2@mof.gov.sy"}, 3)
		})
	}
}

// wantRefusedAs checks the stopped node's audit log: spoofing refusals,
// count of them in all, by exactly the actors.
func wantRefusedAs(t *testing.T, n *node, actors []string, count int) {
	t.Helper()
	e, err := app.Open(context.Background(), n.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), false, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	recs, err := audit.New(e.DB, nil).List(context.Background(), audit.Filter{Action: policy.ActionRefused, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var who []string
	total := 0
	for _, r := range recs {
		if r.Details["reason"] != policy.ReasonSpoofing {
			continue
		}
		f, _ := r.Details["count"].(float64)
		total += int(f)
		if !slices.Contains(who, r.Actor) {
			who = append(who, r.Actor)
		}
	}
	slices.Sort(who)
	if total != count || !slices.Equal(who, actors) {
		t.Fatalf("spoofing refusals: %d by %v, want %d by %v", total, who, count, actors)
	}
}
