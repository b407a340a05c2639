package httpd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// actorOf is the engine's actor for a test user.
func (e *apiEnv) actorOf(login string) workflow.Actor {
	return workflow.UserActor(e.userID(login), login)
}

// incomingLetter sends a letter with subject from MOCT to MOF and
// registers it at MOF; it returns MOF's incoming entry.
func (e *apiEnv) incomingLetter(subject string) workflow.Entry {
	e.t.Helper()
	ctx, moct, mof := context.Background(), e.actorOf(moctClerk), e.actorOf(mofClerk)
	d, err := e.wf.CreateDraft(ctx, moct, workflow.NewCorrespondence{Subject: subject, Body: "نص الكتاب",
		SenderRegistry: "MOCT", Recipients: []workflow.RecipientInput{{Registry: "MOF"}}})
	e.ok(nil, err)
	out, err := e.wf.Act(ctx, moct, d.ID, workflow.Transition{Action: workflow.ActionRegister, Version: d.Version})
	e.ok(nil, err)
	_, err = e.wf.Act(ctx, moct, d.ID, workflow.Transition{Action: workflow.ActionDispatch, Version: out.Version})
	e.ok(nil, err)
	pg, err := e.wf.Entries(ctx, mof, workflow.ListFilter{Registry: "MOF", Direction: workflow.Incoming, Limit: 500})
	e.ok(nil, err)
	for _, in := range pg.Items {
		if in.CorrespondenceID == d.CorrespondenceID {
			in, err = e.wf.Act(ctx, mof, in.ID, workflow.Transition{Action: workflow.ActionRegister, Version: in.Version})
			e.ok(nil, err)
			return in
		}
	}
	e.t.Fatalf("no incoming entry of correspondence %d at MOF", d.CorrespondenceID)
	return workflow.Entry{}
}

// referByClerk refers the incoming entry in (as MOF's clerk) to a
// department or a person (t's ToDepartment or ToUser, Instruction) and
// returns the new referral and the entry as it now stands.
func (e *apiEnv) referByClerk(in workflow.Entry, t workflow.Transition) (workflow.Referral, workflow.Entry) {
	e.t.Helper()
	ctx, mof := context.Background(), e.actorOf(mofClerk)
	t.Action, t.Version = workflow.ActionRefer, in.Version
	in, err := e.wf.Act(ctx, mof, in.ID, t)
	e.ok(nil, err)
	pg, err := e.wf.Referrals(ctx, mof, workflow.ReferralFilter{EntryID: in.ID, Limit: 1})
	e.ok(nil, err)
	if len(pg.Items) == 0 {
		e.t.Fatalf("no referral of entry %d", in.ID)
	}
	return pg.Items[0], in
}

// referral reads a referral as login sees it.
func (e *apiEnv) referral(login string, id int64) workflow.Referral {
	e.t.Helper()
	r, err := e.wf.Referral(context.Background(), e.actorOf(login), id)
	e.ok(nil, err)
	return r
}

func refPath(id int64, action ...string) string {
	if len(action) == 0 {
		return fmt.Sprintf("/referrals/%d", id)
	}
	return fmt.Sprintf("/referrals/%d/%s", id, action[0])
}

