package workflow_test

import (
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// replyDraft drafts at MOF a reply to the letter corrID.
func (f *fixture) replyDraft(corrID int64) workflow.Entry {
	f.t.Helper()
	return f.draft(workflow.NewCorrespondence{SenderRegistry: "MOF", Subject: "رد", Recipients: toRegistries("MOCT"),
		References: []workflow.Reference{{ID: corrID, Relation: workflow.RelationReplyTo}}})
}

func (f *fixture) entryAs(login string, id int64) workflow.Entry {
	f.t.Helper()
	e, err := f.wf.Entry(f.ctx, f.actor(login), id)
	f.must(err)
	return e
}

// TestCancelledReplyPutsTheOriginalBack: cancelling a registered reply
// puts the letter it answered back where it was, and answered_by never
// names a cancelled letter; nor does a manual answer.
func TestCancelledReplyPutsTheOriginalBack(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		mof := "clerk@mof.gov.sy"
		_, in := f.sentToMOF(workflow.NewCorrespondence{})
		in = f.act(mof, in, workflow.Transition{Action: workflow.ActionRegister})
		in = f.act(mof, in, workflow.Transition{Action: workflow.ActionRefer, ToDepartment: "FIN", Instruction: "study"})
		reply := f.replyDraft(in.CorrespondenceID)
		reply = f.act(mof, reply, workflow.Transition{Action: workflow.ActionRegister})
		if got := f.entryAs(mof, in.ID); got.State != workflow.StateAnswered || got.AnsweredBy != reply.CorrespondenceID {
			t.Fatalf("after the reply was registered: %+v", got)
		}
		f.act(mof, reply, workflow.Transition{Action: workflow.ActionCancel, Reason: "wrong figures"})
		in = f.entryAs(mof, in.ID)
		if in.State != workflow.StateReferred || in.AnsweredBy != 0 {
			t.Fatalf("after the reply was cancelled: state %s, answered_by %d; want referred, none", in.State, in.AnsweredBy)
		}

		// A cancelled letter does not answer; a manual answer by a draft
		// that the draft's cancellation takes back.
		_, err := f.wf.Act(f.ctx, f.actor(mof), in.ID, workflow.Transition{Action: workflow.ActionAnswer, Version: in.Version, Reply: reply.CorrespondenceID})
		if ie := wantInput(t, err, "reply"); !ie.Unprocessable || !strings.Contains(ie.Message, "cancelled") {
			t.Errorf("answered by a cancelled letter: %v", err)
		}
		second := f.replyDraft(in.CorrespondenceID)
		in = f.act(mof, in, workflow.Transition{Action: workflow.ActionAnswer, Reply: second.CorrespondenceID})
		if in.State != workflow.StateAnswered || in.AnsweredBy != second.CorrespondenceID {
			t.Fatalf("answered by hand: %+v", in)
		}
		f.act(mof, second, workflow.Transition{Action: workflow.ActionCancel})
		if in = f.entryAs(mof, in.ID); in.State != workflow.StateReferred || in.AnsweredBy != 0 {
			t.Fatalf("after the answering draft was cancelled: state %s, answered_by %d", in.State, in.AnsweredBy)
		}
	})
}

// TestAnswerRefusesItselfAndLettersNotReferencingIt: an entry is answered
// only by a letter that references it.
func TestAnswerRefusesItselfAndLettersNotReferencingIt(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		mof := "clerk@mof.gov.sy"
		_, in := f.sentToMOF(workflow.NewCorrespondence{})
		in = f.act(mof, in, workflow.Transition{Action: workflow.ActionRegister})
		_, err := f.wf.Act(f.ctx, f.actor(mof), in.ID, workflow.Transition{Action: workflow.ActionAnswer, Version: in.Version, Reply: in.CorrespondenceID})
		if ie := wantInput(t, err, "reply"); !ie.Unprocessable || !strings.Contains(ie.Message, "itself") {
			t.Errorf("answered by itself: %v", err)
		}
		other := f.draft(workflow.NewCorrespondence{SenderRegistry: "MOF", Recipients: toRegistries("MOCT")})
		_, err = f.wf.Act(f.ctx, f.actor(mof), in.ID, workflow.Transition{Action: workflow.ActionAnswer, Version: in.Version, Reply: other.CorrespondenceID})
		if ie := wantInput(t, err, "reply"); !ie.Unprocessable || !strings.Contains(ie.Message, "does not reference") {
			t.Errorf("answered by an unrelated letter: %v", err)
		}
		if got := f.entryAs(mof, in.ID); got.State != workflow.StateRegistered || got.Version != in.Version {
			t.Errorf("a refused answer changed the entry: %+v", got)
		}
	})
}

// TestReplyFromAnotherRegistryOfTheMinistryAnswers: a reply registered at
// MOCT2 answers the letter MOCT received.
func TestReplyFromAnotherRegistryOfTheMinistryAnswers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		in := f.receivedAtMOCT(workflow.NewCorrespondence{})
		in = f.act("clerk@moct.gov.sy", in, workflow.Transition{Action: workflow.ActionRefer, ToDepartment: "LEGAL", Instruction: "action"})
		reply, err := f.wf.CreateDraft(f.ctx, f.actor("staff@moct.gov.sy"), workflow.NewCorrespondence{SenderRegistry: "MOCT2",
			Subject: "رد", Recipients: toRegistries("MOF"), References: []workflow.Reference{{ID: in.CorrespondenceID, Relation: workflow.RelationReplyTo}}})
		f.must(err)
		reply = f.act("staff@moct.gov.sy", reply, workflow.Transition{Action: workflow.ActionSubmit})
		reply = f.act("head@moct.gov.sy", reply, workflow.Transition{Action: workflow.ActionApprove})
		reply = f.act("clerk2@moct.gov.sy", reply, workflow.Transition{Action: workflow.ActionRegister})
		got := f.entryAs("clerk@moct.gov.sy", in.ID)
		if got.State != workflow.StateAnswered || got.AnsweredBy != reply.CorrespondenceID {
			t.Fatalf("MOCT's entry after MOCT2 registered the reply: state %s, answered_by %d", got.State, got.AnsweredBy)
		}
	})
}
