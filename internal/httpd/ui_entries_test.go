package httpd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/workflow"
)

var (
	versionInput   = regexp.MustCompile(`name="version" value="(\d+)"`)
	registerNumber = regexp.MustCompile(`id="register-number"[^>]*>([^<]*)<`)
	timelineItem   = regexp.MustCompile(`<li><time `)
)

// entryPath is the page of an entry.
func entryPath(id int64) string { return fmt.Sprintf("/entries/%d", id) }

// actForm reads the entry's page and sends one action's form with the
// page's version and the given fields.
func (b *uiClient) actForm(id int64, action string, kv ...string) (*http.Response, string) {
	b.t.Helper()
	resp, body := b.get(entryPath(id))
	wantPage(b.t, resp, body, http.StatusOK, `id="action-`+action+`"`)
	m := versionInput.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("the page of entry %d has no version field", id)
	}
	form := url.Values{"version": {m[1]}}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	return b.post(fmt.Sprintf("/entries/%d/%s", id, action), form)
}

// actOK sends an action's form, insists on 303 back to the entry and
// returns the page it goes to.
func (b *uiClient) actOK(id int64, action string, kv ...string) string {
	b.t.Helper()
	resp, body := b.actForm(id, action, kv...)
	want := fmt.Sprintf("/entries/%d?done=%s", id, action)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		b.t.Fatalf("%s entry %d: %d to %q, want 303 to %s; body:\n%s", action, id, resp.StatusCode, resp.Header.Get("Location"), want, body)
	}
	resp, body = b.get(want)
	wantPage(b.t, resp, body, http.StatusOK, `class="flash"`)
	return body
}

// numberOn is the register number an entry page shows.
func numberOn(t testing.TB, body string) string {
	t.Helper()
	m := registerNumber.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no register number on the page:\n%s", body)
	}
	return m[1]
}

// A letter goes through its life by the entry page's forms alone, each
// answering 303 back to the entry with a message, the new state shown:
// register and dispatch at the sender; register, refer, start, answer and
// close at the recipient, whose number the sender then sees.
func TestEntryPageTakesALetterThroughItsForms(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		d := newLetter(e.login(moctClerk), "طلب بيانات الموازنة")
		sender := e.uiLogin(moctClerk)
		resp, body := sender.get(entryPath(d.EntryID))
		wantPage(t, resp, body, http.StatusOK, "طلب بيانات الموازنة", "نص الكتاب", `id="action-register"`, `id="action-cancel"`,
			`<ol id="timeline">`, `<ul id="attachments">`, "لم يُسجَّل بعد", "مسودة", "كتاب", "عاجل", `class="cover`)

		body = sender.actOK(d.EntryID, "register")
		wantPage(t, resp, body, http.StatusOK, "سُجّل القيد.", `id="action-dispatch"`, `<span class="badge state">مسجل</span>`)
		if n := numberOn(t, body); !outgoingNumber.MatchString(n) {
			t.Fatalf("register number shown %q", n)
		}
		body = sender.actOK(d.EntryID, "dispatch", "comment", "يرسل اليوم")
		wantPage(t, resp, body, http.StatusOK, "أُرسل الكتاب.", `<span class="badge state">مرسل</span>`, "مُسلَّم", "يرسل اليوم", `id="action-recall"`)

		in := incomingAt(e.withToken(mofClerk), "MOF", d.ID)
		receiver := e.uiLogin(mofClerk)
		resp, body = receiver.get(entryPath(in.ID))
		wantPage(t, resp, body, http.StatusOK, "مستلم", "رقم الصادر لدى المرسل", `id="action-register"`, `id="action-return"`,
			`<bdi class="actor">MOCT</bdi>`)
		if strings.Contains(body, moctClerk) {
			t.Error("the recipient's timeline names the sender's clerk, not their registry")
		}
		body = receiver.actOK(in.ID, "register")
		inNumber := numberOn(t, body)
		if !incomingNumber.MatchString(inNumber) {
			t.Fatalf("incoming number shown %q", inNumber)
		}
		body = receiver.actOK(in.ID, "refer", "department", "LEGAL", "instruction", "action", "due_date", workingDayIn(20))
		wantPage(t, resp, body, http.StatusOK, "أُحيل الكتاب.", "مُحال", "إحالة")
		body = receiver.actOK(in.ID, "start")
		wantPage(t, resp, body, http.StatusOK, "قيد المعالجة")
		body = receiver.actOK(in.ID, "answer")
		wantPage(t, resp, body, http.StatusOK, "تمّ الرد")
		body = receiver.actOK(in.ID, "close", "comment", "يحفظ")
		wantPage(t, resp, body, http.StatusOK, "حُفظ القيد.", "محفوظ", "يحفظ")
		if strings.Contains(body, `class="action"`) {
			t.Errorf("a closed entry still offers actions")
		}
		if n := len(timelineItem.FindAllString(body, -1)); n < 6 {
			t.Errorf("the timeline of the incoming entry has %d events", n)
		}

		_, body = sender.get(entryPath(d.EntryID))
		wantPage(t, resp, body, http.StatusOK, inNumber, "مسجل وارداً لديه")
	})
}

