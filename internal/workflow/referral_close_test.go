package workflow_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// referralsOf lists the referrals of an entry as the registry's clerk
// sees them, by id.
func (f *fixture) referralsOf(entryID int64) map[string]workflow.Referral {
	f.t.Helper()
	page, err := f.wf.Referrals(f.ctx, f.actor(moctClerk), workflow.ReferralFilter{EntryID: entryID})
	f.must(err)
	out := map[string]workflow.Referral{}
	for _, r := range page.Items {
		key := r.ToDepartment
		if key == "" {
			key = r.ToUser
		}
		out[key] = r
	}
	return out
}

// Closing an incoming entry ends its referrals not yet done, each with a
// line in the timeline, and nothing more is done on them: no acceptance,
// no passing on, no comment.
func TestClosingAnEntryEndsItsReferrals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		ctx := f.ctx
		in := f.receivedAtMOCT(workflow.NewCorrespondence{})
		in = f.act(moctClerk, in, referTo("LEGAL"))
		in = f.act(moctClerk, in, referTo("IT"))
		refs := f.referralsOf(in.ID)
		staff := f.actor("staff@moct.gov.sy")
		legal, err := f.wf.ActOnReferral(ctx, staff, refs["LEGAL"].ID,
			workflow.ReferralTransition{Action: workflow.ActionAccept, Version: refs["LEGAL"].Version})
		f.must(err)
		in, err = f.wf.Entry(ctx, f.actor(moctClerk), in.ID)
		f.must(err)
		in = f.act(moctClerk, in, tr(workflow.ActionClose))
		if in.State != workflow.StateClosed {
			t.Fatalf("entry is %s after close", in.State)
		}
		for dep, r := range f.referralsOf(in.ID) {
			if r.State != workflow.StateClosed {
				t.Errorf("referral to %s is %s after its entry was closed", dep, r.State)
			}
			if len(r.Actions) != 0 {
				t.Errorf("referral to %s of a closed entry offers %v", dep, r.Actions)
			}
		}
		legal, err = f.wf.Referral(ctx, staff, legal.ID)
		f.must(err)
		for _, rt := range []workflow.ReferralTransition{
			{Action: workflow.ActionRefer, ToUser: "staffsub@moct.gov.sy", Instruction: workflow.InstructionStudy},
			{Action: workflow.ActionComment, Comment: "بعد الإغلاق"},
			{Action: workflow.ActionAnswer, Answer: "جواب"},
		} {
			rt.Version = legal.Version
			_, err := f.wf.ActOnReferral(ctx, staff, legal.ID, rt)
			wantErr(t, err, workflow.ErrInvalidTransition)
			if !strings.Contains(err.Error(), "closed") {
				t.Errorf("%s on a referral of a closed entry: %v, want the entry's state named", rt.Action, err)
			}
		}
		it := f.referralsOf(in.ID)["IT"]
		_, err = f.wf.ActOnReferral(ctx, f.actor("it@moct.gov.sy"), it.ID,
			workflow.ReferralTransition{Action: workflow.ActionAccept, Version: it.Version})
		wantErr(t, err, workflow.ErrInvalidTransition)
		if n := len(f.referralsOf(in.ID)); n != 2 {
			t.Errorf("%d referrals after close, want the 2 made before", n)
		}
		v, err := f.wf.Get(ctx, f.actor(moctClerk), in.CorrespondenceID)
		f.must(err)
		lines := 0
		for _, ev := range v.Timeline {
			if ev.ReferralID != 0 && ev.Action == "close" && ev.Comment == "closed with the entry" {
				lines++
			}
		}
		if lines != 2 {
			t.Errorf("%d timeline lines of referrals closed with the entry, want 2", lines)
		}
	})
}

// A head who holds one referral of an entry does not close the entry while
// another department's referral of it is open; once that one is done,
// they do, and theirs ends with it.
func TestHeadHoldingOneReferralCannotCloseWhileOthersAreOpen(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		ctx := f.ctx
		in := f.receivedAtMOCT(workflow.NewCorrespondence{})
		in = f.act(moctClerk, in, referTo("LEGAL-SUB"))
		in = f.act(moctClerk, in, referTo("IT"))
		head := f.actor(legalHead)
		e, err := f.wf.Entry(ctx, head, in.ID)
		f.must(err)
		_, err = f.wf.Act(ctx, head, e.ID, workflow.Transition{Action: workflow.ActionClose, Version: e.Version})
		wantErr(t, err, workflow.ErrConflict)
		if !strings.Contains(err.Error(), "to IT") || strings.Contains(err.Error(), "LEGAL-SUB") {
			t.Errorf("close refused with %q, want the open referral to IT named alone", err)
		}
		if e, _ = f.wf.Entry(ctx, f.actor(moctClerk), in.ID); e.State != workflow.StateReferred {
			t.Fatalf("entry is %s after a refused close", e.State)
		}
		it := f.referralsOf(in.ID)["IT"]
		_, err = f.wf.ActOnReferral(ctx, f.actor("ithead@moct.gov.sy"), it.ID,
			workflow.ReferralTransition{Action: workflow.ActionClose, Version: it.Version})
		f.must(err)
		e, err = f.wf.Entry(ctx, head, in.ID)
		f.must(err)
		if _, err = f.wf.Act(ctx, head, e.ID, workflow.Transition{Action: workflow.ActionClose, Version: e.Version}); err != nil {
			t.Fatalf("the head holding the last open referral closes the entry: %v", err)
		}
		if r := f.referralsOf(in.ID)["LEGAL-SUB"]; r.State != workflow.StateClosed {
			t.Errorf("referral to LEGAL-SUB is %s after the entry was closed", r.State)
		}
	})
}

