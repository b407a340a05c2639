package httpd

// /admin/departments (DESIGN.md §3a): the tree of a ministry's departments
// as nested lists, the form that adds one (code, names, parent, head) and
// the form that changes one (names, parent, head). The engine refuses a
// move that would put a department below itself (a field error of
// "parent") and decides who may change what.

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/workflow"
)

// departmentFields are the add form's fields; the edit form has the last
// four.
var departmentFields = []string{"code", "name_ar", "name_en", "parent", "head"}

// deptNode is a department in the tree, with the texts its line shows.
type deptNode struct {
	Code, Name string
	Head       string // the head's login, "" without one
	HeadLabel  string
	EditHref   string
	EditLabel  string
	Children   []deptNode
}

// departmentsData is what admin_departments.html shows.
type departmentsData struct {
	Ministries []directory.Ministry
	Ministry   directory.Ministry // the ministry shown
	Tree       []deptNode
	Edit       *workflow.Department
	Form       orgForm
	Fields     []orgField
	all        []workflow.Department
}

// departmentsPage shows the tree of a ministry's departments
// (?ministry=CODE; the caller's own, else the first); ?edit=CODE shows the
// form that changes that one.
func (s *Server) departmentsPage(c *gin.Context) {
	p := s.newAdminPage(c, "departments")
	d, ok := s.departmentsData(c, p, c.Query("ministry"))
	if !ok {
		return
	}
	orgDone(c, p, "departments")
	d.Form = orgForm{}
	if code := c.Query("edit"); code != "" {
		if !d.edit(code) {
			s.uiNotFound(c)
			return
		}
		e := d.Edit
		d.Form = orgForm{"name_ar": e.NameAR, "name_en": e.NameEN, "parent": e.Parent, "head": e.Head}
	}
	s.showDepartments(c, p, http.StatusOK, d)
}

// departmentsData reads the ministries and the departments of the one
// shown; a ministry that does not exist is not found.
func (s *Server) departmentsData(c *gin.Context, p *uiPage, ministry string) (*departmentsData, bool) {
	ms, err := s.opts.Directory.Ministries(c.Request.Context())
	if err != nil {
		s.uiInternal(c, "list ministries", err)
		return nil, false
	}
	d := &departmentsData{Ministries: ms}
	if ministry == "" {
		ministry = principalOf(c).Ministry
	}
	i := slices.IndexFunc(ms, func(m directory.Ministry) bool { return m.Code == ministry })
	switch {
	case i >= 0:
		d.Ministry = ms[i]
	case ministry != "" && c.Query("ministry") != "":
		s.uiNotFound(c)
		return nil, false
	case len(ms) > 0:
		d.Ministry = ms[0]
	default:
		return d, true
	}
	d.all, err = asCaller(s, c, func(a workflow.Actor) ([]workflow.Department, error) {
		return s.opts.Workflow.Departments(c.Request.Context(), a, d.Ministry.Code)
	})
	if err != nil {
		if _, ok := s.orgFail(c, p, "departments", "list departments", err, ""); ok {
			s.uiInternal(c, "list departments", err)
		}
		return nil, false
	}
	d.Tree = p.deptTree(d.all, d.Ministry.Code)
	return d, true
}

// deptTree nests the departments under their parents, each level in the
// engine's order (by code); one whose parent is not listed is at the top.
func (p *uiPage) deptTree(all []workflow.Department, ministry string) []deptNode {
	listed := map[string]bool{}
	kids := map[string][]workflow.Department{}
	for _, d := range all {
		listed[d.Code] = true
	}
	for _, d := range all {
		parent := d.Parent
		if !listed[parent] {
			parent = ""
		}
		kids[parent] = append(kids[parent], d)
	}
	seen := map[string]bool{}
	var build func(parent string) []deptNode
	build = func(parent string) []deptNode {
		var out []deptNode
		for _, d := range kids[parent] {
			if seen[d.Code] {
				continue // a loop the engine never stores: shown once
			}
			seen[d.Code] = true
			n := deptNode{Code: d.Code, Name: p.orgName(d.NameAR, d.NameEN),
				EditHref:  "/admin/departments?" + url.Values{"ministry": {ministry}, "edit": {d.Code}}.Encode(),
				EditLabel: p.T("admin.departments.edit_one", "Code", d.Code)}
			if d.Head != "" {
				n.Head, n.HeadLabel = d.Head, p.T("admin.departments.head_is")
			}
			n.Children = build(d.Code)
			out = append(out, n)
		}
		return out
	}
	return build("")
}

