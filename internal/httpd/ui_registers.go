package httpd

// The registers page (GET /registers): a registry's book for its clerks,
// filtered and sorted, a page at a time. Pages follow each other by the
// engine's opaque cursor (?after=), never by offset; nothing counts the
// whole book.

import (
	"errors"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/input"
	"diwan.gov.sy/diwan/internal/workflow"
)

// registersPageSize is the number of lines of a register page.
const registersPageSize = 50

// registersForm is the filter form as the user sent it (the query).
type registersForm struct {
	Registry, Direction, State, Priority, Classification string
	From, To, Q, Sort, After                             string
}

// registersView is what registers.html shows.
type registersView struct {
	Form       registersForm
	Registry   string // the name of the registry listed, in the page's language
	Registries regSelect
	Selects    []regSelect
	Dates      []regDate
	Fields     template.HTML // the drop-downs and dates of the form (registerFields)
	Rows       template.HTML // the table's rows (registerRows); "" for none
	ResetHref  string        // the registry listed without filters
	Overdue    string        // the word that marks an overdue line
	FirstHref  string        // the first page with the same filters
	NextHref   string        // "" on the last page
}

// regSelect is one drop-down of the filter form.
type regSelect struct {
	Name, Label string
	Options     []regOption
}

// OptionsHTML writes the drop-down's options, each text escaped, as
// registerRows writes the rows (some forty options on the page: a
// tenth of its CPU through the template).
func (sel regSelect) OptionsHTML() template.HTML {
	var b strings.Builder
	for _, o := range sel.Options {
		b.WriteString("\n      <option value=\"" + html.EscapeString(o.Value) + "\"")
		if o.Selected {
			b.WriteString(" selected")
		}
		b.WriteString(">" + html.EscapeString(o.Label) + "</option>")
	}
	return template.HTML(b.String()) // #nosec G203 -- every text escaped above
}

// regDate is a date field of the filter form.
type regDate struct{ Name, Label, Value string }

type regOption struct {
	Value, Label string
	Selected     bool
}

// regLine is one line of the register, its texts made in Go: a register
// page has fifty of them, and each action of a template costs.
type regLine struct {
	ID                                   int64
	Number, Date, Subject, Party         string
	Classification, Priority, State, Due string
	Overdue                              bool
}

func registersFormOf(c *gin.Context) registersForm {
	q := func(k string) string { return strings.TrimSpace(c.Query(k)) }
	return registersForm{Registry: q("registry"), Direction: q("direction"), State: q("state"), Priority: q("priority"),
		Classification: q("classification"), From: q("from"), To: q("to"), Q: q("q"), Sort: q("sort"), After: q("after")}
}

func (f registersForm) filter() workflow.RegisterFilter {
	return workflow.RegisterFilter{Registry: f.Registry, Direction: workflow.Direction(f.Direction), State: workflow.State(f.State),
		Priority: workflow.Priority(f.Priority), Classification: workflow.Classification(f.Classification),
		From: f.From, To: f.To, Query: f.Q, Sort: workflow.RegisterSort(f.Sort), After: f.After, Limit: registersPageSize}
}

// href is the address of the register with the form's filters, the
// registry listed and, when not "", the cursor after.
func (f registersForm) href(registry, after string) string {
	v := url.Values{}
	for k, x := range map[string]string{"registry": registry, "direction": f.Direction, "state": f.State,
		"priority": f.Priority, "classification": f.Classification, "from": f.From, "to": f.To, "q": f.Q,
		"sort": f.Sort, "after": after} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if len(v) == 0 {
		return "/registers"
	}
	return "/registers?" + v.Encode()
}

