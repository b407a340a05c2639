package workflow_test

import (
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// A letter's whole life: drafted and registered at MOCT, dispatched to MOF
// (delivered at once), registered there (MOCT sees their number), referred
// to a department, answered by a reply that moves the entry to answered.
func TestLetterLifeAcrossMinistries(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		e := f.draft(workflow.NewCorrespondence{Subject: "مشروع اتفاقية", Body: "نص الكتاب", Recipients: toRegistries("MOF")})
		if e.State != workflow.StateDraft || e.Version != 1 || e.Direction != workflow.Outgoing || e.Registry != "MOCT" {
			t.Fatalf("draft entry = %+v", e)
		}
		if e.DueDate != "2026-03-16" { // 10 working days after Monday 2 March, Fridays and Saturdays off
			t.Errorf("default due date = %s, want 2026-03-16", e.DueDate)
		}
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
		if e.State != workflow.StateRegistered || e.Number != "MOCT/ص/2026/000001" || e.Version != 2 {
			t.Fatalf("registered entry = %+v", e)
		}
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionDispatch})
		in := f.incomingAt("clerk@mof.gov.sy", e.CorrespondenceID)
		if in.State != workflow.StateReceived || in.Registry != "MOF" {
			t.Fatalf("incoming entry = %+v", in)
		}
		in = f.act("clerk@mof.gov.sy", in, workflow.Transition{Action: workflow.ActionRegister})
		if in.Number != "MOF/و/2026/000001" {
			t.Fatalf("incoming number = %q", in.Number)
		}
		v, err := f.wf.Get(f.ctx, f.actor("clerk@moct.gov.sy"), e.CorrespondenceID)
		f.must(err)
		if r := v.Correspondence.Recipients[0]; r.State != workflow.StateAcknowledged || r.Number != in.Number {
			t.Errorf("recipient as the sender sees it = %+v", r)
		}
		if v.Correspondence.DocumentSHA256 == "" || v.Correspondence.FrozenAt.IsZero() {
			t.Errorf("document not frozen: %+v", v.Correspondence)
		}
		// The recipient sees its own entry only, and no delivery details.
		v, err = f.wf.Get(f.ctx, f.actor("clerk@mof.gov.sy"), e.CorrespondenceID)
		f.must(err)
		if len(v.Entries) != 1 || v.Entries[0].ID != in.ID {
			t.Errorf("MOF sees entries %+v", v.Entries)
		}
		if r := v.Correspondence.Recipients[0]; r.State != "" || r.Number != "" {
			t.Errorf("recipient as the recipient sees it = %+v", r)
		}
		for _, ev := range v.Timeline {
			if ev.EntryID != in.ID {
				t.Errorf("MOF sees a timeline event of entry %d: %+v", ev.EntryID, ev)
			}
		}

		in = f.act("clerk@mof.gov.sy", in, workflow.Transition{Action: workflow.ActionRefer, ToDepartment: "FIN",
			Instruction: "Action", DueDate: "2026-03-10"})
		if in.State != workflow.StateReferred {
			t.Fatalf("after refer: %s", in.State)
		}
		refs, err := f.wf.Referrals(f.ctx, f.actor("fin@mof.gov.sy"), workflow.ReferralFilter{Mine: true})
		f.must(err)
		if refs.Total != 1 || refs.Items[0].Instruction != workflow.InstructionAction || refs.Items[0].ToDepartment != "FIN" {
			t.Fatalf("referrals of fin@ = %+v", refs)
		}
		ref := refs.Items[0]
		ref, err = f.wf.ActOnReferral(f.ctx, f.actor("fin@mof.gov.sy"), ref.ID, workflow.ReferralTransition{Action: workflow.ActionAccept, Version: ref.Version})
		f.must(err)
		got, err := f.wf.Entry(f.ctx, f.actor("clerk@mof.gov.sy"), in.ID)
		f.must(err)
		if got.State != workflow.StateInProgress {
			t.Fatalf("entry after the referral was accepted: %s", got.State)
		}
		ref, err = f.wf.ActOnReferral(f.ctx, f.actor("fin@mof.gov.sy"), ref.ID, workflow.ReferralTransition{Action: workflow.ActionAnswer, Version: ref.Version, Answer: "لا مانع"})
		f.must(err)
		if ref.State != workflow.StateAnswered || ref.Answer != "لا مانع" {
			t.Fatalf("answered referral = %+v", ref)
		}

		// The reply.
		reply := f.draft(workflow.NewCorrespondence{SenderRegistry: "MOF", Subject: "رد: مشروع اتفاقية",
			Recipients: toRegistries("MOCT"), References: []workflow.Reference{{ID: e.CorrespondenceID, Relation: workflow.RelationReplyTo}}})
		reply = f.act("clerk@mof.gov.sy", reply, workflow.Transition{Action: workflow.ActionRegister})
		if reply.Number != "MOF/ص/2026/000001" {
			t.Errorf("reply number = %q", reply.Number)
		}
		got, err = f.wf.Entry(f.ctx, f.actor("clerk@mof.gov.sy"), in.ID)
		f.must(err)
		if got.State != workflow.StateAnswered || got.AnsweredBy != reply.CorrespondenceID {
			t.Fatalf("incoming entry after the reply was registered: %+v", got)
		}
		ver, err := f.wf.Verify(f.ctx, f.actor("clerk@mof.gov.sy"), e.CorrespondenceID)
		f.must(err)
		if ver.Number != e.Number || ver.Subject != "مشروع اتفاقية" || ver.DocumentSHA256 == "" {
			t.Errorf("verification = %+v", ver)
		}
	})
}