func versionForm(r workflow.Referral, kv ...string) url.Values {
	f := url.Values{"version": {fmt.Sprint(r.Version)}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

// wantRedirect insists on a 303 to location.
func wantRedirect(t testing.TB, resp *http.Response, body, location string) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != location {
		t.Fatalf("%s %s: %d to %q, want 303 to %q; body:\n%s", resp.Request.Method, resp.Request.URL.Path,
			resp.StatusCode, resp.Header.Get("Location"), location, body)
	}
}

// rowOf is the <tr> of the referrals table that links to referral id, ""
// when there is none.
func rowOf(body string, id int64) string {
	i := strings.Index(body, fmt.Sprintf(`href="/referrals/%d"`, id))
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(body[:i], "<tr")
	end := strings.Index(body[i:], "</tr>")
	return body[start : i+end]
}

// The list shows a staff member the referrals to them and to their
// department, with links to the entry and the referral, the instruction in
// their language, and overdue ones marked by a class and a visible word;
// a head sees their department's in the department scope; a staff member
// of another department sees neither.
func TestReferralsPageListsMineAndTheHeadsDepartment(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		toStaff, in := e.referByClerk(e.incomingLetter("طلب رأي قانوني"), workflow.Transition{ToUser: mofStaff, Instruction: "study"})
		toLegal, _ := e.referByClerk(in, workflow.Transition{ToDepartment: "LEGAL", Instruction: "action"})
		toBudget, _ := e.referByClerk(e.incomingLetter("الموازنة"), workflow.Transition{ToUser: mofOtherStaf, Instruction: `<img src=x onerror=alert(1)>`})
		if err := e.db.Writer().Exec("UPDATE referrals SET due_date = ? WHERE id = ?", "2020-01-02", toStaff.ID).Error; err != nil {
			t.Fatal(err) // a referral whose due date has passed
		}

		staff := e.uiLogin(mofStaff)
		resp, body := staff.get("/referrals")
		wantPage(t, resp, body, http.StatusOK, `<table id="referrals">`, "طلب رأي قانوني",
			fmt.Sprintf(`href="/entries/%d"`, toStaff.EntryID), "للدراسة وإبداء الرأي", "لإجراء اللازم", "الشؤون القانونية")
		row := rowOf(body, toStaff.ID)
		if !strings.Contains(row, `class="overdue"`) || !strings.Contains(row, "متأخرة") || !strings.Contains(row, "2020-01-02") {
			t.Errorf("the overdue referral is not marked: %s", row)
		}
		resp, page := staff.get(refPath(toStaff.ID))
		wantPage(t, resp, page, http.StatusOK, `class="card overdue"`, `<span class="badge overdue">متأخرة</span>`)
		if row := rowOf(body, toLegal.ID); row == "" || strings.Contains(row, "overdue") {
			t.Errorf("the referral to the department: %q", row)
		}
		if rowOf(body, toBudget.ID) != "" || strings.Contains(body, `value="department"`) {
			t.Errorf("a staff member sees another's referral or the department scope:\n%s", body)
		}

		head := e.uiLogin(mofHead)
		resp, body = head.get("/referrals?scope=mine")
		wantPage(t, resp, body, http.StatusOK, `value="department"`)
		if rowOf(body, toLegal.ID) == "" || rowOf(body, toStaff.ID) != "" {
			t.Errorf("a head's own referrals: the department's only, not a member's:\n%s", body)
		}
		resp, body = head.get("/referrals?scope=department")
		wantPage(t, resp, body, http.StatusOK)
		if rowOf(body, toLegal.ID) == "" || rowOf(body, toStaff.ID) == "" || rowOf(body, toBudget.ID) != "" {
			t.Errorf("a head's department scope lacks a member's referral or shows another department's:\n%s", body)
		}
		resp, body = head.get("/referrals?scope=department&state=closed")
		wantPage(t, resp, body, http.StatusOK, "لا توجد إحالات")
		resp, body = head.get("/referrals?state=nonsense")
		wantPage(t, resp, body, http.StatusBadRequest, `id="state-error"`, `aria-invalid="true"`)

		other := e.uiLogin(mofOtherStaf)
		other.lang = "en"
		resp, body = other.get("/referrals")
		wantPage(t, resp, body, http.StatusOK, "&lt;img src=x onerror=alert(1)&gt;", "Open")
		if strings.Contains(body, "<img src=x") {
			t.Error("an instruction's markup is not escaped in the list")
		}
		resp, page = other.get(refPath(toBudget.ID))
		wantPage(t, resp, page, http.StatusOK, `<dd id="instruction">&lt;img src=x onerror=alert(1)&gt;</dd>`)
		if rowOf(body, toBudget.ID) == "" || rowOf(body, toStaff.ID) != "" || rowOf(body, toLegal.ID) != "" {
			t.Errorf("another department's staff member:\n%s", body)
		}
	})
}

