package httpd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestJSONBodyIsReadAsWrittenOrRefused: a key given twice, a key spelt in
// another case than its field, and a body not sent as application/json are
// refused (400 naming the field, or 415) by every JSON route, and nothing
// is created or changed. encoding/json alone would take the last of two
// keys ("secret" then "normal" read as normal), match names without regard
// to case, and parse a text/plain body.
func TestJSONBodyIsReadAsWrittenOrRefused(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		c := e.login(moctClerk)
		d := newLetter(c, "strict")
		entry := fmt.Sprintf("/api/v1/entries/%d/register", d.EntryID)
		corr := fmt.Sprintf("/api/v1/correspondence/%d", d.ID)
		draft := `{"subject": "x", "sender_registry": "MOCT", `
		const jsonType = "application/json"

		for _, tc := range []struct {
			name, method, path, body, ctype string
			status                          int
			code, field                     string
		}{
			{"duplicate key, secret then normal", "POST", "/api/v1/correspondence", draft + `"classification": "secret", "classification": "normal"}`, jsonType, 400, "duplicate_field", "classification"},
			{"duplicate key, same value", "POST", "/api/v1/correspondence", draft + `"subject": "x"}`, jsonType, 400, "duplicate_field", "subject"},
			{"key in another case", "POST", "/api/v1/correspondence", draft + `"Classification": "normal"}`, jsonType, 400, "unknown_field", "Classification"},
			{"both spellings", "POST", "/api/v1/correspondence", draft + `"classification": "secret", "CLASSIFICATION": "normal"}`, jsonType, 400, "unknown_field", "CLASSIFICATION"},
			{"duplicate nested key", "POST", "/api/v1/correspondence", draft + `"recipients": [{"registry": "MOF", "registry": "MOCT"}]}`, jsonType, 400, "duplicate_field", "recipients.registry"},
			{"nested key in another case", "POST", "/api/v1/correspondence", draft + `"recipients": [{"Registry": "MOF"}]}`, jsonType, 400, "unknown_field", "recipients.Registry"},
			{"unknown field", "POST", "/api/v1/correspondence", draft + `"bcc": ["x"]}`, jsonType, 400, "unknown_field", "bcc"},
			{"duplicate version", "POST", entry, fmt.Sprintf(`{"version": 999, "version": %d}`, d.Version), jsonType, 400, "duplicate_field", "version"},
			{"version in capitals", "POST", entry, fmt.Sprintf(`{"VERSION": %d}`, d.Version), jsonType, 400, "unknown_field", "VERSION"},
			{"edit with a duplicate key", "PATCH", corr, fmt.Sprintf(`{"version": %d, "classification": "secret", "classification": "normal"}`, d.Version), jsonType, 400, "duplicate_field", "classification"},
			{"membership in another case", "PATCH", "/api/v1/users/" + moctClerk + "/membership", `{"Clearance": "secret"}`, jsonType, 400, "unknown_field", "Clearance"},
			{"text/plain", "POST", "/api/v1/correspondence", draft + `"classification": "normal"}`, "text/plain", 415, "unsupported_media_type", ""},
			{"no Content-Type", "POST", "/api/v1/correspondence", draft + `"classification": "normal"}`, "", 415, "unsupported_media_type", ""},
			{"form encoding", "POST", "/api/v1/correspondence", `subject=x`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
			{"another charset", "POST", "/api/v1/correspondence", draft + `"classification": "normal"}`, "application/json; charset=iso-8859-1", 415, "unsupported_media_type", ""},
			{"JSON-like type", "POST", "/api/v1/correspondence", draft + `"classification": "normal"}`, "application/jsonx", 415, "unsupported_media_type", ""},
			{"transition as text/plain", "POST", entry, fmt.Sprintf(`{"version": %d}`, d.Version), "text/plain;charset=UTF-8", 415, "unsupported_media_type", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, b := c.do(tc.method, tc.path, tc.body, "Content-Type", tc.ctype)
				var er apiError
				if err := json.Unmarshal(b, &er); err != nil {
					t.Fatalf("status %d, body %q is not the error shape", resp.StatusCode, b)
				}
				if resp.StatusCode != tc.status || er.Error.Code != tc.code || er.Error.Field != tc.field || er.Error.Message == "" {
					t.Errorf("got %d %s field %q (%s), want %d %s field %q", resp.StatusCode, er.Error.Code, er.Error.Field,
						er.Error.Message, tc.status, tc.code, tc.field)
				}
			})
		}
		// The login is read as strictly.
		e.anonymous().wantError("POST", "/api/v1/session", `{"Login": "`+moctClerk+`", "password": "`+testPassword+`"}`,
			http.StatusBadRequest, "unknown_field", "Login")
		resp, b := e.anonymous().do("POST", "/api/v1/session", `{"login": "`+moctClerk+`", "password": "`+testPassword+`"}`, "Content-Type", "text/plain")
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("login as text/plain: %d %s", resp.StatusCode, b)
		}

		// Nothing above created or changed anything.
		var l list[entryDTO]
		c.call("GET", "/api/v1/entries", nil, http.StatusOK, &l)
		if l.Total != 1 || l.Items[0].State != "draft" || l.Items[0].Version != d.Version {
			t.Errorf("entries after refused requests: %+v", l)
		}
		// The same request written properly is taken, with a charset too.
		resp, b = c.do("POST", "/api/v1/correspondence", draft+`"classification": "normal"}`, "Content-Type", "application/json; charset=UTF-8")
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("proper request: %d %s", resp.StatusCode, b)
		}
	})
}

