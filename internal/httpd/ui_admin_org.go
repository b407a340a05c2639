package httpd

// The organisation's administration pages (DESIGN.md §3a): /admin/ministries
// (list, add, rename) and /admin/registries (list by ministry, add, edit,
// each with its numbering template and the number it would give). Each
// change is the service's, as the caller: the directory's *As methods,
// the workflow engine through asCaller. /admin/departments is in
// ui_admin_departments.go, /admin/domains in ui_admin_domains.go.

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/workflow"
)

// The forms' fields, as the services name them.
var (
	ministryFields = []string{"code", "name_ar", "name_en"}
	registryFields = []string{"code", "ministry", "name_ar", "name_en", "address", "template", "approval_required"}
)

// ministriesData is what admin_ministries.html shows: the ministries, and
// the form to add one, or to rename Edit.
type ministriesData struct {
	Items  []directory.Ministry
	Edit   *directory.Ministry
	Form   orgForm
	Fields []orgField
}

// ministriesPage lists the ministries; ?edit=CODE shows the form that
// renames that one instead of the form that adds one.
func (s *Server) ministriesPage(c *gin.Context) {
	p := s.newAdminPage(c, "ministries")
	d, ok := s.ministriesData(c)
	if !ok {
		return
	}
	orgDone(c, p, "ministries")
	if code := c.Query("edit"); code != "" {
		if !d.edit(code) {
			s.uiNotFound(c)
			return
		}
		d.Form = orgForm{"name_ar": d.Edit.NameAR, "name_en": d.Edit.NameEN}
	}
	s.showMinistries(c, p, http.StatusOK, d)
}

func (s *Server) ministriesData(c *gin.Context) (*ministriesData, bool) {
	ms, err := s.opts.Directory.Ministries(c.Request.Context())
	if err != nil {
		s.uiInternal(c, "list ministries", err)
		return nil, false
	}
	return &ministriesData{Items: ms, Form: orgForm{}}, true
}

// edit picks the ministry of that code to rename.
func (d *ministriesData) edit(code string) bool {
	i := slices.IndexFunc(d.Items, func(m directory.Ministry) bool { return m.Code == code })
	if i >= 0 {
		d.Edit = &d.Items[i]
	}
	return i >= 0
}

func (s *Server) showMinistries(c *gin.Context, p *uiPage, status int, d *ministriesData) {
	names := []string{"name_ar", "name_en"}
	if d.Edit == nil {
		names = ministryFields
	}
	for _, n := range names {
		f := p.orgFieldOf("ministries", n, d.Form)
		f.Required, f.LTR = true, n != "name_ar"
		if n == "code" {
			f.Hint = p.T("admin.ministries.hint.code")
		}
		d.Fields = append(d.Fields, f)
	}
	p.Data = d
	s.render(c, status, "admin_ministries", p)
}

// adminAddMinistry adds a ministry (directory.AddMinistryAs).
func (s *Server) adminAddMinistry(c *gin.Context) {
	f := orgFormOf(c, ministryFields...)
	_, err := s.opts.Directory.AddMinistryAs(c.Request.Context(), principalOf(c).Principal,
		directory.Ministry{Code: f["code"], NameAR: f["name_ar"], NameEN: f["name_en"]})
	if err == nil {
		redirect(c, "/admin/ministries?done=added")
		return
	}
	s.refuseMinistry(c, err, f, "")
}

// adminRenameMinistry changes a ministry's names (directory.UpdateMinistryAs).
func (s *Server) adminRenameMinistry(c *gin.Context) {
	f := orgFormOf(c, "name_ar", "name_en")
	_, err := s.opts.Directory.UpdateMinistryAs(c.Request.Context(), principalOf(c).Principal, c.Param("code"),
		directory.MinistryUpdate{NameAR: f.ptr("name_ar"), NameEN: f.ptr("name_en")})
	if err == nil {
		redirect(c, "/admin/ministries?done=updated")
		return
	}
	s.refuseMinistry(c, err, f, c.Param("code"))
}

// refuseMinistry shows the form refused, as sent, with the error.
func (s *Server) refuseMinistry(c *gin.Context, err error, f orgForm, edit string) {
	p := s.newAdminPage(c, "ministries")
	status, ok := s.orgFail(c, p, "ministries", "change a ministry", err, "code", ministryFields...)
	if !ok {
		return
	}
	d, ok := s.ministriesData(c)
	if !ok {
		return
	}
	if edit != "" && !d.edit(edit) {
		s.uiNotFound(c)
		return
	}
	d.Form = f
	s.showMinistries(c, p, status, d)
}

// registryLine is a registry as the list shows it: with the first numbers
// of this year its template gives.
type registryLine struct {
	workflow.Registry
	ExampleOut, ExampleIn string
}

// registriesData is what admin_registries.html shows.
type registriesData struct {
	Ministries []directory.Ministry
	Ministry   string // the ministry listed; "" all
	Items      []registryLine
	Edit       *workflow.Registry
	Form       orgForm
	Fields     []orgField
	// Example is the first outgoing number of the form's template (its
	// registry's code, or CODE), "" when the template does not parse.
	Example string
}

