package uitest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/config"
)

// orgAdmin is the administrator of the organisation pages' test, made
// with the command line (the bootstrap administrator is another test's).
const orgAdmin = "orgadmin@mof.gov.sy"

// An administrator opens the organisation's pages: the ministries; the
// registries, each with its numbering template and the first number of
// the year it gives; the departments, where they add one below another and
// see it nested there; the hosted domains with a domain's DKIM record.
// Every page is checked by axe-core in both languages and photographed.
func TestAdministratorManagesTheOrganisationInTheBrowser(t *testing.T) {
	b := newTab(t, "admin-org")
	if _, _, err := b.in.run(password+"\n", "admin", "user", "add", orgAdmin, "--name", "مدير التنظيم",
		"--ministry", "MOF", "--role", "admin", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	b.login(orgAdmin, password)

	b.open("/admin/ministries")
	b.wantPath("/admin/ministries")
	if got := b.text("#ministries"); !strings.Contains(got, "MOF") || !strings.Contains(got, "وزارة المالية") {
		t.Errorf("the ministries table shows:\n%s", got)
	}
	b.checkBoth("ministries")

	b.open("/admin/registries?ministry=MOF")
	zone, err := time.LoadLocation(config.Default().TimeZone) // the instance's: its config names none
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("MOF/ص/%d/000001", time.Now().In(zone).Year())
	if got := strings.TrimSpace(b.text("#registry-MOF .example-out")); got != want {
		t.Errorf("MOF's example number %q, want %q", got, want)
	}
	if got := b.text("#registry-MOF code.template"); got != "{registry}/{dir}/{year}/{seq:06}" {
		t.Errorf("MOF's numbering template %q", got)
	}
	b.checkBoth("registries")

	b.open("/admin/departments?ministry=MOF")
	b.set("#code", "CONTRACTS")
	b.set("#name_ar", "العقود")
	b.set("#name_en", "Contracts")
	b.choose("#parent", "LEGAL")
	if status := b.submit("#save-department"); status >= 400 {
		t.Fatalf("add a department: status %d:\n%s", status, b.text("main"))
	}
	b.wantPath("/admin/departments")
	b.wantNoFormErrors("add a department")
	if !b.has("#dept-LEGAL > ul > #dept-CONTRACTS") {
		t.Fatalf("CONTRACTS is not below LEGAL in the tree:\n%s", b.text("#departments"))
	}
	b.checkBoth("departments")

	b.open("/admin/domains/mof.gov.sy")
	if got := b.text(".dkim-txt"); !strings.HasPrefix(got, "v=DKIM1; k=rsa; p=") {
		t.Errorf("mof.gov.sy's DKIM record %q", got)
	}
	b.checkBoth("domains-dkim")
	b.logout()
}