// TestQueryParametersAreCheckedAgainstTheirValues: an enumerated query
// parameter with a value outside its values is a 400 naming the parameter
// and listing them (not an empty list), and a parameter the route does not
// take, or one given twice, is a 400 naming it.
func TestQueryParametersAreCheckedAgainstTheirValues(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		c := e.withToken(moctClerk)
		d := newLetter(c, "query")
		for _, tc := range []struct {
			path, code, field string
			lists             []string // words the message must hold
		}{
			{"/api/v1/entries?state=bogus", "invalid_value", "state", []string{"draft", "registered", "in_progress"}},
			{"/api/v1/entries?state=DRAFT", "invalid_value", "state", []string{"draft"}},
			{"/api/v1/entries?direction=sideways", "invalid_value", "direction", []string{"incoming", "outgoing"}},
			{"/api/v1/referrals?state=bogus", "invalid_value", "state", []string{"open", "accepted"}},
			{"/api/v1/referrals?state=draft", "invalid_value", "state", []string{"open"}},
			{"/api/v1/entries?stat=draft", "unknown_parameter", "stat", []string{"state", "direction"}},
			{"/api/v1/entries?State=draft", "unknown_parameter", "State", []string{"state"}},
			{"/api/v1/entries?state=draft&state=registered", "invalid_parameter", "state", nil},
			{"/api/v1/users?role=admin", "unknown_parameter", "role", []string{"q"}},
			{"/api/v1/ministries?ministry=MOF", "unknown_parameter", "ministry", nil},
			{"/api/v1/referrals?mine=true&assigned=me", "unknown_parameter", "assigned", nil},
			{"/api/v1/referrals?mine=1", "invalid_parameter", "mine", []string{"true", "false"}},
			{"/api/v1/referrals?mine=TRUE", "invalid_parameter", "mine", []string{"true", "false"}},
			{fmt.Sprintf("/api/v1/entries/%d?fields=all", d.EntryID), "unknown_parameter", "fields", nil},
			{fmt.Sprintf("/api/v1/correspondence/%d/verify?token=x", d.ID), "unknown_parameter", "token", nil},
			{"/api/v1/session?x=1", "unknown_parameter", "x", nil},
		} {
			t.Run(tc.path, func(t *testing.T) {
				er := c.wantError("GET", tc.path, nil, http.StatusBadRequest, tc.code, tc.field)
				for _, w := range tc.lists {
					if !strings.Contains(er.Error.Message, w) {
						t.Errorf("message %q does not list %s", er.Error.Message, w)
					}
				}
			})
		}
		// Known values are taken.
		var l list[entryDTO]
		c.call("GET", "/api/v1/entries?state=draft&direction=outgoing", nil, http.StatusOK, &l)
		if l.Total != 1 {
			t.Errorf("drafts: %+v", l)
		}
		c.call("GET", "/api/v1/referrals?state=open&mine=true", nil, http.StatusOK, nil)
		c.call("GET", "/api/v1/entries?state=", nil, http.StatusOK, nil)
	})
}
