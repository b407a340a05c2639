package uitest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A letter's life in the browser, on the real program: the bootstrap
// administrator must change the generated password before anything else;
// a MOCT clerk drafts a letter with an Arabic subject and an attachment
// (the upload's progress bar filling), registers and dispatches it to MOF;
// the MOF clerk finds it in the register, registers it and refers it to a
// staff member, who answers. Every page is checked by axe-core in both
// languages and photographed.
func TestLetterThroughTheBrowserFromDraftToAnswer(t *testing.T) {
	b := newTab(t, "letter")
	steps := []struct {
		name string
		fn   func(*testing.T, *tab, *letter)
	}{
		{"AdministratorMustChangeGeneratedPassword", stepAdminChangesPassword},
		{"ClerkDraftsLetterWithAttachment", stepClerkDrafts},
		{"ClerkRegistersAndDispatches", stepClerkRegistersAndDispatches},
		{"RecipientClerkRegistersAndRefers", stepRecipientRegistersAndRefers},
		{"StaffMemberAnswersReferral", stepStaffAnswers},
	}
	l := &letter{subject: "طلب بيانات الموازنة للربع الأول", body: "يرجى تزويدنا ببيانات الموازنة.\nمع الشكر."}
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			b.t = t
			s.fn(t, b, l)
		})
		if !ok {
			t.Fatalf("step %s failed; the steps after it depend on it", s.name)
		}
	}
}

// letter is what the steps learn about the letter as it goes.
type letter struct {
	subject, body string
	outgoing      string // the sender's entry page, /entries/ID
	incoming      string // the recipient's entry page
	outNumber     string
	inNumber      string
}

var (
	outgoingNumber = regexp.MustCompile(`^MOCT/ص/\d{4}/\d{6}$`)
	incomingNumber = regexp.MustCompile(`^MOF/و/\d{4}/\d{6}$`)
	entryPath      = regexp.MustCompile(`^/entries/\d+$`)
)

// login logs in through the login form and returns the status of the page
// the browser lands on.
func (b *tab) login(login, pw string) int64 {
	b.t.Helper()
	b.open("/login")
	b.set("#login", login)
	b.set("#password", pw)
	return b.submit(`form[action="/login"] button[type="submit"]`)
}

// logout logs out with the button of the navigation bar.
func (b *tab) logout() {
	b.t.Helper()
	b.submit(`form[action="/logout"] button[type="submit"]`)
	b.wantPath("/login")
}

// wantNoFormErrors fails the test when the page shows a form error.
func (b *tab) wantNoFormErrors(what string) {
	b.t.Helper()
	if b.has(`[aria-invalid="true"], .field-error, main .error`) {
		b.t.Fatalf("%s: the page shows an error:\n%s", what, b.text("main"))
	}
}

// uiText is a text of the UI in a language, from web/locales.
func uiText(t testing.TB, root, lang, id string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "web", "locales", lang+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	s, ok := m[id]
	if !ok {
		t.Fatalf("web/locales/%s.json has no %s", lang, id)
	}
	return s
}

// wantState fails the test unless the entry page shows the state.
func (b *tab) wantState(state string) {
	b.t.Helper()
	label := uiText(b.t, b.in.root, "ar", "state."+state)
	if !strings.Contains(b.text("main"), label) {
		b.t.Fatalf("entry page %s does not show the state %s (%q):\n%s", b.path(), state, label, b.text("main"))
	}
}

func stepAdminChangesPassword(t *testing.T, b *tab, _ *letter) {
	b.open("/login")
	b.checkBoth("login")
	if status := b.login("admin", "not the password"); status != 401 {
		t.Errorf("wrong password: status %d, want 401", status)
	}
	b.wantPath("/login")
	if !b.has(`main [role="alert"]`) {
		t.Errorf("wrong password: no alert on the login page:\n%s", b.text("main"))
	}
	b.checkHere("login-failed")

	b.login("admin", b.in.admin)
	b.wantPath("/account")
	if !b.has("#must-change") {
		t.Errorf("the account page does not say the password must be changed:\n%s", b.text("main"))
	}
	b.checkBoth("account-must-change")
	// Nothing else may be done before the password is changed.
	for _, p := range []string{"/referrals", "/correspondence/new", "/entries/1"} {
		b.open(p)
		b.wantPath("/account")
	}
	const newPassword = "a new administrator password"
	b.set(`[name="current_password"]`, b.in.admin)
	b.set(`[name="new_password"]`, newPassword)
	b.set(`[name="confirm_password"]`, newPassword)
	if status := b.submit(`form[action="/account/password"] [type="submit"]`); status >= 400 {
		t.Fatalf("change password: status %d:\n%s", status, b.text("main"))
	}
	b.wantNoFormErrors("change password")
	b.checkBoth("account-password-changed")
	b.logout()

	if status := b.login("admin", b.in.admin); status != 401 {
		t.Errorf("the old password still logs in (status %d)", status)
	}
	b.login("admin", newPassword)
	if p := b.path(); strings.HasPrefix(p, "/login") {
		t.Fatalf("the new password does not log in:\n%s", b.text("main"))
	}
	b.open("/entries/1")
	if p := b.path(); strings.HasPrefix(p, "/account") {
		t.Errorf("after the change the administrator is still held on /account")
	}
	b.open("/account")
	b.logout()
}
