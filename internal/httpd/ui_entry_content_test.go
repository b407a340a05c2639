package httpd

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/workflow"
	"diwan.gov.sy/diwan/web"
)

// attach uploads content as an attachment named name through the API and
// returns its id.
func attach(c *apiClient, corrID int64, name string, content []byte) int64 {
	c.t.Helper()
	body, ctype := multipartBody(c.t, "file", fmt.Sprintf(`form-data; name="file"; filename*=UTF-8''%s`, rfc8187Encode(name)), "", content)
	resp, b := c.upload(corrID, body, ctype, false)
	if resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("upload %s: %d %s", name, resp.StatusCode, b)
	}
	var a attachmentDTO
	mustJSON(c.t, b, &a)
	return a.ID
}

// download reads an attachment through the UI route and returns the
// response with its body.
func (b *uiClient) download(path string) (*http.Response, []byte) {
	b.t.Helper()
	resp, err := b.hc.Get(b.e.ts.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")

// Attachments are listed and downloaded with their name encoded per RFC
// 6266/8187; only PDFs and raster images are sent as what they are and
// shown inline, in a sandbox; HTML and SVG are always downloads of
// application/octet-stream, whatever ?inline says; another ministry's
// entry does not lead to them.
func TestEntryAttachmentsInlineOnlyForSafeTypes(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		api := e.login(moctClerk)
		d := newLetter(api, "كتاب بمرفقات")
		pdf := attach(api, d.ID, "تقرير الموازنة.pdf", pdfBytes(2000))
		png := attach(api, d.ID, "صورة.png", pngBytes)
		page := attach(api, d.ID, "page.html", []byte("<!doctype html><html><body><script>alert(1)</script></body></html>"))
		svg := attach(api, d.ID, "logo.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))

		b := e.uiLogin(moctClerk)
		resp, body := b.get(entryPath(d.EntryID))
		href := func(id int64) string { return fmt.Sprintf("/entries/%d/attachments/%d", d.EntryID, id) }
		wantPage(t, resp, body, http.StatusOK, `<ul id="attachments">`, "تقرير الموازنة.pdf",
			`href="`+href(pdf)+`?inline=1"`, `href="`+href(png)+`?inline=1"`, `href="`+href(page)+`" download`)
		if strings.Contains(body, href(page)+"?inline=1") || strings.Contains(body, href(svg)+"?inline=1") {
			t.Error("HTML or SVG offered for viewing inline")
		}

		for _, c := range []struct {
			id           int64
			query, ctype string
			inline       bool
		}{
			{pdf, "?inline=1", "application/pdf", true}, {pdf, "", "application/pdf", false},
			{png, "?inline=1", "image/png", true},
			{page, "?inline=1", "application/octet-stream", false}, {page, "", "application/octet-stream", false},
			{svg, "?inline=1", "application/octet-stream", false},
		} {
			resp, got := b.download(href(c.id) + c.query)
			h := resp.Header
			if resp.StatusCode != http.StatusOK || h.Get("Content-Type") != c.ctype {
				t.Errorf("%s%s: %d %q, want %q", href(c.id), c.query, resp.StatusCode, h.Get("Content-Type"), c.ctype)
			}
			if cd := h.Get("Content-Disposition"); strings.HasPrefix(cd, "inline;") != c.inline || !strings.Contains(cd, "filename*=UTF-8''") {
				t.Errorf("%s%s: Content-Disposition %q", href(c.id), c.query, cd)
			}
			if !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: headers %v", href(c.id), h)
			}
			if len(got) == 0 {
				t.Errorf("%s: empty", href(c.id))
			}
		}
		resp, _ = b.download(href(pdf))
		if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "filename*=UTF-8''%D8%AA%D9%82%D8%B1%D9%8A%D8%B1") {
			t.Errorf("an Arabic name is not encoded per RFC 8187: %q", cd)
		}

		other := e.uiLogin(mofClerk)
		if resp, _ := other.download(href(pdf)); resp.StatusCode != http.StatusNotFound {
			t.Errorf("another ministry's attachment: %d", resp.StatusCode)
		}
		if resp, _ := b.download(fmt.Sprintf("/entries/%d/attachments/%d", d.EntryID, pdf+100)); resp.StatusCode != http.StatusNotFound {
			t.Errorf("a missing attachment: %d", resp.StatusCode)
		}
	})
}

