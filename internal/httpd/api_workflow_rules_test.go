package httpd

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/workflow"
)

// referralTo finds the referral of an entry to a department, as c (the
// registry's clerk) lists them.
func referralTo(c *apiClient, entryID int64, dep string) referralDTO {
	c.t.Helper()
	var l list[referralDTO]
	c.call("GET", fmt.Sprintf("/api/v1/referrals?entry_id=%d", entryID), nil, http.StatusOK, &l)
	for _, r := range l.Items {
		if r.ToDepartment != nil && *r.ToDepartment == dep {
			return r
		}
	}
	c.t.Fatalf("no referral of entry %d to %s in %+v", entryID, dep, l)
	return referralDTO{}
}

// Closing an incoming entry over the API: a head holding one referral is
// told which other departments' referrals are open (409); the clerk's
// close ends them, and an action on one is then 409 naming the entry's
// state.
func TestClosingAnEntryWithReferralsThroughAPI(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		sender := e.withToken(moctClerk)
		d := newLetter(sender, "إغلاق مع الإحالات")
		out := act(sender, d.EntryID, "register", v(d.Version))
		act(sender, d.EntryID, "dispatch", v(out.Version))
		clerk := e.withToken(mofClerk)
		in := incomingAt(clerk, "MOF", d.ID)
		in = act(clerk, in.ID, "register", v(in.Version))
		in = act(clerk, in.ID, "refer", v(in.Version, "to_department", "LEGAL", "instruction", "study"))
		in = act(clerk, in.ID, "refer", v(in.Version, "to_department", "BUDGET", "instruction", "study"))

		head := e.withToken(mofHead)
		er := head.wantError("POST", fmt.Sprintf("/api/v1/entries/%d/close", in.ID), v(in.Version), http.StatusConflict, "conflict", "")
		if !strings.Contains(er.Error.Message, "to BUDGET") {
			t.Errorf("409 message %q does not name the open referral to BUDGET", er.Error.Message)
		}
		closed := act(clerk, in.ID, "close", v(in.Version))
		if closed.State != "closed" {
			t.Fatalf("closed: %+v", closed)
		}
		r := referralTo(clerk, in.ID, "LEGAL")
		if r.State != "closed" || len(r.Actions) != 0 {
			t.Errorf("referral of a closed entry: state %s, actions %v", r.State, r.Actions)
		}
		staff := e.withToken(mofStaff)
		er = staff.wantError("POST", fmt.Sprintf("/api/v1/referrals/%d/comment", r.ID), v(r.Version, "comment", "بعد الإغلاق"),
			http.StatusConflict, "invalid_transition", "")
		if !strings.Contains(er.Error.Message, "closed") {
			t.Errorf("409 message %q does not name the entry's state", er.Error.Message)
		}
	})
}

// A head who drafted a letter does not approve it: 403 saying why.
func TestApprovingOnesOwnLetterIs403ThroughAPI(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		e.ok(e.wf.AddRegistry(context.Background(), workflow.OperatorActor(operator), workflow.Registry{Code: "MOF2", Ministry: "MOF",
			NameAR: "ديوان ٢", NameEN: "Registry MOF2", Address: "diwan2@mof.gov.sy", ApprovalRequired: true}))
		head := e.withToken(mofHead)
		var d draftDTO
		head.call("POST", "/api/v1/correspondence", map[string]any{
			"kind": "letter", "subject": "كتاب الرئيس", "body": "نص", "classification": "normal", "priority": "normal",
			"sender_registry": "MOF2", "recipients": []map[string]string{{"registry": "MOCT", "role": "to"}},
		}, http.StatusCreated, &d)
		sub := act(head, d.EntryID, "submit", v(d.Version))
		for _, a := range sub.Actions {
			if a == "approve" {
				t.Errorf("the drafter is offered %v", sub.Actions)
			}
		}
		er := head.wantError("POST", fmt.Sprintf("/api/v1/entries/%d/approve", d.EntryID), v(sub.Version), http.StatusForbidden, "forbidden", "")
		if !strings.Contains(er.Error.Message, "you drafted") {
			t.Errorf("403 message %q does not say why", er.Error.Message)
		}
	})
}