// A referral of another ministry, or of another department, is the same
// "not found" page as one that does not exist, to see and to act on.
func TestReferralOfAnotherMinistryOrDepartmentIsNotFound(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		r, _ := e.referByClerk(e.incomingLetter("سري للقسم"), workflow.Transition{ToDepartment: "LEGAL", Instruction: "study"})
		for _, login := range []string{moctClerk, mofOtherStaf} {
			b := e.uiLogin(login)
			for _, path := range []string{refPath(r.ID), refPath(r.ID + 1000)} {
				resp, body := b.get(path)
				wantPage(t, resp, body, http.StatusNotFound, "غير موجود")
				if strings.Contains(body, "سري للقسم") {
					t.Errorf("%s sees the subject at %s", login, path)
				}
			}
			resp, body := b.post(refPath(r.ID, "accept"), versionForm(r))
			wantPage(t, resp, body, http.StatusNotFound, "غير موجود")
		}
		b := e.uiLogin(mofStaff)
		for _, path := range []string{"/referrals/abc", "/referrals/0"} {
			resp, body := b.get(path)
			wantPage(t, resp, body, http.StatusNotFound)
		}
		resp, body := b.post(refPath(r.ID, "nonsense"), versionForm(r))
		wantPage(t, resp, body, http.StatusNotFound)
		if got := e.referral(mofClerk, r.ID); got.State != workflow.StateOpen {
			t.Errorf("the referral is %s, want open", got.State)
		}
	})
}

// An action without the form's CSRF token is refused and changes nothing.
func TestReferralActionWithoutCSRFTokenIsRefused(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	r, _ := e.referByClerk(e.incomingLetter("رمز النموذج"), workflow.Transition{ToUser: mofStaff, Instruction: "study"})
	b := e.uiLogin(mofStaff)
	b.get(refPath(r.ID))
	resp, body := b.post(refPath(r.ID, "accept"), versionForm(r, "csrf_token", "forged"))
	wantPage(t, resp, body, http.StatusForbidden)
	if got := e.referral(mofStaff, r.ID); got.State != workflow.StateOpen || got.Version != r.Version {
		t.Errorf("after a forged form the referral is %s v%d", got.State, got.Version)
	}
}

