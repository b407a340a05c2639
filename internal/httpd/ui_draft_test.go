package httpd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/workflow"
)

// formPart is one part of a multipart form, in the order a browser sends
// the form's fields: a text field, or a file when file is not nil.
type formPart struct {
	name, value string
	file        []byte
}

// postMultipart sends a multipart/form-data form as a browser does (a
// same-origin Origin, the parts in order); header adds headers in pairs.
func (b *uiClient) postMultipart(path string, parts []formPart, header ...string) (*http.Response, string) {
	b.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		if p.file == nil {
			w.WriteField(p.name, p.value)
			continue
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.name, p.value))
		h.Set("Content-Type", "application/octet-stream")
		pw, err := w.CreatePart(h)
		if err != nil {
			b.t.Fatal(err)
		}
		pw.Write(p.file)
	}
	w.Close()
	req, err := http.NewRequest("POST", b.e.ts.url+b.withLang(path), &buf)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Origin", b.e.ts.url)
	req.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.send(req)
}

// addHousing adds a registry of MOCT that the picker must find by its
// Arabic name however it is spelt.
func (e *apiEnv) addHousing() {
	e.t.Helper()
	e.ok(e.wf.AddRegistry(context.Background(), workflow.OperatorActor(operator), workflow.Registry{Code: "MOH-HSG", Ministry: "MOCT",
		NameAR: "وزارة الإسكان", NameEN: "Ministry of Housing", Address: "housing@moct.gov.sy"}))
}

var entryLocation = regexp.MustCompile(`^/entries/(\d+)$`)

