package httpd

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/workflow"
)

// entryLink finds the links to entries of a register page.
var entryLink = regexp.MustCompile(`href="/entries/(\d+)"`)

// nextPage finds the link to the next page.
var nextPage = regexp.MustCompile(`<a href="([^"]*)" id="next-page"`)

func entryIDs(t testing.TB, body string) []int64 {
	t.Helper()
	var ids []int64
	for _, m := range entryLink.FindAllStringSubmatch(body, -1) {
		id, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// mofBook puts into MOF's book: two drafts of its clerk (one urgent, one
// with a subject that is a script) and a letter received from MOCT. It
// returns their entries at MOF.
func (e *apiEnv) mofBook() (plain, xss, in workflow.Entry) {
	ctx := context.Background()
	mof, moct := e.actorOf(mofClerk), e.actorOf(moctClerk)
	var err error
	plain, err = e.wf.CreateDraft(ctx, mof, workflow.NewCorrespondence{Subject: "طلب موازنة الربع الأول", SenderRegistry: "MOF",
		Priority: workflow.PriorityUrgent, Recipients: []workflow.RecipientInput{{Registry: "MOCT"}}})
	e.ok(nil, err)
	xss, err = e.wf.CreateDraft(ctx, mof, workflow.NewCorrespondence{Subject: `<script>alert(1)</script>`, SenderRegistry: "MOF"})
	e.ok(nil, err)
	out, err := e.wf.CreateDraft(ctx, moct, workflow.NewCorrespondence{Subject: "تقرير الاتصالات", SenderRegistry: "MOCT",
		Recipients: []workflow.RecipientInput{{Registry: "MOF"}}})
	e.ok(nil, err)
	out, err = e.wf.Act(ctx, moct, out.ID, workflow.Transition{Action: workflow.ActionRegister, Version: out.Version})
	e.ok(nil, err)
	_, err = e.wf.Act(ctx, moct, out.ID, workflow.Transition{Action: workflow.ActionDispatch, Version: out.Version})
	e.ok(nil, err)
	p, err := e.wf.Register(ctx, mof, workflow.RegisterFilter{Direction: workflow.Incoming})
	e.ok(nil, err)
	if len(p.Items) != 1 {
		e.t.Fatalf("MOF has %d incoming entries", len(p.Items))
	}
	return plain, xss, workflow.Entry{ID: p.Items[0].ID}
}

// The register lists the registry's entries with their parties; the
// filters select, the form shows what was chosen, and a subject that is
// a script is text.
func TestRegistersPageListsAndFilters(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		plain, xss, in := e.mofBook()
		b := e.uiLogin(mofClerk)
		resp, body := b.get("/registers")
		wantPage(t, resp, body, http.StatusOK, `<table id="register">`, `<th scope="col">الموضوع</th>`,
			`&lt;script&gt;alert(1)&lt;/script&gt;`, "طلب موازنة الربع الأول", "إلى: ديوان MOCT", "من: ديوان MOCT",
			`<option value="MOF" selected>ديوان MOF (MOF)</option>`, "عاجل", "مسودة", "مستلم")
		if strings.Contains(body, "<script>alert") {
			t.Error("a subject is not escaped")
		}
		if got := entryIDs(t, body); !sameIDs(got, in.ID, xss.ID, plain.ID) {
			t.Errorf("the register links %v", got)
		}
		if strings.Contains(body, `id="next-page"`) || strings.Contains(body, `id="first-page"`) {
			t.Error("one page has links to others")
		}
		for query, want := range map[string][]int64{
			"direction=incoming":                          {in.ID},
			"direction=outgoing&state=draft":              {xss.ID, plain.ID},
			"priority=urgent":                             {plain.ID},
			"classification=normal":                       {in.ID, xss.ID, plain.ID},
			"classification=secret":                       nil,
			"q=" + "%D9%85%D9%88%D8%A7%D8%B2%D9%86%D8%A9": {plain.ID}, // موازنة
			"q=script":                             {xss.ID},
			"from=2000-01-01&to=2999-12-31":        {in.ID, xss.ID, plain.ID},
			"from=2999-01-01":                      nil,
			"sort=oldest":                          {plain.ID, xss.ID, in.ID},
			"registry=mof&sort=due&state=received": {in.ID},
		} {
			resp, body := b.get("/registers?" + query)
			wantPage(t, resp, body, http.StatusOK, `<table id="register">`)
			if got := entryIDs(t, body); !sameIDs(got, want...) {
				t.Errorf("%s: %v, want %v", query, got, want)
			}
		}
		resp, body = b.get("/registers?direction=incoming&priority=urgent&q=%3Cb%3E")
		wantPage(t, resp, body, http.StatusOK, `<option value="incoming" selected>`, `<option value="urgent" selected>`,
			`value="&lt;b&gt;"`, "لا توجد قيود")
		b.lang = "en"
		resp, body = b.get("/registers?sort=oldest")
		wantPage(t, resp, body, http.StatusOK, `<html lang="en" dir="ltr">`, "To: Registry MOCT", "From: Registry MOCT",
			`<option value="oldest" selected>`, "Received", "Urgent")
	})
}

