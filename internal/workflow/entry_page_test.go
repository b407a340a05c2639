package workflow_test

import (
	"io"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// Replies lists the letters of the actor's ministry that reference the
// entry's letter, newest first, without a cancelled one, a letter that
// references something else, or a letter of another ministry; an entry
// the actor may not see lists nothing: not found.
func TestRepliesListsTheLettersThatMayAnswerAnEntry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		mof := "clerk@mof.gov.sy"
		_, in := f.sentToMOF(workflow.NewCorrespondence{})
		first, second, cancelled := f.replyDraft(in.CorrespondenceID), f.replyDraft(in.CorrespondenceID), f.replyDraft(in.CorrespondenceID)
		f.act(mof, cancelled, workflow.Transition{Action: workflow.ActionCancel})
		f.draft(workflow.NewCorrespondence{SenderRegistry: "MOF", Subject: "غيره", Recipients: toRegistries("MOCT")})
		// MOCT's own letter referencing it is not MOF's to answer with.
		f.draft(workflow.NewCorrespondence{Recipients: toRegistries("MOF"),
			References: []workflow.Reference{{ID: in.CorrespondenceID, Relation: workflow.RelationRelated}}})

		got, err := f.wf.Replies(f.ctx, f.actor(mof), in.ID)
		f.must(err)
		if len(got) != 2 || got[0].ID != second.ID || got[1].ID != first.ID || got[0].Subject != "رد" {
			t.Fatalf("replies = %+v, want entries %d then %d", got, second.ID, first.ID)
		}
		_, err = f.wf.Replies(f.ctx, f.actor("fin@mof.gov.sy"), in.ID)
		wantErr(t, err, workflow.ErrNotFound)
	})
}

// EntryView and OpenEntryAttachment read through an entry the actor sees;
// another's entry is not found, even when the actor sees the letter
// through an entry of their own.
func TestEntryViewAndAttachmentThroughAnEntry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		moct, mof := "clerk@moct.gov.sy", "clerk@mof.gov.sy"
		e := f.draft(workflow.NewCorrespondence{Recipients: toRegistries("MOF")})
		att, err := f.wf.AddAttachment(f.ctx, f.actor(moct), e.CorrespondenceID, "a.txt", strings.NewReader("نص مرفق"))
		f.must(err)
		e = f.act(moct, e, workflow.Transition{Action: workflow.ActionRegister})
		e = f.act(moct, e, workflow.Transition{Action: workflow.ActionDispatch})
		in := f.incomingAt(mof, e.CorrespondenceID)

		v, err := f.wf.EntryView(f.ctx, f.actor(mof), in.ID)
		f.must(err)
		if v.Correspondence.ID != e.CorrespondenceID || len(v.Entries) != 1 || v.Entries[0].ID != in.ID || len(v.Timeline) == 0 {
			t.Fatalf("MOF's view through its entry: %+v", v)
		}
		_, err = f.wf.EntryView(f.ctx, f.actor(mof), e.ID)
		wantErr(t, err, workflow.ErrNotFound)
		_, err = f.wf.EntryView(f.ctx, f.actor(mof), 1<<40)
		wantErr(t, err, workflow.ErrNotFound)

		_, rc, err := f.wf.OpenEntryAttachment(f.ctx, f.actor(mof), in.ID, att.ID)
		f.must(err)
		if b, _ := io.ReadAll(rc); len(b) != int(att.Size) {
			t.Errorf("read %d bytes of %d", len(b), att.Size)
		}
		rc.Close()
		_, _, err = f.wf.OpenEntryAttachment(f.ctx, f.actor(mof), e.ID, att.ID)
		wantErr(t, err, workflow.ErrNotFound)
	})
}
