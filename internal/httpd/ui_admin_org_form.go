package httpd

// The forms of the organisation's administration pages (ministries,
// registries, departments, domains): a form as it was sent, its fields
// written with their label, hint and error, and a refused change said
// next to its field. The services decide who may do what; a refusal of
// theirs shows the page as not found, as for any page the user may not see.

import (
	"errors"
	"html"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/input"
	"diwan.gov.sy/diwan/internal/mailauth"
	"diwan.gov.sy/diwan/internal/workflow"
)

// orgForm is a form's values by field name, as sent (or as the object
// edited holds them): what the form shows again when it is refused.
type orgForm map[string]string

// orgFormOf reads the named fields of the posted form, trimmed.
func orgFormOf(c *gin.Context, fields ...string) orgForm {
	f := orgForm{}
	for _, k := range fields {
		f[k] = strings.TrimSpace(c.PostForm(k))
	}
	return f
}

// ptr is the address of the form's value of field k, for the services'
// updates (nil fields stay).
func (f orgForm) ptr(k string) *string {
	v := f[k]
	return &v
}

// orgField is one field of a form as orgField.HTML writes it.
type orgField struct {
	Name, Label, Value, Hint, Error string
	Kind                            string // "" (text), "email", "select" or "checkbox"
	Options                         []orgOption
	Required                        bool
	LTR                             bool // codes, addresses, templates: written left to right
}

// orgOption is a choice of a select field.
type orgOption struct{ Value, Label string }

// orgFieldOf is the field name of form f, labelled admin.SEC.field.NAME, with
// the error the page holds for it.
func (p *uiPage) orgFieldOf(sec, name string, f orgForm) orgField {
	return orgField{Name: name, Label: p.T("admin." + sec + ".field." + name), Value: f[name], Error: p.FieldError(name)}
}

// HTML writes the field: its label, the control, the hint and the error,
// the control described by both; every text escaped.
func (f orgField) HTML() template.HTML {
	e := html.EscapeString
	id := e(f.Name)
	var b strings.Builder
	b.WriteString(`<div class="field">`)
	if f.Kind != "checkbox" {
		b.WriteString(`<label for="` + id + `">` + e(f.Label) + `</label>`)
	}
	attrs := ` id="` + id + `" name="` + id + `"`
	if f.Required {
		attrs += " required"
	}
	if f.LTR {
		attrs += ` dir="ltr"`
	}
	var described []string
	if f.Hint != "" {
		described = append(described, id+"-hint")
	}
	if f.Error != "" {
		described = append(described, id+"-error")
		attrs += ` aria-invalid="true"`
	}
	if len(described) > 0 {
		attrs += ` aria-describedby="` + strings.Join(described, " ") + `"`
	}
	switch f.Kind {
	case "select":
		b.WriteString("<select" + attrs + ">")
		for _, o := range f.Options {
			b.WriteString(`<option value="` + e(o.Value) + `"`)
			if o.Value == f.Value {
				b.WriteString(" selected")
			}
			b.WriteString(">" + e(o.Label) + "</option>")
		}
		b.WriteString("</select>")
	case "checkbox":
		b.WriteString(`<label class="check"><input type="checkbox" value="on"` + attrs)
		if f.Value == "on" {
			b.WriteString(" checked")
		}
		b.WriteString("> " + e(f.Label) + "</label>")
	default:
		kind := "text"
		if f.Kind == "email" {
			kind = "email"
		}
		b.WriteString(`<input type="` + kind + `"` + attrs + ` value="` + e(f.Value) + `">`)
	}
	if f.Hint != "" {
		b.WriteString(`<p class="hint" id="` + id + `-hint">` + e(f.Hint) + `</p>`)
	}
	if f.Error != "" {
		b.WriteString(`<p class="field-error" id="` + id + `-error">` + e(f.Error) + `</p>`)
	}
	b.WriteString("</div>")
	return template.HTML(b.String()) // #nosec G203 -- every text escaped above
}

// orgFail answers a change the service refused. Bad input, and a code
// or name in use (said next to existsField), is set next to its field
// when the form has it (fields), else above the form: the answer is true
// with 422, the form to be shown again as sent. What the caller may not
// see or do is not found (404: nothing revealed). The rest is uiFail's.
func (s *Server) orgFail(c *gin.Context, p *uiPage, sec, doing string, err error, existsField string, fields ...string) (int, bool) {
	var ie *input.Error
	field, msg := "", ""
	switch {
	case errors.As(err, &ie):
		field, msg = ie.Field, p.T("error.input")
		if id := "admin." + sec + ".error." + ie.Field; p.T(id) != id {
			msg = p.T(id)
		}
		if p.Lang == "en" && ie.Message != "" {
			msg += " (" + ie.Message + ")"
		}
	case errors.Is(err, directory.ErrExists), errors.Is(err, workflow.ErrExists):
		field, msg = existsField, p.T("admin."+sec+".error.exists")
	case errors.Is(err, directory.ErrForbidden), errors.Is(err, workflow.ErrForbidden), errors.Is(err, mailauth.ErrForbidden),
		errors.Is(err, directory.ErrNotFound), errors.Is(err, workflow.ErrNotFound), errors.Is(err, directory.ErrNotHosted):
		s.uiNotFound(c)
		return 0, false
	default:
		return s.uiFail(c, p, doing, err)
	}
	if slices.Contains(fields, field) {
		if p.Errors == nil {
			p.Errors = map[string]string{}
		}
		p.Errors[field] = msg
	} else {
		p.Error = msg
	}
	return http.StatusUnprocessableEntity, true
}

// orgDone shows the flash admin.SEC.done.KEY of /admin/SEC?done=KEY.
func orgDone(c *gin.Context, p *uiPage, sec string) {
	switch k := c.Query("done"); k {
	case "added", "updated":
		p.Flash = p.T("admin." + sec + ".done." + k)
	}
}

// orgMinistryOptions are the ministries as choices, by code, named in the
// page's language.
func (p *uiPage) orgMinistryOptions(ms []directory.Ministry) []orgOption {
	out := make([]orgOption, len(ms))
	for i, m := range ms {
		out[i] = orgOption{Value: m.Code, Label: m.Code + " · " + p.orgName(m.NameAR, m.NameEN)}
	}
	return out
}

// name is the Arabic or the English name, as the page's language.
func (p *uiPage) orgName(ar, en string) string {
	if p.Lang == "ar" || en == "" {
		return ar
	}
	return en
}