// getRegisters shows a page of a register. A registry the user does not
// clerk for, or none, is not found; a bad filter or cursor is shown next
// to its field (the cursor above the table) with a 400 and no lines.
func (s *Server) getRegisters(c *gin.Context) {
	p := s.newPage(c)
	form := registersFormOf(c)
	ctx := c.Request.Context()
	page, err := asCaller(s, c, func(a workflow.Actor) (workflow.RegisterPage, error) {
		return s.opts.Workflow.Register(ctx, a, form.filter())
	})
	status := http.StatusOK
	if err != nil {
		var ie *input.Error
		if !errors.As(err, &ie) {
			s.uiFail(c, p, "list the register", err)
			return
		}
		if status, _ = s.uiFail(c, p, "list the register", err); ie.Field == "after" {
			p.Error = p.Errors["after"]
		}
		// The registries for the form, without the filters that failed.
		page, err = asCaller(s, c, func(a workflow.Actor) (workflow.RegisterPage, error) {
			return s.opts.Workflow.Register(ctx, a, workflow.RegisterFilter{Registry: form.Registry, Limit: 1})
		})
		if err != nil {
			s.uiFail(c, p, "list the register", err)
			return
		}
		page.Items, page.Next = nil, ""
	}
	p.Data = s.registersView(p, form, page)
	s.render(c, status, "registers", p)
}

func (s *Server) registersView(p *uiPage, form registersForm, page workflow.RegisterPage) registersView {
	v := registersView{Form: form, FirstHref: form.href(page.Registry, ""),
		ResetHref: registersForm{}.href(page.Registry, ""),
		Dates:     []regDate{{"from", "reg.from", form.From}, {"to", "reg.to", form.To}}, Overdue: p.T("reg.overdue")}
	if page.Next != "" {
		v.NextHref = form.href(page.Registry, page.Next)
	}
	for _, r := range page.Registries {
		name := r.NameAR
		if p.Lang != "ar" {
			name = r.NameEN
		}
		if r.Code == page.Registry {
			v.Registry = name
		}
		v.Registries.Options = append(v.Registries.Options, regOption{Value: r.Code, Label: name + " (" + r.Code + ")", Selected: r.Code == page.Registry})
	}
	v.Selects = []regSelect{
		regChoices(p, "direction", "reg.direction", "dir.", form.Direction, "incoming", "outgoing"),
		regChoices(p, "state", "reg.state", "state.", form.State, "draft", "in_approval", "approved", "registered",
			"dispatched", "received", "referred", "in_progress", "answered", "returned", "closed", "recalled", "cancelled"),
		regChoices(p, "priority", "reg.priority", "prio.", form.Priority, "normal", "urgent", "immediate"),
		regChoices(p, "classification", "reg.classification", "class.", form.Classification, "normal", "confidential", "secret"),
	}
	sort := regChoices(p, "sort", "reg.sort", "reg.sort.", form.Sort, "newest", "oldest", "due")
	sort.Options = sort.Options[1:] // no "all": the default is newest
	if form.Sort == "" {
		sort.Options[0].Selected = true
	}
	v.Selects = append(v.Selects, sort)
	v.Fields = registerFields(p, v.Selects, v.Dates)
	lines := make([]regLine, 0, len(page.Items))
	for _, e := range page.Items {
		lines = append(lines, regLineOf(p, e))
	}
	v.Rows = registerRows(lines, v.Overdue)
	return v
}

// registerRows writes the rows of the register's table: for each line,
// its number, date, subject (the link to the entry), party,
// classification, priority, state and due date, and the class and the
// word of an overdue line. They are written here rather than by the
// page's template: html/template took some 12 µs a row for its eleven
// actions, 0.6 ms of the 1.6 ms of CPU of a page of fifty lines
// (BenchmarkRegistersPagePostgres/first, 16 clients). Every text goes
// through html.EscapeString, as the template would escape it in element
// text; the only attribute value is an entry's id, a number.
func registerRows(lines []regLine, overdue string) template.HTML {
	var b strings.Builder
	b.Grow(len(lines) * 400)
	cell := func(class, text string) {
		b.WriteString("\n  <td>")
		if class != "" {
			b.WriteString(`<span class="` + class + `">`)
		}
		b.WriteString(html.EscapeString(text))
		if class != "" {
			b.WriteString("</span>")
		}
		b.WriteString("</td>")
	}
	for _, l := range lines {
		b.WriteString("\n<tr")
		if l.Overdue {
			b.WriteString(` class="overdue"`)
		}
		b.WriteString(">")
		cell("num regnum", l.Number)
		cell("num", l.Date)
		b.WriteString("\n  <td><a href=\"/entries/" + strconv.FormatInt(l.ID, 10) + "\">" + html.EscapeString(l.Subject) + "</a></td>")
		cell("", l.Party)
		cell("", l.Classification)
		cell("", l.Priority)
		cell("", l.State)
		b.WriteString("\n  <td><span class=\"num\">" + html.EscapeString(l.Due) + "</span>")
		if l.Overdue {
			b.WriteString(` <span class="badge overdue">` + html.EscapeString(overdue) + "</span>")
		}
		b.WriteString("</td>\n</tr>")
	}
	return template.HTML(b.String()) // #nosec G203 -- every text escaped above
}