// sameIDs reports whether got lists want, in that order.
func sameIDs(got []int64, want ...int64) bool { return slices.Equal(got, want) }

// Following "next page" through a register of 130 entries (13 of them
// confidential, above the clerk's clearance), 50 a page, shows every entry
// the clerk may see once, keeps the filters, and offers the first page
// again; overdue lines are marked by a class and a visible word.
func TestRegistersPagesForwardWithoutGapsOrRepeats(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		e.ok(nil, e.wf.SeedRegisterForBenchmark(context.Background(), "MOF", 130))
		b := e.uiLogin(mofClerk)
		for _, c := range []struct {
			query string
			want  int
		}{{"", 117}, {"sort=due", 117}, {"direction=incoming&sort=oldest", 65}} {
			seen := map[int64]bool{}
			var order []int64
			href, pages := "/registers?"+c.query, 0
			for href != "" {
				resp, body := b.get(href)
				wantPage(t, resp, body, http.StatusOK, `<table id="register">`)
				if pages > 0 {
					wantPage(t, resp, body, http.StatusOK, `id="first-page"`)
				}
				for _, id := range entryIDs(t, body) {
					if seen[id] {
						t.Errorf("%s: entry %d again on page %d", c.query, id, pages+1)
					}
					seen[id] = true
					order = append(order, id)
				}
				href = ""
				if m := nextPage.FindStringSubmatch(body); m != nil {
					href = html.UnescapeString(m[1])
					for _, kv := range strings.Split(c.query, "&") {
						if kv != "" && !strings.Contains(href, kv) {
							t.Errorf("the next page %q drops %s", href, kv)
						}
					}
				}
				if pages++; pages > 10 {
					t.Fatal("the pages do not end")
				}
			}
			if len(seen) != c.want || pages != (c.want+49)/50 {
				t.Errorf("%s: %d entries on %d pages, want %d", c.query, len(seen), pages, c.want)
			}
		}
		// Every third letter of the seed was due a week after it came, in
		// 2025; those not closed are overdue.
		resp, body := b.get("/registers?sort=oldest")
		wantPage(t, resp, body, http.StatusOK, `<tr class="overdue">`, `<span class="badge overdue">متأخر</span>`)
		if n, m := strings.Count(body, `<tr class="overdue">`), strings.Count(body, `class="badge overdue"`); n != m || n == 0 {
			t.Errorf("%d overdue lines, %d badges", n, m)
		}
	})
}

// A cursor that is not one, and a bad date, are a 400 page that says so,
// offers the first page and lists nothing.
func TestRegistersRefusesADamagedCursorAndBadDates(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	e.ok(nil, e.wf.SeedRegisterForBenchmark(context.Background(), "MOF", 60))
	b := e.uiLogin(mofClerk)
	_, body := b.get("/registers")
	next := html.UnescapeString(nextPage.FindStringSubmatch(body)[1])
	for _, bad := range []string{"/registers?after=%3Cscript%3E", strings.Replace(next, "after=", "after=Zz", 1), next + "&sort=due", "/registers?after=e30"} {
		resp, body := b.get(bad)
		wantPage(t, resp, body, http.StatusBadRequest, `role="alert"`, "رابط هذه الصفحة تالف", `id="first-page"`, `<table id="register">`)
		if ids := entryIDs(t, body); len(ids) != 0 {
			t.Errorf("%s lists %v", bad, ids)
		}
		if strings.Contains(body, "<script>") {
			t.Errorf("%s: the cursor is echoed unescaped", bad)
		}
	}
	resp, body := b.get("/registers?from=2026-02-31&direction=incoming")
	wantPage(t, resp, body, http.StatusBadRequest, `aria-invalid="true" aria-describedby="from-error"`, `id="from-error"`,
		"اكتب التاريخ", `value="2026-02-31"`, `<option value="incoming" selected>`)
	resp, body = b.get("/registers?state=%3Cb%3Elost")
	wantPage(t, resp, body, http.StatusBadRequest, `aria-invalid="true" aria-describedby="state-error"`, `id="state-error"`)
	if strings.Contains(body, "<b>lost") {
		t.Error("a bad state is echoed unescaped")
	}
	b.lang = "en"
	resp, body = b.get("/registers?after=garbage")
	wantPage(t, resp, body, http.StatusBadRequest, "damaged", "First page")
}

