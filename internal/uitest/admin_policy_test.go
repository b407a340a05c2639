package uitest

import (
	"crypto/tls"
	"errors"
	"net/smtp"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The policy test's own people and domain: no other test uses them, and
// the rule it makes is removed at its end.
const (
	policyAdmin  = "policy.admin@mof.gov.sy"
	policySender = "policy.sender@mof.gov.sy"
	deniedDomain = "policy-uitest.example"
)

var submissionLine = regexp.MustCompile(`(?m)^diwan: smtp submission on (\S+)$`)

// submissionAddr is the address the server announced for SMTP submission.
func (in *instance) submissionAddr(t testing.TB) string {
	t.Helper()
	m := submissionLine.FindStringSubmatch(in.stderr.String())
	if m == nil {
		t.Fatalf("diwan serve did not announce its submission port:\n%s", in.stderr.tail(20))
	}
	return m[1]
}

// An administrator denies a foreign domain on the policy page, tests an
// address of it (refused, the rule named), sees that a deny rule covering
// a hosted domain asks for confirmation first; a user's mail to that
// domain is refused at RCPT (550 5.7.1) and the refusal shows on the
// violations dashboard, leading to its events; the administrator removes
// the rule. Both pages are checked by axe-core in Arabic and English.
func TestAdministratorDeniesADomainAndSeesTheRefusal(t *testing.T) {
	b := newTab(t, "policy")
	for _, u := range [][]string{
		{policyAdmin, "مديرة السياسة", "admin"},
		{policySender, "مرسل الاختبار", "staff"},
	} {
		if _, _, err := b.in.run(password+"\n", "admin", "user", "add", u[0], "--name", u[1], "--ministry", "MOF", "--role", u[2], "--password-stdin"); err != nil {
			t.Fatal(err)
		}
	}
	b.login(policyAdmin, password)
	if strings.HasPrefix(b.path(), "/login") {
		t.Fatalf("the administrator could not log in:\n%s", b.text("main"))
	}
	steps := []struct {
		name string
		fn   func(*testing.T, *tab)
	}{
		{"AddsDenyRule", stepAddDenyRule},
		{"TestsAnAddress", stepTestAddress},
		{"LockOutRuleAsksConfirmation", stepLockOutRuleAsksConfirmation},
		{"MailIsRefused", stepMailRefused},
		{"SeesTheRefusal", stepSeesRefusal},
		{"RemovesTheRule", stepRemovesRule},
	}
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			b.t = t
			s.fn(t, b)
		})
		if !ok {
			t.Fatalf("step %s failed; the steps after it depend on it", s.name)
		}
	}
}

// rulePatterns are the patterns of the rules table shown.
func (b *tab) rulePatterns() []string {
	b.t.Helper()
	return mustEval[[]string](b, `[...document.querySelectorAll('#policy-rules tbody td:first-child code')].map(e => e.textContent)`)
}

func stepAddDenyRule(t *testing.T, b *tab) {
	b.open("/admin/policy")
	b.checkBoth("policy")
	b.set("#pattern", deniedDomain)
	b.set("#note", "نطاق أجنبي للاختبار")
	b.must("choose deny", chromedp.Click(chromedp.CSS("#action-deny"), chromedp.NodeVisible))
	if status := b.submit("#add-rule-submit"); status != 200 {
		t.Fatalf("add the rule: status %d:\n%s", status, b.text("main"))
	}
	b.wantPath("/admin/policy")
	b.wantNoFormErrors("add the rule")
	if !slices.Contains(b.rulePatterns(), deniedDomain) {
		t.Fatalf("the rules table does not show %s: %v", deniedDomain, b.rulePatterns())
	}
	if !strings.Contains(b.text("#policy-rules"), "نطاق أجنبي للاختبار") {
		t.Errorf("the rule's note is not shown:\n%s", b.text("#policy-rules"))
	}
}

func stepTestAddress(t *testing.T, b *tab) {
	b.set("#address", "someone@"+deniedDomain)
	if status := b.submit("#test-submit"); status != 200 {
		t.Fatalf("test an address: status %d:\n%s", status, b.text("main"))
	}
	refused := uiText(t, b.in.root, "ar", "admin.policy.test.refused")
	for _, row := range []string{"#test-outbound", "#test-inbound"} {
		if got := b.text(row); !strings.Contains(got, refused) || !strings.Contains(got, "deny:"+deniedDomain) {
			t.Errorf("%s: %q, want %q and the rule deny:%s", row, got, refused, deniedDomain)
		}
	}
	if !strings.Contains(b.text("#test-outbound"), "550 5.7.1") {
		t.Errorf("the test does not show the SMTP reply: %q", b.text("#test-outbound"))
	}
	b.checkBoth("policy-test")
}

func stepLockOutRuleAsksConfirmation(t *testing.T, b *tab) {
	b.open("/admin/policy")
	b.set("#pattern", "mof.gov.sy")
	if status := b.submit("#add-rule-submit"); status != 409 {
		t.Fatalf("a deny of a hosted domain: status %d, want 409:\n%s", status, b.text("main"))
	}
	if got := b.text("#confirm-covers"); !strings.Contains(got, "mof.gov.sy") {
		t.Errorf("the confirmation does not say what the rule covers: %q", got)
	}
	b.checkHere("policy-confirm")
	b.open("/admin/policy")
	if slices.Contains(b.rulePatterns(), "mof.gov.sy") {
		t.Fatal("an unconfirmed deny of a hosted domain was made")
	}
}

func stepMailRefused(t *testing.T, b *tab) {
	c, err := smtp.Dial(b.in.submissionAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil { // the self-signed pair of data_dir
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", policySender, password, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(policySender); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("someone@" + deniedDomain)
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 550 || !strings.HasPrefix(te.Msg, "5.7.1") {
		t.Fatalf("RCPT to the denied domain: %v, want 550 5.7.1", err)
	}
	_ = c.Quit()
}

func stepSeesRefusal(t *testing.T, b *tab) {
	link := `#violations-users a[href="/admin/audit?action=policy.refused&actor=user%3A` + strings.Replace(policySender, "@", "%40", 1) + `"]`
	// The first refusal of a user is written at once (policy.RecordRefusal).
	b.open("/admin/violations")
	if !b.has(link) {
		t.Fatalf("the dashboard does not list %s leading to its refusals:\n%s", policySender, b.text("main"))
	}
	if !b.has(`#violations-domains a[href="/admin/audit?action=policy.refused&object=domain%3A` + deniedDomain + `"]`) {
		t.Errorf("the dashboard does not list %s:\n%s", deniedDomain, b.text("#violations-domains"))
	}
	today := time.Now().UTC().Format(time.DateOnly)
	bar := mustEval[string](b, `(document.querySelector('#refusals-per-day a:last-of-type') || {}).getAttribute('aria-label') || ''`)
	if !strings.HasPrefix(bar, today+": ") || strings.HasPrefix(bar, today+": 0 ") {
		t.Errorf("today's bar is named %q, want refusals of %s", bar, today)
	}
	b.checkBoth("violations")
}

func stepRemovesRule(t *testing.T, b *tab) {
	b.open("/admin/policy")
	b.submit(`form:has(input[name="pattern"][value="` + deniedDomain + `"]) button[type="submit"]`)
	if p := b.path(); !strings.HasPrefix(p, "/admin/policy?done=removed") {
		t.Fatalf("after removal the page is %s:\n%s", p, b.text("main"))
	}
	if slices.Contains(b.rulePatterns(), deniedDomain) {
		t.Fatalf("the rule %s is still shown", deniedDomain)
	}
}
