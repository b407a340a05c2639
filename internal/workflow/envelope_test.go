package workflow_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// The recipient ministry sees the sender's people as the sending registry:
// neither an attachment's author nor the timeline's actors name them.
func TestRecipientSeesSenderStaffAsTheirRegistry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		e := f.draft(workflow.NewCorrespondence{Recipients: toRegistries("MOF"), Body: "مرفق"})
		_, err := f.wf.AddAttachment(f.ctx, f.actor("clerk@moct.gov.sy"), e.CorrespondenceID, "a.txt", strings.NewReader("نص"))
		f.must(err)
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionDispatch})
		in := f.incomingAt("clerk@mof.gov.sy", e.CorrespondenceID)
		in = f.act("clerk@mof.gov.sy", in, workflow.Transition{Action: workflow.ActionReturn, Reason: "ليس لنا"})

		v, err := f.wf.Get(f.ctx, f.actor("clerk@mof.gov.sy"), e.CorrespondenceID)
		f.must(err)
		if got := v.Correspondence.Attachments[0].CreatedBy; got != "MOCT" {
			t.Errorf("the recipient sees the attachment's author as %q, want MOCT", got)
		}
		actors := map[string]bool{}
		for _, ev := range v.Timeline {
			actors[ev.Actor] = true
			if strings.Contains(ev.Actor, "moct.gov.sy") {
				t.Errorf("the recipient sees a sender's person in the timeline: %+v", ev)
			}
		}
		if !actors["MOCT"] || !actors["clerk@mof.gov.sy"] {
			t.Errorf("timeline actors = %v, want MOCT and the recipient's own clerk", actors)
		}
		// The sender still sees its own people.
		v, err = f.wf.Get(f.ctx, f.actor("clerk@moct.gov.sy"), e.CorrespondenceID)
		f.must(err)
		if got := v.Correspondence.Attachments[0].CreatedBy; got != "clerk@moct.gov.sy" {
			t.Errorf("the sender sees the attachment's author as %q", got)
		}
	})
}

// A recalled letter keeps its envelope at the recipient (number, sender,
// date, state) but no longer shows its content: neither subject, body nor
// attachments.
func TestRecipientCannotReadARecalledLetter(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		e := f.draft(workflow.NewCorrespondence{Recipients: toRegistries("MOF"), Subject: "سري للغاية", Body: "المضمون"})
		att, err := f.wf.AddAttachment(f.ctx, f.actor("clerk@moct.gov.sy"), e.CorrespondenceID, "a.txt", strings.NewReader("نص"))
		f.must(err)
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionDispatch})
		e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRecall})
		mof := f.actor("clerk@mof.gov.sy")
		v, err := f.wf.Get(f.ctx, mof, e.CorrespondenceID)
		f.must(err)
		c := v.Correspondence
		if c.Body != "" || c.Subject != "" || len(c.Attachments) != 0 || c.DocumentSHA256 != "" {
			t.Errorf("the recipient reads a recalled letter: %+v", c)
		}
		if c.SenderRegistry != "MOCT" || len(v.Entries) != 1 || v.Entries[0].State != workflow.StateRecalled || v.Entries[0].Subject != "" {
			t.Errorf("the envelope of a recalled letter: %+v %+v", c, v.Entries)
		}
		page, err := f.wf.Entries(f.ctx, mof, workflow.ListFilter{Direction: workflow.Incoming})
		f.must(err)
		if page.Total != 1 || page.Items[0].Subject != "" {
			t.Errorf("the recipient's list shows a recalled letter's subject: %+v", page.Items)
		}
		page, err = f.wf.Entries(f.ctx, mof, workflow.ListFilter{Query: "سري"})
		f.must(err)
		if page.Total != 0 {
			t.Errorf("a recalled letter is found by its subject: %+v", page.Items)
		}
		ver, err := f.wf.Verify(f.ctx, mof, e.CorrespondenceID)
		f.must(err)
		if ver.Subject != "" || ver.Number != e.Number {
			t.Errorf("verification of a recalled letter by its recipient: %+v", ver)
		}
		_, rc, err := f.wf.OpenAttachment(f.ctx, mof, e.CorrespondenceID, att.ID)
		if err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			t.Fatalf("the recipient opened an attachment of a recalled letter: %q", b)
		}
		if !errors.Is(err, workflow.ErrNotFound) {
			t.Errorf("open attachment of a recalled letter: %v", err)
		}
		// The sender still reads it.
		v, err = f.wf.Get(f.ctx, f.actor("clerk@moct.gov.sy"), e.CorrespondenceID)
		f.must(err)
		if v.Correspondence.Body != "المضمون" {
			t.Errorf("the sender's view of its recalled letter: %+v", v.Correspondence)
		}
	})
}
