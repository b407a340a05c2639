package workflow_test

import (
	"slices"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// A letter MOF returns as misrouted goes on to the right registry under
// the number it has: a new recipient, delivered at once.
func TestReturnedLetterIsForwardedUnderItsNumber(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		out, in := f.sentToMOF(workflow.NewCorrespondence{Body: "نص"})
		f.act("clerk@mof.gov.sy", in, workflow.Transition{Action: workflow.ActionReturn, Reason: "ليس من اختصاصنا"})
		out, err := f.wf.Entry(f.ctx, f.actor("clerk@moct.gov.sy"), out.ID)
		f.must(err)
		if !slices.Contains(out.Actions, workflow.ActionForward) {
			t.Fatalf("actions of a dispatched letter MOF returned = %v, want forward", out.Actions)
		}
		number := out.Number
		moct := f.actor("clerk@moct.gov.sy")
		for _, bad := range []string{"MOF", "MOCT", "NOPE"} {
			_, err := f.wf.Act(f.ctx, moct, out.ID, workflow.Transition{Action: workflow.ActionForward, Version: out.Version, Registry: bad})
			wantInput(t, err, "registry")
		}
		out = f.act("clerk@moct.gov.sy", out, workflow.Transition{Action: workflow.ActionForward, Registry: "moct2"})
		if out.State != workflow.StateDispatched || out.Number != number {
			t.Fatalf("forwarded entry = %+v", out)
		}
		got := f.incomingAt("clerk2@moct.gov.sy", out.CorrespondenceID)
		if got.State != workflow.StateReceived || got.Registry != "MOCT2" {
			t.Fatalf("MOCT2's entry = %+v", got)
		}
		f.act("clerk2@moct.gov.sy", got, workflow.Transition{Action: workflow.ActionRegister})
		v, err := f.wf.Get(f.ctx, moct, out.CorrespondenceID)
		f.must(err)
		rs := v.Correspondence.Recipients
		if len(rs) != 2 || rs[0].Registry != "MOF" || rs[0].State != workflow.StateReturned ||
			rs[1].Registry != "MOCT2" || rs[1].State != workflow.StateAcknowledged {
			t.Errorf("recipients after the forward = %+v", rs)
		}
	})
}

// A letter registered with no recipients is not offered dispatch (which
// would fail) but forward, which gives it its first recipient and
// dispatches it.
func TestRegisteredLetterWithoutRecipientsIsForwarded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		e := f.draft(workflow.NewCorrespondence{Body: "نص"})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
		if slices.Contains(e.Actions, workflow.ActionDispatch) || !slices.Contains(e.Actions, workflow.ActionForward) {
			t.Fatalf("actions of a registered letter without recipients = %v", e.Actions)
		}
		_, err := f.wf.Act(f.ctx, f.actor("clerk@moct.gov.sy"), e.ID, workflow.Transition{Action: workflow.ActionDispatch, Version: e.Version})
		wantInput(t, err, "recipients")
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionForward, Registry: "MOF"})
		if e.State != workflow.StateDispatched {
			t.Fatalf("after forward: %+v", e)
		}
		if in := f.incomingAt("clerk@mof.gov.sy", e.CorrespondenceID); in.State != workflow.StateReceived {
			t.Fatalf("MOF's entry = %+v", in)
		}
		// A registered letter with recipients: forward adds one and
		// delivers to all.
		e = f.draft(workflow.NewCorrespondence{Body: "نص", Recipients: toRegistries("MOF")})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
		if !slices.Contains(e.Actions, workflow.ActionDispatch) {
			t.Fatalf("actions of a registered letter with a recipient = %v", e.Actions)
		}
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionForward, Registry: "MOCT2"})
		f.incomingAt("clerk@mof.gov.sy", e.CorrespondenceID)
		f.incomingAt("clerk2@moct.gov.sy", e.CorrespondenceID)
	})
}

// Recall can withdraw a circular from one registry that has not
// registered it while another has; recalling the whole letter is then
// neither offered nor allowed.
func TestRecallFromOneRegistryOfACircular(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		moct := f.actor("clerk@moct.gov.sy")
		e := f.draft(workflow.NewCorrespondence{Kind: workflow.KindCircular, Body: "تعميم", Recipients: toRegistries("MOF", "MOCT2")})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionDispatch})
		f.act("clerk@mof.gov.sy", f.incomingAt("clerk@mof.gov.sy", e.CorrespondenceID), workflow.Transition{Action: workflow.ActionRegister})
		e, err := f.wf.Entry(f.ctx, moct, e.ID)
		f.must(err)
		if slices.Contains(e.Actions, workflow.ActionRecall) {
			t.Errorf("recall offered after MOF registered: %v", e.Actions)
		}
		_, err = f.wf.Act(f.ctx, moct, e.ID, workflow.Transition{Action: workflow.ActionRecall, Version: e.Version})
		wantErr(t, err, workflow.ErrConflict)
		_, err = f.wf.Act(f.ctx, moct, e.ID, workflow.Transition{Action: workflow.ActionRecall, Version: e.Version, Registry: "MOF"})
		wantErr(t, err, workflow.ErrConflict)
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRecall, Registry: "MOCT2"})
		if e.State != workflow.StateDispatched {
			t.Fatalf("after recalling MOCT2's copy: %+v", e)
		}
		if in := f.incomingAt("clerk2@moct.gov.sy", e.CorrespondenceID); in.State != workflow.StateRecalled {
			t.Errorf("MOCT2's entry = %+v", in)
		}
		if in := f.incomingAt("clerk@mof.gov.sy", e.CorrespondenceID); in.State != workflow.StateRegistered {
			t.Errorf("MOF's entry = %+v", in)
		}
		_, err = f.wf.Act(f.ctx, moct, e.ID, workflow.Transition{Action: workflow.ActionRecall, Version: e.Version, Registry: "MOCT2"})
		wantInput(t, err, "registry")

		// The last holder recalled: the letter is recalled.
		e = f.draft(workflow.NewCorrespondence{Kind: workflow.KindCircular, Body: "تعميم", Recipients: toRegistries("MOF", "MOCT2")})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionDispatch})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRecall, Registry: "MOF"})
		if e.State != workflow.StateDispatched {
			t.Fatalf("after recalling one of two: %+v", e)
		}
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRecall, Registry: "MOCT2"})
		if e.State != workflow.StateRecalled {
			t.Fatalf("after recalling both: %+v", e)
		}
	})
}