// wantEntryRedirect insists on a 303 to /entries/ID and returns the ID.
func wantEntryRedirect(t testing.TB, resp *http.Response, body string) int64 {
	t.Helper()
	m := entryLocation.FindStringSubmatch(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("status %d to %q, want 303 to /entries/ID; body:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// documentOf reads the correspondence of an entry through the API as c.
func documentOf(c *apiClient, entryID int64) correspondenceDTO {
	c.t.Helper()
	var e entryDTO
	c.call("GET", fmt.Sprintf("/api/v1/entries/%d", entryID), nil, http.StatusOK, &e)
	var d correspondenceDTO
	c.call("GET", fmt.Sprintf("/api/v1/correspondence/%d", e.CorrespondenceID), nil, http.StatusOK, &d)
	return d
}

// A clerk drafts a letter with an Arabic subject: the form offers their
// registry and only the classifications they are cleared for; the picker
// without a script finds registries as the form goes back and forth and
// keeps what was typed; the letter is created with its recipients (to and
// cc) and its file, and the browser goes to the sender's entry.
func TestDraftFormCreatesLetterWithArabicSubjectRecipientsAndFile(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		e.addHousing()
		b := e.uiLogin(mofClerk)
		resp, body := b.get("/correspondence/new")
		wantPage(t, resp, body, http.StatusOK, `id="draft-form"`, `id="subject"`, `id="body"`, `id="recipient-search"`,
			`id="attachments"`, `name="attachments"`, `type="file" multiple`, `<option value="MOF"`, `<option value="normal" selected>`,
			"64 KiB", "256 KiB", `data-max-file="65536"`, `enctype="multipart/form-data"`)
		if len(body) > 150<<10 {
			t.Errorf("the form has %d bytes", len(body))
		}
		t.Logf("the new letter's page: %d bytes", len(body))
		for _, above := range []string{`value="confidential"`, `value="secret"`, `<option value="MOCT"`} {
			if strings.Contains(body, above) {
				t.Errorf("the form offers %s to a clerk of MOF with normal clearance", above)
			}
		}

		const subject = "طلب بيانات الإسكان لعام ٢٠٢٦"
		resp, body = b.post("/correspondence", url.Values{"subject": {subject}, "body": {"نص"}, "sender_registry": {"MOF"},
			"recipient_q": {"وزاره الاسكان"}, "op": {"search"}, "priority": {"urgent"}})
		wantPage(t, resp, body, http.StatusOK, `value="`+subject+`"`, `name="recipients" value="MOH-HSG"`,
			`name="recipients_cc" value="MOH-HSG"`, "وزارة الإسكان", `<option value="urgent" selected>`)
		resp, body = b.post("/correspondence", url.Values{"subject": {subject}, "sender_registry": {"MOF"}, "recipients": {"MOCT"},
			"recipient_q": {"housing"}, "op": {"search"}})
		wantPage(t, resp, body, http.StatusOK, `name="recipients" value="MOCT" checked`, `name="recipients" value="MOH-HSG"`)
		resp, body = b.post("/correspondence", url.Values{"subject": {subject}, "sender_registry": {"MOF"}, "recipient_q": {"ديوان"}, "op": {"search"}})
		wantPage(t, resp, body, http.StatusOK, `name="recipients" value="MOCT"`)
		if strings.Contains(body, `name="recipients" value="MOF"`) {
			t.Error("the picker offers the sending registry")
		}

		resp, body = b.postMultipart("/correspondence", []formPart{{name: "csrf_token", value: b.csrf},
			{name: "kind", value: "letter"}, {name: "sender_registry", value: "MOF"}, {name: "classification", value: "normal"},
			{name: "priority", value: "urgent"}, {name: "due_date", value: ""}, {name: "subject", value: subject},
			{name: "body", value: "نص الكتاب"}, {name: "recipients", value: "MOCT"}, {name: "recipients_cc", value: "MOH-HSG"},
			{name: "recipient_q", value: ""}, {name: "attachments", value: "تقرير.pdf", file: pdfBytes(3000)},
			{name: "attachments", value: "ملحق.pdf", file: pdfBytes(1000)}})
		entryID := wantEntryRedirect(t, resp, body)

		d := documentOf(e.login(mofClerk), entryID)
		if d.Subject != subject || d.Priority != "urgent" || d.DueDate == nil || *d.DueDate == "" || len(d.Recipients) != 2 ||
			d.Recipients[0].Registry != "MOCT" || d.Recipients[0].Role != "to" || d.Recipients[1].Registry != "MOH-HSG" ||
			d.Recipients[1].Role != "cc" || len(d.Attachments) != 2 || d.Attachments[0].Name != "تقرير.pdf" || d.Attachments[0].Size != 3000 {
			t.Fatalf("the letter created: %+v", d)
		}
	})
}

// Each refusal shows its message next to its field (aria-invalid, linked
// by aria-describedby) in the user's language, with everything typed
// shown again; nothing is created.
func TestDraftFormShowsEachErrorNextToItsFieldWithInputKept(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.uiLogin(mofClerk)
		b.get("/correspondence/new")
		good := url.Values{"subject": {"موضوع محفوظ"}, "body": {"نص محفوظ"}, "sender_registry": {"MOF"}, "recipients": {"MOCT"},
			"priority": {"normal"}, "classification": {"normal"}, "kind": {"letter"}}
		for _, c := range []struct {
			field, key, value string
			status            int
			text              string
		}{
			{"subject", "subject", "", http.StatusBadRequest, "اكتب موضوع الكتاب"},
			{"due_date", "due_date", "2020-01-06", http.StatusBadRequest, "أدخل تاريخ استحقاق صحيحاً"},
			{"recipients", "recipients", "NOPE", http.StatusUnprocessableEntity, "تحقق من المرسَل إليهم"},
			{"recipients", "recipients", "MOF", http.StatusUnprocessableEntity, "تحقق من المرسَل إليهم"},
			{"sender_registry", "sender_registry", "MOCT", http.StatusUnprocessableEntity, "اختر ديواناً من دواوين وزارتك"},
			{"classification", "classification", "secret", http.StatusUnprocessableEntity, "درجة السرية هذه غير مسموحة لك"},
			{"kind", "kind", "poem", http.StatusBadRequest, "اختر نوع المراسلة"},
			{"reference_number", "reference_number", "MOF/و/2026/999999", http.StatusUnprocessableEntity, "لا يوجد كتاب تستطيع الاطلاع عليه"},
		} {
			form := cloneValues(good)
			form.Set(c.key, c.value)
			resp, body := b.post("/correspondence", form)
			wantPage(t, resp, body, c.status, `id="`+c.field+`-error"`, c.text)
			if !regexp.MustCompile(`aria-describedby="[^"]*` + c.field + `-error"`).MatchString(body) {
				t.Errorf("%s: the error is not linked to its field", c.field)
			}
			if c.field != "subject" {
				wantPage(t, resp, body, c.status, `value="موضوع محفوظ"`)
			}
			wantPage(t, resp, body, c.status, ">نص محفوظ</textarea>")
			if strings.Count(body, `class="field-error"`) != 1 {
				t.Errorf("%s=%q: %d errors on the page, want 1", c.key, c.value, strings.Count(body, `class="field-error"`))
			}
		}
		// In English, the engine's own sentence.
		b.lang = "en"
		form := cloneValues(good)
		form.Set("subject", "")
		resp, body := b.post("/correspondence", form)
		wantPage(t, resp, body, http.StatusBadRequest, `id="subject-error"`, "the subject")
		var l list[entryDTO]
		e.login(mofClerk).call("GET", "/api/v1/entries", nil, http.StatusOK, &l)
		if l.Total != 0 {
			t.Fatalf("refused forms created %d entries", l.Total)
		}
	})
}

