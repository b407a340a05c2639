package httpd

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/workflow"
)

// addRegistryMOF2 adds a second registry to MOF, with no clerk.
func addRegistryMOF2(e *apiEnv) {
	e.t.Helper()
	e.ok(e.wf.AddRegistry(context.Background(), workflow.OperatorActor(operator), workflow.Registry{Code: "MOF2", Ministry: "MOF",
		NameAR: "ديوان ٢", NameEN: "Registry MOF2", Address: "diwan2@mof.gov.sy"}))
	// A registry takes letters only with a clerk to receive them.
	e.ok(e.wf.SetMembership(context.Background(), workflow.OperatorActor(operator), mofClerk, workflow.MembershipChange{AddRegistry: "MOF2"}))
}

// A letter MOF returns goes on to MOF2 under the number it has.
func TestReturnedLetterIsForwardedThroughAPI(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		addRegistryMOF2(e)
		sender, receiver := e.withToken(moctClerk), e.withToken(mofClerk)
		d := newLetter(sender, "كتاب ضل طريقه")
		out := act(sender, d.EntryID, "register", v(d.Version))
		out = act(sender, d.EntryID, "dispatch", v(out.Version))
		in := incomingAt(receiver, "MOF", d.ID)
		act(receiver, in.ID, "return", v(in.Version, "reason", "ليس من اختصاصنا"))
		var got entryDTO
		sender.call("GET", fmt.Sprintf("/api/v1/entries/%d", d.EntryID), nil, http.StatusOK, &got)
		if !slices.Contains(got.Actions, "forward") {
			t.Fatalf("actions of a returned letter = %v", got.Actions)
		}
		sender.call("POST", fmt.Sprintf("/api/v1/entries/%d/forward", d.EntryID), v(got.Version, "registry", "MOF"), http.StatusUnprocessableEntity, nil)
		fw := act(sender, d.EntryID, "forward", v(got.Version, "registry", "MOF2"))
		if fw.State != "dispatched" || *fw.Number != *out.Number {
			t.Fatalf("forwarded: %+v", fw)
		}
		var doc correspondenceDTO
		sender.call("GET", fmt.Sprintf("/api/v1/correspondence/%d", d.ID), nil, http.StatusOK, &doc)
		if len(doc.Recipients) != 2 || doc.Recipients[1].Registry != "MOF2" ||
			doc.Recipients[1].State != "delivered" {
			t.Errorf("recipients after forward: %+v", doc.Recipients)
		}
	})
}

// A circular is recalled from the one registry that has not registered
// it; recall of the whole is not offered once one has.
func TestRecallOneRecipientThroughAPI(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		addRegistryMOF2(e)
		sender, receiver := e.withToken(moctClerk), e.withToken(mofClerk)
		var d draftDTO
		sender.call("POST", "/api/v1/correspondence", map[string]any{"kind": "circular", "subject": "تعميم", "body": "نص",
			"sender_registry": "MOCT", "recipients": []map[string]string{{"registry": "MOF"}, {"registry": "MOF2"}},
		}, http.StatusCreated, &d)
		out := act(sender, d.EntryID, "register", v(d.Version))
		out = act(sender, d.EntryID, "dispatch", v(out.Version))
		in := incomingAt(receiver, "MOF", d.ID)
		act(receiver, in.ID, "register", v(in.Version))
		sender.call("GET", fmt.Sprintf("/api/v1/entries/%d", d.EntryID), nil, http.StatusOK, &out)
		if slices.Contains(out.Actions, "recall") {
			t.Errorf("recall offered after MOF registered: %v", out.Actions)
		}
		sender.call("POST", fmt.Sprintf("/api/v1/entries/%d/recall", d.EntryID), v(out.Version), http.StatusConflict, nil)
		out = act(sender, d.EntryID, "recall", v(out.Version, "registry", "MOF2"))
		if out.State != "dispatched" {
			t.Fatalf("after recalling MOF2's copy: %+v", out)
		}
		var doc correspondenceDTO
		sender.call("GET", fmt.Sprintf("/api/v1/correspondence/%d", d.ID), nil, http.StatusOK, &doc)
		if len(doc.Recipients) != 2 || doc.Recipients[0].State != "acknowledged" || doc.Recipients[1].State != "recalled" {
			t.Errorf("recipients after recalling one: %+v", doc.Recipients)
		}
	})
}

