package httpd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/directory"
)

// TestAdminUsersPageCreatesAndChangesUsers: an administrator searches the
// users, creates one with a generated password shown once, and changes a
// user (quota, state, password, roles, membership); bad input (a user
// that exists, a domain not hosted, a bad quota, no role) is said next to
// its field with nothing changed, and a POST without the CSRF token is
// refused.
func TestAdminUsersPageCreatesAndChangesUsers(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		ctx := context.Background()
		b := e.uiLogin(adminLogin)
		b.lang = "en"
		resp, body := b.get("/admin/users?q=MOCT")
		wantPage(t, resp, body, http.StatusOK, moctClerk, `aria-current="page">Users<`)
		if strings.Contains(body, mofStaff) {
			t.Error("the search for moct lists MOF's staff")
		}
		resp, body = b.post("/admin/users", url.Values{"address": {"New@MOF.gov.sy"}, "name": {"Nour"}, "role": {"staff", "clerk"}})
		wantPage(t, resp, body, http.StatusOK, `id="created-password"`, "new@mof.gov.sy")
		u, err := e.dir.UserByLogin(ctx, "new@mof.gov.sy")
		if err != nil || !u.MustChangePassword || len(u.Roles) != 2 || u.Ministry != "MOF" {
			t.Fatalf("created %+v, %v", u, err)
		}
		if ev := e.eventsOf("user.add"); len(ev) == 0 || ev[0].Actor != "user:admin" {
			t.Errorf("user.add events %+v", ev)
		}
		for _, bad := range []struct {
			form    url.Values
			message string
		}{
			{url.Values{"address": {"new@mof.gov.sy"}, "name": {"Again"}, "role": {"staff"}}, "exists already"},
			{url.Values{"address": {"someone@example.org"}, "name": {"Out"}, "role": {"staff"}}, "hosted here"},
			{url.Values{"address": {"norole@mof.gov.sy"}, "name": {"No role"}}, "Choose one role"},
		} {
			resp, body = b.post("/admin/users", bad.form)
			wantPage(t, resp, body, http.StatusUnprocessableEntity, bad.message, `class="field-error"`)
		}
		if n, _ := e.dir.CountUsers(ctx, ""); n != 7 {
			t.Errorf("%d users after refused creations, want 7", n)
		}

		page := "/admin/users/" + mofStaff
		b.get(page)
		for _, bad := range []string{"-5", "ten", ""} {
			resp, body = b.post(page+"/quota", url.Values{"quota_mb": {bad}})
			wantPage(t, resp, body, http.StatusUnprocessableEntity, `id="quota-error"`)
		}
		for _, step := range []struct {
			action string
			form   url.Values
		}{
			{"quota", url.Values{"quota_mb": {"100"}}},
			{"disable", url.Values{}},
			{"enable", url.Values{}},
			{"roles", url.Values{"role": {"staff", "ministry_admin"}}},
			{"membership", url.Values{"clearance": {"confidential"}, "department": {"BUDGET"}}},
		} {
			resp, body = b.post(page+"/"+step.action, step.form)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != page+"?done="+step.action {
				t.Fatalf("%s: status %d, location %q; body %s", step.action, resp.StatusCode, resp.Header.Get("Location"), body)
			}
		}
		resp, body = b.post(page+"/password", url.Values{})
		wantPage(t, resp, body, http.StatusOK, `id="new-password"`)
		u, _ = e.dir.UserByLogin(ctx, mofStaff)
		if u.QuotaBytes != 100<<20 || u.Disabled || !u.MustChangePassword || strings.Join(u.Roles, ",") != "ministry_admin,staff" {
			t.Errorf("after the changes: %+v", u)
		}
		resp, body = b.get(page)
		wantPage(t, resp, body, http.StatusOK, `value="confidential" selected`, `value="BUDGET" selected`)

		// Without the CSRF token: refused, nothing changed.
		resp, _ = b.post(page+"/disable", url.Values{"csrf_token": {""}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("a CSRF-less POST: status %d, want 403", resp.StatusCode)
		}
		if u, _ = e.dir.UserByLogin(ctx, mofStaff); u.Disabled {
			t.Error("a CSRF-less POST disabled the user")
		}
	})
}