// Another ministry's registry, and the register of a user who clerks
// for none, are not found; without a session the page asks for a login.
func TestRegistersOfOthersNotFound(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		e.mofBook()
		clerk := e.uiLogin(mofClerk)
		resp, body := clerk.get("/registers?registry=MOCT")
		wantPage(t, resp, body, http.StatusNotFound, "غير موجود")
		if strings.Contains(body, `id="register"`) || strings.Contains(body, "تقرير الاتصالات") {
			t.Error("another ministry's register shows")
		}
		for _, login := range []string{mofStaff, mofHead, adminLogin} {
			resp, body := e.uiLogin(login).get("/registers")
			wantPage(t, resp, body, http.StatusNotFound)
			if strings.Contains(body, `id="register"`) {
				t.Errorf("%s sees a register", login)
			}
		}
		resp, _ = e.browser().get("/registers?direction=incoming")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fregisters%3Fdirection%3Dincoming" {
			t.Errorf("without a session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// A clerk of two registries chooses between them, the first by code being
// the default; each lists its own book.
func TestRegistersChoosesAmongTheClerksRegistries(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	_, xss, in := e.mofBook()
	op := workflow.OperatorActor(operator)
	ctx := context.Background()
	e.ok(e.wf.AddRegistry(ctx, op, workflow.Registry{Code: "MOF-HQ", Ministry: "MOF", NameAR: "ديوان المقر",
		NameEN: "Headquarters", Address: "hq@mof.gov.sy"}))
	e.ok(e.wf.SetMembership(ctx, op, mofClerk, workflow.MembershipChange{AddRegistry: "MOF-HQ"}))
	hq, err := e.wf.CreateDraft(ctx, e.actorOf(mofClerk), workflow.NewCorrespondence{Subject: "مذكرة المقر", SenderRegistry: "MOF-HQ"})
	e.ok(nil, err)
	b := e.uiLogin(mofClerk)
	resp, body := b.get("/registers?direction=outgoing")
	wantPage(t, resp, body, http.StatusOK, `<option value="MOF" selected>ديوان MOF (MOF)</option>`,
		`<option value="MOF-HQ">ديوان المقر (MOF-HQ)</option>`)
	if ids := entryIDs(t, body); !slices.Contains(ids, xss.ID) || slices.Contains(ids, hq.ID) || slices.Contains(ids, in.ID) {
		t.Errorf("MOF's outgoing book links %v", ids)
	}
	resp, body = b.get("/registers?registry=MOF-HQ")
	wantPage(t, resp, body, http.StatusOK, `<option value="MOF-HQ" selected>`, "<h1>السجلات · ديوان المقر</h1>")
	if ids := entryIDs(t, body); !sameIDs(ids, hq.ID) {
		t.Errorf("MOF-HQ's book links %v", ids)
	}
}

// Every text of a register's row is escaped, whatever it holds.
func TestRegisterRowsEscapeEveryText(t *testing.T) {
	const evil = `<img src=x onerror=alert(1)>&"'`
	l := regLine{ID: 7, Number: evil, Date: evil, Subject: evil, Party: evil, Classification: evil, Priority: evil,
		State: evil, Due: evil, Overdue: true}
	got := string(registerRows([]regLine{l}, evil))
	if strings.Contains(got, "<img") || strings.Count(got, "&lt;img src=x onerror=alert(1)&gt;&amp;&#34;&#39;") != 9 {
		t.Errorf("a row's texts are not all escaped:\n%s", got)
	}
	if !strings.Contains(got, `<tr class="overdue">`) || !strings.Contains(got, `<a href="/entries/7">`) {
		t.Errorf("the row:\n%s", got)
	}
}

// A drop-down's values and labels are escaped.
func TestRegisterOptionsEscapeEveryText(t *testing.T) {
	const evil = `"><script>alert(1)</script>`
	got := string(regSelect{Options: []regOption{{Value: evil, Label: evil, Selected: true}}}.OptionsHTML())
	if strings.Contains(got, "<script>") || strings.Count(got, "&#34;&gt;&lt;script&gt;") != 2 || !strings.Contains(got, " selected>") {
		t.Errorf("the options:\n%s", got)
	}
}
