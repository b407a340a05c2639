package uitest

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/chromedp/chromedp"
)

// axeViolation is one rule axe-core found broken, with the elements that
// break it.
type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// axeRun runs every axe-core rule on the document and keeps the serious
// and critical violations.
const axeRun = `(async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.map(n => n.target.join(' '))}));
})()`

// checkHere checks the page shown, in the language it is shown in:
// axe-core finds no serious or critical violation, and a full-page
// screenshot is written to the artefacts.
func (b *tab) checkHere(name string) {
	b.t.Helper()
	lang := mustEval[string](b, `document.documentElement.lang`)
	if lang == "" {
		b.t.Errorf("%s: <html> has no lang", name)
		lang = "xx"
	}
	b.screenshot(name, lang)
	b.weigh(name + " (" + lang + ")")
	b.axe(name + " (" + lang + ")")
	for _, p := range b.consoleProblems() {
		b.t.Errorf("%s (%s): the browser's console: %s", name, lang, p)
	}
}

// checkBoth checks the page shown in English and in Arabic (?lang=en,
// then ?lang=ar, which leaves the browser in Arabic). The page must be
// one that a GET shows again, with a status below 400.
func (b *tab) checkBoth(name string) {
	b.t.Helper()
	b.checkBothAt(name, b.path(), 0)
}

// checkBothAt opens path in English and in Arabic, checks each and wants
// the status (0: any below 400).
func (b *tab) checkBothAt(name, path string, status int64) {
	b.t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, lang := range []string{"en", "ar"} {
		q := u.Query()
		q.Set("lang", lang)
		u.RawQuery = q.Encode()
		got := b.open(u.RequestURI())
		if status == 0 && got >= 400 || status != 0 && got != status {
			b.t.Errorf("%s in %s: status %d, want %s", name, lang, got, map[bool]string{true: "below 400", false: fmt.Sprint(status)}[status == 0])
		}
		if got := mustEval[string](b, `document.documentElement.lang + " " + document.documentElement.dir`); got != lang+" "+map[string]string{"ar": "rtl", "en": "ltr"}[lang] {
			b.t.Errorf("%s?lang=%s: <html lang dir> = %q", u.Path, lang, got)
		}
		b.checkHere(name)
	}
}

// maxPageBytes is the most a page may weigh with its stylesheet, script
// and images, attachments aside (issue 17: 150 KB).
const maxPageBytes = 150 << 10

// pageWeight adds up the bodies the page loaded (as sent, before the
// browser's cache) and lists what it asked of another origin.
const pageWeight = `(() => {
  const es = [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')]
    .filter(e => !new URL(e.name).pathname.includes('/attachments/'));
  return {
    bytes: es.reduce((n, e) => n + (e.encodedBodySize || 0), 0),
    foreign: es.filter(e => new URL(e.name).origin !== location.origin).map(e => e.name),
  };
})()`

// weigh fails the test when the page shown weighs more than maxPageBytes
// or asked anything of another host.
func (b *tab) weigh(page string) {
	b.t.Helper()
	w := mustEval[struct {
		Bytes   int64
		Foreign []string
	}](b, pageWeight)
	if w.Bytes > maxPageBytes {
		b.t.Errorf("%s (%s) weighs %d bytes, more than %d", page, b.path(), w.Bytes, maxPageBytes)
	}
	if len(w.Foreign) > 0 {
		b.t.Errorf("%s (%s) asked another host for %v", page, b.path(), w.Foreign)
	}
}

// axe injects axe-core into the page and fails the test on a serious or
// critical violation, naming the rule, its impact and the elements.
func (b *tab) axe(page string) {
	b.t.Helper()
	for _, v := range b.axeViolations(page) {
		b.t.Errorf("axe-core on %s (%s): %s %s: %s\n    %s", page, b.path(), v.Impact, v.ID, v.Help, strings.Join(v.Targets, "\n    "))
	}
}

// axeViolations runs axe-core on the page shown (injecting it first) and
// returns its serious and critical violations.
func (b *tab) axeViolations(page string) []axeViolation {
	b.t.Helper()
	if !mustEval[bool](b, `typeof axe !== 'undefined'`) {
		if err := b.do(chromedp.Evaluate[chromedp.Void](axeSource)); err != nil {
			b.t.Fatalf("inject axe-core into %s: %v", page, err)
		}
	}
	return mustEval[[]axeViolation](b, axeRun)
}

// screenshot writes a full-page PNG of the page shown to the artefacts:
// NAME-NN-page-LANG.png.
func (b *tab) screenshot(page, lang string) {
	b.t.Helper()
	b.n++
	file := filepath.Join(b.shots, fmt.Sprintf("%s-%02d-%s-%s.png", b.name, b.n, slug(page), lang))
	// The viewport is made as tall as the page for the picture (a capture
	// beyond the viewport shifts right-to-left pages sideways).
	h := mustEval[int64](b, `Math.ceil(Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0))`)
	b.must("grow the viewport", chromedp.EmulateViewport(viewportWidth, max(h, viewportHeight)))
	png, err := runAction(b, chromedp.CaptureScreenshot())
	b.must("restore the viewport", chromedp.EmulateViewport(viewportWidth, viewportHeight))
	if err != nil {
		b.t.Fatalf("screenshot of %s: %v", page, err)
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// slug makes a page's name fit a file name.
func slug(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}
