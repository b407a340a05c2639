package httpd

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/workflow"
)

// The action forms of the entry page: one per action the engine allows
// the user now, each with the fields its action takes (uiEntryFields) and
// an optional comment for the timeline.

// actionForm is one action's form.
type actionForm struct {
	Action  string
	Label   string // of the button
	Confirm string // asked before sending (data-confirm); "" none
	Fields  []formField
	// ReplyHref, for answer: the link that opens a reply draft.
	ReplyHref string
}

// formField is one field of a form; texts are translated.
type formField struct {
	Name, ID, Label, Type, Value, Error, Hint string
	LTR                                       bool // codes, logins and dates: left to right
	Required                                  bool
	Options                                   []formOption // for Type "select"
	// Describe is its aria-describedby: the ids of its error and hint.
	Describe string
}

// formOption is one choice of a select.
type formOption struct {
	Value, Label string
	Selected     bool
}

// entryForms are the forms of the actions d.Entry allows now; form's
// action shows what the user sent, with p's errors. An error of a field
// its form does not show goes above the page.
func (s *Server) entryForms(c *gin.Context, p *uiPage, d *entryPageData, form entryForm) ([]actionForm, error) {
	var out []actionForm
	for _, a := range d.Entry.Actions {
		names, known := uiEntryFields[a]
		if !known {
			continue
		}
		f := actionForm{Action: string(a), Label: p.T("action." + string(a))}
		if uiConfirmed[a] {
			f.Confirm = p.T("entry.confirm." + string(a))
		}
		if !slices.Contains(names, "reason") {
			names = append(slices.Clone(names), "comment")
		}
		mine := form.Action == a
		for _, name := range names {
			ff, err := s.entryField(c, p, d, a, name)
			if err != nil {
				return nil, err
			}
			ff.Name, ff.ID = name, string(a)+"-"+name
			if mine {
				ff.Value, ff.Error = form.Values[name], p.FieldError(name)
			}
			for i := range ff.Options {
				ff.Options[i].Selected = ff.Options[i].Value == ff.Value
			}
			ff.Describe = describedBy(ff)
			f.Fields = append(f.Fields, ff)
		}
		if a == workflow.ActionAnswer {
			f.ReplyHref = fmt.Sprintf("/correspondence/new?reply_to=%d", d.Entry.ID)
		}
		out = append(out, f)
	}
	if form.Action != "" && p.Error == "" {
		for field, msg := range p.Errors {
			if !slices.Contains(append([]string{"comment"}, uiEntryFields[form.Action]...), field) && !isEngineAlias(field) {
				p.Error = msg
			}
		}
	}
	return out, nil
}

// describedBy is the aria-describedby of a field: its error, its hint.
func describedBy(ff formField) string {
	var ids []string
	if ff.Error != "" {
		ids = append(ids, ff.ID+"-error")
	}
	if ff.Hint != "" {
		ids = append(ids, ff.ID+"-hint")
	}
	return strings.Join(ids, " ")
}

func isEngineAlias(field string) bool { _, ok := uiEngineField[field]; return ok }

// entryField is the field name of action a's form, without its value.
func (s *Server) entryField(c *gin.Context, p *uiPage, d *entryPageData, a workflow.Action, name string) (formField, error) {
	switch name {
	case "reason":
		return formField{Label: p.T("entry.field.reason"), Type: "textarea", Required: true}, nil
	case "comment":
		return formField{Label: p.T("entry.field.comment"), Type: "text"}, nil
	case "user":
		return formField{Label: p.T("entry.field.user"), Type: "text", LTR: true, Hint: p.T("entry.hint.user")}, nil
	case "due_date":
		return formField{Label: p.T("entry.field.due_date"), Type: "date", LTR: true, Hint: p.T("entry.hint.due_date")}, nil
	case "instruction":
		ff := formField{Label: p.T("entry.field.instruction"), Type: "select"}
		for _, i := range uiInstructions {
			ff.Options = append(ff.Options, formOption{Value: i, Label: p.T("instruction." + i)})
		}
		return ff, nil
	case "registry":
		if a == workflow.ActionForward {
			return formField{Label: p.T("entry.field.registry"), Type: "text", LTR: true, Required: true, Hint: p.T("entry.hint.registry")}, nil
		}
		ff := formField{Label: p.T("entry.field.recall_from"), Type: "select",
			Options: []formOption{{Value: "", Label: p.T("entry.recall.all")}}}
		for _, r := range d.Doc.Recipients {
			if r.Registry != "" && r.State == workflow.StateDelivered {
				ff.Options = append(ff.Options, formOption{Value: r.Registry, Label: r.Registry})
			}
		}
		return ff, nil
	case "department":
		return s.departmentField(c, p, d.ministry)
	case "reply":
		return s.replyField(c, p, d.Entry.ID)
	}
	return formField{}, fmt.Errorf("no form field %q", name)
}

// departmentField is the choice of a department of the ministry.
func (s *Server) departmentField(c *gin.Context, p *uiPage, ministry string) (formField, error) {
	deps, err := s.orgNames.departmentsOf(ministry, func() ([]workflow.Department, error) {
		deps, err := asCaller(s, c, func(a workflow.Actor) ([]workflow.Department, error) {
			return s.opts.Workflow.Departments(c.Request.Context(), a, ministry)
		})
		names := make([]workflow.Department, len(deps))
		for i, d := range deps {
			names[i] = workflow.Department{Code: d.Code, Ministry: d.Ministry, NameAR: d.NameAR, NameEN: d.NameEN}
		}
		return names, err // codes and names only: the same for every user
	})
	if err != nil {
		return formField{}, err
	}
	ff := formField{Label: p.T("entry.field.department"), Type: "select", Hint: p.T("entry.hint.department"),
		Options: []formOption{{Value: "", Label: p.T("entry.none")}}}
	for _, d := range deps {
		name := d.NameAR
		if p.Lang != "ar" {
			name = d.NameEN
		}
		ff.Options = append(ff.Options, formOption{Value: d.Code, Label: name + " (" + d.Code + ")"})
	}
	return ff, nil
}

// replyField is the choice among the letters that may answer the entry.
func (s *Server) replyField(c *gin.Context, p *uiPage, entryID int64) (formField, error) {
	replies, err := asCaller(s, c, func(a workflow.Actor) ([]workflow.Entry, error) {
		return s.opts.Workflow.Replies(c.Request.Context(), a, entryID)
	})
	if err != nil {
		return formField{}, err
	}
	ff := formField{Label: p.T("entry.field.reply"), Type: "select", Hint: p.T("entry.hint.reply"),
		Options: []formOption{{Value: "", Label: p.T("entry.reply.none")}}}
	for _, r := range replies {
		number := r.Number
		if number == "" {
			number = p.T("state." + string(r.State))
		}
		ff.Options = append(ff.Options, formOption{Value: fmt.Sprint(r.CorrespondenceID), Label: number + " — " + r.Subject})
	}
	return ff, nil
}