// edit picks the department of that code to change.
func (d *departmentsData) edit(code string) bool {
	i := slices.IndexFunc(d.all, func(x workflow.Department) bool { return x.Code == code })
	if i >= 0 {
		d.Edit = &d.all[i]
	}
	return i >= 0
}

func (s *Server) showDepartments(c *gin.Context, p *uiPage, status int, d *departmentsData) {
	names := departmentFields
	if d.Edit != nil {
		names = departmentFields[1:]
	}
	for _, n := range names {
		f := p.orgFieldOf("departments", n, d.Form)
		f.Required, f.LTR = n != "parent" && n != "head", n != "name_ar"
		switch n {
		case "parent":
			f.Kind, f.Options = "select", []orgOption{{Value: "", Label: p.T("admin.departments.top")}}
			for _, x := range d.all {
				if d.Edit == nil || x.Code != d.Edit.Code {
					f.Options = append(f.Options, orgOption{Value: x.Code, Label: x.Code + " · " + p.orgName(x.NameAR, x.NameEN)})
				}
			}
		case "head":
			f.Kind, f.Hint = "email", p.T("admin.departments.hint.head")
		}
		d.Fields = append(d.Fields, f)
	}
	p.Data = d
	s.render(c, status, "admin_departments", p)
}

// adminAddDepartment adds a department to the ministry of the form
// (workflow.AddDepartment as the caller).
func (s *Server) adminAddDepartment(c *gin.Context) {
	f := orgFormOf(c, append([]string{"ministry"}, departmentFields...)...)
	_, err := asCaller(s, c, func(a workflow.Actor) (workflow.Department, error) {
		return s.opts.Workflow.AddDepartment(c.Request.Context(), a, workflow.Department{Code: f["code"],
			Ministry: f["ministry"], NameAR: f["name_ar"], NameEN: f["name_en"], Parent: f["parent"], Head: f["head"]})
	})
	if err == nil {
		redirect(c, "/admin/departments?"+url.Values{"ministry": {f["ministry"]}, "done": {"added"}}.Encode())
		return
	}
	s.refuseDepartment(c, err, f, f["ministry"], "")
}

// adminUpdateDepartment changes a department's names, parent and head
// (workflow.UpdateDepartment as the caller); an empty parent puts it at
// the top, an empty head removes the head.
func (s *Server) adminUpdateDepartment(c *gin.Context) {
	f := orgFormOf(c, departmentFields[1:]...)
	ministry, code := c.Param("ministry"), c.Param("code")
	_, err := asCaller(s, c, func(a workflow.Actor) (workflow.Department, error) {
		return s.opts.Workflow.UpdateDepartment(c.Request.Context(), a, ministry, code, workflow.DepartmentUpdate{
			NameAR: f.ptr("name_ar"), NameEN: f.ptr("name_en"), Parent: f.ptr("parent"), Head: f.ptr("head")})
	})
	if err == nil {
		redirect(c, "/admin/departments?"+url.Values{"ministry": {ministry}, "done": {"updated"}}.Encode())
		return
	}
	s.refuseDepartment(c, err, f, ministry, code)
}

// refuseDepartment shows the form refused, as sent, with the error.
func (s *Server) refuseDepartment(c *gin.Context, err error, f orgForm, ministry, edit string) {
	p := s.newAdminPage(c, "departments")
	status, ok := s.orgFail(c, p, "departments", "change a department", err, "code", departmentFields...)
	if !ok {
		return
	}
	d, ok := s.departmentsData(c, p, ministry)
	if !ok {
		return
	}
	if edit != "" && !d.edit(edit) {
		s.uiNotFound(c)
		return
	}
	d.Form = f
	s.showDepartments(c, p, status, d)
}