// registriesPage lists the registries (?ministry=CODE: of one ministry);
// ?edit=CODE shows the form that changes that one.
func (s *Server) registriesPage(c *gin.Context) {
	p := s.newAdminPage(c, "registries")
	d, ok := s.registriesData(c, c.Query("ministry"))
	if !ok {
		return
	}
	orgDone(c, p, "registries")
	d.Form = orgForm{"ministry": d.Ministry, "template": workflow.DefaultTemplate}
	if code := c.Query("edit"); code != "" {
		if !d.edit(code) {
			s.uiNotFound(c)
			return
		}
		r := d.Edit
		d.Form = orgForm{"name_ar": r.NameAR, "name_en": r.NameEN, "address": r.Address, "template": r.Template}
		if r.ApprovalRequired {
			d.Form["approval_required"] = "on"
		}
	}
	s.showRegistries(c, p, http.StatusOK, d)
}

func (s *Server) registriesData(c *gin.Context, ministry string) (*registriesData, bool) {
	ctx := c.Request.Context()
	ms, err := s.opts.Directory.Ministries(ctx)
	if err != nil {
		s.uiInternal(c, "list ministries", err)
		return nil, false
	}
	if ministry != "" && !slices.ContainsFunc(ms, func(m directory.Ministry) bool { return m.Code == ministry }) {
		ministry = ""
	}
	rs, err := s.opts.Workflow.Registries(ctx, ministry)
	if err != nil {
		s.uiInternal(c, "list registries", err)
		return nil, false
	}
	d := &registriesData{Ministries: ms, Ministry: ministry}
	year := s.thisYear()
	for _, r := range rs {
		out, _ := workflow.ExampleNumber(r.Template, r.Code, workflow.Outgoing, year)
		in, _ := workflow.ExampleNumber(r.Template, r.Code, workflow.Incoming, year)
		d.Items = append(d.Items, registryLine{Registry: r, ExampleOut: out, ExampleIn: in})
	}
	return d, true
}

// thisYear is the year in time_zone, where register years are counted.
func (s *Server) thisYear() int { return time.Now().In(s.ui.loc).Year() }

// edit picks the registry of that code to change.
func (d *registriesData) edit(code string) bool {
	i := slices.IndexFunc(d.Items, func(r registryLine) bool { return r.Code == code })
	if i >= 0 {
		d.Edit = &d.Items[i].Registry
	}
	return i >= 0
}

func (s *Server) showRegistries(c *gin.Context, p *uiPage, status int, d *registriesData) {
	names, code := registryFields, "CODE"
	if d.Edit != nil {
		names, code = registryFields[2:], d.Edit.Code
	} else if d.Form["code"] != "" {
		code = d.Form["code"]
	}
	for _, n := range names {
		f := p.orgFieldOf("registries", n, d.Form)
		f.Required, f.LTR = n != "approval_required", n != "name_ar"
		switch n {
		case "ministry":
			f.Kind, f.Options = "select", p.orgMinistryOptions(d.Ministries)
		case "address":
			f.Kind = "email"
		case "template":
			f.Hint = p.T("admin.registries.hint.template")
		case "approval_required":
			f.Kind = "checkbox"
		}
		d.Fields = append(d.Fields, f)
	}
	d.Example, _ = workflow.ExampleNumber(d.Form["template"], code, workflow.Outgoing, s.thisYear())
	p.Data = d
	s.render(c, status, "admin_registries", p)
}

// registryForm reads the registry form; approval_required is "on" when
// ticked.
func registryForm(c *gin.Context) orgForm {
	f := orgFormOf(c, registryFields...)
	if f["approval_required"] != "" {
		f["approval_required"] = "on"
	}
	return f
}

// adminAddRegistry adds a registry (workflow.AddRegistry as the caller).
func (s *Server) adminAddRegistry(c *gin.Context) {
	f := registryForm(c)
	_, err := asCaller(s, c, func(a workflow.Actor) (workflow.Registry, error) {
		return s.opts.Workflow.AddRegistry(c.Request.Context(), a, workflow.Registry{
			Code: f["code"], Ministry: f["ministry"], NameAR: f["name_ar"], NameEN: f["name_en"],
			Address: f["address"], Template: f["template"], ApprovalRequired: f["approval_required"] == "on"})
	})
	if err == nil {
		redirect(c, "/admin/registries?"+url.Values{"ministry": {f["ministry"]}, "done": {"added"}}.Encode())
		return
	}
	s.refuseRegistry(c, err, f, "")
}

// adminUpdateRegistry changes a registry (workflow.UpdateRegistry as the
// caller): names, address, template and approval.
func (s *Server) adminUpdateRegistry(c *gin.Context) {
	f := registryForm(c)
	approval := f["approval_required"] == "on"
	r, err := asCaller(s, c, func(a workflow.Actor) (workflow.Registry, error) {
		return s.opts.Workflow.UpdateRegistry(c.Request.Context(), a, c.Param("code"), workflow.RegistryUpdate{
			NameAR: f.ptr("name_ar"), NameEN: f.ptr("name_en"), Address: f.ptr("address"), Template: f.ptr("template"),
			ApprovalRequired: &approval})
	})
	if err == nil {
		redirect(c, "/admin/registries?"+url.Values{"ministry": {r.Ministry}, "done": {"updated"}}.Encode())
		return
	}
	s.refuseRegistry(c, err, f, c.Param("code"))
}

// refuseRegistry shows the form refused, as sent, with the error.
func (s *Server) refuseRegistry(c *gin.Context, err error, f orgForm, edit string) {
	p := s.newAdminPage(c, "registries")
	status, ok := s.orgFail(c, p, "registries", "change a registry", err, "code", registryFields...)
	if !ok {
		return
	}
	d, ok := s.registriesData(c, f["ministry"])
	if !ok {
		return
	}
	if edit != "" && !d.edit(edit) {
		s.uiNotFound(c)
		return
	}
	d.Form = f
	s.showRegistries(c, p, status, d)
}