// A registered reply that answers an entry ends its referrals too; the
// clerk's answer likewise.
func TestAnsweringAnEntryEndsItsReferrals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		ctx := f.ctx
		in := f.receivedAtMOCT(workflow.NewCorrespondence{})
		in = f.act(moctClerk, in, referTo("LEGAL"))
		reply := f.draft(workflow.NewCorrespondence{Recipients: toRegistries("MOF"),
			References: []workflow.Reference{{ID: in.CorrespondenceID, Relation: workflow.RelationReplyTo}}})
		f.act(moctClerk, reply, tr(workflow.ActionRegister))
		in, err := f.wf.Entry(ctx, f.actor(moctClerk), in.ID)
		f.must(err)
		if in.State != workflow.StateAnswered {
			t.Fatalf("entry is %s after a registered reply", in.State)
		}
		r := f.referralsOf(in.ID)["LEGAL"]
		if r.State != workflow.StateClosed {
			t.Errorf("referral is %s after a registered reply answered its entry", r.State)
		}
		_, err = f.wf.ActOnReferral(ctx, f.actor("staff@moct.gov.sy"), r.ID,
			workflow.ReferralTransition{Action: workflow.ActionAccept, Version: r.Version})
		wantErr(t, err, workflow.ErrInvalidTransition)

		in = f.receivedAtMOCT(workflow.NewCorrespondence{})
		in = f.act(moctClerk, in, referTo("IT"))
		in = f.act(moctClerk, in, tr(workflow.ActionAnswer))
		if r := f.referralsOf(in.ID)["IT"]; r.State != workflow.StateClosed {
			t.Errorf("referral is %s after the clerk answered its entry", r.State)
		}
	})
}

// Closing an entry and accepting its referral at the same time: one wins.
// Never both, and never an accepted referral of a closed entry.
func TestCloseAndAcceptOfAReferralNeverBothSucceed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		ctx := f.ctx
		for try := range 12 {
			in := f.receivedAtMOCT(workflow.NewCorrespondence{})
			in = f.act(moctClerk, in, referTo("LEGAL"))
			if try%2 == 1 {
				// In progress already: the acceptance changes no state of
				// the entry.
				in = f.act(moctClerk, in, tr(workflow.ActionStart))
			}
			r := f.referralsOf(in.ID)["LEGAL"]
			var closeErr, acceptErr error
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				<-start
				_, closeErr = f.wf.Act(ctx, f.actor(moctClerk), in.ID, workflow.Transition{Action: workflow.ActionClose, Version: in.Version})
			})
			wg.Go(func() {
				<-start
				_, acceptErr = f.wf.ActOnReferral(ctx, f.actor("staff@moct.gov.sy"), r.ID,
					workflow.ReferralTransition{Action: workflow.ActionAccept, Version: r.Version})
			})
			close(start)
			wg.Wait()
			for _, err := range []error{closeErr, acceptErr} {
				if err != nil && !errors.Is(err, workflow.ErrStaleVersion) && !errors.Is(err, workflow.ErrInvalidTransition) {
					t.Fatalf("try %d: %v", try, err)
				}
			}
			if (closeErr == nil) == (acceptErr == nil) {
				t.Fatalf("try %d: close: %v; accept: %v; want exactly one to succeed", try, closeErr, acceptErr)
			}
			e, err := f.wf.Entry(ctx, f.actor(moctClerk), in.ID)
			f.must(err)
			got := f.referralsOf(in.ID)["LEGAL"]
			if closeErr == nil && (e.State != workflow.StateClosed || got.State != workflow.StateClosed) {
				t.Fatalf("try %d: close won; entry %s, referral %s", try, e.State, got.State)
			}
			if acceptErr == nil && (e.State != workflow.StateInProgress || got.State != workflow.StateAccepted) {
				t.Fatalf("try %d: accept won; entry %s, referral %s", try, e.State, got.State)
			}
		}
	})
}