// Markup typed in the subject, the body, a registry search or a file
// name comes back as text, on the form shown again and on the draft's
// edit page.
func TestDraftFormRendersMarkupInFieldsAndFileNamesAsText(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.uiLogin(mofClerk)
		b.get("/correspondence/new")
		const (
			xs = `<script>alert("s")</script>`
			xb = `</textarea><img src=x onerror=alert(1)>`
			xf = `<svg onload=alert(1)>.pdf`
			xq = `"><script>alert(2)</script>`
		)
		resp, body := b.post("/correspondence", url.Values{"subject": {xs}, "body": {xb}, "sender_registry": {"MOF"},
			"recipient_q": {xq}, "op": {"search"}})
		wantPage(t, resp, body, http.StatusOK, "&lt;script&gt;alert(&#34;s&#34;)&lt;/script&gt;", "&lt;/textarea&gt;&lt;img")
		for _, raw := range []string{xs, xb, "<script>alert(2)", "<img src=x"} {
			if strings.Contains(body, raw) {
				t.Fatalf("%q is rendered as markup:\n%s", raw, body)
			}
		}
		resp, body = b.postMultipart("/correspondence", []formPart{{name: "csrf_token", value: b.csrf},
			{name: "sender_registry", value: "MOF"}, {name: "subject", value: xs}, {name: "body", value: xb},
			{name: "recipients", value: "MOCT"}, {name: "attachments", value: xf, file: pdfBytes(100)}})
		entryID := wantEntryRedirect(t, resp, body)
		d := documentOf(e.login(mofClerk), entryID)
		resp, body = b.get(fmt.Sprintf("/correspondence/%d/edit", d.ID))
		wantPage(t, resp, body, http.StatusOK, "&lt;script&gt;", "&lt;svg onload=alert(1)&gt;.pdf", "&lt;/textarea&gt;")
		for _, raw := range []string{xs, "<svg", "<img src=x"} {
			if strings.Contains(body, raw) {
				t.Fatalf("%q is rendered as markup on the edit page", raw)
			}
		}
	})
}