// Each action through its form: the head refers a department's referral
// on to a staff member with the pickers; the staff member sees where it
// came from, accepts, comments (XSS shown as text), is told next to the
// field what is wrong with an empty comment, a person outside their
// department and an empty answer (what they typed kept), answers and is
// offered a reply; the clerk closes it. A stale version gets the fresh
// page and 409.
func TestReferralActionsThroughTheirForms(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		const xss = `<script>alert("x")</script>`
		r1, _ := e.referByClerk(e.incomingLetter("دراسة العقد "+xss), workflow.Transition{ToDepartment: "LEGAL", Instruction: "study"})

		r2 := headRefersOn(t, e, r1, xss)

		staff := e.uiLogin(mofStaff)
		resp, body := staff.get(refPath(r2.ID))
		wantPage(t, resp, body, http.StatusOK, `<ol id="chain"`, fmt.Sprintf(`href="/referrals/%d"`, r1.ID), "لإجراء اللازم")
		resp, body = staff.post(refPath(r2.ID, "accept"), versionForm(r2))
		wantRedirect(t, resp, body, refPath(r2.ID)+"?done=accept")
		stale := r2
		r2 = e.referral(mofStaff, r2.ID)

		resp, body = staff.post(refPath(r2.ID, "comment"), versionForm(r2, "comment", "  "))
		wantPage(t, resp, body, http.StatusBadRequest, `id="comment-comment-error"`, `aria-describedby="comment-comment-error"`, "اكتب التعليق",
			fmt.Sprintf(`class="lang" href="/referrals/%d?lang=en"`, r2.ID))
		resp, body = staff.post(refPath(r2.ID, "comment"), versionForm(r2, "comment", "ملاحظة "+xss))
		wantRedirect(t, resp, body, refPath(r2.ID)+"?done=comment")
		resp, body = staff.get(refPath(r2.ID))
		wantPage(t, resp, body, http.StatusOK, "ملاحظة &lt;script&gt;", `id="comments"`)
		if strings.Contains(body, xss) {
			t.Error("a comment's script is not escaped")
		}
		r2 = e.referral(mofStaff, r2.ID)

		resp, body = staff.post(refPath(r2.ID, "refer"), versionForm(r2, "user", mofOtherStaf, "instruction", "تدقيق "+xss))
		wantPage(t, resp, body, http.StatusUnprocessableEntity, `id="refer-user-error"`, `value="تدقيق &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"`,
			`<option value="other@mof.gov.sy" dir="ltr" selected>`)
		resp, body = staff.post(refPath(r2.ID, "answer"), versionForm(r2, "answer", ""))
		wantPage(t, resp, body, http.StatusBadRequest, `id="answer-answer-error"`)

		resp, body = staff.post(refPath(stale.ID, "comment"), versionForm(stale, "comment", "متأخر"))
		wantPage(t, resp, body, http.StatusConflict, "غيّر", fmt.Sprintf(`name="version" value="%d"`, r2.Version), "متأخر")

		resp, body = staff.post(refPath(r2.ID, "answer"), versionForm(r2, "answer", "الرأي القانوني "+xss))
		wantRedirect(t, resp, body, refPath(r2.ID)+"?done=answer")
		resp, body = staff.get(refPath(r2.ID) + "?done=answer")
		wantPage(t, resp, body, http.StatusOK, "الرأي القانوني &lt;script&gt;", `id="write-reply"`,
			fmt.Sprintf(`href="/correspondence/new?reply_to=%d"`, r2.EntryID))
		if strings.Contains(body, `id="action-answer"`) || strings.Contains(body, xss) {
			t.Errorf("after the answer:\n%s", body)
		}
		if got := e.referral(mofHead, r1.ID); got.State != workflow.StateAnswered {
			t.Errorf("the referral passed on is %s, want answered with the answer", got.State)
		}

		r2 = e.referral(mofStaff, r2.ID)
		clerk := e.uiLogin(mofClerk)
		resp, body = clerk.get(refPath(r2.ID))
		wantPage(t, resp, body, http.StatusOK, `id="action-close"`)
		resp, body = clerk.post(refPath(r2.ID, "close"), versionForm(r2, "comment", "انتهى"))
		wantRedirect(t, resp, body, refPath(r2.ID)+"?done=close")
		if got := e.referral(mofStaff, r2.ID); got.State != workflow.StateClosed {
			t.Errorf("closed: %s", got.State)
		}
	})
}

// The list pages by 50 with links to the next and the previous page that
// keep the filter.
func TestReferralsPageGoesPageByPage(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	in := e.incomingLetter("إحالات كثيرة")
	var first workflow.Referral
	for i := range referralsPerPage + 1 {
		var r workflow.Referral
		r, in = e.referByClerk(in, workflow.Transition{ToUser: mofStaff, Instruction: fmt.Sprintf("مهمة %d", i)})
		if i == 0 {
			first = r
		}
	}
	staff := e.uiLogin(mofStaff)
	resp, body := staff.get("/referrals?state=open")
	wantPage(t, resp, body, http.StatusOK, `id="next-page" href="/referrals?page=2&amp;scope=mine&amp;state=open"`)
	if n := strings.Count(body, `class="referral-link"`); n != referralsPerPage || rowOf(body, first.ID) != "" || strings.Contains(body, `id="previous-page"`) {
		t.Errorf("first page: %d rows, the oldest shown %v", n, rowOf(body, first.ID) != "")
	}
	resp, body = staff.get("/referrals?page=2&scope=mine&state=open")
	wantPage(t, resp, body, http.StatusOK, `id="previous-page" href="/referrals?scope=mine&amp;state=open"`)
	if n := strings.Count(body, `class="referral-link"`); n != 1 || rowOf(body, first.ID) == "" || strings.Contains(body, `id="next-page"`) {
		t.Errorf("second page: %d rows:\n%s", n, body)
	}
}

