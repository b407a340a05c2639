package workflow_test

import (
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// TestAnsweringReferralFromOpenStartsTheEntry: a referral answered
// straight from open moves the entry as accepting it would.
func TestAnsweringReferralFromOpenStartsTheEntry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		in := f.receivedAtMOCT(workflow.NewCorrespondence{})
		in = f.act("clerk@moct.gov.sy", in, workflow.Transition{Action: workflow.ActionRefer, ToUser: "staff@moct.gov.sy", Instruction: "action"})
		refs, err := f.wf.Referrals(f.ctx, f.actor("staff@moct.gov.sy"), workflow.ReferralFilter{Mine: true})
		f.must(err)
		ref := refs.Items[0]
		_, err = f.wf.ActOnReferral(f.ctx, f.actor("staff@moct.gov.sy"), ref.ID, workflow.ReferralTransition{Action: workflow.ActionAnswer, Version: ref.Version, Answer: "تم"})
		f.must(err)
		if got := f.entryAs("clerk@moct.gov.sy", in.ID); got.State != workflow.StateInProgress {
			t.Fatalf("entry after its referral was answered from open: %s, want in_progress", got.State)
		}
	})
}

// TestAnsweringPassedOnReferralAnswersItsParent: the referral a referral
// was passed on from is answered with it, and the entry moves.
func TestAnsweringPassedOnReferralAnswersItsParent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		in := f.receivedAtMOCT(workflow.NewCorrespondence{})
		in = f.act("clerk@moct.gov.sy", in, workflow.Transition{Action: workflow.ActionRefer, ToUser: "head@moct.gov.sy", Instruction: "action"})
		refs, err := f.wf.Referrals(f.ctx, f.actor("head@moct.gov.sy"), workflow.ReferralFilter{Mine: true})
		f.must(err)
		parent := refs.Items[0]
		parent, err = f.wf.ActOnReferral(f.ctx, f.actor("head@moct.gov.sy"), parent.ID, workflow.ReferralTransition{Action: workflow.ActionRefer,
			Version: parent.Version, ToUser: "staffsub@moct.gov.sy", Instruction: "study"})
		f.must(err)
		refs, err = f.wf.Referrals(f.ctx, f.actor("staffsub@moct.gov.sy"), workflow.ReferralFilter{Mine: true})
		f.must(err)
		child := refs.Items[0]
		_, err = f.wf.ActOnReferral(f.ctx, f.actor("staffsub@moct.gov.sy"), child.ID, workflow.ReferralTransition{Action: workflow.ActionAnswer,
			Version: child.Version, Answer: "لا مانع"})
		f.must(err)
		got, err := f.wf.Referral(f.ctx, f.actor("head@moct.gov.sy"), parent.ID)
		f.must(err)
		if got.State != workflow.StateAnswered || got.Answer != "لا مانع" || got.Version != parent.Version+1 {
			t.Errorf("parent after its child was answered: state %s, answer %q, version %d", got.State, got.Answer, got.Version)
		}
		if e := f.entryAs("clerk@moct.gov.sy", in.ID); e.State != workflow.StateInProgress {
			t.Errorf("entry after the passed-on referral was answered: %s, want in_progress", e.State)
		}
	})
}
