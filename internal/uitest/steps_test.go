package uitest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// watchUploads records in the tab's sessionStorage (which outlives the
// page) how far the fullest <progress class="upload-progress"> of the page
// got, as value/max: 1 once an upload's bar reached its max.
const watchUploads = `(() => {
  sessionStorage.setItem('diwan-upload', '0');
  const look = () => {
    for (const p of document.querySelectorAll('progress.upload-progress')) {
      const r = p.max > 0 && p.hasAttribute('value') ? p.value / p.max : 0;
      if (r > Number(sessionStorage.getItem('diwan-upload'))) sessionStorage.setItem('diwan-upload', String(r));
    }
  };
  new MutationObserver(look).observe(document.documentElement,
    {subtree: true, childList: true, attributes: true, attributeFilter: ['value', 'max']});
  document.addEventListener('progress', look, true);
  return true;
})()`

// attachment writes the file the clerk attaches: 1 MiB, so that its
// upload reports progress on the way.
func attachment(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "جدول-الموازنة.txt")
	line := "البند,المبلغ\n"
	if err := os.WriteFile(path, []byte(strings.Repeat(line, (1<<20)/len(line))), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func stepClerkDrafts(t *testing.T, b *tab, l *letter) {
	b.login(moctClerk, password)
	b.wantPath("/registers")
	b.checkBoth("registers-moct")

	b.open("/correspondence/new")
	b.checkBoth("draft-new")
	b.set("#subject", l.subject)
	b.set("#body", l.body)
	// The recipient picker finds the registry by its Arabic name.
	b.must("search a recipient", chromedp.SendKeys(chromedp.ID("recipient-search"), "المالية"))
	b.must("pick MOF", chromedp.Click(chromedp.CSS(`input[name="recipients"][value="MOF"]`), chromedp.NodeVisible))
	file := attachment(t)
	b.must("choose the attachment", chromedp.SetUploadFiles(chromedp.ID("attachments"), []string{file}, chromedp.NodeReady))
	mustEval[bool](b, watchUploads)
	if status := b.submit("#draft-save"); status >= 400 {
		t.Fatalf("send the draft: status %d:\n%s", status, b.text("main"))
	}
	if p := b.path(); !entryPath.MatchString(strings.SplitN(p, "?", 2)[0]) {
		t.Fatalf("the new draft went to %s, want its entry page:\n%s", p, b.text("main"))
	}
	l.outgoing = strings.SplitN(b.path(), "?", 2)[0]
	if r := mustEval[string](b, `sessionStorage.getItem('diwan-upload') || '0'`); r != "1" {
		t.Errorf("the upload's progress bar reached %s of its max, want 1", r)
	}
	b.wantState("draft")
	if got := b.text("#attachments"); !strings.Contains(got, filepath.Base(file)) {
		t.Errorf("the draft's attachments %q lack %s", got, filepath.Base(file))
	}
	if got := b.text("main h1") + b.text("main"); !strings.Contains(got, l.subject) {
		t.Errorf("the entry page does not show the subject %q", l.subject)
	}
	b.checkBoth("entry-draft")
}

func stepClerkRegistersAndDispatches(t *testing.T, b *tab, l *letter) {
	b.open(l.outgoing)
	status, timing := b.clickTimed("#action-register")
	if status >= 400 {
		t.Fatalf("register: status %d:\n%s", status, b.text("main"))
	}
	t.Logf("register click → page painted: %s", timing)
	t.Logf("BenchmarkRegisterClickToPaint/scenario \t1\t%.1f ms/op\t%.1f load-ms\t%.1f server-ms", timing.ClickToPaint, timing.ClickToLoad, timing.Server)
	b.wantNoFormErrors("register")
	l.outNumber = strings.TrimSpace(b.text("#register-number"))
	if !outgoingNumber.MatchString(l.outNumber) {
		t.Fatalf("register number %q, want MOCT/ص/YYYY/NNNNNN", l.outNumber)
	}
	b.wantState("registered")
	b.checkBoth("entry-registered")

	if status := b.submit("#action-dispatch"); status >= 400 {
		t.Fatalf("dispatch: status %d:\n%s", status, b.text("main"))
	}
	b.wantNoFormErrors("dispatch")
	b.wantState("dispatched")
	b.checkBoth("entry-dispatched")

	// The outgoing register lists the letter under its number.
	b.open("/registers?direction=outgoing")
	if href := b.rowLink("#register", l.outNumber, `a[href^="/entries/"]`); href != l.outgoing {
		t.Errorf("the outgoing register's line of %s links to %s, want %s", l.outNumber, href, l.outgoing)
	}
	b.checkBoth("registers-moct-outgoing")
	b.logout()
}

// rowLink finds, in a table, the link of the row that shows text.
func (b *tab) rowLink(table, text, link string) string {
	b.t.Helper()
	href := mustEval[string](b, fmt.Sprintf(`(() => {
  for (const tr of document.querySelectorAll(%q + ' tr')) {
    const a = tr.querySelector(%q);
    if (a && tr.innerText.includes(%q)) return a.getAttribute('href');
  }
  return '';
})()`, table, link, text))
	if href == "" {
		b.t.Fatalf("no row of %s shows %q:\n%s", table, text, b.text(table))
	}
	return href
}

func stepRecipientRegistersAndRefers(t *testing.T, b *tab, l *letter) {
	b.login(mofClerk, password)
	b.wantPath("/registers")
	b.open("/registers?direction=incoming")
	b.checkBoth("registers-mof-incoming")
	l.incoming = b.rowLink("#register", l.subject, `a[href^="/entries/"]`)
	b.open(l.incoming)
	b.wantState("received")
	b.checkBoth("entry-received")

	if status := b.submit("#action-register"); status >= 400 {
		t.Fatalf("register: status %d:\n%s", status, b.text("main"))
	}
	b.wantNoFormErrors("register the incoming letter")
	l.inNumber = strings.TrimSpace(b.text("#register-number"))
	if !incomingNumber.MatchString(l.inNumber) {
		t.Fatalf("incoming register number %q, want MOF/و/YYYY/NNNNNN", l.inNumber)
	}
	b.wantState("registered")
	b.checkBoth("entry-incoming-registered")

	b.choose(`form[action$="/refer"] [name="user"]`, mofStaff)
	b.choose(`form[action$="/refer"] [name="instruction"]`, "action")
	if status := b.submit("#action-refer"); status >= 400 {
		t.Fatalf("refer: status %d:\n%s", status, b.text("main"))
	}
	b.wantNoFormErrors("refer")
	b.wantState("referred")
	b.checkBoth("entry-referred")
	b.logout()
}

// choose sets a field (an input or a select) and checks the value took.
func (b *tab) choose(css, value string) {
	b.t.Helper()
	b.set(css, value)
	if got := mustEval[string](b, fmt.Sprintf(`document.querySelector(%q).value`, css)); got != value {
		b.t.Fatalf("%s took %q, not %q", css, got, value)
	}
}

func stepStaffAnswers(t *testing.T, b *tab, l *letter) {
	b.login(mofStaff, password)
	b.wantPath("/referrals")
	b.checkBoth("referrals")
	b.open(b.rowLink("#referrals", l.subject, "a.referral-link"))
	b.checkBoth("referral-open")

	const answer = "تمت دراسة الطلب، والبيانات المطلوبة مرفقة."
	b.set(`form[action$="/answer"] [name="answer"]`, answer)
	if status := b.submit("#action-answer"); status >= 400 {
		t.Fatalf("answer: status %d:\n%s", status, b.text("main"))
	}
	b.wantNoFormErrors("answer")
	if got, want := b.text("#referral-state"), uiText(t, b.in.root, "ar", "state.answered"); got != want {
		t.Errorf("referral state %q, want %q", got, want)
	}
	if got := b.text("#answer"); got != answer {
		t.Errorf("the referral shows the answer %q, want %q", got, answer)
	}
	b.checkBoth("referral-answered")

	// The sender's own entry is another ministry's: not found, in both
	// languages.
	b.checkBothAt("not-found", l.outgoing, 404)
	if strings.Contains(b.text("main"), l.subject) {
		t.Errorf("the not-found page of another ministry's entry shows its subject")
	}
	b.logout()
}