// headRefersOn has the head refer r1 (to their department) on to the
// staff member through the form, choosing from the pickers, and returns
// the new referral.
func headRefersOn(t *testing.T, e *apiEnv, r1 workflow.Referral, xss string) workflow.Referral {
	t.Helper()
	head := e.uiLogin(mofHead)
	resp, body := head.get(refPath(r1.ID))
	wantPage(t, resp, body, http.StatusOK, `id="action-accept"`, `id="action-refer"`, `id="action-answer"`,
		`id="action-comment"`, `id="action-close"`, `<option value="BUDGET">الموازنة</option>`,
		`value="staff@mof.gov.sy"`, `id="people-search"`, "&lt;script&gt;")
	if strings.Contains(body, xss) || strings.Contains(body, `value="clerk@moct.gov.sy"`) || strings.Contains(body, `value="head@mof.gov.sy"`) {
		t.Errorf("the page shows raw script, another ministry's person or oneself:\n%s", body)
	}
	resp, body = head.get(refPath(r1.ID) + "?people=other")
	wantPage(t, resp, body, http.StatusOK, `value="other@mof.gov.sy"`)
	if strings.Contains(body, `value="staff@mof.gov.sy"`) {
		t.Error("the people search does not narrow the list")
	}
	due := workingDayIn(5)
	resp, body = head.post(refPath(r1.ID, "refer"), versionForm(r1, "user", mofStaff, "instruction", "action", "due_date", due))
	wantRedirect(t, resp, body, refPath(r1.ID)+"?done=refer")
	resp, body = head.get(refPath(r1.ID) + "?done=refer")
	wantPage(t, resp, body, http.StatusOK, `class="flash"`, "مُحال")
	staffRefs, err := e.wf.Referrals(context.Background(), e.actorOf(mofStaff), workflow.ReferralFilter{Mine: true})
	e.ok(nil, err)
	var r2 workflow.Referral
	for _, x := range staffRefs.Items {
		if x.ParentID == r1.ID {
			r2 = x
		}
	}
	if r2.ID == 0 || r2.ToUser != mofStaff || r2.DueDate != due || r2.Instruction != "action" {
		t.Fatalf("the referral passed on: %+v", r2)
	}
	return r2
}

// BenchmarkReferralPages measures a staff member's referral list (20
// referrals) and a referral's page with its forms and pickers, each
// request over HTTPS on loopback:
// go test -run '^$' -bench ReferralPages -benchtime 200x ./internal/httpd/
func BenchmarkReferralPages(b *testing.B) {
	for _, driver := range dbtest.Drivers {
		b.Run(driver, func(b *testing.B) {
			e := newAPIEnv(b, driver, true)
			in := e.incomingLetter("قياس صفحات الإحالات")
			var r workflow.Referral
			for i := range 20 {
				r, in = e.referByClerk(in, workflow.Transition{ToUser: mofStaff, Instruction: fmt.Sprintf("مهمة %d", i)})
			}
			staff := e.uiLogin(mofStaff)
			for _, page := range []struct{ name, path string }{{"list", "/referrals"}, {"referral", refPath(r.ID)}} {
				b.Run(page.name, func(b *testing.B) {
					staff.t = b
					var size int
					for b.Loop() {
						resp, body := staff.get(page.path)
						if resp.StatusCode != http.StatusOK {
							b.Fatalf("%s: %d", page.path, resp.StatusCode)
						}
						size = len(body)
					}
					b.ReportMetric(float64(size), "bytes/page")
				})
			}
		})
	}
}