// The recipient sees the sender's people as the sending registry, and of
// a recalled letter its envelope alone.
func TestRecipientSeesSenderAsRegistryAndRecalledAsEnvelopeThroughAPI(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		sender, receiver := e.withToken(moctClerk), e.withToken(mofClerk)
		d := newLetter(sender, "مع مرفق")
		body, ct := multipartBody(t, "file", `form-data; name="file"; filename="a.txt"`, "text/plain", []byte("نص المرفق"))
		if resp, b := sender.upload(d.ID, body, ct, false); resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload: %d %s", resp.StatusCode, b)
		}
		out := act(sender, d.EntryID, "register", v(d.Version))
		out = act(sender, d.EntryID, "dispatch", v(out.Version))
		var doc correspondenceDTO
		receiver.call("GET", fmt.Sprintf("/api/v1/correspondence/%d", d.ID), nil, http.StatusOK, &doc)
		if len(doc.Attachments) != 1 || doc.Attachments[0].CreatedBy != "MOCT" {
			t.Errorf("attachments as MOF sees them: %+v", doc.Attachments)
		}
		for _, ev := range doc.Timeline {
			if strings.Contains(ev.Actor, "moct.gov.sy") {
				t.Errorf("MOF sees a MOCT person in the timeline: %+v", ev)
			}
		}
		act(sender, d.EntryID, "recall", v(out.Version))
		receiver.call("GET", fmt.Sprintf("/api/v1/correspondence/%d", d.ID), nil, http.StatusOK, &doc)
		if doc.Subject != "" || doc.Body != "" || len(doc.Attachments) != 0 || doc.Entry.State != "recalled" || doc.Entry.Subject != "" {
			t.Errorf("a recalled letter as MOF sees it: %+v", doc)
		}
	})
}

// A letter registered with no recipients is offered forward, not
// dispatch, and forward sends it.
func TestRegisteredLetterWithoutRecipientsIsForwardedThroughAPI(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		sender := e.withToken(moctClerk)
		var d draftDTO
		sender.call("POST", "/api/v1/correspondence", map[string]any{"subject": "بلا مرسل إليه", "body": "نص",
			"sender_registry": "MOCT"}, http.StatusCreated, &d)
		out := act(sender, d.EntryID, "register", v(d.Version))
		if slices.Contains(out.Actions, "dispatch") || !slices.Contains(out.Actions, "forward") {
			t.Fatalf("actions of a registered letter without recipients = %v", out.Actions)
		}
		out = act(sender, d.EntryID, "forward", v(out.Version, "registry", "MOF"))
		if out.State != "dispatched" {
			t.Fatalf("forwarded: %+v", out)
		}
		if in := incomingAt(e.withToken(mofClerk), "MOF", d.ID); in.State != "received" {
			t.Errorf("MOF's entry = %+v", in)
		}
	})
}

// A forward goes through the clearance check of dispatch: a confidential
// letter is not forwarded to a registry none of whose clerks may read
// it (it would vanish there), and nothing changes; once a clerk there is
// cleared, it is.
func TestForwardToRegistryWithNoClearedClerkIs422(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		op := workflow.OperatorActor(operator)
		e.ok(e.wf.SetMembership(context.Background(), op, moctClerk, workflow.MembershipChange{Clearance: workflow.Confidential}))
		sender := e.withToken(moctClerk)
		var d draftDTO
		sender.call("POST", "/api/v1/correspondence", map[string]any{"subject": "سري للغاية", "body": "نص",
			"sender_registry": "MOCT", "classification": "confidential"}, http.StatusCreated, &d)
		out := act(sender, d.EntryID, "register", v(d.Version))
		got := sender.wantError("POST", fmt.Sprintf("/api/v1/entries/%d/forward", d.EntryID), v(out.Version, "registry", "MOF"),
			http.StatusUnprocessableEntity, "unprocessable", "recipients")
		if !strings.Contains(got.Error.Message, "MOF") || !strings.Contains(got.Error.Message, "confidential") {
			t.Errorf("refusal: %q", got.Error.Message)
		}
		var doc correspondenceDTO
		sender.call("GET", fmt.Sprintf("/api/v1/correspondence/%d", d.ID), nil, http.StatusOK, &doc)
		if len(doc.Recipients) != 0 {
			t.Errorf("recipients after a refused forward: %+v", doc.Recipients)
		}
		e.ok(e.wf.SetMembership(context.Background(), op, mofClerk, workflow.MembershipChange{Clearance: workflow.Confidential}))
		if fw := act(sender, d.EntryID, "forward", v(out.Version, "registry", "MOF")); fw.State != "dispatched" {
			t.Fatalf("forwarded once MOF's clerk is cleared: %+v", fw)
		}
	})
}
