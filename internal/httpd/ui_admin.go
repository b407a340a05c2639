package httpd

// Administration in the browser (DESIGN.md §3a, /admin/…): the frame the
// admin pages share — who may open the section at all, and the
// sub-navigation of its pages. What a caller may read or change on a page
// is decided by the service the page calls (directory, workflow, policy,
// audit), never here: this only keeps from the menu what would answer
// "forbidden" anyway. Each page is in its own ui_admin_*.go.

import (
	"html"
	"html/template"
	"strings"

	"github.com/gin-gonic/gin"
)

// adminSection is one page of the administration.
type adminSection struct {
	Name string // the path under /admin/ and the message ID admin.nav.<Name>
	// Ministry: a ministry administrator (role ministry_admin) manages
	// this for their own ministry; the others are the instance's
	// administrators' alone.
	Ministry bool
}

// adminSections are the administration pages in the order of their
// sub-navigation.
var adminSections = []adminSection{
	{Name: "status"},
	{Name: "ministries"},
	{Name: "registries", Ministry: true},
	{Name: "departments", Ministry: true},
	{Name: "users", Ministry: true},
	{Name: "domains"},
	{Name: "aliases", Ministry: true},
	{Name: "policy"},
	{Name: "violations"},
	{Name: "audit"},
	{Name: "queue"},
}

// The roles that open the administration.
const (
	roleAdmin         = "admin"
	roleMinistryAdmin = "ministry_admin"
)

// administers reports whether u may open any page of the administration.
func (u *uiUser) administers() bool { return u.Has(roleAdmin) || u.Has(roleMinistryAdmin) }

// mayOpen reports whether u sees section sec in the sub-navigation.
func (u *uiUser) mayOpen(sec adminSection) bool {
	return u.Has(roleAdmin) || (sec.Ministry && u.Has(roleMinistryAdmin))
}

// adminRoutes registers the administration pages. /admin/ opens the first
// page the user may see.
func (s *Server) adminRoutes(u *gin.RouterGroup) {
	a := u.Group("/admin", s.uiAdmin)
	a.GET("/", s.adminHome)
	// The pages (ui_admin_*.go), in the order of adminSections.
	a.GET("/status", s.statusPage)
	a.GET("/ministries", s.ministriesPage)
	a.POST("/ministries", s.adminAddMinistry)
	a.POST("/ministries/:code", s.adminRenameMinistry)
	a.GET("/registries", s.registriesPage)
	a.POST("/registries", s.adminAddRegistry)
	a.POST("/registries/:code", s.adminUpdateRegistry)
	a.GET("/departments", s.departmentsPage)
	a.POST("/departments", s.adminAddDepartment)
	a.POST("/departments/:ministry/:code", s.adminUpdateDepartment)
	a.GET("/users", s.adminUsers)
	a.POST("/users", s.adminAddUser)
	a.GET("/users/:address", s.adminUser)
	a.POST("/users/:address/:action", s.adminUserAction)
	a.GET("/domains", s.domainsPage)
	a.POST("/domains", s.adminAddDomain)
	a.GET("/domains/:domain", s.domainPage)
	a.GET("/aliases", s.adminAliases)
	a.POST("/aliases", s.adminAddAlias)
	a.POST("/aliases/remove", s.adminRemoveAlias)
	a.GET("/policy", s.getPolicy)
	a.POST("/policy/rules", s.postPolicyRule)
	a.POST("/policy/rules/remove", s.postPolicyRemove)
	a.GET("/violations", s.getViolations)
	a.GET("/violations.csv", s.violationsCSV)
	a.GET("/audit", s.auditPage)
	a.POST("/audit/verify", s.verifyAuditForm)
	a.GET("/queue", s.queuePage)
	a.POST("/queue/:id/retry", s.actOnQueueForm("retry", Queue.RetryAs))
	a.POST("/queue/:id/drop", s.actOnQueueForm("drop", Queue.DropAs))
}

// uiAdmin lets through only users who administer something; for the
// others the administration does not exist (404, as for any page they may
// not see).
func (s *Server) uiAdmin(c *gin.Context) {
	p := principalOf(c)
	u := uiUser{Roles: p.Roles}
	if p.MustChangePassword || !u.administers() {
		s.uiNotFound(c)
		c.Abort()
		return
	}
	c.Next()
}

// adminHome sends the user to the first page of the administration they
// may open.
func (s *Server) adminHome(c *gin.Context) {
	u := uiUser{Roles: principalOf(c).Roles}
	for _, sec := range adminSections {
		if u.mayOpen(sec) {
			redirect(c, "/admin/"+sec.Name)
			return
		}
	}
	s.uiNotFound(c)
}

// newAdminPage starts a page of the administration: the page of this
// request with section sec marked current in the sub-navigation.
func (s *Server) newAdminPage(c *gin.Context, sec string) *uiPage {
	p := s.newPage(c)
	p.AdminSection = sec
	return p
}

// AdminNavHTML writes the sub-navigation of the administration: the pages
// the user may open, the current one marked, each text escaped.
func (p *uiPage) AdminNavHTML() template.HTML {
	if p.User == nil {
		return ""
	}
	var b strings.Builder
	for _, sec := range adminSections {
		if !p.User.mayOpen(sec) {
			continue
		}
		b.WriteString("\n    <li><a href=\"/admin/" + html.EscapeString(sec.Name) + "\"")
		if sec.Name == p.AdminSection {
			b.WriteString(` aria-current="page"`)
		}
		b.WriteString(">" + html.EscapeString(p.T("admin.nav."+sec.Name)) + "</a></li>")
	}
	return template.HTML(b.String()) // #nosec G203 -- every text escaped above
}