// TestAdminAliasesPageAddsAndRemovesAliases: an administrator adds an
// alias with its targets and removes it; an alias loop, a target that is
// not a user, a domain not hosted, an alias that exists are said next to
// their field with nothing changed; a POST without the CSRF token is
// refused.
func TestAdminAliasesPageAddsAndRemovesAliases(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		ctx := context.Background()
		b := e.uiLogin(adminLogin)
		b.lang = "en"
		b.get("/admin/aliases")
		resp, body := b.post("/admin/aliases", url.Values{"address": {"Info@MOF.gov.sy"}, "to": {mofStaff + ", " + mofHead}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("add: status %d; body %s", resp.StatusCode, body)
		}
		resp, body = b.get("/admin/aliases?done=add")
		wantPage(t, resp, body, http.StatusOK, "info@mof.gov.sy", mofHead, "The alias was added.")
		for _, bad := range []struct {
			address, to, field, message string
		}{
			{"self@mof.gov.sy", "self@mof.gov.sy", "to", "cannot deliver to itself"},
			{"loop@mof.gov.sy", "info@mof.gov.sy", "to", "cannot deliver to itself or to another alias"},
			{"desk@mof.gov.sy", "nobody@mof.gov.sy", "to", "not a user here"},
			{"desk@example.org", mofStaff, "address", "hosted here"},
			{"info@mof.gov.sy", mofStaff, "address", "exists already"},
			{"", mofStaff, "address", "Enter the alias"},
		} {
			resp, body = b.post("/admin/aliases", url.Values{"address": {bad.address}, "to": {bad.to}})
			wantPage(t, resp, body, http.StatusUnprocessableEntity, bad.message, `id="`+bad.field+`-error"`)
		}
		if as, _ := e.dir.Aliases(ctx); len(as) != 1 {
			t.Errorf("aliases after refused ones: %+v", as)
		}
		resp, _ = b.post("/admin/aliases/remove", url.Values{"address": {"info@mof.gov.sy"}, "csrf_token": {"forged"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("a forged CSRF token: status %d, want 403", resp.StatusCode)
		}
		resp, _ = b.post("/admin/aliases/remove", url.Values{"address": {"info@mof.gov.sy"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("remove: status %d", resp.StatusCode)
		}
		if as, _ := e.dir.Aliases(ctx); len(as) != 0 {
			t.Errorf("aliases after the removal: %+v", as)
		}
		resp, _ = b.post("/admin/aliases/remove", url.Values{"address": {"info@mof.gov.sy"}})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("removing it again: status %d, want 404", resp.StatusCode)
		}
	})
}

// TestMinistryAdminPagesShowItsOwnMinistryOnly: MOF's ministry
// administrator sees the sections of a ministry in the administration,
// and only MOF's users and aliases; another ministry's user page, and a
// change to it, are 404, with nothing changed.
func TestMinistryAdminPagesShowItsOwnMinistryOnly(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		ctx := context.Background()
		e.addMinistryAdmin()
		e.ok(e.dir.AddAlias(ctx, operator, "info@moct.gov.sy", []string{moctClerk}))
		e.ok(e.dir.AddAlias(ctx, operator, "info@mof.gov.sy", []string{mofStaff}))
		b := e.uiLogin(mofAdmin)
		resp, body := b.get("/admin/users")
		wantPage(t, resp, body, http.StatusOK, mofStaff, `href="/admin/aliases"`, `href="/admin/departments"`)
		for _, absent := range []string{moctClerk, `href="/admin/policy"`, `href="/admin/domains"`, `href="/admin/audit"`, `value="admin"`} {
			if strings.Contains(body, absent) {
				t.Errorf("MOF's administrator's users page shows %q", absent)
			}
		}
		resp, body = b.get("/admin/users/" + mofStaff)
		wantPage(t, resp, body, http.StatusOK, `id="membership-form"`)
		resp, body = b.get("/admin/users/" + moctClerk)
		wantPage(t, resp, body, http.StatusNotFound)
		resp, _ = b.post("/admin/users/"+moctClerk+"/disable", url.Values{})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("disable MOCT's clerk: status %d, want 404", resp.StatusCode)
		}
		if u, _ := e.dir.UserByLogin(ctx, moctClerk); u.Disabled {
			t.Error("MOF's administrator disabled MOCT's clerk")
		}
		resp, body = b.get("/admin/aliases")
		wantPage(t, resp, body, http.StatusOK, "info@mof.gov.sy")
		if strings.Contains(body, "info@moct.gov.sy") {
			t.Error("MOF's administrator sees MOCT's alias")
		}
		resp, _ = b.post("/admin/aliases/remove", url.Values{"address": {"info@moct.gov.sy"}})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("remove MOCT's alias: status %d, want 404", resp.StatusCode)
		}
		if as, _ := e.dir.Aliases(ctx); len(as) != 2 {
			t.Errorf("aliases: %+v", as)
		}
	})
}

// TestAdminUsersPageSearchesAndPages: the users page shows 50 users a
// page with links to the next and previous pages, keeping the search.
func TestAdminUsersPageSearchesAndPages(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		for i := range 55 {
			e.ok(e.dir.AddUser(context.Background(), operator, directory.NewUser{Address: fmt.Sprintf("p%02d@mof.gov.sy", i),
				Name: fmt.Sprintf("Page %02d", i), Roles: []string{"staff"}, Password: testPassword}))
		}
		b := e.uiLogin(adminLogin)
		rows := func(body string) int { return strings.Count(body, `<td><a href="/admin/users/`) }
		resp, body := b.get("/admin/users")
		wantPage(t, resp, body, http.StatusOK, `id="users-next"`, `href="/admin/users?page=2"`)
		if n := rows(body); n != 50 {
			t.Errorf("page 1 lists %d users, want 50", n)
		}
		resp, body = b.get("/admin/users?page=2")
		wantPage(t, resp, body, http.StatusOK, `id="users-prev"`)
		if n := rows(body); n != 61-50 || strings.Contains(body, `id="users-next"`) {
			t.Errorf("page 2 lists %d users, want 11, and no next page", n)
		}
		resp, body = b.get("/admin/users?q=P0")
		wantPage(t, resp, body, http.StatusOK, `value="P0"`, "p09@mof.gov.sy")
		if n := rows(body); n != 10 || strings.Contains(body, `id="users-next"`) {
			t.Errorf("the search P0 lists %d users, want 10 on one page", n)
		}
	})
}
