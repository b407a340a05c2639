package httpd

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/directory"
)

const newPassword = "a brand new secret"

// passwordForm is a change of password from testPassword.
func passwordForm(current, next, confirm string) url.Values {
	return url.Values{"current_password": {current}, "new_password": {next}, "confirm_password": {confirm}}
}

// The account page says who the user is (their name escaped), with the
// forms of password and language, in Arabic by default.
func TestAccountPageShowsTheUserEscaped(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	ctx := context.Background()
	e.ok(e.dir.AddUser(ctx, operator, directory.NewUser{Address: "xss@mof.gov.sy", Name: `<img src=x onerror=alert(1)>`,
		Roles: []string{"staff"}, Password: testPassword}))
	b := e.uiLogin("xss@mof.gov.sy")
	resp, body := b.get("/account")
	wantPage(t, resp, body, http.StatusOK, `<html lang="ar" dir="rtl">`, "حسابي", "xss@mof.gov.sy",
		"&lt;img src=x onerror=alert(1)&gt;", `action="/account/password"`, `action="/account/language"`,
		`id="current_password"`, `id="new_password"`, `id="confirm_password"`, `name="language"`, "موظف: يتلقى الإحالات")
	if strings.Contains(body, "<img src=x") {
		t.Error("the user's name is not escaped")
	}
	if strings.Contains(body, `id="must-change"`) {
		t.Error("the must-change notice is shown to a user who need not change")
	}
	resp, body = b.get("/account?done=<script>")
	wantPage(t, resp, body, http.StatusOK)
	if strings.Contains(body, `class="flash"`) || strings.Contains(body, "<script>") {
		t.Error("an unknown done= key is shown")
	}
}

// Each mistake in the change of password is said next to its field, in
// the user's language, and changes nothing; a POST without the CSRF token
// is refused; a good change says so, and the new password logs in.
func TestAccountPasswordChange(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.uiLogin(mofStaff)
		b.get("/account")
		for _, c := range []struct {
			form          url.Values
			field, phrase string
		}{
			{passwordForm("", newPassword, newPassword), "current_password", "أدخل كلمة المرور الحالية"},
			{passwordForm(testPassword, "", ""), "new_password", "أدخل كلمة مرور جديدة"},
			{passwordForm(testPassword, "short", "short"), "new_password", "8 محارف على الأقل"},
			{passwordForm(testPassword, newPassword, newPassword+"x"), "confirm_password", "غير متطابقتين"},
			{passwordForm(testPassword, testPassword, testPassword), "new_password", "أن تختلف"},
			{passwordForm("<script>alert(1)</script>", newPassword, newPassword), "current_password", "غير صحيحة"},
		} {
			resp, body := b.post("/account/password", c.form)
			wantPage(t, resp, body, http.StatusBadRequest, `id="`+c.field+`-error"`, c.phrase, `aria-invalid="true"`)
			if strings.Contains(body, "<script>alert") {
				t.Error("typed text comes back unescaped")
			}
		}
		b.lang = "en"
		resp, body := b.post("/account/password", passwordForm("wrong password", newPassword, newPassword))
		wantPage(t, resp, body, http.StatusBadRequest, `<html lang="en" dir="ltr">`, "The current password is not right.")
		b.lang = "" // English stays: ?lang= while logged in is the user's choice

		resp, body = b.post("/account/password", cloneWith(passwordForm(testPassword, newPassword, newPassword), "csrf_token", "forged"))
		wantPage(t, resp, body, http.StatusForbidden)
		if _, err := e.dir.Authenticate(context.Background(), mofStaff, testPassword); err != nil {
			t.Fatalf("the password changed on a refused form: %v", err)
		}

		resp, _ = b.post("/account/password", passwordForm(testPassword, newPassword, newPassword))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account?done=password" {
			t.Fatalf("change: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, body = b.get("/account?done=password")
		wantPage(t, resp, body, http.StatusOK, `<html lang="en" dir="ltr">`, `class="flash"`, "Your password has been changed.")
		b2 := e.browser()
		b2.get("/login")
		resp, _ = b2.post("/login", url.Values{"login": {mofStaff}, "password": {newPassword}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("log in with the new password: %d", resp.StatusCode)
		}
	})
}

func cloneWith(v url.Values, k, value string) url.Values {
	c := cloneValues(v)
	c.Set(k, value)
	return c
}

