package httpd

// The referrals pages (DESIGN.md §3a): /referrals lists the referrals of
// the logged-in user (to them or their department) and, for a head, those
// of the departments they head; /referrals/{id} shows one with a form per
// action the engine allows now, and POST /referrals/{id}/{action} makes
// it. The list pages with the engine's limit and offset: a user's
// referrals are few, and the engine's listing offers no cursor.

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/workflow"
)

// referralsPerPage is the length of a page of /referrals.
const referralsPerPage = 50

// referralStates are the states a referral is in, in the order of its life.
var referralStates = []workflow.State{workflow.StateOpen, workflow.StateAccepted, workflow.StateReferred,
	workflow.StateAnswered, workflow.StateClosed}

// referralFormFields are the form fields of each action's form.
var referralFormFields = map[workflow.Action][]string{
	workflow.ActionAccept:  {"comment"},
	workflow.ActionComment: {"comment"},
	workflow.ActionRefer:   {"department", "user", "instruction", "due_date", "comment"},
	workflow.ActionAnswer:  {"answer", "comment"},
	workflow.ActionClose:   {"comment"},
}

// engineFields names the engine's fields of a referral transition as the
// forms name them.
var engineFields = map[string]string{"to_user": "user", "to_department": "department"}

// standardInstructions are the engine's instruction keywords, shown in
// the user's language (ref.instruction.KEY).
var standardInstructions = []string{workflow.InstructionInformation, workflow.InstructionStudy, workflow.InstructionAction}

// refRow is a referral as the pages show it.
type refRow struct {
	workflow.Referral
	To          string // the department's name, or the person's login
	ToPerson    bool   // To is a login
	Instruction string // in the user's language when a standard one
	Overdue     bool   // due before today and not done with
}

// referralsData is the list page's.
type referralsData struct {
	Items         []refRow
	States        []workflow.State
	State, Scope  string
	CanDepartment bool // a head: may list the departments they head
	Page, Pages   int
	Total         int64
	PrevHref      string
	NextHref      string
}

// referralsPage lists the user's referrals (scope mine) or, for a head,
// their departments' (scope department), filtered by state.
func (s *Server) referralsPage(c *gin.Context) {
	p := s.newPage(c)
	u, _ := s.uiCurrentUser(c)
	d := referralsData{States: referralStates, State: c.Query("state"), Scope: "mine", CanDepartment: u.HasRole("head"), Page: 1}
	status := http.StatusOK
	if d.CanDepartment && c.Query("scope") == "department" {
		d.Scope = "department"
	}
	if d.State != "" && !slices.Contains(referralStates, workflow.State(d.State)) {
		p.SetFieldError("state", "ref.error.state")
		d.State, status = "", http.StatusBadRequest
	}
	if n, err := strconv.Atoi(c.Query("page")); err == nil && n > 1 && n <= 1<<20 {
		d.Page = n
	}
	f := workflow.ReferralFilter{Mine: d.Scope == "mine", State: workflow.State(d.State),
		Limit: referralsPerPage, Offset: (d.Page - 1) * referralsPerPage}
	pg, err := asCaller(s, c, func(a workflow.Actor) (workflow.Page[workflow.Referral], error) {
		return s.opts.Workflow.Referrals(c.Request.Context(), a, f)
	})
	if err != nil {
		if status, ok := s.uiFail(c, p, "list referrals", err); ok {
			p.Data = d
			s.render(c, status, "referrals", p)
		}
		return
	}
	names, ok := s.uiDepartmentNames(c, p, u.Ministry, pg.Items...)
	if !ok {
		return
	}
	today := s.opts.Workflow.Today()
	for _, r := range pg.Items {
		d.Items = append(d.Items, newRefRow(p, r, names, today))
	}
	d.Total, d.Pages = pg.Total, int((pg.Total+referralsPerPage-1)/referralsPerPage)
	d.PrevHref, d.NextHref = d.pageHref(d.Page-1), d.pageHref(d.Page+1)
	p.Data = d
	s.render(c, status, "referrals", p)
}