// Return (with its reason) and forward, recall and cancel, each through
// its form; return, recall and cancel ask for a confirmation; a return
// without a reason is refused next to the field, nothing changed.
func TestEntryPageReturnForwardRecallCancel(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		addRegistryMOF2(e)
		api := e.login(moctClerk)
		sender, receiver := e.uiLogin(moctClerk), e.uiLogin(mofClerk)

		d := newLetter(api, "كتاب ضل طريقه")
		sender.actOK(d.EntryID, "register")
		sender.actOK(d.EntryID, "dispatch")
		in := incomingAt(e.withToken(mofClerk), "MOF", d.ID)
		_, body := receiver.get(entryPath(in.ID))
		wantPage(t, nil200(), body, http.StatusOK, `data-confirm="هل تريد إعادة هذا الكتاب إلى مرسله؟"`)
		resp, body := receiver.actForm(in.ID, "return", "reason", "")
		wantPage(t, resp, body, http.StatusBadRequest, `id="return-reason-error"`, `aria-invalid="true"`, "مستلم")
		body = receiver.actOK(in.ID, "return", "reason", "ليس من اختصاصنا")
		wantPage(t, nil200(), body, http.StatusOK, `<span class="badge state">معاد</span>`, "ليس من اختصاصنا")

		body = sender.actOK(d.EntryID, "forward", "registry", "mof2")
		wantPage(t, nil200(), body, http.StatusOK, "أُرسل الكتاب إلى الديوان.", "MOF2")

		d2 := newLetter(api, "كتاب يسترد")
		sender.actOK(d2.EntryID, "register")
		body = sender.actOK(d2.EntryID, "dispatch")
		wantPage(t, nil200(), body, http.StatusOK, `data-confirm="هل تريد استرداد`, `<option value="MOF">MOF</option>`)
		body = sender.actOK(d2.EntryID, "recall")
		wantPage(t, nil200(), body, http.StatusOK, "استُردّ الكتاب.", `<span class="badge state">مسترد</span>`)

		d3 := newLetter(api, "كتاب يلغى")
		sender.actOK(d3.EntryID, "register")
		resp, body = sender.actForm(d3.EntryID, "cancel", "reason", "")
		wantPage(t, resp, body, http.StatusBadRequest, `id="cancel-reason-error"`)
		body = sender.actOK(d3.EntryID, "cancel", "reason", "أرسل خطأً")
		wantPage(t, nil200(), body, http.StatusOK, "أُلغي القيد.", "ملغى", "أرسل خطأً")
		if n := numberOn(t, body); !outgoingNumber.MatchString(n) {
			t.Errorf("a cancelled registration shows %q, not its number", n)
		}
	})
}

// nil200 stands for a response already checked: wantPage then looks at
// the body alone.
func nil200() *http.Response {
	return &http.Response{StatusCode: http.StatusOK, Request: &http.Request{Method: "GET", URL: &url.URL{Path: "(page)"}}}
}

