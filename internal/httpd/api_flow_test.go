package httpd

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// newLetter creates a draft letter from MOCT to MOF as c (a MOCT clerk).
func newLetter(c *apiClient, subject string) draftDTO {
	c.t.Helper()
	var d draftDTO
	c.call("POST", "/api/v1/correspondence", map[string]any{
		"kind": "letter", "subject": subject, "body": "نص الكتاب", "classification": "normal", "priority": "urgent",
		"sender_registry": "MOCT", "recipients": []map[string]string{{"registry": "MOF", "role": "to"}},
	}, http.StatusCreated, &d)
	if d.ID == 0 || d.EntryID == 0 {
		c.t.Fatalf("new letter answered %+v", d)
	}
	return d
}

// act makes a transition of an entry and insists on 200.
func act(c *apiClient, entryID int64, action string, body map[string]any) entryDTO {
	c.t.Helper()
	var e entryDTO
	c.call("POST", fmt.Sprintf("/api/v1/entries/%d/%s", entryID, action), body, http.StatusOK, &e)
	return e
}

func v(version int64, kv ...any) map[string]any {
	m := map[string]any{"version": version}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// incomingAt finds the incoming entry of a correspondence in a registry's
// list, as c sees it.
func incomingAt(c *apiClient, registry string, correspondenceID int64) entryDTO {
	c.t.Helper()
	var l list[entryDTO]
	c.call("GET", "/api/v1/entries?registry="+registry+"&direction=incoming&per_page=200", nil, http.StatusOK, &l)
	for _, e := range l.Items {
		if e.CorrespondenceID == correspondenceID {
			return e
		}
	}
	c.t.Fatalf("no incoming entry of correspondence %d at %s in %+v", correspondenceID, registry, l)
	return entryDTO{}
}

var (
	outgoingNumber = regexp.MustCompile(`^MOCT/ص/\d{4}/\d{6}$`)
	incomingNumber = regexp.MustCompile(`^MOF/و/\d{4}/\d{6}$`)
)

// TestLetterFlowThroughAPI takes a letter through its life over HTTPS:
// create → register → dispatch → incoming register → refer → accept →
// answer.
func TestLetterFlowThroughAPI(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		sender := e.login(moctClerk) // a browser: cookie and CSRF token
		d := newLetter(sender, "طلب بيانات الموازنة")

		out := act(sender, d.EntryID, "register", v(d.Version))
		if out.State != "registered" || out.Number == nil || !outgoingNumber.MatchString(*out.Number) || out.Direction != "outgoing" {
			t.Fatalf("registered: %+v", out)
		}
		out = act(sender, d.EntryID, "dispatch", v(out.Version))
		if out.State != "dispatched" {
			t.Fatalf("dispatched: %+v", out)
		}

		receiver := e.withToken(mofClerk) // an integration: API token
		in := incomingAt(receiver, "MOF", d.ID)
		if in.State != "received" || in.Number != nil || in.Subject != "طلب بيانات الموازنة" {
			t.Fatalf("received: %+v", in)
		}
		in = act(receiver, in.ID, "register", v(in.Version))
		if in.State != "registered" || in.Number == nil || !incomingNumber.MatchString(*in.Number) {
			t.Fatalf("incoming registered: %+v", in)
		}
		referralDue := workingDayIn(30)
		in = act(receiver, in.ID, "refer", v(in.Version, "to_department", "LEGAL", "instruction", "action", "due_date", referralDue))
		if in.State != "referred" {
			t.Fatalf("referred: %+v", in)
		}

		staff := e.withToken(mofStaff)
		var mine list[referralDTO]
		staff.call("GET", "/api/v1/referrals?mine=true&state=open", nil, http.StatusOK, &mine)
		if mine.Total != 1 || len(mine.Items) != 1 {
			t.Fatalf("staff's open referrals: %+v", mine)
		}
		r := mine.Items[0]
		if r.EntryID != in.ID || r.ToDepartment == nil || *r.ToDepartment != "LEGAL" || r.Instruction != "action" ||
			r.DueDate == nil || *r.DueDate != referralDue {
			t.Errorf("referral: %+v", r)
		}
		var got referralDTO
		staff.call("POST", fmt.Sprintf("/api/v1/referrals/%d/accept", r.ID), v(r.Version), http.StatusOK, &got)
		if got.State != "accepted" {
			t.Fatalf("accepted: %+v", got)
		}
		staff.call("POST", fmt.Sprintf("/api/v1/referrals/%d/answer", r.ID), v(got.Version, "answer", "البيانات مرفقة"), http.StatusOK, &got)
		if got.State != "answered" || got.Answer != "البيانات مرفقة" {
			t.Fatalf("answered: %+v", got)
		}

		// The receiving registry sees the document, its own entry first,
		// and the timeline.
		var doc correspondenceDTO
		receiver.call("GET", fmt.Sprintf("/api/v1/correspondence/%d", d.ID), nil, http.StatusOK, &doc)
		if doc.Entry.ID != in.ID || doc.Entry.Registry != "MOF" || doc.Subject != "طلب بيانات الموازنة" || len(doc.Timeline) == 0 {
			t.Errorf("document as MOF sees it: entry %+v, %d timeline events", doc.Entry, len(doc.Timeline))
		}
		if doc.FrozenAt == nil || doc.DocumentSHA256 == nil {
			t.Errorf("registered document not frozen: %+v", doc)
		}
		var ver verificationDTO
		receiver.call("GET", fmt.Sprintf("/api/v1/correspondence/%d/verify", d.ID), nil, http.StatusOK, &ver)
		if ver.Registry != "MOCT" || ver.Number != *out.Number || ver.DocumentSHA256 != *doc.DocumentSHA256 {
			t.Errorf("verification %+v", ver)
		}
		// And the sender sees delivery.
		sender.call("GET", fmt.Sprintf("/api/v1/correspondence/%d", d.ID), nil, http.StatusOK, &doc)
		if doc.Entry.ID != d.EntryID || len(doc.Recipients) != 1 || doc.Recipients[0].State == "" || doc.Recipients[0].State == "pending" {
			t.Errorf("document as MOCT sees it: entry %+v recipients %+v", doc.Entry, doc.Recipients)
		}
	})
}