// pageHref is the link to page n of the list as filtered, "" when there is
// no such page.
func (d *referralsData) pageHref(n int) string {
	if n < 1 || n > d.Pages {
		return ""
	}
	q := url.Values{"scope": {d.Scope}}
	if d.State != "" {
		q.Set("state", d.State)
	}
	if n > 1 {
		q.Set("page", strconv.Itoa(n))
	}
	return "/referrals?" + q.Encode()
}

// newRefRow is r as the pages show it: its addressee named, its
// instruction in the user's language, overdue marked.
func newRefRow(p *uiPage, r workflow.Referral, departments map[string]string, today string) refRow {
	row := refRow{Referral: r, To: r.ToUser, ToPerson: r.ToUser != "", Instruction: r.Instruction}
	if r.ToDepartment != "" {
		row.To = r.ToDepartment
		if n := departments[r.ToDepartment]; n != "" {
			row.To = n
		}
	}
	if slices.Contains(standardInstructions, r.Instruction) {
		row.Instruction = p.T("ref.instruction." + r.Instruction)
	}
	switch r.State {
	case workflow.StateOpen, workflow.StateAccepted, workflow.StateReferred:
		row.Overdue = r.DueDate != "" && r.DueDate < today
	}
	return row
}

// uiDepartmentNames are the names, in the page's language, of the
// departments of the ministry by code; it asks the engine only when one
// of rs goes to a department (none given: always). false: it answered
// the request itself.
func (s *Server) uiDepartmentNames(c *gin.Context, p *uiPage, ministry string, rs ...workflow.Referral) (map[string]string, bool) {
	need := len(rs) == 0
	for _, r := range rs {
		need = need || r.ToDepartment != ""
	}
	names := map[string]string{}
	if !need || ministry == "" {
		return names, true
	}
	ds, err := s.uiDepartments(c, ministry)
	if err != nil {
		if _, ok := s.uiFail(c, p, "list departments", err); ok {
			s.uiInternal(c, "list departments", err)
		}
		return nil, false
	}
	for _, d := range ds {
		names[d.Code] = departmentName(p, d)
	}
	return names, true
}

func (s *Server) uiDepartments(c *gin.Context, ministry string) ([]workflow.Department, error) {
	return asCaller(s, c, func(a workflow.Actor) ([]workflow.Department, error) {
		return s.opts.Workflow.Departments(c.Request.Context(), a, ministry)
	})
}

// departmentName is d's name in the page's language.
func departmentName(p *uiPage, d workflow.Department) string {
	if p.Lang == "ar" && d.NameAR != "" {
		return d.NameAR
	}
	return d.NameEN
}

// uiPathID is the positive integer path parameter name; false when it is
// not one (the caller answers not found).
func uiPathID(c *gin.Context, name string) (int64, bool) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	return id, err == nil && id > 0
}

// referralForm is what the user sent with an action that failed: shown
// again in that action's form, with the errors next to its fields.
type referralForm struct {
	Action workflow.Action
	Values map[string]string
	Errors map[string]string
}

// actOnReferralForm makes an action on a referral and goes back to its
// page; on failure it shows the page again with the errors next to the
// fields and what the user typed (a stale version: the fresh page, 409).
func (s *Server) actOnReferralForm(c *gin.Context) {
	id, ok := uiPathID(c, "id")
	action := workflow.Action(c.Param("action"))
	fields, known := referralFormFields[action]
	if !ok || !known {
		s.uiNotFound(c)
		return
	}
	f := referralForm{Action: action, Values: map[string]string{}}
	for _, name := range fields {
		f.Values[name] = c.PostForm(name)
	}
	version, _ := strconv.ParseInt(c.PostForm("version"), 10, 64)
	t := workflow.ReferralTransition{Action: action, Version: version, Comment: f.Values["comment"],
		Answer: f.Values["answer"], ToUser: f.Values["user"], ToDepartment: f.Values["department"],
		Instruction: f.Values["instruction"], DueDate: f.Values["due_date"]}
	_, err := asCaller(s, c, func(a workflow.Actor) (workflow.Referral, error) {
		return s.opts.Workflow.ActOnReferral(c.Request.Context(), a, id, t)
	})
	if err == nil {
		redirect(c, fmt.Sprintf("/referrals/%d?done=%s", id, action))
		return
	}
	p := s.newPage(c)
	// The page answers a POST: the other language is the referral's page.
	p.OtherLangHref = fmt.Sprintf("/referrals/%d?lang=%s", id, p.OtherLang)
	status, ok := s.uiFail(c, p, string(action)+" referral", err)
	if !ok {
		return
	}
	f.Errors = placeReferralErrors(p, fields)
	s.showReferral(c, p, id, status, f)
}

