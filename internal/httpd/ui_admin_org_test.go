package httpd

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/workflow"
	"diwan.gov.sy/diwan/web"
)

// orgText is a text of the locale file of lang, as a page writes it
// (escaped).
func orgText(t testing.TB, lang, id string, args ...string) string {
	t.Helper()
	b, err := web.Locales.ReadFile("locales/" + lang + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	s, ok := m[id]
	if !ok {
		t.Fatalf("no text %s in %s.json", id, lang)
	}
	for i := 0; i+1 < len(args); i += 2 {
		s = strings.ReplaceAll(s, "{{."+args[i]+"}}", args[i+1])
	}
	return html.EscapeString(s)
}

// wantFieldError insists that the page marks field invalid and says the
// Arabic text msgID next to it.
func wantFieldError(t testing.TB, body, field, msgID string) {
	t.Helper()
	for _, want := range []string{
		`id="` + field + `" name="` + field + `"`,
		`aria-invalid="true" aria-describedby="`,
		`<p class="field-error" id="` + field + `-error">` + orgText(t, "ar", msgID) + `</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("the page lacks %q; body:\n%s", want, body)
		}
	}
}

// wantValue insists that the form shows field with value (refilled).
func wantValue(t testing.TB, body, field, value string) {
	t.Helper()
	if !strings.Contains(body, `name="`+field+`"`) || !strings.Contains(body, `value="`+html.EscapeString(value)+`"`) {
		t.Errorf("the form does not show %s = %q again; body:\n%s", field, value, body)
	}
}

func (e *apiEnv) ministryCodes() string {
	e.t.Helper()
	ms, err := e.dir.Ministries(context.Background())
	e.ok(nil, err)
	var codes []string
	for _, m := range ms {
		codes = append(codes, m.Code+"="+m.NameEN)
	}
	return strings.Join(codes, ",")
}

// An administrator lists the ministries, adds one (audited with them as
// actor) and renames one; a code in use, a code that is not one, an empty
// name and a ministry that does not exist are refused next to the field
// (or as not found), the form shown again as sent, nothing changed.
func TestAdminMinistriesPageAddsRenamesAndRefusesBadInput(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.uiLogin(adminLogin)
		resp, body := b.get("/admin/ministries")
		wantPage(t, resp, body, http.StatusOK, `<table id="ministries">`, "Ministry MOCT", "وزارة MOF",
			`href="/admin/ministries" aria-current="page"`, `action="/admin/ministries"`)

		resp, body = b.post("/admin/ministries", url.Values{"code": {"moh"}, "name_ar": {"وزارة الصحة"}, "name_en": {"Ministry of Health"}})
		wantRedirect(t, resp, body, "/admin/ministries?done=added")
		resp, body = b.get("/admin/ministries?done=added")
		wantPage(t, resp, body, http.StatusOK, orgText(t, "ar", "admin.ministries.done.added"), "وزارة الصحة", `href="/admin/ministries?edit=MOH"`)
		if ev := e.eventsOf("ministry.add"); len(ev) == 0 || ev[0].Actor != "user:admin" {
			t.Errorf("ministry.add events %+v", ev)
		}

		before := e.ministryCodes()
		for _, bad := range []struct {
			form       url.Values
			field, msg string
		}{
			{url.Values{"code": {"MOF"}, "name_ar": {"مكررة"}, "name_en": {"Again"}}, "code", "admin.ministries.error.exists"},
			{url.Values{"code": {"م"}, "name_ar": {"رمز عربي"}, "name_en": {"Arabic code"}}, "code", "admin.ministries.error.code"},
			{url.Values{"code": {"MOJ"}, "name_ar": {""}, "name_en": {"Justice"}}, "name_ar", "admin.ministries.error.name_ar"},
		} {
			resp, body = b.post("/admin/ministries", bad.form)
			wantPage(t, resp, body, http.StatusUnprocessableEntity, `action="/admin/ministries"`)
			wantFieldError(t, body, bad.field, bad.msg)
			wantValue(t, body, "name_en", bad.form.Get("name_en"))
		}
		if after := e.ministryCodes(); after != before {
			t.Errorf("refused forms changed the ministries: %s, then %s", before, after)
		}

		resp, body = b.get("/admin/ministries?edit=MOF")
		wantPage(t, resp, body, http.StatusOK, `action="/admin/ministries/MOF"`, `value="Ministry MOF"`)
		resp, body = b.post("/admin/ministries/MOF", url.Values{"name_ar": {"وزارة المالية"}, "name_en": {"   "}})
		wantPage(t, resp, body, http.StatusUnprocessableEntity, `action="/admin/ministries/MOF"`)
		wantFieldError(t, body, "name_en", "admin.ministries.error.name_en")
		resp, body = b.post("/admin/ministries/MOF", url.Values{"name_ar": {"وزارة المالية"}, "name_en": {"Ministry of Finance"}})
		wantRedirect(t, resp, body, "/admin/ministries?done=updated")
		if m, err := e.dir.Ministry(context.Background(), "MOF"); err != nil || m.NameEN != "Ministry of Finance" || m.NameAR != "وزارة المالية" {
			t.Errorf("MOF after the rename: %+v, %v", m, err)
		}
		resp, body = b.get("/admin/ministries?edit=NOPE")
		wantPage(t, resp, body, http.StatusNotFound)
		resp, body = b.post("/admin/ministries/NOPE", url.Values{"name_ar": {"لا"}, "name_en": {"No"}})
		wantPage(t, resp, body, http.StatusNotFound)

		// Not an administrator: the page does not exist.
		resp, body = e.uiLogin(mofStaff).get("/admin/ministries")
		wantPage(t, resp, body, http.StatusNotFound)
	})
}

// A form of each page of the organisation sent without the session's
// CSRF token is refused and changes nothing.
func TestAdminOrganisationFormsWithoutCSRFTokenAreRefused(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.uiLogin(adminLogin)
		b.get("/admin/ministries")
		ctx := context.Background()
		for _, f := range []struct {
			path string
			form url.Values
		}{
			{"/admin/ministries", url.Values{"code": {"MOH"}, "name_ar": {"وزارة الصحة"}, "name_en": {"Health"}}},
			{"/admin/ministries/MOF", url.Values{"name_ar": {"مزورة"}, "name_en": {"Forged"}}},
			{"/admin/registries", url.Values{"code": {"MOF2"}, "ministry": {"MOF"}, "name_ar": {"ديوان"}, "name_en": {"R"}, "address": {"r2@mof.gov.sy"}}},
			{"/admin/registries/MOF", url.Values{"name_ar": {"مزور"}, "name_en": {"Forged"}, "address": {"diwan@mof.gov.sy"}, "template": {"{dir}{year}{seq}"}}},
			{"/admin/departments", url.Values{"ministry": {"MOF"}, "code": {"HR"}, "name_ar": {"الموارد"}, "name_en": {"HR"}}},
			{"/admin/departments/MOF/LEGAL", url.Values{"name_ar": {"مزورة"}, "name_en": {"Forged"}, "parent": {"BUDGET"}}},
			{"/admin/domains", url.Values{"domain": {"moh.gov.sy"}, "ministry": {"MOF"}}},
		} {
			for _, token := range []string{"forged", ""} {
				form := cloneValues(f.form)
				form.Set("csrf_token", token)
				resp, body := b.post(f.path, form)
				wantPage(t, resp, body, http.StatusForbidden, orgText(t, "ar", "error.csrf.title"))
			}
		}
		if got := e.ministryCodes(); got != "MOCT=Ministry MOCT,MOF=Ministry MOF" {
			t.Errorf("ministries after forged forms: %s", got)
		}
		if rs, _ := e.wf.Registries(ctx, "MOF"); len(rs) != 1 || rs[0].NameEN != "Registry MOF" || rs[0].Template != workflow.DefaultTemplate {
			t.Errorf("MOF's registries after forged forms: %+v", rs)
		}
		if ds, _ := e.wf.Departments(ctx, workflow.OperatorActor(operator), "MOF"); len(ds) != 2 || ds[0].Parent != "" || ds[1].Parent != "" {
			t.Errorf("MOF's departments after forged forms: %+v", ds)
		}
		if ok, _ := e.dir.IsHosted(ctx, "moh.gov.sy"); ok {
			t.Error("a forged form hosted moh.gov.sy")
		}
	})
}

// year is this year in time_zone, where register years are counted.
func (e *apiEnv) year() string { return fmt.Sprint(time.Now().In(e.wf.Location()).Year()) }

// An administrator sees each registry's numbering template and the first
// numbers of the year it gives, adds a registry with its own template and
// changes one's; an invalid template, a code in use and an address not of
// the ministry are refused next to the field, nothing changed.
func TestAdminRegistriesPageShowsTemplatesWithExampleNumbers(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		ctx, y := context.Background(), e.year()
		b := e.uiLogin(adminLogin)
		resp, body := b.get("/admin/registries?ministry=MOF")
		wantPage(t, resp, body, http.StatusOK, `<tr id="registry-MOF">`, html.EscapeString(workflow.DefaultTemplate),
			`<span class="num regnum example-out">MOF/ص/`+y+`/000001</span>`, `<span class="num regnum example-in">MOF/و/`+y+`/000001</span>`,
			`id="template-example">`)
		if strings.Contains(body, `registry-MOCT`) {
			t.Error("the list of MOF's registries shows MOCT's")
		}

		add := url.Values{"code": {"MOF-HQ"}, "ministry": {"MOF"}, "name_ar": {"ديوان الإدارة"}, "name_en": {"Head office"},
			"address": {"hq@mof.gov.sy"}, "template": {"{registry}-{dir}-{year}-{seq:04}"}, "approval_required": {"on"}}
		for _, bad := range []struct {
			field, value, msg string
		}{
			{"template", "{registry}/{seq}", "admin.registries.error.template"},
			{"template", "{dir}{year}{seq}{nope}", "admin.registries.error.template"},
			{"code", "MOF", "admin.registries.error.exists"},
			{"address", "hq@moct.gov.sy", "admin.registries.error.address"},
		} {
			form := cloneValues(add)
			form.Set(bad.field, bad.value)
			resp, body = b.post("/admin/registries", form)
			wantPage(t, resp, body, http.StatusUnprocessableEntity, `action="/admin/registries"`)
			wantFieldError(t, body, bad.field, bad.msg)
			wantValue(t, body, bad.field, bad.value)
			wantValue(t, body, "name_en", "Head office")
		}
		if rs, _ := e.wf.Registries(ctx, "MOF"); len(rs) != 1 {
			t.Fatalf("refused forms added registries: %+v", rs)
		}

		resp, body = b.post("/admin/registries", add)
		wantRedirect(t, resp, body, "/admin/registries?done=added&ministry=MOF")
		resp, body = b.get("/admin/registries?done=added&ministry=MOF")
		wantPage(t, resp, body, http.StatusOK, orgText(t, "ar", "admin.registries.done.added"), `<tr id="registry-MOF-HQ">`,
			`MOF-HQ-ص-`+y+`-0001`, `MOF-HQ-و-`+y+`-0001`, orgText(t, "ar", "admin.registries.approval.yes"))

		resp, body = b.get("/admin/registries?edit=MOF")
		wantPage(t, resp, body, http.StatusOK, `action="/admin/registries/MOF"`, `value="diwan@mof.gov.sy"`)
		edit := url.Values{"name_ar": {"ديوان المالية"}, "name_en": {"Finance registry"}, "address": {"diwan@mof.gov.sy"}, "template": {"{dir}/{year}"}}
		resp, body = b.post("/admin/registries/MOF", edit)
		wantPage(t, resp, body, http.StatusUnprocessableEntity, `action="/admin/registries/MOF"`)
		wantFieldError(t, body, "template", "admin.registries.error.template")
		if r, _ := e.wf.Registry(ctx, "MOF"); r.Template != workflow.DefaultTemplate || r.NameEN != "Registry MOF" {
			t.Errorf("a refused change changed MOF: %+v", r)
		}
		edit.Set("template", "{seq:03}/{dir}/{year}")
		resp, body = b.post("/admin/registries/MOF", edit)
		wantRedirect(t, resp, body, "/admin/registries?done=updated&ministry=MOF")
		resp, body = b.get("/admin/registries?ministry=MOF")
		wantPage(t, resp, body, http.StatusOK, `001/ص/`+y, "Finance registry", orgText(t, "ar", "admin.registries.approval.no"))
		if ev := e.eventsOf("registry.update"); len(ev) == 0 || ev[0].Actor != "user:admin" {
			t.Errorf("registry.update events %+v", ev)
		}

		resp, body = b.post("/admin/registries/NOPE", edit)
		wantPage(t, resp, body, http.StatusNotFound)
		resp, body = e.uiLogin(mofClerk).get("/admin/registries")
		wantPage(t, resp, body, http.StatusNotFound)
	})
}

// deptParents is MOF's departments as CODE<PARENT, by code.
func (e *apiEnv) deptParents() string {
	e.t.Helper()
	ds, err := e.wf.Departments(context.Background(), workflow.OperatorActor(operator), "MOF")
	e.ok(nil, err)
	var out []string
	for _, d := range ds {
		out = append(out, d.Code+"<"+d.Parent)
	}
	return strings.Join(out, ",")
}

// An administrator sees a ministry's departments as a tree, adds one below
// another and sees it nested there, and moves one; a move below its own
// department (a cycle), a code in use and a head who is not one are
// refused next to the field, nothing changed.
func TestAdminDepartmentsPageShowsTheTreeAndRefusesACycle(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.uiLogin(adminLogin)
		resp, body := b.get("/admin/departments?ministry=MOF")
		wantPage(t, resp, body, http.StatusOK, `<li id="dept-BUDGET">`, `<li id="dept-LEGAL">`, "الشؤون القانونية",
			orgText(t, "ar", "admin.departments.head_is")+` <span dir="ltr">`+mofHead+`</span>`, `<input type="hidden" name="ministry" value="MOF">`)

		add := url.Values{"ministry": {"MOF"}, "code": {"CONTRACTS"}, "name_ar": {"العقود"}, "name_en": {"Contracts"}, "parent": {"LEGAL"}}
		for _, bad := range []struct{ field, value, msg string }{
			{"code", "LEGAL", "admin.departments.error.exists"},
			{"head", mofStaff, "admin.departments.error.head"},
			{"head", "nobody@mof.gov.sy", "admin.departments.error.head"},
			{"parent", "NOPE", "admin.departments.error.parent"},
		} {
			form := cloneValues(add)
			form.Set(bad.field, bad.value)
			resp, body = b.post("/admin/departments", form)
			wantPage(t, resp, body, http.StatusUnprocessableEntity, `action="/admin/departments"`)
			wantFieldError(t, body, bad.field, bad.msg)
			wantValue(t, body, "name_en", "Contracts")
		}
		if got := e.deptParents(); got != "BUDGET<,LEGAL<" {
			t.Fatalf("refused forms changed the departments: %s", got)
		}

		resp, body = b.post("/admin/departments", add)
		wantRedirect(t, resp, body, "/admin/departments?done=added&ministry=MOF")
		resp, body = b.get("/admin/departments?done=added&ministry=MOF")
		wantPage(t, resp, body, http.StatusOK, orgText(t, "ar", "admin.departments.done.added"))
		legal := body[strings.Index(body, `<li id="dept-LEGAL">`):]
		if i := strings.Index(legal, `<li id="dept-CONTRACTS">`); i < 0 || strings.Contains(legal[:i], "</li>") || !strings.Contains(legal[:i], "<ul>") {
			t.Fatalf("CONTRACTS is not nested in LEGAL's list:\n%s", body)
		}

		// LEGAL below CONTRACTS, which is below LEGAL: a cycle.
		move := url.Values{"name_ar": {"الشؤون القانونية"}, "name_en": {"Legal"}, "parent": {"CONTRACTS"}, "head": {mofHead}}
		resp, body = b.post("/admin/departments/MOF/LEGAL", move)
		wantPage(t, resp, body, http.StatusUnprocessableEntity, `action="/admin/departments/MOF/LEGAL"`, `<option value="CONTRACTS" selected>`)
		wantFieldError(t, body, "parent", "admin.departments.error.parent")
		if got := e.deptParents(); got != "BUDGET<,CONTRACTS<LEGAL,LEGAL<" {
			t.Fatalf("a refused move changed the departments: %s", got)
		}
		resp, body = b.get("/admin/departments?ministry=MOF&edit=LEGAL")
		wantPage(t, resp, body, http.StatusOK, `action="/admin/departments/MOF/LEGAL"`, `value="`+mofHead+`"`)
		move.Set("parent", "BUDGET")
		resp, body = b.post("/admin/departments/MOF/LEGAL", move)
		wantRedirect(t, resp, body, "/admin/departments?done=updated&ministry=MOF")
		if got := e.deptParents(); got != "BUDGET<,CONTRACTS<LEGAL,LEGAL<BUDGET" {
			t.Errorf("after the move: %s", got)
		}

		resp, body = b.get("/admin/departments?ministry=NOPE")
		wantPage(t, resp, body, http.StatusNotFound)
		resp, body = b.post("/admin/departments/MOF/NOPE", move)
		wantPage(t, resp, body, http.StatusNotFound)
	})
}

// An administrator lists the hosted domains, hosts another for a ministry
// and reads a domain's DKIM record; a domain hosted already (in another
// spelling), one for a ministry that does not exist and a name that is not
// a domain are refused next to the field, nothing changed; a domain not
// hosted has no record page.
func TestAdminDomainsPageHostsDomainsAndShowsDKIMRecords(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		ctx := context.Background()
		b := e.uiLogin(adminLogin)
		resp, body := b.get("/admin/domains")
		wantPage(t, resp, body, http.StatusOK, `<table id="domains">`, `href="/admin/domains/mof.gov.sy"`, `action="/admin/domains"`)

		for _, bad := range []struct{ domain, ministry, field, msg string }{
			{"MOF.gov.sy.", "MOF", "domain", "admin.domains.error.exists"},
			{"moh.gov.sy", "NOPE", "ministry", "admin.domains.error.ministry"},
			{"bad..name", "MOF", "domain", "admin.domains.error.domain"},
		} {
			resp, body = b.post("/admin/domains", url.Values{"domain": {bad.domain}, "ministry": {bad.ministry}})
			wantPage(t, resp, body, http.StatusUnprocessableEntity, `action="/admin/domains"`)
			wantFieldError(t, body, bad.field, bad.msg)
			wantValue(t, body, "domain", bad.domain)
		}
		if ds, _ := e.dir.Domains(ctx); len(ds) != 2 {
			t.Fatalf("refused forms hosted domains: %+v", ds)
		}

		resp, body = b.post("/admin/domains", url.Values{"domain": {"MOH.gov.sy"}, "ministry": {"MOF"}})
		wantRedirect(t, resp, body, "/admin/domains?done=added")
		resp, body = b.get("/admin/domains?done=added")
		wantPage(t, resp, body, http.StatusOK, orgText(t, "ar", "admin.domains.done.added"), `href="/admin/domains/moh.gov.sy"`)
		if d, err := e.dir.Domain(ctx, "moh.gov.sy"); err != nil || d.Ministry != "MOF" {
			t.Errorf("moh.gov.sy: %+v, %v", d, err)
		}

		resp, body = b.get("/admin/domains/MOH.gov.sy")
		wantPage(t, resp, body, http.StatusOK, `id="dkim"`, "._domainkey.moh.gov.sy.", "v=DKIM1; k=rsa; p=", " IN TXT (",
			orgText(t, "ar", "admin.domains.dkim_title", "Domain", "moh.gov.sy"))
		again, body2 := b.get("/admin/domains/moh.gov.sy")
		wantPage(t, again, body2, http.StatusOK)
		if txt := dkimTXT(body); txt == "" || txt != dkimTXT(body2) {
			t.Errorf("the second read shows another key: %q, then %q", txt, dkimTXT(body2))
		}
		resp, body = b.get("/admin/domains/gmail.com")
		wantPage(t, resp, body, http.StatusNotFound)

		resp, body = e.uiLogin(mofHead).get("/admin/domains")
		wantPage(t, resp, body, http.StatusNotFound)
	})
}

// dkimTXT is the first TXT value a DKIM record page shows.
func dkimTXT(body string) string {
	_, rest, ok := strings.Cut(body, `<code class="dkim-txt" dir="ltr">`)
	if !ok {
		return ""
	}
	txt, _, _ := strings.Cut(rest, "</code>")
	return txt
}

// The pages answer in English too: a refused form says the engine's
// reason beside the English text.
func TestAdminRegistriesPageRefusesInEnglishWithTheEnginesReason(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	b := e.uiLogin(adminLogin)
	b.lang = "en"
	b.get("/admin/registries")
	resp, body := b.post("/admin/registries/MOF", url.Values{"name_ar": {"ديوان"}, "name_en": {"Registry"},
		"address": {"diwan@mof.gov.sy"}, "template": {"{registry}/{seq}"}})
	wantPage(t, resp, body, http.StatusUnprocessableEntity, `<html lang="en" dir="ltr">`,
		orgText(t, "en", "admin.registries.error.template"), html.EscapeString("{dir} is required"))
}

// Names typed by administrators are text on every page: in the tree, in
// the tables and in the choices of the forms' selects.
func TestAdminOrganisationPagesWriteNamesAsText(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	ctx, op := context.Background(), workflow.OperatorActor(operator)
	hostile := `"><img src=x onerror=alert(1)>`
	e.ok(e.wf.AddDepartment(ctx, op, workflow.Department{Code: "XSS", Ministry: "MOF", NameAR: "قسم" + hostile, NameEN: "Dept" + hostile, Parent: "LEGAL"}))
	e.ok(e.dir.AddMinistry(ctx, operator, directory.Ministry{Code: "XSS", NameAR: "وزارة" + hostile, NameEN: "Ministry" + hostile}))
	b := e.uiLogin(adminLogin)
	for _, path := range []string{"/admin/departments?ministry=MOF", "/admin/departments?ministry=MOF&edit=LEGAL",
		"/admin/ministries", "/admin/registries", "/admin/domains"} {
		for _, lang := range []string{"ar", "en"} {
			b.lang = lang
			resp, body := b.get(path)
			wantPage(t, resp, body, http.StatusOK, html.EscapeString(hostile))
			if strings.Contains(body, "<img") {
				t.Errorf("%s?lang=%s writes the name as markup:\n%s", path, lang, body)
			}
		}
	}
}

// A ministry administrator of MOF organises MOF's registries and
// departments on the pages; another ministry's, the ministries and the
// hosted domains are not found to them (the services refuse), and nothing
// changes.
func TestMinistryAdminOnOrganisationPagesReachesItsOwnMinistryOnly(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		e.addMinistryAdmin()
		ctx := context.Background()
		b := e.uiLogin(mofAdmin)
		resp, body := b.get("/admin/departments")
		wantPage(t, resp, body, http.StatusOK, `<li id="dept-LEGAL">`, `<input type="hidden" name="ministry" value="MOF">`)
		resp, body = b.post("/admin/departments", url.Values{"ministry": {"MOF"}, "code": {"HR"}, "name_ar": {"الموارد البشرية"}, "name_en": {"HR"}, "parent": {"LEGAL"}})
		wantRedirect(t, resp, body, "/admin/departments?done=added&ministry=MOF")
		resp, body = b.post("/admin/registries/MOF", url.Values{"name_ar": {"ديوان المالية"}, "name_en": {"Finance"},
			"address": {"diwan@mof.gov.sy"}, "template": {"{dir}-{year}-{seq}"}})
		wantRedirect(t, resp, body, "/admin/registries?done=updated&ministry=MOF")

		for _, f := range []struct {
			path string
			form url.Values
		}{
			{"/admin/ministries", url.Values{"code": {"MOH"}, "name_ar": {"وزارة الصحة"}, "name_en": {"Health"}}},
			{"/admin/ministries/MOF", url.Values{"name_ar": {"وزارتي"}, "name_en": {"Mine"}}},
			{"/admin/registries", url.Values{"code": {"MOCT2"}, "ministry": {"MOCT"}, "name_ar": {"ديوان"}, "name_en": {"R"}, "address": {"r2@moct.gov.sy"}}},
			{"/admin/registries/MOCT", url.Values{"name_ar": {"ديوان"}, "name_en": {"R"}, "address": {"diwan@moct.gov.sy"}, "template": {"{dir}{year}{seq}"}}},
			{"/admin/departments", url.Values{"ministry": {"MOCT"}, "code": {"HR"}, "name_ar": {"الموارد"}, "name_en": {"HR"}}},
			{"/admin/domains", url.Values{"domain": {"moh.gov.sy"}, "ministry": {"MOF"}}},
		} {
			resp, body = b.post(f.path, f.form)
			wantPage(t, resp, body, http.StatusNotFound, orgText(t, "ar", "error.not_found.title"))
		}
		for _, path := range []string{"/admin/domains", "/admin/domains/mof.gov.sy"} {
			resp, body = b.get(path)
			wantPage(t, resp, body, http.StatusNotFound)
		}
		if got := e.ministryCodes(); got != "MOCT=Ministry MOCT,MOF=Ministry MOF" {
			t.Errorf("ministries: %s", got)
		}
		if rs, _ := e.wf.Registries(ctx, "MOCT"); len(rs) != 1 || rs[0].Template != workflow.DefaultTemplate {
			t.Errorf("MOCT's registries: %+v", rs)
		}
		if ds, _ := e.wf.Departments(ctx, workflow.OperatorActor(operator), "MOCT"); len(ds) != 0 {
			t.Errorf("MOCT's departments: %+v", ds)
		}
		if ok, _ := e.dir.IsHosted(ctx, "moh.gov.sy"); ok {
			t.Error("a ministry administrator hosted moh.gov.sy")
		}
	})
}