func TestStaleVersionAndWrongStateAre409(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		c := e.withToken(moctClerk)
		d := newLetter(c, "stale")
		path := fmt.Sprintf("/api/v1/entries/%d/", d.EntryID)

		c.wantError("POST", path+"register", v(d.Version+1), http.StatusConflict, "stale_version", "version")
		c.wantError("PATCH", fmt.Sprintf("/api/v1/correspondence/%d", d.ID), v(d.Version+7, "subject", "x"), http.StatusConflict, "stale_version", "version")
		var edited draftDTO
		c.call("PATCH", fmt.Sprintf("/api/v1/correspondence/%d", d.ID), v(d.Version, "subject", "edited"), http.StatusOK, &edited)
		if edited.Version <= d.Version {
			t.Errorf("edit left the version at %d (was %d)", edited.Version, d.Version)
		}
		c.wantError("POST", path+"register", v(d.Version), http.StatusConflict, "stale_version", "version")

		reg := act(c, d.EntryID, "register", v(edited.Version))
		er := c.wantError("POST", path+"recall", v(reg.Version), http.StatusConflict, "invalid_transition", "")
		if !strings.Contains(er.Error.Message, "registered") {
			t.Errorf("409 message %q does not name the state", er.Error.Message)
		}
		c.wantError("PATCH", fmt.Sprintf("/api/v1/correspondence/%d", d.ID), v(reg.Version, "subject", "too late"), http.StatusConflict, "invalid_transition", "")
		c.wantError("POST", path+"submit", v(reg.Version), http.StatusConflict, "invalid_transition", "")
	})
}

