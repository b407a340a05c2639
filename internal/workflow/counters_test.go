package workflow_test

import (
	"slices"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// receivedAtMOCTUnregistered is a letter from MOF to MOCT, waiting at
// MOCT for registration.
func (f *fixture) receivedAtMOCTUnregistered(n workflow.NewCorrespondence) workflow.Entry {
	f.t.Helper()
	n.SenderRegistry = "MOF"
	n.Recipients = toRegistries("MOCT")
	e := f.draft(n)
	e = f.act("clerk@mof.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
	e = f.act("clerk@mof.gov.sy", e, workflow.Transition{Action: workflow.ActionDispatch})
	return f.incomingAt("clerk@moct.gov.sy", e.CorrespondenceID)
}

func (f *fixture) wantCounters(login string, want workflow.Counters) {
	f.t.Helper()
	got, err := f.wf.Counters(f.ctx, f.actor(login))
	if err != nil {
		f.t.Fatalf("%s: counters: %v", login, err)
	}
	if got.Waiting != want.Waiting || got.Referrals != want.Referrals || got.Overdue != want.Overdue ||
		!slices.Equal(got.Registries, want.Registries) {
		f.t.Errorf("%s at %s: counters %+v, want %+v", login, f.clock.Now().Format(time.DateOnly), got, want)
	}
}

// The counters of the navigation: entries waiting for registration in the
// clerk's registries, my open referrals (to me or my department, within my
// clearance), and what is overdue — on known data, on both databases.
func TestCountersCountWhatWaitsForEachUser(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		clerk := "clerk@moct.gov.sy"
		f.receivedAtMOCTUnregistered(workflow.NewCorrespondence{})
		f.receivedAtMOCTUnregistered(workflow.NewCorrespondence{Classification: workflow.Secret})
		in := f.receivedAtMOCT(workflow.NewCorrespondence{})
		in = f.act(clerk, in, workflow.Transition{Action: workflow.ActionRefer, ToUser: "staff@moct.gov.sy",
			Instruction: workflow.InstructionAction, DueDate: "2026-03-04"})
		f.act(clerk, in, workflow.Transition{Action: workflow.ActionRefer, ToDepartment: "LEGAL", Instruction: workflow.InstructionStudy})
		f.act(clerk, f.draft(workflow.NewCorrespondence{}), workflow.Transition{Action: workflow.ActionRegister}) // not dispatched
		f.act(clerk, f.draft(workflow.NewCorrespondence{}), workflow.Transition{Action: workflow.ActionCancel})   // nothing to do
		secret := f.receivedAtMOCT(workflow.NewCorrespondence{Classification: workflow.Secret})
		f.act(clerk, secret, workflow.Transition{Action: workflow.ActionRefer, ToDepartment: "LEGAL", Instruction: workflow.InstructionStudy})

		// Monday 2 March: nothing is late yet.
		f.wantCounters(clerk, workflow.Counters{Waiting: 2, Registries: []string{"MOCT"}})
		f.wantCounters("clerk2@moct.gov.sy", workflow.Counters{Registries: []string{"MOCT2"}})
		f.wantCounters("staff@moct.gov.sy", workflow.Counters{Referrals: 2})       // to them, and to LEGAL; not the secret one
		f.wantCounters("secretstaff@moct.gov.sy", workflow.Counters{Referrals: 2}) // both to LEGAL
		f.wantCounters("head@moct.gov.sy", workflow.Counters{Referrals: 2})
		f.wantCounters("staffsub@moct.gov.sy", workflow.Counters{})
		f.wantCounters("fin@mof.gov.sy", workflow.Counters{})
		f.wantCounters("admin", workflow.Counters{})

		// Thursday 5 March: the referral due on the 4th is late.
		f.clock.Set(time.Date(2026, 3, 5, 9, 0, 0, 0, damascus))
		f.wantCounters("staff@moct.gov.sy", workflow.Counters{Referrals: 2, Overdue: 1})
		f.wantCounters(clerk, workflow.Counters{Waiting: 2, Registries: []string{"MOCT"}})

		// Months later everything open is late: for the clerk the four
		// open incoming entries and the registered letter not dispatched;
		// the staff member answers one referral.
		f.clock.Set(time.Date(2026, 9, 1, 9, 0, 0, 0, damascus))
		f.wantCounters(clerk, workflow.Counters{Waiting: 2, Overdue: 5, Registries: []string{"MOCT"}})
		mine, err := f.wf.Referrals(f.ctx, f.actor("staff@moct.gov.sy"), workflow.ReferralFilter{Mine: true})
		f.must(err)
		for _, r := range mine.Items {
			if r.ToUser == "staff@moct.gov.sy" {
				_, err := f.wf.ActOnReferral(f.ctx, f.actor("staff@moct.gov.sy"), r.ID,
					workflow.ReferralTransition{Action: workflow.ActionAnswer, Version: r.Version, Answer: "done"})
				f.must(err)
			}
		}
		f.wantCounters("staff@moct.gov.sy", workflow.Counters{Referrals: 1, Overdue: 1})
		f.wantCounters("secretstaff@moct.gov.sy", workflow.Counters{Referrals: 2, Overdue: 2})
	})
}
