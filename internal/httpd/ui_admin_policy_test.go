package httpd

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/policy"
)

// policyAdminLogin is an administrator of the policy pages' tests: the
// bootstrap administrator must change its password before any page.
const policyAdminLogin = "policy.admin@mof.gov.sy"

// policyAdmin adds an administrator and logs them in to the web UI.
func (e *apiEnv) policyAdmin() *uiClient {
	e.t.Helper()
	e.ok(e.dir.AddUser(context.Background(), operator, directory.NewUser{Address: policyAdminLogin, Name: "مدير السياسة",
		Roles: []string{"admin"}, Password: testPassword}))
	return e.uiLogin(policyAdminLogin)
}

// rulesNow lists the policy's rules by pattern, straight from the service.
func (e *apiEnv) rulesNow() map[string]policy.Rule {
	e.t.Helper()
	rules, err := e.pol.Rules(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]policy.Rule{}
	for _, r := range rules {
		out[r.Pattern] = r
	}
	return out
}

var messageID = regexp.MustCompile(`admin\.(policy|violations)\.[a-z_.-]+`)

// wantTranslated fails the test when the page shows a message ID of the
// policy pages in place of its text.
func wantTranslated(t testing.TB, body string) {
	t.Helper()
	if id := messageID.FindString(body); id != "" {
		t.Errorf("the page shows the message ID %s, not its text", id)
	}
}

// isolated is a left-to-right text set in Arabic as the locale sets it:
// between the isolates LRI and PDI, so that ".gov.sy" keeps its dot in
// front in a right-to-left sentence.
func isolated(s string) string { return "\u2066" + s + "\u2069" }

// wantPolicyPage is wantPage on a page of the policy or its violations,
// every text translated.
func wantPolicyPage(t testing.TB, resp *http.Response, body string, status int, snippets ...string) {
	t.Helper()
	wantPage(t, resp, body, status, snippets...)
	wantTranslated(t, body)
}

// An administrator adds a deny rule with a note on the policy page, sees
// it in the table (who set it, the note) and removes it; both changes are
// audited with the administrator as actor.
func TestPolicyPageAddsAndRemovesARule(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.policyAdmin()
		resp, body := b.get("/admin/policy")
		wantPolicyPage(t, resp, body, http.StatusOK, `id="no-rules"`, `aria-current="page">سياسة البريد الوطني`, `<code dir="ltr">.gov.sy</code>`)

		resp, body = b.post("/admin/policy/rules", url.Values{"pattern": {".Example.SY"}, "action": {"deny"}, "note": {"ليس وطنياً"}})
		wantRedirect(t, resp, body, "/admin/policy?done=added&pattern=.example.sy")
		resp, body = b.get("/admin/policy?done=added&pattern=.example.sy")
		wantPolicyPage(t, resp, body, http.StatusOK, `role="status">القاعدة `+isolated(".example.sy")+` نافذة.`, `<code dir="ltr">.example.sy</code>`,
			"ليس وطنياً", `<span dir="ltr">user:`+policyAdminLogin+`</span>`, `class="badge rule-deny"`)
		if r := e.rulesNow()[".example.sy"]; r.Action != policy.Deny || r.CreatedBy != "user:"+policyAdminLogin {
			t.Fatalf("rule made: %+v", r)
		}

		resp, body = b.get("/admin/policy?done=added&pattern=" + url.QueryEscape("any text <b>"))
		wantPolicyPage(t, resp, body, http.StatusOK)
		if strings.Contains(body, `class="flash"`) {
			t.Error("the page flashes a pattern that is not one")
		}
		resp, body = b.post("/admin/policy/rules/remove", url.Values{"pattern": {".EXAMPLE.sy"}})
		wantRedirect(t, resp, body, "/admin/policy?done=removed&pattern=.example.sy")
		if rules := e.rulesNow(); len(rules) != 0 {
			t.Errorf("rules after removal: %+v", rules)
		}
		for _, action := range []string{"policy.deny", "policy.remove"} {
			if ev := e.eventsOf(action); len(ev) != 1 || ev[0].Actor != "user:"+policyAdminLogin {
				t.Errorf("%s events: %+v", action, ev)
			}
		}
	})
}

