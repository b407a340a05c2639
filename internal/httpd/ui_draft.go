package httpd

// The drafting pages (DESIGN.md §3a): a new letter (/correspondence/new,
// also as a reply: ?reply_to=ENTRY_ID), the edit of a draft, and the
// recipient picker's search. The form works without a script: the picker
// is a search field sent with the form (the page comes back with what was
// typed and the registries found as checkboxes), and the files go with
// the form (ui_draft_upload.go). The script of web/static/diwan.js adds
// search as one types, drag and drop, and a progress bar per file.

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/workflow"
)

// draftForm is what the drafting form holds: as the user typed it, or as
// the draft stands.
type draftForm struct {
	ID      int64 // the correspondence; 0 for a new letter
	EntryID int64 // the sender's entry; 0 for a new letter
	Version int64 // the sender's entry's version (edit)

	Kind, Subject, Body             string
	Classification, Priority        string
	DueDate, SenderRegistry         string
	To, CC                          []string // registry codes
	Parties                         []draftParty
	References                      []draftRef
	ReferenceNumber, RecipientQuery string
}

// draftParty is an outside party among the recipients (drafts made
// through the API may have them); the form keeps them.
type draftParty struct{ Role, Name string }

// Value is the party's form value: ROLE:NAME.
func (p draftParty) Value() string { return p.Role + ":" + p.Name }

// draftRef is a reference to earlier correspondence.
type draftRef struct {
	ID       int64
	Relation string // reply_to or related
	Label    string // its number and subject, when the user may see them
}

// Value is the reference's form value: RELATION:ID.
func (r draftRef) Value() string { return r.Relation + ":" + strconv.FormatInt(r.ID, 10) }

// draftRecipient is a registry of the picker: chosen (To or CC) or found.
type draftRecipient struct {
	Code, NameAR, NameEN, Ministry string
	To, CC                         bool
}

// dueDefault is the due date a priority gives when none is typed.
type dueDefault struct{ Priority, Date string }

// draftView is the drafting page's data.
type draftView struct {
	Form        draftForm
	Action      string // where the form is sent
	Senders     []workflow.Registry
	Kinds       []string
	Classes     []string // the classifications the user is cleared for
	Priorities  []string
	DueDefaults []dueDefault
	Chosen      []draftRecipient
	Found       []draftRecipient
	Searched    bool
	Attachments []workflow.Attachment
	PerFile     int64
	PerLetter   int64
}

var (
	draftKinds      = []string{string(workflow.KindLetter), string(workflow.KindMemo), string(workflow.KindCircular)}
	draftPriorities = []string{string(workflow.PriorityNormal), string(workflow.PriorityUrgent), string(workflow.PriorityImmediate)}
	draftClasses    = []string{string(workflow.Normal), string(workflow.Confidential), string(workflow.Secret)}
)

// readDraftForm reads the form's fields from v.
func readDraftForm(v url.Values) draftForm {
	f := draftForm{
		Kind: v.Get("kind"), Subject: v.Get("subject"), Body: v.Get("body"),
		Classification: v.Get("classification"), Priority: v.Get("priority"),
		DueDate: strings.TrimSpace(v.Get("due_date")), SenderRegistry: v.Get("sender_registry"),
		ReferenceNumber: strings.TrimSpace(v.Get("reference_number")), RecipientQuery: v.Get("recipient_q"),
	}
	f.Version, _ = strconv.ParseInt(v.Get("version"), 10, 64)
	f.To = codeList(v["recipients"], nil)
	f.CC = codeList(v["recipients_cc"], f.To) // named both ways: to
	for _, p := range v["recipients_party"] {
		role, name, ok := strings.Cut(p, ":")
		if ok && (role == "to" || role == "cc") && strings.TrimSpace(name) != "" {
			f.Parties = append(f.Parties, draftParty{Role: role, Name: name})
		}
	}
	for _, r := range v["references"] {
		rel, id, _ := strings.Cut(r, ":")
		n, err := strconv.ParseInt(id, 10, 64)
		if err == nil && n > 0 && (rel == string(workflow.RelationReplyTo) || rel == string(workflow.RelationRelated)) {
			f.addRef(draftRef{ID: n, Relation: rel})
		}
	}
	return f
}

// codeList is the registry codes of vs, upper case, each once and none of
// except.
func codeList(vs, except []string) []string {
	var out []string
	for _, v := range vs {
		c := strings.ToUpper(strings.TrimSpace(v))
		if c != "" && !slices.Contains(out, c) && !slices.Contains(except, c) {
			out = append(out, c)
		}
	}
	return out
}

