package workflow_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// A due date is a working day, today or later, within
// workflow.due_date_horizon (a year by default), for letters (created and
// edited) and referrals; the refusal names the field and says why. Today
// is Monday 2 March 2026; Fridays and Saturdays are off.
func TestDueDatesAreWorkingDaysFromTodayWithinTheHorizon(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		clerk := f.actor("clerk@moct.gov.sy")
		bad := []struct{ date, why string }{
			{"2020-01-01", "past"},
			{"0001-01-01", "past"},
			{"2026-03-01", "past"},
			{"9999-12-31", "beyond"},
			{"2027-03-03", "beyond"},
			{"2026-03-06", "weekend"}, // a Friday
			{"2026-03-07", "weekend"}, // a Saturday
		}
		for _, c := range bad {
			_, err := f.wf.CreateDraft(f.ctx, clerk, workflow.NewCorrespondence{SenderRegistry: "MOCT", Subject: "x", DueDate: c.date})
			if ie := wantInput(t, err, "due_date"); !strings.Contains(ie.Message, c.why) {
				t.Errorf("draft due %s: message %q does not say %s", c.date, ie.Message, c.why)
			}
		}
		for _, ok := range []string{"2026-03-02", "2026-03-05", "2027-03-02"} {
			e := f.draft(workflow.NewCorrespondence{DueDate: ok})
			if e.DueDate != ok {
				t.Errorf("due date %s stored as %s", ok, e.DueDate)
			}
		}
		for _, c := range bad {
			_, err := f.wf.CreateIncoming(f.ctx, f.actor("clerk@mof.gov.sy"), workflow.NewIncoming{Registry: "MOF",
				SenderParty: "شركة الاتصالات", Subject: "paper letter", DueDate: c.date})
			if ie := wantInput(t, err, "due_date"); !strings.Contains(ie.Message, c.why) {
				t.Errorf("incoming due %s: message %q does not say %s", c.date, ie.Message, c.why)
			}
		}
		e := f.draft(workflow.NewCorrespondence{})
		for _, c := range bad {
			due := c.date
			_, err := f.wf.UpdateDraft(f.ctx, clerk, e.CorrespondenceID, e.Version, workflow.DraftUpdate{DueDate: &due})
			wantInput(t, err, "due_date")
		}
		_, in := f.sentToMOF(workflow.NewCorrespondence{})
		in = f.act("clerk@mof.gov.sy", in, workflow.Transition{Action: workflow.ActionRegister})
		for _, c := range bad {
			_, err := f.wf.Act(f.ctx, f.actor("clerk@mof.gov.sy"), in.ID, workflow.Transition{Action: workflow.ActionRefer,
				Version: in.Version, ToDepartment: "FIN", Instruction: "action", DueDate: c.date})
			if ie := wantInput(t, err, "due_date"); !strings.Contains(ie.Message, c.why) {
				t.Errorf("referral due %s: message %q does not say %s", c.date, ie.Message, c.why)
			}
		}
		f.act("clerk@mof.gov.sy", in, workflow.Transition{Action: workflow.ActionRefer, ToDepartment: "FIN",
			Instruction: "action", DueDate: "2026-03-04"})
	})
}

// A due date the writer gave survives a change of priority; the default
// due date moves with it.
func TestExplicitDueDateSurvivesPriorityChange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		clerk := f.actor("clerk@moct.gov.sy")
		urgent := workflow.PriorityUrgent
		e := f.draft(workflow.NewCorrespondence{DueDate: "2026-03-12"})
		e, err := f.wf.UpdateDraft(f.ctx, clerk, e.CorrespondenceID, e.Version, workflow.DraftUpdate{Priority: &urgent})
		f.must(err)
		if e.DueDate != "2026-03-12" {
			t.Errorf("explicit due date after a priority change = %s, want 2026-03-12", e.DueDate)
		}
		subject := "another subject"
		e, err = f.wf.UpdateDraft(f.ctx, clerk, e.CorrespondenceID, e.Version, workflow.DraftUpdate{Subject: &subject})
		f.must(err)
		if e.DueDate != "2026-03-12" {
			t.Errorf("explicit due date after an edit = %s, want 2026-03-12", e.DueDate)
		}

		e = f.draft(workflow.NewCorrespondence{})
		if e.DueDate != "2026-03-16" {
			t.Fatalf("default due date = %s", e.DueDate)
		}
		e, err = f.wf.UpdateDraft(f.ctx, clerk, e.CorrespondenceID, e.Version, workflow.DraftUpdate{Priority: &urgent})
		f.must(err)
		if e.DueDate != "2026-03-05" { // 3 working days after Monday 2 March
			t.Errorf("default due date after a change to urgent = %s, want 2026-03-05", e.DueDate)
		}
	})
}

