package httpd

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestAnswerRefusesTheLetterItselfAndALetterNotReferencingIt: an entry is
// answered only by a letter that references it, never by itself; the
// refusal is 422 naming the field reply.
func TestAnswerRefusesTheLetterItselfAndALetterNotReferencingIt(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		moct, mof := e.withToken(moctClerk), e.withToken(mofClerk)
		d := newLetter(moct, "a question")
		reg := act(moct, d.EntryID, "register", v(d.Version))
		act(moct, d.EntryID, "dispatch", v(reg.Version))
		in := incomingAt(mof, "MOF", d.ID)
		in = act(mof, in.ID, "register", v(in.Version))
		path := fmt.Sprintf("/api/v1/entries/%d/answer", in.ID)

		er := mof.wantError("POST", path, v(in.Version, "reply", d.ID), http.StatusUnprocessableEntity, "unprocessable", "reply")
		if !strings.Contains(er.Error.Message, "itself") {
			t.Errorf("answered by itself: %q", er.Error.Message)
		}
		var other draftDTO
		mof.call("POST", "/api/v1/correspondence", map[string]any{
			"kind": "letter", "subject": "unrelated", "body": "نص", "classification": "normal", "priority": "normal",
			"sender_registry": "MOF", "recipients": []map[string]string{{"registry": "MOCT", "role": "to"}},
		}, http.StatusCreated, &other)
		er = mof.wantError("POST", path, v(in.Version, "reply", other.ID), http.StatusUnprocessableEntity, "unprocessable", "reply")
		if !strings.Contains(er.Error.Message, "does not reference") {
			t.Errorf("answered by an unrelated letter: %q", er.Error.Message)
		}
		var got entryDTO
		mof.call("GET", fmt.Sprintf("/api/v1/entries/%d", in.ID), nil, http.StatusOK, &got)
		if got.State != "registered" || got.AnsweredBy != nil || got.Version != in.Version {
			t.Errorf("a refused answer changed the entry: %+v", got)
		}
	})
}

// TestAttachToRegisteredLetterSaysItIsFrozen: the refusal of an attachment
// to a registered letter says why.
func TestAttachToRegisteredLetterSaysItIsFrozen(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		c := e.withToken(moctClerk)
		d := newLetter(c, "registered")
		act(c, d.EntryID, "register", v(d.Version))
		body, ct := multipartBody(t, "file", `form-data; name="file"; filename="late.pdf"`, "application/pdf", pdfBytes(1<<10))
		resp, b := c.upload(d.ID, body, ct, false)
		var er apiError
		mustJSON(t, b, &er)
		if resp.StatusCode != http.StatusConflict || !strings.Contains(er.Error.Message, "registered letters are frozen") {
			t.Errorf("attach to a registered letter: %d %s", resp.StatusCode, b)
		}
	})
}