// registerFields writes the filter form's drop-downs and date fields,
// each with its label and the error next to it, as registerRows writes
// the rows: their two loops took some sixty template actions, 40% of the
// template's time on a register page (BenchmarkRegistersPagePostgres).
// Every text is escaped.
func registerFields(p *uiPage, sels []regSelect, dates []regDate) template.HTML {
	var b strings.Builder
	field := func(name, label string) {
		b.WriteString("\n  <div class=\"field\">\n    <label for=\"" + html.EscapeString(name) + "\">" +
			html.EscapeString(p.T(label)) + "</label>")
	}
	invalid := func(name string) string {
		if p.FieldError(name) == "" {
			return ""
		}
		return ` aria-invalid="true" aria-describedby="` + html.EscapeString(name) + `-error"`
	}
	fieldError := func(name string) {
		if msg := p.FieldError(name); msg != "" {
			b.WriteString(`<p class="field-error" id="` + html.EscapeString(name) + `-error">` + html.EscapeString(msg) + "</p>")
		}
		b.WriteString("\n  </div>")
	}
	for _, sel := range sels {
		n := html.EscapeString(sel.Name)
		field(sel.Name, sel.Label)
		b.WriteString("\n    <select id=\"" + n + "\" name=\"" + n + "\"" + invalid(sel.Name) + ">")
		b.WriteString(string(sel.OptionsHTML()))
		b.WriteString("\n    </select>")
		fieldError(sel.Name)
	}
	for _, d := range dates {
		n := html.EscapeString(d.Name)
		field(d.Name, d.Label)
		b.WriteString("\n    <input id=\"" + n + "\" name=\"" + n + "\" type=\"date\" class=\"num\" value=\"" +
			html.EscapeString(d.Value) + "\"" + invalid(d.Name) + ">")
		fieldError(d.Name)
	}
	return template.HTML(b.String()) // #nosec G203 -- every text escaped above
}

// regChoices is a drop-down of values whose labels are prefix+value, with
// "all" first.
func regChoices(p *uiPage, name, label, prefix, chosen string, values ...string) regSelect {
	sel := regSelect{Name: name, Label: label, Options: []regOption{{Value: "", Label: p.T("reg.any"), Selected: chosen == ""}}}
	for _, x := range values {
		sel.Options = append(sel.Options, regOption{Value: x, Label: p.T(prefix + x), Selected: chosen == x})
	}
	return sel
}

func regLineOf(p *uiPage, e workflow.RegisterEntry) regLine {
	l := regLine{ID: e.ID, Number: e.Number, Date: e.Date, Subject: e.Subject,
		Classification: p.T("class." + string(e.Classification)), Priority: p.T("prio." + string(e.Priority)),
		State: p.T("state." + string(e.State)), Due: e.DueDate, Overdue: e.Overdue}
	if l.Number == "" {
		l.Number = "—"
	}
	if l.Subject == "" {
		l.Subject = p.T("reg.recalled")
	}
	var names []string
	for _, x := range e.Parties {
		switch {
		case x.Registry == "":
			names = append(names, x.Name)
		case p.Lang == "ar" && x.NameAR != "":
			names = append(names, x.NameAR)
		case x.NameEN != "":
			names = append(names, x.NameEN)
		default:
			names = append(names, x.Registry)
		}
	}
	if len(names) == 0 {
		l.Party = "—"
		return l
	}
	role := "reg.party.from"
	if e.Direction == workflow.Outgoing {
		role = "reg.party.to"
	}
	sep := ", "
	if p.Lang == "ar" {
		sep = "، "
	}
	l.Party = p.T(role) + ": " + strings.Join(names, sep)
	if e.MoreParties > 0 {
		l.Party += " " + p.T("reg.more", "Count", e.MoreParties)
	}
	return l
}
