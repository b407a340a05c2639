package workflow_test

import (
	"context"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// The directory's facts a caller brings (Actor.Facts, from their session
// or token) are trusted only at the version of org_state they were read
// at: after any change of the organisation the call is refused with
// ErrCredentialStale before anything is done, and succeeds with facts read
// again.
func TestGivenFactsOfAnotherVersionAreRefusedBeforeAnything(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		ctx := context.Background()
		facts := func() *workflow.PrincipalFacts {
			t.Helper()
			p, err := f.dir.Principal(ctx, f.actor(moctClerk).UserID)
			f.must(err)
			return workflow.FactsOf(p)
		}
		drafts := func() int64 {
			t.Helper()
			var n int64
			f.must(d.Writer().Raw(`SELECT COUNT(*) FROM correspondence`).Scan(&n).Error)
			return n
		}
		clerk := f.actor(moctClerk)
		clerk.Facts = facts()
		n := workflow.NewCorrespondence{Subject: "طلب", SenderRegistry: "MOCT", Recipients: toRegistries("MOF")}
		e, err := f.wf.CreateDraft(ctx, clerk, n)
		f.must(err)
		_, err = f.wf.Get(ctx, clerk, e.CorrespondenceID)
		f.must(err)

		// Another user's role changes: the organisation's version moves.
		f.must(d.Writer().Exec(`DELETE FROM user_roles WHERE user_id = ? AND role = 'staff'`, f.actor("fin@mof.gov.sy").UserID).Error)
		before := drafts()
		_, err = f.wf.CreateDraft(ctx, clerk, n)
		wantErr(t, err, workflow.ErrCredentialStale)
		_, err = f.wf.Get(ctx, clerk, e.CorrespondenceID)
		wantErr(t, err, workflow.ErrCredentialStale)
		_, err = f.wf.Act(ctx, clerk, e.ID, workflow.Transition{Action: workflow.ActionRegister, Version: e.Version})
		wantErr(t, err, workflow.ErrCredentialStale)
		if got := drafts(); got != before {
			t.Errorf("%d drafts after the refused call, want %d", got, before)
		}
		if got, err := f.wf.Entry(ctx, f.actor(moctClerk), e.ID); err != nil || got.State != workflow.StateDraft {
			t.Errorf("the refused register left %+v, %v", got, err)
		}

		// Read again, the facts are current.
		clerk.Facts = facts()
		_, err = f.wf.Act(ctx, clerk, e.ID, workflow.Transition{Action: workflow.ActionRegister, Version: e.Version})
		f.must(err)

		// Facts that say the user is disabled are refused as the
		// directory's are.
		clerk.Facts.Disabled = true
		_, err = f.wf.Get(ctx, clerk, e.CorrespondenceID)
		wantErr(t, err, workflow.ErrForbidden)
	})
}