// addRef adds a reference unless the correspondence is referenced already.
func (f *draftForm) addRef(r draftRef) {
	if !slices.ContainsFunc(f.References, func(x draftRef) bool { return x.ID == r.ID }) {
		f.References = append(f.References, r)
	}
}

func (f *draftForm) recipients() []workflow.RecipientInput {
	out := make([]workflow.RecipientInput, 0, len(f.To)+len(f.CC)+len(f.Parties))
	for _, c := range f.To {
		out = append(out, workflow.RecipientInput{Registry: c, Role: workflow.RoleTo})
	}
	for _, c := range f.CC {
		out = append(out, workflow.RecipientInput{Registry: c, Role: workflow.RoleCC})
	}
	for _, p := range f.Parties {
		out = append(out, workflow.RecipientInput{Party: p.Name, Role: workflow.RecipientRole(p.Role)})
	}
	return out
}

func (f *draftForm) references() []workflow.Reference {
	out := make([]workflow.Reference, len(f.References))
	for i, r := range f.References {
		out[i] = workflow.Reference{ID: r.ID, Relation: workflow.Relation(r.Relation)}
	}
	return out
}

func (f *draftForm) newCorrespondence() workflow.NewCorrespondence {
	return workflow.NewCorrespondence{Kind: workflow.Kind(f.Kind), Subject: f.Subject, Body: f.Body,
		Classification: workflow.Classification(f.Classification), Priority: workflow.Priority(f.Priority),
		SenderRegistry: f.SenderRegistry, Recipients: f.recipients(), DueDate: f.DueDate, References: f.references()}
}

func (f *draftForm) update() workflow.DraftUpdate {
	k, cl, pr := workflow.Kind(f.Kind), workflow.Classification(f.Classification), workflow.Priority(f.Priority)
	rs, refs := f.recipients(), f.references()
	return workflow.DraftUpdate{Kind: &k, Subject: &f.Subject, Body: &f.Body, Classification: &cl, Priority: &pr,
		DueDate: &f.DueDate, Recipients: &rs, References: &refs}
}

// draftFormOf is the form of a draft as it stands; e is its sender's entry.
func draftFormOf(v workflow.View, e workflow.Entry) draftForm {
	d := v.Correspondence
	f := draftForm{ID: d.ID, EntryID: e.ID, Version: e.Version, Kind: string(d.Kind), Subject: d.Subject, Body: d.Body,
		Classification: string(d.Classification), Priority: string(d.Priority), DueDate: d.DueDate,
		SenderRegistry: d.SenderRegistry}
	for _, r := range d.Recipients {
		switch {
		case r.Party != "":
			f.Parties = append(f.Parties, draftParty{Role: string(r.Role), Name: r.Party})
		case r.Role == workflow.RoleCC:
			f.CC = append(f.CC, r.Registry)
		default:
			f.To = append(f.To, r.Registry)
		}
	}
	for _, r := range d.References {
		f.addRef(draftRef{ID: r.ID, Relation: string(r.Relation)})
	}
	return f
}

// senderEntry is the draft's entry at its sending registry.
func senderEntry(v workflow.View) (workflow.Entry, bool) {
	for _, e := range v.Entries {
		if e.Direction == workflow.Outgoing && e.Registry == v.Correspondence.SenderRegistry {
			return e, true
		}
	}
	return workflow.Entry{}, false
}

// getNewDraft shows an empty form, or a reply's (?reply_to=ENTRY_ID: the
// letter referenced, its sender as recipient, its subject and
// classification).
func (s *Server) getNewDraft(c *gin.Context) {
	p := s.newPage(c)
	f := draftForm{Kind: string(workflow.KindLetter), Classification: string(workflow.Normal), Priority: string(workflow.PriorityNormal)}
	if rt := c.Query("reply_to"); rt != "" {
		id, err := strconv.ParseInt(rt, 10, 64)
		if err != nil || id <= 0 {
			s.uiNotFound(c)
			return
		}
		if err := s.replyTo(c, p, &f, id); err != nil {
			s.draftFailPage(c, p, "read the letter answered", err)
			return
		}
	}
	s.showDraft(c, p, http.StatusOK, f, nil)
}