// A form without the session's CSRF token is refused, urlencoded or
// multipart (the token must be the first part: a token after the fields
// does not count), and the refusal stores nothing.
func TestDraftFormWithoutCSRFTokenIsRefused(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.uiLogin(mofClerk)
		b.get("/correspondence/new")
		fields := url.Values{"subject": {"s"}, "sender_registry": {"MOF"}, "recipients": {"MOCT"}, "csrf_token": {"forged"}}
		resp, body := b.post("/correspondence", fields)
		wantPage(t, resp, body, http.StatusForbidden)
		file := formPart{name: "attachments", value: "a.pdf", file: pdfBytes(100)}
		for _, parts := range [][]formPart{
			{{name: "subject", value: "s"}, {name: "sender_registry", value: "MOF"}, file},
			{{name: "csrf_token", value: "forged"}, {name: "subject", value: "s"}, {name: "sender_registry", value: "MOF"}, file},
			{{name: "subject", value: "s"}, {name: "csrf_token", value: b.csrf}, {name: "sender_registry", value: "MOF"}, file},
		} {
			resp, body := b.postMultipart("/correspondence", parts)
			wantPage(t, resp, body, http.StatusForbidden)
		}
		// A draft's upload, too.
		resp, body = b.postMultipart("/correspondence", []formPart{{name: "csrf_token", value: b.csrf},
			{name: "sender_registry", value: "MOF"}, {name: "subject", value: "s"}, {name: "recipients", value: "MOCT"}})
		d := documentOf(e.login(mofClerk), wantEntryRedirect(t, resp, body))
		path := fmt.Sprintf("/correspondence/%d/attachments", d.ID)
		resp, body = b.postMultipart(path, []formPart{{name: "csrf_token", value: "forged"}, {name: "file", value: "a.pdf", file: pdfBytes(10)}})
		wantPage(t, resp, body, http.StatusForbidden)
		resp, body = b.postMultipart(path, []formPart{{name: "file", value: "a.pdf", file: pdfBytes(10)}},
			"Accept", "application/json", "X-CSRF-Token", "forged")
		wantPage(t, resp, body, http.StatusForbidden)
		var l list[entryDTO]
		c := e.login(mofClerk)
		c.call("GET", "/api/v1/entries", nil, http.StatusOK, &l)
		if l.Total != 1 || len(c.attachments(d.ID)) != 0 || blobCount(t, e.blobs) != 0 {
			t.Fatalf("refused forms stored something: %d entries, %d attachments, %d blobs", l.Total, len(c.attachments(d.ID)), blobCount(t, e.blobs))
		}
	})
}

// A user cleared for normal documents cannot write a secret one, even
// when the form is forged to offer it; a clerk cleared for secret is
// offered it.
func TestDraftFormRefusesClassificationAboveClearance(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.uiLogin(mofStaff)
		b.get("/correspondence/new")
		resp, body := b.post("/correspondence", url.Values{"subject": {"سري"}, "sender_registry": {"MOF"}, "recipients": {"MOCT"},
			"classification": {"confidential"}})
		wantPage(t, resp, body, http.StatusUnprocessableEntity, `id="classification-error"`, `value="سري"`)
		secret := workflow.Secret
		e.ok(e.wf.SetMembership(context.Background(), workflow.OperatorActor(operator), mofClerk, workflow.MembershipChange{Clearance: secret}))
		resp, body = e.uiLogin(mofClerk).get("/correspondence/new")
		wantPage(t, resp, body, http.StatusOK, `<option value="confidential"`, `<option value="secret"`)
	})
}

