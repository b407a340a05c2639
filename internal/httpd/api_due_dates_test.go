package httpd

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/workflow"
)

// workingDayIn is the first working day (Fridays and Saturdays off, no
// holidays: the default calendar, in UTC as the test server counts) at
// least n days from today, as YYYY-MM-DD.
func workingDayIn(n int) string {
	d := time.Now().UTC().AddDate(0, 0, n)
	for d.Weekday() == time.Friday || d.Weekday() == time.Saturday {
		d = d.AddDate(0, 0, 1)
	}
	return d.Format(time.DateOnly)
}

// weekendDayIn is the first Friday at least n days from today.
func weekendDayIn(n int) string {
	d := time.Now().UTC().AddDate(0, 0, n)
	for d.Weekday() != time.Friday {
		d = d.AddDate(0, 0, 1)
	}
	return d.Format(time.DateOnly)
}

// TestDueDateOutsideWorkingDaysAndHorizonIs400 gives letters (created and
// edited) and referrals due dates in the past, on a weekend day and
// beyond the horizon: each is refused with 400 naming due_date and saying
// why.
func TestDueDateOutsideWorkingDaysAndHorizonIs400(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		sender := e.withToken(moctClerk)
		d := newLetter(sender, "due dates")
		out := act(sender, d.EntryID, "register", v(d.Version))
		act(sender, d.EntryID, "dispatch", v(out.Version))
		receiver := e.withToken(mofClerk)
		in := incomingAt(receiver, "MOF", d.ID)
		in = act(receiver, in.ID, "register", v(in.Version))
		draft := newLetter(sender, "a draft")

		for _, c := range []struct{ date, why string }{
			{"2020-01-01", "past"}, {"0001-01-01", "past"}, {"9999-12-31", "beyond"},
			{workingDayIn(400), "beyond"}, {weekendDayIn(1), "weekend"},
		} {
			t.Run(c.date, func(t *testing.T) {
				for _, r := range []struct {
					method, path string
					body         any
					c            *apiClient
				}{
					{"POST", "/api/v1/correspondence", map[string]any{"subject": "x", "sender_registry": "MOCT", "due_date": c.date}, sender},
					{"PATCH", fmt.Sprintf("/api/v1/correspondence/%d", draft.ID), v(draft.Version, "due_date", c.date), sender},
					{"POST", fmt.Sprintf("/api/v1/entries/%d/refer", in.ID),
						v(in.Version, "to_department", "LEGAL", "instruction", "action", "due_date", c.date), receiver},
				} {
					got := r.c.wantError(r.method, r.path, r.body, http.StatusBadRequest, "invalid_input", "due_date")
					if !strings.Contains(got.Error.Message, c.why) {
						t.Errorf("%s %s due %s: message %q does not say %s", r.method, r.path, c.date, got.Error.Message, c.why)
					}
				}
			})
		}
	})
}

// TestIncomingEntryShowsSenderNumberDateAndRequestedReply: the recipient
// sees the sender's outgoing number and registration time on its incoming
// entry, its own deadline counted from receipt, and the sender's date as
// reply_requested_by.
func TestIncomingEntryShowsSenderNumberDateAndRequestedReply(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		sender := e.withToken(moctClerk)
		asked := workingDayIn(1)
		var d draftDTO
		sender.call("POST", "/api/v1/correspondence", map[string]any{"subject": "reply by", "sender_registry": "MOCT",
			"priority": "normal", "due_date": asked, "recipients": []map[string]string{{"registry": "MOF"}}}, http.StatusCreated, &d)
		out := act(sender, d.EntryID, "register", v(d.Version))
		out = act(sender, d.EntryID, "dispatch", v(out.Version))
		receiver := e.withToken(mofClerk)
		in := incomingAt(receiver, "MOF", d.ID)
		if in.SenderNumber == nil || out.Number == nil || *in.SenderNumber != *out.Number {
			t.Errorf("sender_number = %v, want %v", in.SenderNumber, out.Number)
		}
		if in.SenderRegisteredAt == nil || out.RegisteredAt == nil || !in.SenderRegisteredAt.Equal(*out.RegisteredAt) {
			t.Errorf("sender_registered_at = %v, want %v", in.SenderRegisteredAt, out.RegisteredAt)
		}
		if in.ReplyRequestedBy == nil || *in.ReplyRequestedBy != asked {
			t.Errorf("reply_requested_by = %v, want %s", in.ReplyRequestedBy, asked)
		}
		want := e.wf.DefaultDueDate(workflow.PriorityNormal, time.Now())
		if in.DueDate == nil || *in.DueDate != want {
			t.Errorf("due_date = %v, want %s (counted from receipt)", in.DueDate, want)
		}
		var got entryDTO
		receiver.call("GET", fmt.Sprintf("/api/v1/entries/%d", in.ID), nil, http.StatusOK, &got)
		if got.SenderNumber == nil || *got.SenderNumber != *out.Number || got.ReplyRequestedBy == nil {
			t.Errorf("entry read alone: %+v", got)
		}
	})
}

// TestDispatchToRegistryWithNoClearedClerkIs422 sends a confidential
// letter to MOF, whose clerk is cleared for normal letters only: the
// dispatch is refused with 422 naming recipients, the registry and the
// clearance, and the letter stays registered.
func TestDispatchToRegistryWithNoClearedClerkIs422(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		e.ok(e.wf.SetMembership(context.Background(), workflow.OperatorActor(operator), moctClerk,
			workflow.MembershipChange{Clearance: workflow.Confidential}))
		sender := e.withToken(moctClerk)
		var d draftDTO
		sender.call("POST", "/api/v1/correspondence", map[string]any{"subject": "confidential", "sender_registry": "MOCT",
			"classification": "confidential", "recipients": []map[string]string{{"registry": "MOF"}}}, http.StatusCreated, &d)
		out := act(sender, d.EntryID, "register", v(d.Version))
		got := sender.wantError("POST", fmt.Sprintf("/api/v1/entries/%d/dispatch", d.EntryID), v(out.Version),
			http.StatusUnprocessableEntity, "unprocessable", "recipients")
		if !strings.Contains(got.Error.Message, "MOF") || !strings.Contains(got.Error.Message, "confidential") {
			t.Errorf("refusal: %q", got.Error.Message)
		}
		var now entryDTO
		sender.call("GET", fmt.Sprintf("/api/v1/entries/%d", d.EntryID), nil, http.StatusOK, &now)
		if now.State != "registered" {
			t.Errorf("after the refusal: %s", now.State)
		}
	})
}