// What users typed — subject, body, file name, comment, reason, and the
// fields of a refused form — is shown as text, never as markup.
func TestEntryPageEscapesWhatUsersTyped(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		api := e.login(moctClerk)
		var d draftDTO
		api.call("POST", "/api/v1/correspondence", map[string]any{
			"subject": "<script>alert('subject')</script>", "body": "<img src=x onerror=alert('body')>",
			"sender_registry": "MOCT", "recipients": []map[string]string{{"registry": "MOF", "role": "to"}},
		}, http.StatusCreated, &d)
		attach(api, d.ID, `"><svg onload=alert('file')>.pdf`, pdfBytes(100))
		sender := e.uiLogin(moctClerk)
		sender.actOK(d.EntryID, "register", "comment", "<b onclick=alert('comment')>")
		sender.actOK(d.EntryID, "dispatch")

		in := incomingAt(e.withToken(mofClerk), "MOF", d.ID)
		receiver := e.uiLogin(mofClerk)
		receiver.actOK(in.ID, "register")
		resp, body := receiver.actForm(in.ID, "refer", "user", `"><script>alert('user')</script>`, "instruction", "information", "comment", "<i onmouseover=alert('kept')>")
		wantPage(t, resp, body, http.StatusUnprocessableEntity, `id="refer-user-error">اكتب عنوان بريد موظف`, `value="&lt;i onmouseover=alert(&#39;kept&#39;)&gt;"`)
		for _, bad := range []string{"<script>alert", "<img src=x", "<svg onload", "<b onclick", "<i onmouseover"} {
			if strings.Contains(body, bad) {
				t.Errorf("a refused form shows %q as markup", bad)
			}
		}
		body = receiver.actOK(in.ID, "return", "reason", "<script>alert('reason')</script>")
		_, sent := sender.get(entryPath(d.EntryID))
		for _, page := range []string{body, sent} {
			for _, bad := range []string{"<script>alert", "<img src=x", "<svg onload", "<b onclick"} {
				if strings.Contains(page, bad) {
					t.Errorf("the page shows %q as markup", bad)
				}
			}
		}
		wantPage(t, nil200(), body, http.StatusOK, "&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;",
			"&lt;img src=x onerror=alert(&#39;body&#39;)&gt;", "&lt;script&gt;alert(&#39;reason&#39;)&lt;/script&gt;", "onload=alert(&#39;file&#39;)")
		wantPage(t, nil200(), sent, http.StatusOK, "&lt;b onclick=alert(&#39;comment&#39;)&gt;")
	})
}

// The answer form offers the letters that reference the entry, and a
// link that opens a reply draft; answering with one records it.
func TestEntryAnswerOffersTheLettersThatReferenceIt(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		sender := e.uiLogin(moctClerk)
		d := newLetter(e.login(moctClerk), "طلب رأي")
		sender.actOK(d.EntryID, "register")
		sender.actOK(d.EntryID, "dispatch")
		in := incomingAt(e.withToken(mofClerk), "MOF", d.ID)
		receiver := e.uiLogin(mofClerk)
		receiver.actOK(in.ID, "register")
		var reply draftDTO
		e.login(mofClerk).call("POST", "/api/v1/correspondence", map[string]any{
			"subject": "الرد على طلب الرأي", "sender_registry": "MOF", "recipients": []map[string]string{{"registry": "MOCT", "role": "to"}},
			"references": []map[string]any{{"id": d.ID, "relation": "reply_to"}},
		}, http.StatusCreated, &reply)
		resp, body := receiver.get(entryPath(in.ID))
		wantPage(t, resp, body, http.StatusOK, `id="action-answer"`, fmt.Sprintf(`<option value="%d">`, reply.ID), "الرد على طلب الرأي",
			fmt.Sprintf(`href="/correspondence/new?reply_to=%d"`, in.ID), "كتابة رد")
		resp, body = receiver.actForm(in.ID, "answer", "reply", "abc")
		wantPage(t, resp, body, http.StatusBadRequest, `id="answer-reply-error"`)
		body = receiver.actOK(in.ID, "answer", "reply", fmt.Sprint(reply.ID))
		wantPage(t, nil200(), body, http.StatusOK, "تمّ الرد")
		_, body = receiver.get(entryPath(reply.EntryID))
		wantPage(t, nil200(), body, http.StatusOK, "ردّ على", fmt.Sprintf(`href="/correspondence/%d"`, d.ID))
	})
}

