package uitest

import (
	"strings"
	"testing"
)

// auditAdmin is the administrator this file's test makes for itself.
const auditAdmin = "audit-admin@mof.gov.sy"

// An administrator (made with `diwan admin user add … --role admin`) opens
// the audit log, filters it by action and sees only that action's events,
// with their details and links; a wrong date is said next to its field;
// "verify the chain" answers ok; the status page shows the address the
// server is bound to, and the outbound queue opens. Each page passes
// axe-core in Arabic and in English.
func TestAdministratorReadsAndVerifiesTheAuditLog(t *testing.T) {
	b := newTab(t, "admin-audit")
	if _, _, err := b.in.run(password+"\n", "admin", "user", "add", auditAdmin, "--name", "مدققة السجل",
		"--ministry", "MOF", "--role", "admin", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	b.login(auditAdmin, password)
	b.wantPath("/admin/status") // an administrator's home is the administration

	b.open("/admin/audit")
	b.checkBoth("admin-audit")
	b.set("#action", "user.add")
	if status := b.submit(`form[action="/admin/audit"] button[type="submit"]`); status != 200 {
		t.Fatalf("filter by action: status %d", status)
	}
	actions := mustEval[[]string](b, `[...document.querySelectorAll('#audit-events .audit-action')].map(e => e.textContent)`)
	if len(actions) == 0 {
		t.Fatalf("no user.add event listed:\n%s", b.text("main"))
	}
	for _, a := range actions {
		if a != "user.add" {
			t.Fatalf("filtered by user.add, the page lists %q", a)
		}
	}
	if !strings.Contains(b.text("#audit-events"), "user:"+auditAdmin) {
		t.Errorf("the event of the administrator's creation is not listed:\n%s", b.text("#audit-events"))
	}
	b.checkBoth("admin-audit-filtered")
	b.checkBothAt("admin-audit-bad-date", "/admin/audit?since=yesterday", 422)
	if !b.has(`#since[aria-invalid="true"]`) || !b.has("#since-error") {
		t.Errorf("a wrong date is not said next to its field:\n%s", b.text("main"))
	}

	b.open("/admin/audit?lang=en")
	if status := b.submit("#verify-chain"); status != 200 {
		t.Fatalf("verify the chain: status %d", status)
	}
	if line := b.text("#verify-line"); !strings.HasPrefix(line, "ok ") {
		t.Fatalf("verify the chain answered %q, want ok", line)
	}
	b.checkHere("admin-audit-verified")

	b.open("/admin/status")
	b.checkBoth("admin-status")
	if bound := strings.TrimPrefix(b.in.base, "https://"); b.text("#listener-https .bound") != bound {
		t.Errorf("status page: HTTPS bound at %q, want %q", b.text("#listener-https .bound"), bound)
	}
	b.open("/admin/queue")
	b.checkBoth("admin-queue")
}