// placeReferralErrors takes the field errors uiFail set on p for the
// form's fields (the engine's names made the form's), in Arabic with the
// page's own sentence where it has one; an error of another field goes
// above the page.
func placeReferralErrors(p *uiPage, fields []string) map[string]string {
	out := map[string]string{}
	for field, msg := range p.Errors {
		if f, ok := engineFields[field]; ok {
			field = f
		}
		if !slices.Contains(fields, field) {
			p.Error = msg
			continue
		}
		if id := "ref.error." + field; p.Lang != "en" && p.T(id) != id {
			msg = p.T(id)
		}
		out[field] = msg
	}
	p.Errors = nil
	return out
}

// referralData is the referral page's.
type referralData struct {
	R      refRow
	Chain  []refRow   // the referrals it was passed on from, nearest first, as far as the user sees them
	Events []refEvent // its own timeline: comments, acceptance, answer...
	Can    map[string]bool
	Form   referralForm // what the user sent, when an action failed

	// For refer: the departments of the ministry and the people found.
	Departments  []option
	People       []option
	PeopleQuery  string
	PeopleMore   bool // more people match than are listed
	Instructions []option
	ReplyHref    string // a reply draft linked to the letter

	commentLabel string
}

// commentField is the comment field of one action's form.
type commentField struct{ Action, Label, Value, Err string }

// Comment is the comment field of action's form.
func (d *referralData) Comment(action string) commentField {
	return commentField{Action: action, Label: d.commentLabel, Value: d.Val(action, "comment"), Err: d.Err(action, "comment")}
}

// refEvent is one line of a referral's timeline.
type refEvent struct {
	workflow.TimelineEvent
	Label string // the action in the user's language
}

// option is one choice of a <select> or <datalist>.
type option struct{ Value, Label string }

// Val is what the user typed in field of action's form, when that action
// failed.
func (d *referralData) Val(action, field string) string {
	if string(d.Form.Action) != action {
		return ""
	}
	return d.Form.Values[field]
}

// Err is the error next to field of action's form.
func (d *referralData) Err(action, field string) string {
	if string(d.Form.Action) != action {
		return ""
	}
	return d.Form.Errors[field]
}

// referralPage shows a referral.
func (s *Server) referralPage(c *gin.Context) {
	id, ok := uiPathID(c, "id")
	if !ok {
		s.uiNotFound(c)
		return
	}
	p := s.newPage(c)
	if done := workflow.Action(c.Query("done")); referralFormFields[done] != nil {
		p.Flash = p.T("ref.done." + string(done))
	}
	s.showReferral(c, p, id, http.StatusOK, referralForm{})
}

// showReferral renders the page of referral id with status, and the form
// f the user sent.
func (s *Server) showReferral(c *gin.Context, p *uiPage, id int64, status int, f referralForm) {
	d, err := s.loadReferral(c, p, id)
	if err != nil {
		if _, ok := s.uiFail(c, p, "read referral", err); ok {
			s.uiInternal(c, "read referral", err)
		}
		return
	}
	d.Form = f
	p.Data = d
	s.render(c, status, "referral", p)
}