// A circular goes to many registries in one act; outside parties are
// delivered on paper.
func TestCircularDeliversToEveryRecipientAtOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		e := f.draft(workflow.NewCorrespondence{Kind: workflow.KindCircular, Subject: "تعميم",
			Recipients: append(toRegistries("MOF", "MOCT2"), workflow.RecipientInput{Party: "شركة الاتصالات", Role: workflow.RoleCC})})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionDispatch})
		for _, clerk := range []string{"clerk@mof.gov.sy", "clerk2@moct.gov.sy"} {
			if in := f.incomingAt(clerk, e.CorrespondenceID); in.State != workflow.StateReceived {
				t.Errorf("%s: incoming state %s", clerk, in.State)
			}
		}
		v, err := f.wf.Get(f.ctx, f.actor("clerk@moct.gov.sy"), e.CorrespondenceID)
		f.must(err)
		for _, r := range v.Correspondence.Recipients {
			if r.State != workflow.StateDelivered {
				t.Errorf("recipient %+v not delivered", r)
			}
		}
	})
}

func TestDispatchRefusesBadRecipients(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		clerk := f.actor("clerk@moct.gov.sy")
		_, err := f.wf.CreateDraft(f.ctx, clerk, workflow.NewCorrespondence{SenderRegistry: "MOCT", Subject: "x", Recipients: toRegistries("MOCT")})
		if ie := wantInput(t, err, "recipients[0].registry"); !ie.Unprocessable {
			t.Error("own registry: not marked unprocessable")
		}
		_, err = f.wf.CreateDraft(f.ctx, clerk, workflow.NewCorrespondence{SenderRegistry: "MOCT", Subject: "x", Recipients: toRegistries("NOPE")})
		wantInput(t, err, "recipients[0].registry")
		_, err = f.wf.CreateDraft(f.ctx, clerk, workflow.NewCorrespondence{SenderRegistry: "MOCT", Subject: "x", DueDate: "10/03/2026"})
		wantInput(t, err, "due_date")
		_, err = f.wf.CreateDraft(f.ctx, clerk, workflow.NewCorrespondence{SenderRegistry: "MOF", Subject: "x"})
		wantInput(t, err, "sender_registry")
		e := f.draft(workflow.NewCorrespondence{})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
		_, err = f.wf.Act(f.ctx, clerk, e.ID, workflow.Transition{Action: workflow.ActionDispatch, Version: e.Version})
		if ie := wantInput(t, err, "recipients"); !ie.Unprocessable {
			t.Error("dispatch without recipients: not marked unprocessable")
		}
		if got, _ := f.wf.Entry(f.ctx, clerk, e.ID); got.State != workflow.StateRegistered || got.Version != e.Version {
			t.Errorf("a refused dispatch changed the entry: %+v", got)
		}
		// A reply to something the user cannot see.
		_, in := f.sentToMOF(workflow.NewCorrespondence{})
		_ = in
		other := f.draft(workflow.NewCorrespondence{SenderRegistry: "MOCT2"})
		_, err = f.wf.CreateDraft(f.ctx, f.actor("clerk@mof.gov.sy"), workflow.NewCorrespondence{SenderRegistry: "MOF", Subject: "x",
			References: []workflow.Reference{{ID: other.CorrespondenceID, Relation: workflow.RelationReplyTo}}})
		if ie := wantInput(t, err, "references[0].id"); !strings.Contains(ie.Message, "can see") {
			t.Errorf("message %q", ie.Message)
		}
	})
}
