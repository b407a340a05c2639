package httpd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// mustChange marks a user's password to be changed, as a password set by
// an administrator is.
func (e *apiEnv) mustChange(login string) {
	e.t.Helper()
	if err := e.dir.SetPassword(context.Background(), operator, login, testPassword, true); err != nil {
		e.t.Fatal(err)
	}
}

// A user who must change their password goes to /account after login
// (whatever page they asked for), and every other page sends them back
// there; the page says why and the bar offers nothing else. Logging out
// works. Once changed, the pages open again.
func TestMustChangePasswordKeepsTheUserOnTheAccountPage(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		e.mustChange(mofClerk)
		b := e.browser()
		b.get("/login?next=%2Freferrals")
		resp, _ := b.post("/login", url.Values{"login": {mofClerk}, "password": {testPassword}, "next": {"/referrals"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
			t.Fatalf("login: %d to %q, want /account", resp.StatusCode, resp.Header.Get("Location"))
		}
		// "/" always exists; the other pages are checked where this tree has
		// them (a path with no route at all is the unknown-path page).
		for _, path := range []string{"/", "/referrals", "/registers", "/entries/1", "/correspondence/new"} {
			resp, _ := b.get(path)
			if path != "/" && resp.StatusCode == http.StatusNotFound {
				continue
			}
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
				t.Errorf("GET %s: %d to %q, want /account", path, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		resp, body := b.get("/account")
		wantPage(t, resp, body, http.StatusOK, `id="must-change"`, "يجب تغيير كلمة المرور")
		bar := body[:strings.Index(body, "<main")]
		for _, h := range []string{`href="/registers"`, `href="/referrals"`, `href="/correspondence/new"`} {
			if strings.Contains(bar, h) {
				t.Errorf("the bar links %s before the password is changed", h)
			}
		}
		resp, _ = b.post("/entries/1/register", url.Values{"version": {"1"}})
		if resp.StatusCode != http.StatusNotFound && (resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account") {
			t.Errorf("POST elsewhere: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}

		resp, _ = b.post("/account/password", passwordForm(testPassword, newPassword, newPassword))
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("change: %d", resp.StatusCode)
		}
		resp, body = b.get("/account")
		wantPage(t, resp, body, http.StatusOK, `href="/registers"`)
		if strings.Contains(body, `id="must-change"`) {
			t.Error("the notice stays after the change")
		}
		resp, _ = b.get("/")
		if resp.Header.Get("Location") != "/registers" {
			t.Errorf("home after the change: %q", resp.Header.Get("Location"))
		}

		e.mustChange(mofStaff)
		s := e.uiLogin(mofStaff)
		s.get("/account")
		resp, _ = s.post("/logout", url.Values{})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("logout before the change: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// The API answers a user who must change their password 403
// password_change_required everywhere but GET and DELETE /session and
// POST /session/password, with a session or a token; the change takes
// {"current", "new"}, says which field is wrong, and opens
// the API again. A token found valid before the password had to change
// is refused at once (org_state moved), on the routes that trust the
// directory's keep of tokens too.
func TestMustChangePasswordAPI(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		tok := e.withToken(moctClerk)
		d := newLetter(tok, "قبل") // the token is now kept as valid
		e.mustChange(moctClerk)
		tok.wantError("POST", fmt.Sprintf("/api/v1/entries/%d/register", d.EntryID), v(d.Version), http.StatusForbidden, "password_change_required", "")
		tok.wantError("POST", "/api/v1/correspondence", map[string]any{"subject": "x", "sender_registry": "MOCT"},
			http.StatusForbidden, "password_change_required", "")
		tok.wantError("GET", "/api/v1/entries", nil, http.StatusForbidden, "password_change_required", "")

		c := e.login(moctClerk)
		var s sessionResponse
		c.call("GET", "/api/v1/session", nil, http.StatusOK, &s)
		if !s.User.MustChangePassword {
			t.Errorf("GET /session: %+v", s.User)
		}
		c.wantError("GET", "/api/v1/ministries", nil, http.StatusForbidden, "password_change_required", "")
		c.wantError("GET", fmt.Sprintf("/api/v1/correspondence/%d", d.ID), nil, http.StatusForbidden, "password_change_required", "")
		c.wantError("POST", "/api/v1/session/password", map[string]string{"new": newPassword}, http.StatusBadRequest, "missing_field", "current")
		c.wantError("POST", "/api/v1/session/password", map[string]string{"current": "wrong one", "new": newPassword},
			http.StatusBadRequest, "invalid_input", "current")
		c.wantError("POST", "/api/v1/session/password", map[string]string{"current": testPassword, "new": "short"},
			http.StatusBadRequest, "invalid_input", "new")
		c.wantError("POST", "/api/v1/session/password", map[string]string{"current_password": testPassword, "new": newPassword},
			http.StatusBadRequest, "unknown_field", "current_password")
		resp, _ := c.do("POST", "/api/v1/session/password", map[string]string{"current": testPassword, "new": newPassword},
			"X-CSRF-Token", "forged")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("change without the CSRF token: %d", resp.StatusCode)
		}
		c.call("POST", "/api/v1/session/password", map[string]string{"current": testPassword, "new": newPassword}, http.StatusNoContent, nil)
		c.call("GET", "/api/v1/ministries", nil, http.StatusOK, nil)
		act(tok, d.EntryID, "register", v(d.Version))
		c.call("DELETE", "/api/v1/session", nil, http.StatusNoContent, nil)
	})
}