// The page prints as a cover (registry, direction, register number, date)
// and the document: the stylesheet hides the bar and the forms in print
// and frames the cover; the English page is left to right.
func TestEntryPagePrintsACover(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	d := newLetter(e.login(moctClerk), "كتاب للطباعة")
	b := e.uiLogin(moctClerk)
	body := b.actOK(d.EntryID, "register")
	wantPage(t, nil200(), body, http.StatusOK, `<header class="card cover">`, `class="print-only cover-org"`, "ديوان MOCT",
		"تاريخ التسجيل", `<section class="card entry-actions"`)
	b.lang = "en"
	resp, body := b.get(entryPath(d.EntryID))
	wantPage(t, resp, body, http.StatusOK, `<html lang="en" dir="ltr">`, "Registry MOCT", "Register number", "Outgoing", "Registered on",
		`id="action-dispatch"`, "Dispatch")
	css, err := web.Static.ReadFile("static/diwan.css")
	if err != nil {
		t.Fatal(err)
	}
	s := string(css)
	print := s[strings.LastIndex(s, "@media print"):]
	for _, rule := range []string{".entry-actions", ".card.cover", "#register-number"} {
		if !strings.Contains(print, rule) {
			t.Errorf("the print styles lack %s", rule)
		}
	}
	if !strings.Contains(s[strings.Index(s, "@media print"):], ".bar") {
		t.Error("the print styles do not hide the bar")
	}
	if len(body) > 150<<10 {
		t.Errorf("the page has %d bytes", len(body))
	}
}

// Every value the engine has of a state, kind, classification, priority,
// direction, action (the timeline's too), instruction, recipient role and
// relation has its text in every language.
func TestVocabulariesCoverTheEngine(t *testing.T) {
	e := newAPIEnv(t, "sqlite", false)
	var keys []string
	states := append(workflow.EntryStates(), workflow.ReferralStates()...)
	states = append(states, workflow.StatePending, workflow.StateDelivered, workflow.StateAcknowledged)
	for _, s := range states {
		keys = append(keys, "state."+string(s))
	}
	for _, a := range sortedActions(entryActions) {
		keys = append(keys, "action."+a)
	}
	for _, a := range sortedActions(referralActions) {
		keys = append(keys, "action."+a)
	}
	for _, a := range []string{"create", "edit", "attach", "detach", "receive", "unanswer"} {
		keys = append(keys, "action."+a)
	}
	for _, k := range []workflow.Kind{workflow.KindLetter, workflow.KindMemo, workflow.KindCircular} {
		keys = append(keys, "kind."+string(k))
	}
	for _, c := range []workflow.Classification{workflow.Normal, workflow.Confidential, workflow.Secret} {
		keys = append(keys, "class."+string(c))
	}
	for _, p := range []workflow.Priority{workflow.PriorityNormal, workflow.PriorityUrgent, workflow.PriorityImmediate} {
		keys = append(keys, "prio."+string(p))
	}
	keys = append(keys, "dir.incoming", "dir.outgoing", "role.to", "role.cc", "relation.reply_to", "relation.related")
	for _, i := range uiInstructions {
		keys = append(keys, "instruction."+i)
	}
	for _, a := range sortedActions(uiEntryFields) {
		keys = append(keys, "entry.done."+a)
	}
	for a := range uiConfirmed {
		keys = append(keys, "entry.confirm."+string(a))
	}
	for _, lang := range web.Languages {
		p := &uiPage{loc: e.ts.srv.ui.text[lang]}
		for _, k := range keys {
			if p.T(k) == k {
				t.Errorf("%s: no text for %s", lang, k)
			}
		}
	}
}