// A file over the per-file limit is refused, with the limit named, and
// nothing of it is stored: sent to a draft by the page's script (JSON) or
// by a form, declared too large (refused before it is read) or found so
// while it streams; sent with a new letter's form, the draft is kept
// without it and its form says so.
func TestDraftUploadOverLimitIsRefusedAndNothingStored(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.uiLogin(mofClerk)
		b.get("/correspondence/new")
		resp, body := b.postMultipart("/correspondence", []formPart{{name: "csrf_token", value: b.csrf},
			{name: "sender_registry", value: "MOF"}, {name: "subject", value: "كبير"}, {name: "recipients", value: "MOCT"},
			{name: "attachments", value: "small.pdf", file: pdfBytes(100)},
			{name: "attachments", value: "big.pdf", file: pdfBytes(testMaxAttachment + 1)}})
		wantPage(t, resp, body, http.StatusRequestEntityTooLarge, `id="attachments-error"`, "big.pdf", "64 KiB",
			"حُفظت المسودة", `value="كبير"`, "small.pdf", `name="version"`)
		// More than a letter may carry, declared: refused before anything
		// is stored, what was typed shown again.
		resp, body = b.postMultipart("/correspondence", []formPart{{name: "csrf_token", value: b.csrf},
			{name: "sender_registry", value: "MOF"}, {name: "subject", value: "أكبر"}, {name: "recipients", value: "MOCT"},
			{name: "attachments", value: "huge.pdf", file: pdfBytes(3 * testMaxLetter)}})
		wantPage(t, resp, body, http.StatusRequestEntityTooLarge, `id="attachments-error"`, "256 KiB", `value="أكبر"`)
		c := e.login(mofClerk)
		var l list[entryDTO]
		c.call("GET", "/api/v1/entries", nil, http.StatusOK, &l)
		if l.Total != 1 {
			t.Fatalf("%d entries", l.Total)
		}
		corrID := l.Items[0].CorrespondenceID
		if as := c.attachments(corrID); len(as) != 1 || as[0].Name != "small.pdf" || blobCount(t, e.blobs) != 1 {
			t.Fatalf("attachments %+v, %d blobs; want small.pdf alone", as, blobCount(t, e.blobs))
		}

		path := fmt.Sprintf("/correspondence/%d/attachments", corrID)
		for _, size := range []int{testMaxAttachment + 1, 4 * testMaxAttachment} {
			resp, body = b.postMultipart(path, []formPart{{name: "file", value: "big.pdf", file: pdfBytes(size)}},
				"Accept", "application/json", "X-CSRF-Token", b.csrf)
			var ae apiError
			if resp.StatusCode != http.StatusRequestEntityTooLarge || json.Unmarshal([]byte(body), &ae) != nil || ae.Error.Code != "too_large" {
				t.Fatalf("%d bytes by the script: %d %s", size, resp.StatusCode, body)
			}
			resp, body = b.postMultipart(path, []formPart{{name: "csrf_token", value: b.csrf}, {name: "file", value: "big.pdf", file: pdfBytes(size)}})
			wantPage(t, resp, body, http.StatusRequestEntityTooLarge, `id="attachments-error"`, "64 KiB", `id="draft-form"`)
			if strings.Contains(body, "حُفظت المسودة") {
				t.Error("a file sent alone says the draft was saved")
			}
		}
		if as := c.attachments(corrID); len(as) != 1 || blobCount(t, e.blobs) != 1 {
			t.Fatalf("after refusals: attachments %+v, %d blobs", as, blobCount(t, e.blobs))
		}
		// Within the limit, the script's upload answers {id, name, size}.
		resp, body = b.postMultipart(path, []formPart{{name: "file", value: "ok.pdf", file: pdfBytes(testMaxAttachment)}},
			"Accept", "application/json", "X-CSRF-Token", b.csrf)
		var got struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
			Size int64  `json:"size"`
		}
		if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &got) != nil || got.ID == 0 || got.Name != "ok.pdf" || got.Size != testMaxAttachment {
			t.Fatalf("upload within the limit: %d %s", resp.StatusCode, body)
		}
	})
}