// The language is remembered per user: chosen on the account page or with
// ?lang= while logged in, it follows the user to another browser; the
// login page follows the browser's cookie.
func TestLanguageIsRememberedPerUser(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.uiLogin(mofStaff)
		b.get("/account")
		resp, body := b.post("/account/language", url.Values{"language": {"fr"}})
		wantPage(t, resp, body, http.StatusBadRequest, `id="language-error"`, "اختر العربية أو الإنكليزية")
		resp, body = b.post("/account/language", url.Values{"language": {"en"}, "csrf_token": {"forged"}})
		wantPage(t, resp, body, http.StatusForbidden)
		resp, _ = b.post("/account/language", url.Values{"language": {"en"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account?done=language" {
			t.Fatalf("language: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, body = b.get("/account?done=language")
		wantPage(t, resp, body, http.StatusOK, `<html lang="en" dir="ltr">`, "The language has been saved.", `<option value="en" lang="en" selected>`)

		other := e.browser() // another browser: no cookie
		resp, body = other.get("/login")
		wantPage(t, resp, body, http.StatusOK, `<html lang="ar" dir="rtl">`)
		other = e.uiLogin(mofStaff)
		resp, body = other.get("/account")
		wantPage(t, resp, body, http.StatusOK, `<html lang="en" dir="ltr">`)

		// ?lang= while logged in is remembered for the user too.
		resp, body = other.get("/account?lang=ar")
		wantPage(t, resp, body, http.StatusOK, `<html lang="ar" dir="rtl">`)
		third := e.uiLogin(mofStaff)
		resp, body = third.get("/account")
		wantPage(t, resp, body, http.StatusOK, `<html lang="ar" dir="rtl">`)
		if u, err := e.dir.UserByLogin(context.Background(), mofStaff); err != nil || u.Language != "ar" {
			t.Fatalf("stored language: %+v, %v", u, err)
		}
	})
}

// The navigation shows only what the role may do, with the counters of
// what waits: a clerk's entries waiting for registration, a staff
// member's open referrals; the user's ministry and registry.
func TestNavigationShowsRoleLinksAndCounters(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		sender := e.login(moctClerk)
		for range 2 {
			d := newLetter(sender, "كتاب")
			out := act(sender, d.EntryID, "register", v(d.Version))
			act(sender, d.EntryID, "dispatch", v(out.Version))
		}
		receiver := e.login(mofClerk)
		in := incomingAt(receiver, "MOF", newLetterSent(sender))
		in = act(receiver, in.ID, "register", v(in.Version))
		act(receiver, in.ID, "refer", v(in.Version, "to_user", mofStaff, "instruction", "action"))

		resp, body := e.uiLogin(mofClerk).get("/account")
		wantPage(t, resp, body, http.StatusOK, `href="/registers"`, `href="/referrals"`, `href="/correspondence/new"`,
			`السجلات <span class="count">2</span>`, "MOF · MOF")
		resp, body = e.uiLogin(mofStaff).get("/account")
		wantPage(t, resp, body, http.StatusOK, `href="/referrals"`, `الإحالات <span class="count">1</span>`)
		if strings.Contains(body, `href="/registers"`) {
			t.Error("a staff member sees the registers")
		}
		resp, body = e.uiLogin(adminLogin).get("/account")
		wantPage(t, resp, body, http.StatusOK, `href="/account"`)
		for _, h := range []string{`href="/registers"`, `href="/referrals"`, `href="/correspondence/new"`} {
			if strings.Contains(body, h) {
				t.Errorf("the administrator's bar links %s", h)
			}
		}
	})
}

// newLetterSent creates, registers and dispatches a letter from MOCT to
// MOF and returns its correspondence id.
func newLetterSent(sender *apiClient) int64 {
	d := newLetter(sender, "كتاب")
	out := act(sender, d.EntryID, "register", v(d.Version))
	act(sender, d.EntryID, "dispatch", v(out.Version))
	return d.ID
}

// A counter of the bar stops at workflow.CounterLimit, shown as "999+".
func TestNavCounterShowsMoreAtTheLimit(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want navItem
	}{
		{0, navItem{}}, {7, navItem{Count: 7}}, {998, navItem{Count: 998}}, {999, navItem{Count: 999}},
		{1000, navItem{Count: 999, More: true}}, {5000, navItem{Count: 999, More: true}},
	} {
		if got := counted(navItem{}, c.n); got != c.want {
			t.Errorf("counted(%d) = %+v, want %+v", c.n, got, c.want)
		}
	}
}

// The navigation's counters are kept a few seconds per user, but what the
// user changes through the UI shows at once: a clerk who registers the
// letter waiting for them sees the counter drop on the next page.
func TestCountersShowTheUsersOwnChangeAtOnce(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	sender := e.login(moctClerk)
	d := newLetter(sender, "كتاب")
	out := act(sender, d.EntryID, "register", v(d.Version))
	act(sender, d.EntryID, "dispatch", v(out.Version))
	b := e.uiLogin(mofClerk)
	resp, body := b.get("/account")
	wantPage(t, resp, body, http.StatusOK, `السجلات <span class="count">1</span>`)
	in := incomingAt(e.login(mofClerk), "MOF", d.ID)
	resp, body = b.actForm(in.ID, "register")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("register through the form: %d %s", resp.StatusCode, body)
	}
	resp, body = b.get("/account")
	wantPage(t, resp, body, http.StatusOK)
	if strings.Contains(body, `<span class="count">`) {
		t.Errorf("the counter still shows the registered letter: %s", body[:strings.Index(body, "<main")])
	}
}
