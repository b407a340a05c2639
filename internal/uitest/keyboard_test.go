package uitest

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// focusShown describes the element that has the focus and whether a
// focus indicator is drawn around it (an outline or a box shadow).
const focusShown = `(() => {
  const e = document.activeElement, s = getComputedStyle(e);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
  return {id: e.id || e.getAttribute('name') || e.tagName.toLowerCase(), shown: outline || s.boxShadow !== 'none'};
})()`

// A clerk logs in with the keyboard alone, in both languages: Tab reaches
// the login field, the password and the button in that order, each
// showing where the focus is, and Enter sends the form.
func TestLoginWithTheKeyboardAloneShowsTheFocus(t *testing.T) {
	b := newTab(t, "keyboard")
	for _, lang := range []string{"en", "ar"} {
		b.open("/login?lang=" + lang)
		var seen []string
		for i := 0; i < 8 && !strings.Contains(strings.Join(seen, " "), "submit"); i++ {
			b.must("press Tab", chromedp.KeyEvent(kb.Tab))
			f := mustEval[struct {
				ID    string
				Shown bool
			}](b, focusShown)
			if f.ID == "login" || f.ID == "password" || f.ID == "button" {
				if f.ID == "button" {
					f.ID = "submit"
				}
				seen = append(seen, f.ID)
			}
			if !f.Shown {
				t.Errorf("%s: the focus on %s is not shown", lang, f.ID)
			}
		}
		if got := strings.Join(seen, " "); got != "login password submit" {
			t.Fatalf("%s: Tab went through %q, want login, password, then the button", lang, got)
		}
	}
	b.must("focus the login", chromedp.Focus(chromedp.ID("login")))
	b.must("type", chromedp.KeyEvent(moctClerk+kb.Tab+password))
	if status := b.pressEnter(); status >= 400 && strings.HasPrefix(b.path(), "/login") {
		t.Fatalf("Enter in the password field did not log in: status %d\n%s", status, b.text("main"))
	}
	if strings.HasPrefix(b.path(), "/login") {
		t.Fatalf("Enter in the password field stayed on %s", b.path())
	}
}

// pressEnter presses Enter and waits for the page it loads.
func (b *tab) pressEnter() int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.KeyEvent(kb.Enter))
	if err != nil {
		b.t.Fatalf("press Enter: %v", err)
	}
	return resp.Status
}
