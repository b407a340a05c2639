package workflow_test

import (
	"slices"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// submitted is a draft at MOCT2 (approval required) by login, naming
// department dep, submitted for approval.
func (f *fixture) submitted(login, dep string) workflow.Entry {
	f.t.Helper()
	e, err := f.wf.CreateDraft(f.ctx, f.actor(login), workflow.NewCorrespondence{SenderRegistry: "MOCT2",
		Subject: "مذكرة", Department: dep, Recipients: toRegistries("MOF")})
	if err != nil {
		f.t.Fatalf("%s: create draft: %v", login, err)
	}
	return f.act(login, e, tr(workflow.ActionSubmit))
}

// Nobody approves what they drafted: a head who drafts a letter does not
// approve it, and is not offered to.
func TestHeadDoesNotApproveTheirOwnLetter(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		e := f.submitted(legalHead, "")
		if slices.Contains(e.Actions, workflow.ActionApprove) {
			t.Errorf("the drafter is offered %v", e.Actions)
		}
		_, err := f.wf.Act(f.ctx, f.actor(legalHead), e.ID, workflow.Transition{Action: workflow.ActionApprove, Version: e.Version})
		wantErr(t, err, workflow.ErrForbidden)
		if !strings.Contains(err.Error(), "you drafted") {
			t.Errorf("approval of one's own letter refused with %q, want the reason", err)
		}
		got, err := f.wf.Entry(f.ctx, f.actor(legalHead), e.ID)
		f.must(err)
		if got.State != workflow.StateInApproval {
			t.Errorf("own letter is %s after a refused approval", got.State)
		}
		// A drafter below them is approved by them.
		e = f.submitted("staffsub@moct.gov.sy", "")
		f.act(legalHead, e, tr(workflow.ActionApprove))
	})
}

// The approving head is the head of the drafter's department or above
// it, whatever department the drafter names; a clerk in no department
// drafts for the department they name.
func TestApprovalFollowsTheDraftersDepartmentNotTheOneNamed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		e := f.submitted("staff@moct.gov.sy", "IT")
		_, err := f.wf.Act(f.ctx, f.actor("ithead@moct.gov.sy"), e.ID, workflow.Transition{Action: workflow.ActionApprove, Version: e.Version})
		if err == nil {
			t.Fatal("the head of the department the drafter named approved a letter of another department")
		}
		e = f.act(legalHead, e, tr(workflow.ActionApprove))
		if e.State != workflow.StateApproved {
			t.Fatalf("letter is %s after its drafter's head approved it", e.State)
		}

		e = f.submitted(moct2Clerk, "IT")
		_, err = f.wf.Act(f.ctx, f.actor(legalHead), e.ID, workflow.Transition{Action: workflow.ActionApprove, Version: e.Version})
		wantErr(t, err, workflow.ErrNotFound)
		f.act("ithead@moct.gov.sy", e, tr(workflow.ActionApprove))
	})
}