// Bad input on the policy page is said next to its field, the form
// refilled, and changes nothing: an invalid pattern, a pattern that has a
// rule already, no action, a note too long, removing a rule that does not
// exist, a POST without the CSRF token.
func TestPolicyPageRefusesBadInputChangingNothing(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		if _, err := e.pol.Deny(context.Background(), operator, "evil.example", "old"); err != nil {
			t.Fatal(err)
		}
		b := e.policyAdmin()
		b.get("/admin/policy")
		resp, body := b.post("/admin/policy/rules", url.Values{"pattern": {"bad..name"}, "action": {"deny"}, "note": {"ملاحظة"}})
		wantPolicyPage(t, resp, body, http.StatusUnprocessableEntity, `id="pattern-error"`, "هذا ليس نمطاً صحيحاً",
			`value="bad..name" aria-describedby="pattern-hint pattern-error" aria-invalid="true"`, `value="ملاحظة"`)
		resp, body = b.post("/admin/policy/rules", url.Values{"pattern": {"EVIL.example"}, "action": {"allow"}})
		wantPolicyPage(t, resp, body, http.StatusConflict, `id="pattern-error"`, "توجد قاعدة لهذا النمط", `id="action-allow" value="allow" checked`)
		resp, body = b.post("/admin/policy/rules", url.Values{"pattern": {"new.example"}, "action": {"block"}})
		wantPolicyPage(t, resp, body, http.StatusUnprocessableEntity, `id="action-error"`)
		resp, body = b.post("/admin/policy/rules", url.Values{"pattern": {"new.example"}, "action": {"deny"}, "note": {strings.Repeat("ن", 501)}})
		wantPolicyPage(t, resp, body, http.StatusUnprocessableEntity, `id="note-error"`)

		resp, body = b.post("/admin/policy/rules/remove", url.Values{"pattern": {"nothere.example"}})
		wantPolicyPage(t, resp, body, http.StatusNotFound, `role="alert">لا توجد قاعدة للنمط `+isolated("nothere.example")+`: لم يُحذف شيء.`, `id="policy-rules"`)
		b.lang = "en"
		resp, body = b.post("/admin/policy/rules/remove", url.Values{"pattern": {"nothere.example"}})
		wantPolicyPage(t, resp, body, http.StatusNotFound, `There is no rule for the pattern nothere.example: nothing was removed.`)
		resp, body = b.post("/admin/policy/rules/remove", url.Values{"pattern": {"bad..name"}})
		wantPolicyPage(t, resp, body, http.StatusUnprocessableEntity, `bad..name is not a valid pattern`)
		b.lang = ""

		resp, body = b.post("/admin/policy/rules", url.Values{"pattern": {"csrf.example"}, "action": {"allow"}, "csrf_token": {""}})
		wantPolicyPage(t, resp, body, http.StatusForbidden)
		resp, body = b.post("/admin/policy/rules/remove", url.Values{"pattern": {"evil.example"}, "csrf_token": {"forged"}})
		wantPolicyPage(t, resp, body, http.StatusForbidden)

		if rules := e.rulesNow(); len(rules) != 1 || rules["evil.example"].Action != policy.Deny || rules["evil.example"].Note != "old" {
			t.Errorf("rules after refused changes: %+v", rules)
		}
		if n := len(e.eventsOf("policy.allow")) + len(e.eventsOf("policy.remove")); n != 0 {
			t.Errorf("%d change events after refused changes", n)
		}
	})
}

// A deny rule that covers hosted domains is not made at once: the page
// says which hosted domains it covers and offers to send it again with
// confirm=1, which makes it.
func TestPolicyPageLockOutRuleNeedsConfirmationNamingWhatItCovers(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.policyAdmin()
		b.get("/admin/policy")
		resp, body := b.post("/admin/policy/rules", url.Values{"pattern": {".GOV.sy"}, "action": {"deny"}, "note": {"إغلاق"}})
		wantPolicyPage(t, resp, body, http.StatusConflict, `id="confirm"`, "قاعدة المنع "+isolated(".gov.sy")+" تشمل هذه النطاقات المستضافة",
			`<li><span dir="ltr">moct.gov.sy</span></li>`, `<li><span dir="ltr">mof.gov.sy</span></li>`,
			`name="confirm" value="1"`, `name="pattern" value=".GOV.sy"`, `name="action" value="deny"`, `name="note" value="إغلاق"`)
		if rules := e.rulesNow(); len(rules) != 0 || len(e.eventsOf("policy.deny")) != 0 {
			t.Fatalf("an unconfirmed lock-out rule was made: %+v", rules)
		}
		b.lang = "en"
		resp, body = b.post("/admin/policy/rules", url.Values{"pattern": {"mof.gov.sy"}, "action": {"deny"}})
		wantPolicyPage(t, resp, body, http.StatusConflict, "The deny rule mof.gov.sy covers these hosted domains", "Deny mof.gov.sy all the same")
		b.lang = ""
		resp, body = b.post("/admin/policy/rules", url.Values{"pattern": {".GOV.sy"}, "action": {"deny"}, "note": {"إغلاق"}, "confirm": {"1"}})
		wantRedirect(t, resp, body, "/admin/policy?done=added&pattern=.gov.sy")
		if r := e.rulesNow()[".gov.sy"]; r.Action != policy.Deny || r.Note != "إغلاق" {
			t.Errorf("confirmed rule: %+v", r)
		}
	})
}