func TestOtherMinistrysEntryIs404(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		moct := e.withToken(moctClerk)
		d := newLetter(moct, "internal draft")
		reg := act(moct, d.EntryID, "register", v(d.Version))

		mof := e.withToken(mofClerk)
		mof.wantError("GET", fmt.Sprintf("/api/v1/entries/%d", d.EntryID), nil, http.StatusNotFound, "not_found", "")
		mof.wantError("GET", fmt.Sprintf("/api/v1/correspondence/%d", d.ID), nil, http.StatusNotFound, "not_found", "")
		mof.wantError("POST", fmt.Sprintf("/api/v1/entries/%d/dispatch", d.EntryID), v(reg.Version), http.StatusNotFound, "not_found", "")
		mof.wantError("PATCH", fmt.Sprintf("/api/v1/correspondence/%d", d.ID), v(reg.Version, "subject", "x"), http.StatusNotFound, "not_found", "")
		var l list[entryDTO]
		mof.call("GET", "/api/v1/entries?registry=MOCT", nil, http.StatusOK, &l)
		if l.Total != 0 {
			t.Errorf("MOF clerk lists MOCT's entries: %+v", l)
		}
		// What does not exist looks the same.
		mof.wantError("GET", "/api/v1/entries/999999", nil, http.StatusNotFound, "not_found", "")
		// An administrator manages the organisation, not content.
		e.withToken(adminLogin).wantError("GET", fmt.Sprintf("/api/v1/entries/%d", d.EntryID), nil, http.StatusNotFound, "not_found", "")
		// A staff member of another department does not see a referral.
		moct.call("POST", fmt.Sprintf("/api/v1/entries/%d/dispatch", d.EntryID), v(reg.Version), http.StatusOK, nil)
		in := incomingAt(mof, "MOF", d.ID)
		in = act(mof, in.ID, "register", v(in.Version))
		act(mof, in.ID, "refer", v(in.Version, "to_department", "LEGAL", "instruction", "study"))
		var rs list[referralDTO]
		e.withToken(mofStaff).call("GET", "/api/v1/referrals?mine=true", nil, http.StatusOK, &rs)
		if rs.Total != 1 {
			t.Fatalf("LEGAL staff referrals: %+v", rs)
		}
		other := e.withToken(mofOtherStaf)
		other.wantError("GET", fmt.Sprintf("/api/v1/referrals/%d", rs.Items[0].ID), nil, http.StatusNotFound, "not_found", "")
		other.wantError("POST", fmt.Sprintf("/api/v1/referrals/%d/accept", rs.Items[0].ID), v(rs.Items[0].Version), http.StatusNotFound, "not_found", "")
		e.withToken(mofHead).call("GET", fmt.Sprintf("/api/v1/referrals/%d", rs.Items[0].ID), nil, http.StatusOK, nil)
	})
}

// TestVerifyOfAnotherMinistrysLetterIs404: the verification of a registered
// letter answers only whoever may read the letter; a user of another
// ministry gets the 404 of an id that does not exist, until the letter is
// addressed to their registry.
func TestVerifyOfAnotherMinistrysLetterIs404(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		moct := e.withToken(moctClerk)
		d := newLetter(moct, "not yet sent")
		reg := act(moct, d.EntryID, "register", v(d.Version))
		path := fmt.Sprintf("/api/v1/correspondence/%d/verify", d.ID)

		var ver verificationDTO
		moct.call("GET", path, nil, http.StatusOK, &ver)
		if reg.Number == nil || ver.Number != *reg.Number || ver.Subject == nil || *ver.Subject != "not yet sent" {
			t.Errorf("sender's verification = %+v", ver)
		}
		for _, who := range []string{mofClerk, mofStaff, adminLogin} {
			e.withToken(who).wantError("GET", path, nil, http.StatusNotFound, "not_found", "")
		}
		e.withToken(mofClerk).wantError("GET", "/api/v1/correspondence/999999/verify", nil, http.StatusNotFound, "not_found", "")

		// Dispatched to MOF, the letter is MOF's clerk's to read and verify.
		act(moct, d.EntryID, "dispatch", v(reg.Version))
		e.withToken(mofClerk).call("GET", path, nil, http.StatusOK, &ver)
		if ver.Number != *reg.Number {
			t.Errorf("recipient's verification = %+v", ver)
		}
		e.withToken(mofStaff).wantError("GET", path, nil, http.StatusNotFound, "not_found", "")
	})
}