// The recipient's deadline is counted from receipt by its own rules; the
// sender's date is kept as reply requested by, beside the sender's
// outgoing number and registration time.
func TestIncomingEntryCountsItsDeadlineFromReceiptAndShowsTheSender(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		e := f.draft(workflow.NewCorrespondence{DueDate: "2026-03-04", Recipients: toRegistries("MOF")})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
		f.clock.Set(time.Date(2026, 3, 9, 10, 0, 0, 0, damascus)) // the next Monday
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionDispatch})
		in := f.incomingAt("clerk@mof.gov.sy", e.CorrespondenceID)
		if in.DueDate != "2026-03-23" { // 10 working days after Monday 9 March
			t.Errorf("incoming due date = %s, want 2026-03-23 (counted from receipt)", in.DueDate)
		}
		if in.ReplyRequestedBy != "2026-03-04" {
			t.Errorf("reply requested by = %q, want 2026-03-04", in.ReplyRequestedBy)
		}
		if in.SenderNumber != e.Number || !in.SenderRegisteredAt.Equal(e.RegisteredAt) || e.Number == "" {
			t.Errorf("sender number and date on the incoming entry = %q %v, want %q %v",
				in.SenderNumber, in.SenderRegisteredAt, e.Number, e.RegisteredAt)
		}
		in = f.act("clerk@mof.gov.sy", in, workflow.Transition{Action: workflow.ActionRegister})
		got, err := f.wf.Entry(f.ctx, f.actor("clerk@mof.gov.sy"), in.ID)
		f.must(err)
		if got.SenderNumber != e.Number || got.ReplyRequestedBy != "2026-03-04" || got.DueDate != "2026-03-23" {
			t.Errorf("registered incoming entry = %+v", got)
		}
		out, err := f.wf.Entry(f.ctx, f.actor("clerk@moct.gov.sy"), e.ID)
		f.must(err)
		if out.SenderNumber != "" || out.ReplyRequestedBy != "" {
			t.Errorf("the outgoing entry shows a sender: %+v", out)
		}
	})
}

// A letter is not dispatched to a registry none of whose clerks is cleared
// for its classification: nobody there could see it.
func TestDispatchRefusesRegistryWithNoClerkClearedForTheLetter(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		_, err := f.wf.SetMembership(f.ctx, workflow.OperatorActor(operator), "clerk@mof.gov.sy",
			workflow.MembershipChange{Clearance: workflow.Confidential})
		f.must(err)
		e := f.draft(workflow.NewCorrespondence{Classification: workflow.Secret, Recipients: toRegistries("MOF")})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
		_, err = f.wf.Act(f.ctx, f.actor("clerk@moct.gov.sy"), e.ID, workflow.Transition{Action: workflow.ActionDispatch, Version: e.Version})
		ie := wantInput(t, err, "recipients")
		if !ie.Unprocessable || !strings.Contains(ie.Message, "MOF") || !strings.Contains(ie.Message, "secret") {
			t.Errorf("refusal = %+v", ie)
		}
		got, err := f.wf.Entry(f.ctx, f.actor("clerk@moct.gov.sy"), e.ID)
		f.must(err)
		if got.State != workflow.StateRegistered {
			t.Errorf("after the refusal the letter is %s", got.State)
		}
		// A confidential letter goes.
		e = f.draft(workflow.NewCorrespondence{Classification: workflow.Confidential, Recipients: toRegistries("MOF")})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
		f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionDispatch})
		f.incomingAt("clerk@mof.gov.sy", e.CorrespondenceID)
		// Cleared again, the secret letter goes too.
		_, err = f.wf.SetMembership(f.ctx, workflow.OperatorActor(operator), "clerk@mof.gov.sy",
			workflow.MembershipChange{Clearance: workflow.Secret})
		f.must(err)
		f.act("clerk@moct.gov.sy", got, workflow.Transition{Action: workflow.ActionDispatch})
		if errors.Is(err, workflow.ErrNotFound) {
			t.Fatal(err)
		}
	})
}
