package httpd

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestBadInputIs400NamingTheField sends malformed JSON, unknown fields,
// wrong types and badly written dates; each is refused with 400 naming the
// field, and nothing is created.
func TestBadInputIs400NamingTheField(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		c := e.login(moctClerk)
		d := newLetter(c, "input")
		entry := fmt.Sprintf("/api/v1/entries/%d/", d.EntryID)
		corr := fmt.Sprintf("/api/v1/correspondence/%d", d.ID)

		for _, tc := range []struct {
			name, method, path string
			body               any
			code, field        string
		}{
			{"malformed JSON", "POST", "/api/v1/correspondence", `{"subject": "x",`, "malformed_json", "body"},
			{"not JSON", "POST", "/api/v1/correspondence", `subject=x`, "malformed_json", "body"},
			{"empty body", "POST", "/api/v1/correspondence", ``, "malformed_json", "body"},
			{"two objects", "POST", "/api/v1/correspondence", `{"subject": "x"} {}`, "malformed_json", "body"},
			{"array", "POST", "/api/v1/correspondence", `[]`, "malformed_json", "body"},
			{"unknown field", "POST", "/api/v1/correspondence", `{"subjekt": "x"}`, "unknown_field", "subjekt"},
			{"unknown nested field", "POST", "/api/v1/correspondence", `{"subject": "x", "recipients": [{"registry": "MOF", "bcc": true}]}`, "unknown_field", "recipients.bcc"},
			{"wrong type", "POST", "/api/v1/correspondence", `{"subject": 42}`, "invalid_type", "subject"},
			{"wrong nested type", "POST", "/api/v1/correspondence", `{"subject": "x", "recipients": [{"registry": 7}]}`, "invalid_type", "recipients.registry"},
			{"list for a string", "POST", "/api/v1/correspondence", `{"subject": ["x"]}`, "invalid_type", "subject"},
			{"date in another format", "POST", "/api/v1/correspondence", `{"subject": "x", "sender_registry": "MOCT", "due_date": "15/01/2030"}`, "invalid_date", "due_date"},
			{"date that does not exist", "POST", "/api/v1/correspondence", `{"subject": "x", "sender_registry": "MOCT", "due_date": "2030-02-30"}`, "invalid_date", "due_date"},
			{"date with a time", "POST", "/api/v1/correspondence", `{"subject": "x", "sender_registry": "MOCT", "due_date": "2030-01-15T00:00:00Z"}`, "invalid_date", "due_date"},
			{"date as a number", "POST", "/api/v1/correspondence", `{"subject": "x", "due_date": 20300115}`, "invalid_type", "due_date"},
			{"edit without version", "PATCH", corr, `{"subject": "y"}`, "missing_field", "version"},
			{"edit with a bad date", "PATCH", corr, fmt.Sprintf(`{"version": %d, "due_date": "2030-1-5"}`, d.Version), "invalid_date", "due_date"},
			{"transition without version", "POST", entry + "register", `{}`, "missing_field", "version"},
			{"version as a string", "POST", entry + "register", `{"version": "1"}`, "invalid_type", "version"},
			{"version as a fraction", "POST", entry + "register", `{"version": 1.5}`, "invalid_type", "version"},
			{"field the action does not take", "POST", entry + "register", fmt.Sprintf(`{"version": %d, "to_user": "x@mof.gov.sy"}`, d.Version), "unknown_field", "to_user"},
			{"refer with a bad due date", "POST", entry + "refer", fmt.Sprintf(`{"version": %d, "to_department": "LEGAL", "due_date": "tomorrow"}`, d.Version), "invalid_date", "due_date"},
			{"login as a number", "POST", "/api/v1/session", `{"login": 1, "password": "x"}`, "invalid_type", "login"},
			{"bad clearance", "PATCH", "/api/v1/users/" + moctClerk + "/membership", `{"clearance": "cosmic"}`, "invalid_value", "clearance"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c.wantError(tc.method, tc.path, tc.body, http.StatusBadRequest, tc.code, tc.field)
			})
		}

		for _, q := range []struct{ query, code, field string }{
			{"per_page=0", "invalid_parameter", "per_page"}, {"per_page=1000", "invalid_parameter", "per_page"},
			{"page=-1", "invalid_parameter", "page"}, {"page=x", "invalid_parameter", "page"},
			{"direction=sideways", "invalid_value", "direction"},
		} {
			c.wantError("GET", "/api/v1/entries?"+q.query, nil, http.StatusBadRequest, q.code, q.field)
		}
		c.wantError("GET", "/api/v1/referrals?mine=perhaps", nil, http.StatusBadRequest, "invalid_parameter", "mine")

		c.wantError("POST", entry+"teleport", v(d.Version), http.StatusNotFound, "not_found", "")
		c.wantError("GET", "/api/v1/entries/abc", nil, http.StatusNotFound, "not_found", "")
		c.wantError("POST", "/api/v1/correspondence", `{"subject": "`+strings.Repeat("x", maxJSONBytes)+`"}`, http.StatusRequestEntityTooLarge, "too_large", "body")

		// Nothing above created anything: only the first draft exists.
		var l list[entryDTO]
		c.call("GET", "/api/v1/entries", nil, http.StatusOK, &l)
		if l.Total != 1 {
			t.Errorf("%d entries after refused requests, want 1", l.Total)
		}
	})
}

// TestEngineInputErrorsAre400Or422 checks that the engine's own input
// checks reach the client with their field: a bad enumeration is 400, a
// well-formed dispatch it cannot act on is 422.
func TestEngineInputErrorsAre400Or422(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		c := e.withToken(moctClerk)
		c.wantError("POST", "/api/v1/correspondence", map[string]any{"subject": "x", "sender_registry": "MOCT", "classification": "cosmic"},
			http.StatusBadRequest, "invalid_input", "classification")
		c.wantError("POST", "/api/v1/correspondence", map[string]any{"subject": "", "sender_registry": "MOCT"},
			http.StatusBadRequest, "invalid_input", "subject")

		var d draftDTO
		c.call("POST", "/api/v1/correspondence", map[string]any{"subject": "no recipients", "sender_registry": "MOCT"}, http.StatusCreated, &d)
		reg := act(c, d.EntryID, "register", v(d.Version))
		resp, body := c.do("POST", fmt.Sprintf("/api/v1/entries/%d/dispatch", d.EntryID), v(reg.Version))
		if resp.StatusCode != http.StatusUnprocessableEntity && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("dispatch without recipients: %d %s, want 422 (or 400)", resp.StatusCode, body)
		}
	})
}