// A registry that needs approval: the author submits through the form,
// the head of their department approves through the page, the clerk
// registers.
func TestEntryPageSubmitApproveRegister(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	op := workflow.OperatorActor(operator)
	e.ok(e.wf.AddRegistry(context.Background(), op, workflow.Registry{Code: "MOF2", Ministry: "MOF",
		NameAR: "ديوان ٢", NameEN: "Registry MOF2", Address: "diwan2@mof.gov.sy", ApprovalRequired: true}))
	e.ok(e.wf.SetMembership(context.Background(), op, mofClerk, workflow.MembershipChange{AddRegistry: "MOF2"}))
	var d draftDTO
	e.login(mofStaff).call("POST", "/api/v1/correspondence", map[string]any{
		"kind": "memo", "subject": "مذكرة للاعتماد", "body": "نص", "classification": "normal", "priority": "normal",
		"sender_registry": "MOF2", "recipients": []map[string]string{{"registry": "MOCT", "role": "to"}},
	}, http.StatusCreated, &d)
	body := e.uiLogin(mofStaff).actOK(d.EntryID, "submit")
	wantPage(t, nil200(), body, http.StatusOK, "بانتظار الاعتماد", "مذكرة")
	head := e.uiLogin(mofHead)
	_, body = head.get(entryPath(d.EntryID))
	wantPage(t, nil200(), body, http.StatusOK, `id="action-approve"`, `id="action-reject"`)
	body = head.actOK(d.EntryID, "approve")
	wantPage(t, nil200(), body, http.StatusOK, "معتمد")
	body = e.uiLogin(mofClerk).actOK(d.EntryID, "register")
	if n := numberOn(t, body); !strings.HasPrefix(n, "MOF2/ص/") {
		t.Errorf("number %q", n)
	}
}

// A form sent with a version someone else's change overtook is refused
// with 409 and the fresh page, which says so; a form sent twice registers
// once: one number taken, one registration in the timeline.
func TestEntryFormStaleVersionAndDoubleSubmit(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		api := e.login(moctClerk)
		d := newLetter(api, "كتاب يرسل مرتين")
		b := e.uiLogin(moctClerk)
		b.get(entryPath(d.EntryID))
		form := url.Values{"version": {fmt.Sprint(d.Version)}}
		resp, _ := b.post(fmt.Sprintf("/entries/%d/register", d.EntryID), form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("first register: %d", resp.StatusCode)
		}
		resp, body := b.post(fmt.Sprintf("/entries/%d/register", d.EntryID), form)
		wantPage(t, resp, body, http.StatusConflict, "غيّر شخص آخر هذا الكتاب للتو", `<span class="badge state">مسجل</span>`, `id="action-dispatch"`)
		first := numberOn(t, body)
		if n := strings.Count(body, "<strong>تسجيل</strong>"); n != 1 {
			t.Errorf("the timeline shows %d registrations", n)
		}
		d2 := newLetter(api, "كتاب ثان")
		second := numberOn(t, b.actOK(d2.EntryID, "register"))
		if first[len(first)-6:] != "000001" || second[len(second)-6:] != "000002" {
			t.Errorf("numbers %q then %q: the double submit took a number", first, second)
		}

		// Someone else dispatches meanwhile: the old page's form is stale.
		old := versionInput.FindStringSubmatch(b.lastBody(entryPath(d2.EntryID)))[1]
		resp, body = b.post(fmt.Sprintf("/entries/%d/cancel", d2.EntryID), url.Values{"version": {old}, "reason": {"خطأ"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("cancel: %d %s", resp.StatusCode, body)
		}
		resp, body = b.post(fmt.Sprintf("/entries/%d/dispatch", d2.EntryID), url.Values{"version": {old}})
		wantPage(t, resp, body, http.StatusConflict, "غيّر شخص آخر هذا الكتاب للتو", "ملغى")

		resp, body = b.post(fmt.Sprintf("/entries/%d/register", d.EntryID), url.Values{"version": {"x"}})
		wantPage(t, resp, body, http.StatusBadRequest, "غيّر شخص آخر")
	})
}