// replyTo fills a reply's form from the entry it answers.
func (s *Server) replyTo(c *gin.Context, p *uiPage, f *draftForm, entryID int64) error {
	ctx := c.Request.Context()
	e, err := asCaller(s, c, func(a workflow.Actor) (workflow.Entry, error) { return s.opts.Workflow.Entry(ctx, a, entryID) })
	if err != nil {
		return err
	}
	f.addRef(draftRef{ID: e.CorrespondenceID, Relation: string(workflow.RelationReplyTo)})
	f.Subject = p.T("draft.reply_subject", "Subject", e.Subject)
	f.Classification = string(e.Classification)
	if e.Direction != workflow.Incoming {
		return nil
	}
	f.SenderRegistry = e.Registry
	v, err := asCaller(s, c, func(a workflow.Actor) (workflow.View, error) { return s.opts.Workflow.Get(ctx, a, e.CorrespondenceID) })
	if err != nil {
		return err
	}
	if from := v.Correspondence.SenderRegistry; from != "" {
		f.To = []string{from}
	}
	return nil
}

// draftFailPage answers an engine error met before there is a form to
// show: not found, or a page with the error (uiFail).
func (s *Server) draftFailPage(c *gin.Context, p *uiPage, doing string, err error) {
	status, ok := s.uiFail(c, p, doing, err)
	if !ok {
		return
	}
	p.Data = struct{ Title, Message string }{"draft.failed_title", "draft.failed"}
	s.render(c, status, "error", p)
}

// getEditDraft shows a draft's form; a letter that is no longer a draft
// goes to its entry's page.
func (s *Server) getEditDraft(c *gin.Context) {
	p := s.newPage(c)
	v, e, ok := s.loadDraft(c, p)
	if !ok {
		return
	}
	if e.State != workflow.StateDraft {
		redirect(c, "/entries/"+strconv.FormatInt(e.ID, 10))
		return
	}
	s.showDraft(c, p, http.StatusOK, draftFormOf(v, e), v.Correspondence.Attachments)
}

// loadDraft reads the correspondence of the path's id and its sender's
// entry; false when it answered the request (not found).
func (s *Server) loadDraft(c *gin.Context, p *uiPage) (workflow.View, workflow.Entry, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		s.uiNotFound(c)
		return workflow.View{}, workflow.Entry{}, false
	}
	return s.loadDraftID(c, p, id)
}

// loadDraftID is loadDraft of the correspondence id.
func (s *Server) loadDraftID(c *gin.Context, p *uiPage, id int64) (workflow.View, workflow.Entry, bool) {
	v, err := asCaller(s, c, func(a workflow.Actor) (workflow.View, error) { return s.opts.Workflow.Get(c.Request.Context(), a, id) })
	if err != nil {
		s.draftFailPage(c, p, "read the draft", err)
		return v, workflow.Entry{}, false
	}
	e, ok := senderEntry(v)
	if !ok {
		s.uiNotFound(c) // an incoming letter: nothing to draft
	}
	return v, e, ok
}

// showDraft renders the drafting form with f and what the page offers
// around it.
func (s *Server) showDraft(c *gin.Context, p *uiPage, status int, f draftForm, atts []workflow.Attachment) {
	d := draftView{Form: f, Action: "/correspondence", Kinds: draftKinds, Priorities: draftPriorities, Attachments: atts}
	if f.ID != 0 {
		d.Action = "/correspondence/" + strconv.FormatInt(f.ID, 10)
	}
	d.PerFile, d.PerLetter = s.opts.Workflow.Limits()
	now := time.Now()
	for _, pr := range draftPriorities {
		d.DueDefaults = append(d.DueDefaults, dueDefault{pr, s.opts.Workflow.DefaultDueDate(workflow.Priority(pr), now)})
	}
	var err error
	if d.Senders, d.Classes, err = s.draftSenders(c); err != nil {
		s.uiInternal(c, "list the sending registries", err)
		return
	}
	if f.ID == 0 && len(d.Senders) == 0 && p.Error == "" {
		p.Error = p.T("draft.no_registry")
	}
	if d.Chosen, d.Found, err = s.draftRecipients(c, f); err != nil {
		s.uiInternal(c, "find registries", err)
		return
	}
	d.Searched = strings.TrimSpace(f.RecipientQuery) != ""
	s.labelRefs(c, d.Form.References)
	p.Data = d
	s.render(c, status, "draft", p)
}

// draftSenders are the registries the user may send from (those they
// clerk for; every registry of their ministry for a head or staff member)
// and the classifications their clearance allows.
func (s *Server) draftSenders(c *gin.Context) ([]workflow.Registry, []string, error) {
	pr := principalOf(c)
	if pr.Ministry == "" {
		return nil, draftClasses[:1], nil
	}
	ctx := c.Request.Context()
	m, err := asCaller(s, c, func(a workflow.Actor) (workflow.Membership, error) {
		return s.opts.Workflow.Membership(ctx, a, pr.Login)
	})
	if err != nil {
		return nil, nil, err
	}
	classes := draftClasses[:1+max(0, slices.Index(draftClasses, string(m.Clearance)))]
	regs, err := s.opts.Workflow.Registries(ctx, pr.Ministry)
	if err != nil {
		return nil, nil, err
	}
	all := slices.Contains(pr.Roles, "head") || slices.Contains(pr.Roles, "staff")
	regs = slices.DeleteFunc(regs, func(r workflow.Registry) bool { return !all && !slices.Contains(m.Registries, r.Code) })
	return regs, classes, nil
}