// The "test an address" box shows, for mail to and from the address,
// whether it is national or refused and the rule that decided; an address
// that is not valid is said next to the field.
func TestPolicyPageTestsAnAddressNamingTheRule(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		if _, err := e.pol.Deny(context.Background(), operator, ".partner.example", ""); err != nil {
			t.Fatal(err)
		}
		b := e.policyAdmin()
		resp, body := b.get("/admin/policy?address=" + url.QueryEscape("ali@mof.gov.sy"))
		wantPolicyPage(t, resp, body, http.StatusOK, `id="test-result"`, `<code dir="ltr">mof.gov.sy</code>`, `value="ali@mof.gov.sy"`,
			`مستضاف هنا (`+isolated("mof.gov.sy")+`) <code dir="ltr" class="rule">hosted:mof.gov.sy</code>`, `<span class="badge national">وطني</span>`)
		b.lang = "en"
		resp, body = b.get("/admin/policy?address=" + url.QueryEscape("x@mail.partner.example"))
		wantPolicyPage(t, resp, body, http.StatusOK, `the deny rule .partner.example <code dir="ltr" class="rule">deny:.partner.example</code>`,
			`<span class="badge refused">Refused</span>`, `<code dir="ltr">550 5.7.1`)
		if strings.Contains(body, "badge national") {
			t.Error("a denied address is shown national one way")
		}
		resp, body = b.get("/admin/policy?address=" + url.QueryEscape("x@bad..name"))
		wantPolicyPage(t, resp, body, http.StatusUnprocessableEntity, `id="address-error"`, `aria-invalid="true"`)
		resp, body = b.get("/admin/policy?address=")
		wantPolicyPage(t, resp, body, http.StatusUnprocessableEntity, "Write an address or a domain to test.")
		if strings.Contains(body, `id="test-result"`) {
			t.Error("an empty address was tested")
		}
	})
}

// The policy pages do not exist for a user who does not administer the
// national policy, whatever they send: a clerk, whom the administration
// does not let in, and a ministry administrator, whom it lets in but the
// policy service refuses.
func TestPolicyPagesAreNotFoundForWhoDoesNotAdministerThePolicy(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		if _, err := e.pol.Deny(context.Background(), operator, "evil.example", ""); err != nil {
			t.Fatal(err)
		}
		e.ok(e.dir.AddUser(context.Background(), operator, directory.NewUser{Address: "ministry.admin@mof.gov.sy", Name: "مدير الوزارة",
			Roles: []string{directory.RoleMinistryAdmin}, Password: testPassword}))
		for _, login := range []string{mofClerk, "ministry.admin@mof.gov.sy"} {
			b := e.uiLogin(login)
			for _, path := range []string{"/admin/policy", "/admin/policy?address=a@b.example", "/admin/violations", "/admin/violations.csv?by=domain"} {
				resp, body := b.get(path)
				wantPage(t, resp, body, http.StatusNotFound)
			}
			b.get("/account")
			resp, body := b.post("/admin/policy/rules", url.Values{"pattern": {"x.example"}, "action": {"allow"}})
			wantPage(t, resp, body, http.StatusNotFound)
			resp, body = b.post("/admin/policy/rules/remove", url.Values{"pattern": {"evil.example"}})
			wantPage(t, resp, body, http.StatusNotFound)
		}
		if rules := e.rulesNow(); len(rules) != 1 || rules["evil.example"].Action != policy.Deny {
			t.Errorf("rules after others' attempts: %+v", rules)
		}
	})
}