// The picker's script finds registries as one types, the Arabic spelling
// variants alike; it answers only within a session.
func TestRegistrySearchFindsArabicSpellingVariants(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		e.addHousing()
		b := e.uiLogin(mofStaff)
		for _, q := range []string{"وزاره الاسكان", "وزارة الإسكان", "الأسكان", "Housing", "moh-h"} {
			resp, body := b.get("/registries/search?q=" + url.QueryEscape(q))
			var got struct {
				Items []registrySearchItem `json:"items"`
			}
			if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || len(got.Items) != 1 ||
				got.Items[0].Code != "MOH-HSG" || got.Items[0].NameAR != "وزارة الإسكان" || got.Items[0].Ministry != "MOCT" {
				t.Fatalf("search %q: %d %s", q, resp.StatusCode, body)
			}
		}
		resp, body := b.get("/registries/search?q=" + url.QueryEscape("ديوان"))
		if !strings.Contains(body, `"MOCT"`) || !strings.Contains(body, `"MOF"`) || strings.Contains(body, "MOH-HSG") {
			t.Fatalf("search ديوان: %d %s", resp.StatusCode, body)
		}
		resp, _ = e.browser().get("/registries/search?q=x")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("without a session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// A reply (?reply_to=ENTRY_ID) starts with the letter answered as its
// reference, its sender as recipient and "Re:" its subject; another
// ministry's entry is not found. A related letter is added by its number.
func TestDraftReplyToPrefillsTheReference(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		moct := e.login(moctClerk)
		d := newLetter(moct, "طلب معلومات")
		reg := act(moct, d.EntryID, "register", v(1))
		act(moct, d.EntryID, "dispatch", v(reg.Version))
		in := incomingAt(e.login(mofClerk), "MOF", d.ID)
		inReg := act(e.login(mofClerk), in.ID, "register", v(in.Version))

		// An earlier letter of MOF's own, found by its number.
		mof := e.login(mofClerk)
		var earlier draftDTO
		mof.call("POST", "/api/v1/correspondence", map[string]any{"subject": "سابق", "sender_registry": "MOF",
			"recipients": []map[string]string{{"registry": "MOCT"}}}, http.StatusCreated, &earlier)
		earlierReg := act(mof, earlier.EntryID, "register", v(earlier.Version))

		b := e.uiLogin(mofClerk)
		resp, body := b.get(fmt.Sprintf("/correspondence/new?reply_to=%d", in.ID))
		wantPage(t, resp, body, http.StatusOK, fmt.Sprintf(`name="references" value="reply_to:%d" checked`, d.ID),
			`value="رد: طلب معلومات"`, `name="recipients" value="MOCT" checked`, `<option value="MOF" selected>`, "رداً على", *inReg.Number)
		resp, body = b.postMultipart("/correspondence", []formPart{{name: "csrf_token", value: b.csrf},
			{name: "sender_registry", value: "MOF"}, {name: "subject", value: "رد: طلب معلومات"}, {name: "recipients", value: "MOCT"},
			{name: "references", value: fmt.Sprintf("reply_to:%d", d.ID)}, {name: "reference_number", value: *earlierReg.Number}})
		doc := documentOf(e.login(mofClerk), wantEntryRedirect(t, resp, body))
		if len(doc.References) != 2 || doc.References[0].ID != d.ID || doc.References[0].Relation != "reply_to" ||
			doc.References[1].ID != earlier.ID || doc.References[1].Relation != "related" {
			t.Fatalf("references %+v", doc.References)
		}
		resp, body = e.uiLogin(moctClerk).get(fmt.Sprintf("/correspondence/new?reply_to=%d", in.ID))
		wantPage(t, resp, body, http.StatusNotFound)
	})
}

