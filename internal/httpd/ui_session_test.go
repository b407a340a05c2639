package httpd

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The login page is Arabic and right to left by default, English on
// ?lang=en (remembered), and carries the UI's security headers.
func TestLoginPageLanguagesAndHeaders(t *testing.T) {
	e := newAPIEnv(t, "sqlite", false)
	b := e.browser()
	resp, body := b.get("/login")
	wantPage(t, resp, body, http.StatusOK, `<html lang="ar" dir="rtl">`, "تسجيل الدخول", `name="csrf_token"`)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "same-origin" {
		t.Errorf("headers %v", resp.Header)
	}
	resp, body = b.get("/login?lang=en")
	wantPage(t, resp, body, http.StatusOK, `<html lang="en" dir="ltr">`, "Log in")
	resp, body = b.get("/login")
	wantPage(t, resp, body, http.StatusOK, `<html lang="en" dir="ltr">`)
	resp, body = b.get("/static/diwan.css")
	wantPage(t, resp, body, http.StatusOK, "margin-inline")
}

// A wrong password and an unknown login get the same message; what the
// user typed comes back escaped; a login without the form's CSRF token is
// refused; a good one goes to the page asked for.
func TestLoginForm(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.browser()
		resp, _ := b.get("/")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Fatalf("a page without a session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		b.get("/login?next=%2Freferrals")
		resp, body := b.post("/login", url.Values{"login": {mofClerk}, "password": {"wrong"}, "next": {"/referrals"}})
		wantPage(t, resp, body, http.StatusUnauthorized, "تعذّر تسجيل الدخول", `value="clerk@mof.gov.sy"`)
		failed := body[strings.Index(body, "<main"):]
		resp, body = b.post("/login", url.Values{"login": {"<script>alert(1)</script>@mof.gov.sy"}, "password": {"wrong"}, "next": {"/referrals"}})
		wantPage(t, resp, body, http.StatusUnauthorized, "&lt;script&gt;alert(1)&lt;/script&gt;")
		if strings.Contains(body, "<script>alert") {
			t.Error("the login typed is not escaped")
		}
		unknown := strings.ReplaceAll(body[strings.Index(body, "<main"):], "&lt;script&gt;alert(1)&lt;/script&gt;@mof.gov.sy", "clerk@mof.gov.sy")
		if csrfInput.ReplaceAllString(unknown, "") != csrfInput.ReplaceAllString(failed, "") {
			t.Errorf("an unknown login and a wrong password are told apart:\n%s\n%s", unknown, failed)
		}
		resp, body = b.post("/login", url.Values{"login": {""}, "password": {""}})
		wantPage(t, resp, body, http.StatusBadRequest, `id="login-error"`, `id="password-error"`)

		resp, body = b.post("/login", url.Values{"login": {mofClerk}, "password": {testPassword}, "csrf_token": {"forged"}})
		wantPage(t, resp, body, http.StatusForbidden)
		resp, _ = b.post("/login", url.Values{"login": {mofClerk}, "password": {testPassword}, "next": {"//evil.example/"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("login: %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
		}
		b2 := e.browser()
		b2.get("/login?next=%2Freferrals%3Fstate%3Dopen")
		resp, _ = b2.post("/login", url.Values{"login": {mofClerk}, "password": {testPassword}, "next": {"/referrals?state=open"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/referrals?state=open" {
			t.Fatalf("login: %d to %q, want 303 to the page asked for", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, _ = b.get("/")
		if resp.Header.Get("Location") != "/registers" {
			t.Errorf("a clerk's home: %q", resp.Header.Get("Location"))
		}
	})
}

// Logging out needs the CSRF token; afterwards the session is gone, for
// the UI and the API alike.
func TestLogout(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	b := e.uiLogin(mofStaff)
	resp, _ := b.post("/logout", url.Values{"csrf_token": {"forged"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without the CSRF token: %d", resp.StatusCode)
	}
	resp, _ = b.get("/")
	if resp.Header.Get("Location") != "/referrals" {
		t.Fatalf("still logged in: home is %q", resp.Header.Get("Location"))
	}
	resp, _ = b.post("/logout", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.get("/")
	if resp.Header.Get("Location") != "/login" {
		t.Fatalf("after logout home goes to %q", resp.Header.Get("Location"))
	}
}

// A browser asking for a page that does not exist gets a page; an API
// client the JSON error.
func TestUnknownPathPageOrJSON(t *testing.T) {
	e := newAPIEnv(t, "sqlite", false)
	resp, body := e.browser().get("/no/such/page")
	wantPage(t, resp, body, http.StatusNotFound, `<html lang="ar"`, "غير موجود")
	resp, body = e.browser().get("/logout")
	wantPage(t, resp, body, http.StatusMethodNotAllowed, `<html lang="ar"`)
	resp, b := e.anonymous().do("GET", "/api/v1/nothing", nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), `"not_found"`) {
		t.Fatalf("API: %d %s", resp.StatusCode, b)
	}
}

// Times are shown in time_zone, where the register counts its days: a
// letter registered at 22:30 UTC on 2 March is registered on 3 March in
// Damascus (UTC+3).
func TestPagesShowTimesInTheTimeZone(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Damascus")
	if err != nil {
		t.Fatal(err)
	}
	u, err := newUI(loc)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 22, 30, 0, 0, time.UTC)
	if got := u.funcs()["datetime"].(func(time.Time) string)(at); got != "2026-03-03 01:30" {
		t.Errorf("datetime = %q", got)
	}
	if got := u.funcs()["date"].(func(time.Time) string)(at); got != "2026-03-03" {
		t.Errorf("date = %q", got)
	}
	if got := (&uiPage{zone: loc}).datetime(time.Time{}); got != "" {
		t.Errorf("the zero time = %q", got)
	}
}