// loadReferral reads what the referral page shows: the referral, its
// timeline, the referrals it came from and, when the user may refer it
// on, the departments and people to choose from.
func (s *Server) loadReferral(c *gin.Context, p *uiPage, id int64) (*referralData, error) {
	ctx := c.Request.Context()
	r, err := asCaller(s, c, func(a workflow.Actor) (workflow.Referral, error) {
		return s.opts.Workflow.Referral(ctx, a, id)
	})
	if err != nil {
		return nil, err
	}
	view, err := asCaller(s, c, func(a workflow.Actor) (workflow.View, error) {
		return s.opts.Workflow.Get(ctx, a, r.CorrespondenceID)
	})
	if err != nil {
		return nil, err
	}
	chain, err := s.referralChain(c, r)
	if err != nil {
		return nil, err
	}
	u, _ := s.uiCurrentUser(c)
	d := &referralData{Can: map[string]bool{}, ReplyHref: fmt.Sprintf("/correspondence/new?reply_to=%d", r.EntryID),
		commentLabel: p.T("ref.comment")}
	for _, a := range r.Actions {
		d.Can[string(a)] = true
	}
	var deps []workflow.Department
	if d.Can["refer"] || r.ToDepartment != "" || len(chain) > 0 {
		if deps, err = s.uiDepartments(c, u.Ministry); err != nil {
			return nil, err
		}
	}
	names := map[string]string{}
	for _, dep := range deps {
		names[dep.Code] = departmentName(p, dep)
	}
	today := s.opts.Workflow.Today()
	d.R = newRefRow(p, r, names, today)
	for _, x := range chain {
		d.Chain = append(d.Chain, newRefRow(p, x, names, today))
	}
	for _, ev := range view.Timeline {
		if ev.ReferralID == id {
			d.Events = append(d.Events, refEvent{TimelineEvent: ev, Label: eventLabel(p, ev.Action)})
		}
	}
	if d.Can["refer"] {
		if err := s.referralPickers(c, p, d, deps); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// maxChain bounds the referrals read to show where one came from.
const maxChain = 500

// referralChain is the referrals r was passed on from, nearest first, as
// far as the user may see them (one listing of the entry's referrals).
func (s *Server) referralChain(c *gin.Context, r workflow.Referral) ([]workflow.Referral, error) {
	if r.ParentID == 0 {
		return nil, nil
	}
	pg, err := asCaller(s, c, func(a workflow.Actor) (workflow.Page[workflow.Referral], error) {
		return s.opts.Workflow.Referrals(c.Request.Context(), a, workflow.ReferralFilter{EntryID: r.EntryID, Limit: maxChain})
	})
	if err != nil {
		return nil, err
	}
	byID := map[int64]workflow.Referral{}
	for _, x := range pg.Items {
		byID[x.ID] = x
	}
	var out []workflow.Referral
	for next := r.ParentID; next != 0 && len(out) < maxChain; {
		x, ok := byID[next]
		if !ok {
			break
		}
		out = append(out, x)
		next = x.ParentID
	}
	return out, nil
}

// eventLabel is a timeline action in the page's language.
func eventLabel(p *uiPage, action string) string {
	if action == "create" {
		return p.T("ref.event.create")
	}
	return p.T("action." + action)
}

// maxPeople bounds the people offered to refer a referral on to; a search
// (?people=) narrows them.
const maxPeople = 200

// referralPickers fills the choices of the refer form: the departments of
// the ministry, the people of the ministry (those matching ?people=), and
// the standard instructions.
func (s *Server) referralPickers(c *gin.Context, p *uiPage, d *referralData, deps []workflow.Department) error {
	for _, dep := range deps {
		d.Departments = append(d.Departments, option{dep.Code, departmentName(p, dep)})
	}
	for _, k := range standardInstructions {
		d.Instructions = append(d.Instructions, option{k, p.T("ref.instruction." + k)})
	}
	viewer, ok := s.uiCurrentUser(c)
	if !ok || viewer.Ministry == "" {
		return nil
	}
	d.PeopleQuery = c.Query("people")
	us, _, err := s.opts.Directory.UsersAs(c.Request.Context(), viewer, directory.ListOptions{Query: d.PeopleQuery, Limit: maxPeople})
	if err != nil {
		return err
	}
	d.PeopleMore = len(us) == maxPeople
	for _, u := range us {
		works := u.HasRole("staff") || u.HasRole("head") || u.HasRole("clerk")
		if u.Ministry != viewer.Ministry || u.ID == viewer.ID || u.Disabled || !works {
			continue
		}
		label := u.Login
		if u.Name != "" && u.Name != u.Login {
			label = u.Name + " <" + u.Login + ">"
		}
		d.People = append(d.People, option{u.Login, label})
	}
	return nil
}