// A draft is edited at its version: saved, it goes to its entry; a stale
// version shows the fresh draft with error.stale; a file is removed from
// its form; a letter no longer a draft is not edited.
func TestDraftEditSavesAtItsVersion(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		b := e.uiLogin(mofClerk)
		b.get("/correspondence/new")
		resp, body := b.postMultipart("/correspondence", []formPart{{name: "csrf_token", value: b.csrf},
			{name: "sender_registry", value: "MOF"}, {name: "subject", value: "أول"}, {name: "recipients", value: "MOCT"},
			{name: "attachments", value: "a.pdf", file: pdfBytes(100)}})
		entryID := wantEntryRedirect(t, resp, body)
		c := e.login(mofClerk)
		d := documentOf(c, entryID)
		edit := fmt.Sprintf("/correspondence/%d/edit", d.ID)
		resp, body = b.get(edit)
		wantPage(t, resp, body, http.StatusOK, `value="أول"`, `name="version" value="`, "a.pdf",
			fmt.Sprintf(`action="/correspondence/%d/attachments/%d/delete"`, d.ID, d.Attachments[0].ID), `name="recipients" value="MOCT" checked`)
		version := d.Entry.Version
		save := url.Values{"subject": {"ثانٍ"}, "recipients": {"MOCT"}, "version": {strconv.FormatInt(version, 10)}}
		resp, body = b.post(fmt.Sprintf("/correspondence/%d", d.ID), save)
		if wantEntryRedirect(t, resp, body) != entryID || documentOf(c, entryID).Subject != "ثانٍ" {
			t.Fatalf("edit not saved")
		}
		save.Set("subject", "ثالث")
		resp, body = b.post(fmt.Sprintf("/correspondence/%d", d.ID), save) // the old version
		wantPage(t, resp, body, http.StatusConflict, "غيّر", `value="ثانٍ"`)
		save.Set("version", strconv.FormatInt(documentOf(c, entryID).Entry.Version, 10))
		save.Set("due_date", "2020-01-06")
		resp, body = b.post(fmt.Sprintf("/correspondence/%d", d.ID), save)
		wantPage(t, resp, body, http.StatusBadRequest, `id="due_date-error"`, `value="ثالث"`, `id="sender_registry" type="text" readonly value="MOF"`)
		resp, body = b.post(fmt.Sprintf("/correspondence/%d/attachments/%d/delete", d.ID, d.Attachments[0].ID), url.Values{})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != edit || len(c.attachments(d.ID)) != 0 {
			t.Fatalf("delete: %d to %q; attachments %+v", resp.StatusCode, resp.Header.Get("Location"), c.attachments(d.ID))
		}
		// Another ministry's clerk finds nothing.
		resp, body = e.uiLogin(moctClerk).get(edit)
		wantPage(t, resp, body, http.StatusNotFound)
		// Registered: its entry's page.
		cur := documentOf(c, entryID).Entry
		act(c, entryID, "register", v(cur.Version))
		resp, _ = b.get(edit)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != fmt.Sprintf("/entries/%d", entryID) {
			t.Fatalf("edit of a registered letter: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, body = b.postMultipart(fmt.Sprintf("/correspondence/%d/attachments", d.ID), []formPart{{name: "csrf_token", value: b.csrf},
			{name: "file", value: "late.pdf", file: pdfBytes(10)}})
		wantPage(t, resp, body, http.StatusConflict, "لم يعد هذا الكتاب مسودة")
		if strings.Contains(body, `id="draft-form"`) {
			t.Error("a registered letter's upload refusal shows the drafting form")
		}
	})
}

// The page's script saves a new letter before sending its files: asked
// for JSON (with the token in X-CSRF-Token), the form answers {id,
// entry_id, version}, or the error with its field.
func TestDraftFormAnswersTheScriptInJSON(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	b := e.uiLogin(mofClerk)
	b.get("/correspondence/new")
	resp, body := b.postMultipart("/correspondence", []formPart{{name: "sender_registry", value: "MOF"}, {name: "subject", value: ""},
		{name: "recipients", value: "MOCT"}}, "Accept", "application/json", "X-CSRF-Token", b.csrf)
	var ae apiError
	if resp.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(body), &ae) != nil || ae.Error.Field != "subject" {
		t.Fatalf("an empty subject: %d %s", resp.StatusCode, body)
	}
	resp, body = b.postMultipart("/correspondence", []formPart{{name: "sender_registry", value: "MOF"}, {name: "subject", value: "بالسكربت"},
		{name: "recipients", value: "MOCT"}}, "Accept", "application/json", "X-CSRF-Token", b.csrf)
	var d draftDTO
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &d) != nil || d.ID == 0 || d.EntryID == 0 {
		t.Fatalf("saved by the script: %d %s", resp.StatusCode, body)
	}
	if doc := documentOf(e.login(mofClerk), d.EntryID); doc.Subject != "بالسكربت" || doc.ID != d.ID {
		t.Fatalf("the letter: %+v", doc)
	}
}
