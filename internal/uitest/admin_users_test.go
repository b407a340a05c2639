package uitest

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The users and aliases of the administration in the browser: an
// administrator creates a user on the users page (the generated password
// shown once) and opens their page and the aliases; a ministry
// administrator of MOF sees the administration with only a ministry's
// sections, MOF's users and not MOCT's (absent from the list, 404 on the
// user's page). Every page is checked by axe-core in both languages.
func TestAdminCreatesUserAndMinistryAdminSeesOnlyItsMinistry(t *testing.T) {
	b := newTab(t, "admin-users")
	const (
		admin    = "uadm-admin@moct.gov.sy"
		mofAdmin = "uadm-head@mof.gov.sy"
		created  = "uadm-new@mof.gov.sy"
	)
	for _, u := range [][]string{
		{admin, "مسؤول الاختبار", "MOCT", "admin"},
		{mofAdmin, "مسؤولة المالية", "MOF", "ministry_admin"},
	} {
		if _, _, err := b.in.run(password+"\n", "admin", "user", "add", u[0], "--name", u[1], "--ministry", u[2], "--role", u[3], "--password-stdin"); err != nil {
			t.Fatal(err)
		}
	}

	b.login(admin, password)
	if status := b.open("/admin/users"); status != 200 {
		t.Fatalf("/admin/users: status %d", status)
	}
	b.checkBoth("users")
	b.set("#address", created)
	b.set("#name", "نور الجديدة")
	b.must("choose the role staff", chromedp.Click(chromedp.CSS("#new-role-staff"), chromedp.NodeVisible))
	if status := b.submit("#add-user-submit"); status != 200 {
		t.Fatalf("create a user: status %d\n%s", status, b.text("main"))
	}
	b.wantNoFormErrors("create a user")
	if got := b.text("#created-login"); got != created || len(b.text("#created-password")) < 12 {
		t.Fatalf("the new user's password is not shown: %q\n%s", got, b.text("main"))
	}
	b.checkHere("users-created")
	b.checkBothAt("user", "/admin/users/"+created, 200)
	b.checkBothAt("aliases", "/admin/aliases", 200)
	b.set("#address", "uadm-loop@mof.gov.sy")
	b.set("#to", "uadm-loop@mof.gov.sy")
	if status := b.submit("#add-alias-submit"); status != 422 {
		t.Errorf("an alias to itself: status %d, want 422", status)
	}
	if !b.has("#to-error") {
		t.Errorf("an alias to itself: no error next to the targets\n%s", b.text("main"))
	}
	b.checkHere("aliases-loop")
	b.logout()

	b.login(mofAdmin, password)
	if status := b.open("/admin/users?lang=ar"); status != 200 {
		t.Fatalf("/admin/users as MOF's administrator: status %d", status)
	}
	nav := mustEval[string](b, `[...document.querySelectorAll('nav.subnav a')].map(a => a.getAttribute('href')).join(' ')`)
	if nav != "/admin/registries /admin/departments /admin/users /admin/aliases" {
		t.Errorf("MOF's administrator's sections: %q", nav)
	}
	list := b.text("#users")
	if !strings.Contains(list, created) || strings.Contains(list, moctClerk) || strings.Contains(list, admin) {
		t.Errorf("MOF's administrator's users:\n%s", list)
	}
	b.checkBoth("users-ministry")
	if status := b.open("/admin/users/" + moctClerk); status != 404 {
		t.Errorf("MOCT's clerk's page as MOF's administrator: status %d, want 404", status)
	}
	if status := b.open("/admin/users/" + created); status != 200 {
		t.Errorf("MOF's new user's page as MOF's administrator: status %d", status)
	}
	b.logout()
}