// draftRecipients are the registries chosen (with their names) and those
// the picker's search found besides (but the sending one: a letter is not
// sent to itself).
func (s *Server) draftRecipients(c *gin.Context, f draftForm) (chosen, found []draftRecipient, err error) {
	ctx := c.Request.Context()
	named, err := s.opts.Workflow.RegistriesByCode(ctx, append(slices.Clone(f.To), f.CC...))
	if err != nil {
		return nil, nil, err
	}
	for _, code := range f.To {
		chosen = append(chosen, pickerRow(named[code], code, true, false))
	}
	for _, code := range f.CC {
		chosen = append(chosen, pickerRow(named[code], code, false, true))
	}
	if strings.TrimSpace(f.RecipientQuery) == "" {
		return chosen, nil, nil
	}
	regs, err := s.opts.Workflow.SearchRegistries(ctx, f.RecipientQuery, 0)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range regs {
		if !slices.Contains(f.To, r.Code) && !slices.Contains(f.CC, r.Code) && r.Code != f.SenderRegistry {
			found = append(found, pickerRow(r, r.Code, false, false))
		}
	}
	return chosen, found, nil
}

func pickerRow(r workflow.Registry, code string, to, cc bool) draftRecipient {
	return draftRecipient{Code: code, NameAR: r.NameAR, NameEN: r.NameEN, Ministry: r.Ministry, To: to, CC: cc}
}

// maxRefLabels bounds the references labelled with their number and
// subject (one read each); more are shown by their id.
const maxRefLabels = 10

// labelRefs labels references with the number and subject the user sees.
func (s *Server) labelRefs(c *gin.Context, refs []draftRef) {
	for i := range refs[:min(len(refs), maxRefLabels)] {
		v, err := asCaller(s, c, func(a workflow.Actor) (workflow.View, error) {
			return s.opts.Workflow.Get(c.Request.Context(), a, refs[i].ID)
		})
		if err != nil || len(v.Entries) == 0 {
			continue
		}
		refs[i].Label = v.Correspondence.Subject
		if n := v.Entries[0].Number; n != "" {
			refs[i].Label = n + " — " + refs[i].Label
		}
	}
}

// findReference adds the letter whose register number the user typed as
// a related reference; false (with the error next to the field) when the
// user sees none with that number.
func (s *Server) findReference(c *gin.Context, p *uiPage, f *draftForm) (bool, error) {
	num := f.ReferenceNumber
	if num == "" {
		return true, nil
	}
	page, err := asCaller(s, c, func(a workflow.Actor) (workflow.Page[workflow.Entry], error) {
		return s.opts.Workflow.Entries(c.Request.Context(), a, workflow.ListFilter{Query: num, Limit: 50})
	})
	if err != nil {
		return false, err
	}
	for _, e := range page.Items {
		if strings.EqualFold(e.Number, num) {
			f.addRef(draftRef{ID: e.CorrespondenceID, Relation: string(workflow.RelationRelated)})
			f.ReferenceNumber = ""
			return true, nil
		}
	}
	p.SetFieldError("reference_number", "draft.reference_not_found", "Number", num)
	return false, nil
}

// registrySearchItem is one registry the picker's script shows.
type registrySearchItem struct {
	Code     string `json:"code"`
	NameAR   string `json:"name_ar"`
	NameEN   string `json:"name_en"`
	Ministry string `json:"ministry"`
}

// searchRegistries answers the picker's script: GET /registries/search?q=
// → {"items": [{code, name_ar, name_en, ministry}]}.
func (s *Server) searchRegistries(c *gin.Context) {
	q := c.Query("q")
	if len(q) > 200 {
		q = q[:200]
	}
	regs, err := s.opts.Workflow.SearchRegistries(c.Request.Context(), q, 20)
	if err != nil {
		s.coreError(c, "search registries", err)
		return
	}
	items := make([]registrySearchItem, len(regs))
	for i, r := range regs {
		items[i] = registrySearchItem{Code: r.Code, NameAR: r.NameAR, NameEN: r.NameEN, Ministry: r.Ministry}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"items": items})
}

// Size writes a byte count for people (formatSize).
func (d draftView) Size(n int64) string { return formatSize(n) }