// lastBody reads a page again and returns it.
func (b *uiClient) lastBody(path string) string {
	b.t.Helper()
	_, body := b.get(path)
	return body
}

// Another ministry's entry, an entry above the user's clearance, a
// missing id and a path that is no id all answer the same not-found page;
// so does the letter through /correspondence/{id}, which otherwise leads
// to the user's entry.
func TestEntryPageOfAnotherMinistryOrAboveClearanceIsNotFound(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		ctx, op := context.Background(), workflow.OperatorActor(operator)
		const lowClerk = "clerk2@moct.gov.sy"
		e.ok(e.dir.AddUser(ctx, operator, directory.NewUser{Address: lowClerk, Name: lowClerk, Roles: []string{"clerk"}, Password: testPassword}))
		e.ok(e.wf.SetMembership(ctx, op, lowClerk, workflow.MembershipChange{AddRegistry: "MOCT"}))
		e.ok(e.wf.SetMembership(ctx, op, moctClerk, workflow.MembershipChange{Clearance: workflow.Secret}))
		api := e.login(moctClerk)
		open := newLetter(api, "كتاب عادي")
		var secret draftDTO
		api.call("POST", "/api/v1/correspondence", map[string]any{"subject": "كتاب سري للغاية", "classification": "secret",
			"sender_registry": "MOCT", "recipients": []map[string]string{{"registry": "MOF", "role": "to"}}}, http.StatusCreated, &secret)

		mof, low := e.uiLogin(mofClerk), e.uiLogin(lowClerk)
		resp, missing := mof.get("/entries/999999")
		wantPage(t, resp, missing, http.StatusNotFound, "غير موجود")
		// The page's <main>: the bar names the user and links the path.
		strip := func(s string) string { return s[strings.Index(s, "<main"):] }
		for _, c := range []struct {
			b    *uiClient
			path string
		}{
			{mof, entryPath(open.EntryID)}, {low, entryPath(secret.EntryID)}, {mof, "/entries/abc"},
			{mof, fmt.Sprintf("/correspondence/%d", open.ID)}, {low, fmt.Sprintf("/correspondence/%d", secret.ID)},
			{low, fmt.Sprintf("/entries/%d/attachments/1", secret.EntryID)},
		} {
			resp, body := c.b.get(c.path)
			if resp.StatusCode != http.StatusNotFound || strip(body) != strip(missing) {
				t.Errorf("%s: %d, not the page of a missing entry:\n%s", c.path, resp.StatusCode, body)
			}
			resp, _ = c.b.post(c.path+"/register", url.Values{"version": {"1"}})
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("POST %s/register: %d", c.path, resp.StatusCode)
			}
		}
		resp, body := low.get(entryPath(open.EntryID))
		wantPage(t, resp, body, http.StatusOK, "كتاب عادي")
		resp, _ = low.get(fmt.Sprintf("/correspondence/%d", open.ID))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != entryPath(open.EntryID) {
			t.Errorf("/correspondence/%d: %d to %q", open.ID, resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// An action without the session's CSRF token, or from another site, is
// refused and changes nothing.
func TestEntryActionWithoutCSRFTokenIsRefused(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	d := newLetter(e.login(moctClerk), "كتاب")
	b := e.uiLogin(moctClerk)
	resp, _ := b.actForm(d.EntryID, "register", "csrf_token", "forged")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a forged token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", e.ts.url+entryPath(d.EntryID)+"/register",
		strings.NewReader(url.Values{"version": {fmt.Sprint(d.Version)}, "csrf_token": {b.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, _ := b.send(req); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("from another site: %d", resp.StatusCode)
	}
	_, body := b.get(entryPath(d.EntryID))
	wantPage(t, nil200(), body, http.StatusOK, "لم يُسجَّل بعد", `id="action-register"`)
}
