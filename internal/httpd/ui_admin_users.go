package httpd

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/input"
	"diwan.gov.sy/diwan/internal/workflow"
)

// The users of the administration (/admin/users): the list with a search
// and pages, a new user with a generated password shown once, and each
// user's page with its changes (disable, enable, reset the password,
// unlock, roles, quota, membership). The directory's *As methods and the
// workflow engine decide who may change whom (a ministry administrator:
// the users of their ministry); what they refuse as not there is a 404,
// as is what they forbid (a forged form).

// adminUsersPerPage is how many users a page of the list shows.
const adminUsersPerPage = 50

// maxQuotaMB bounds the quota typed on the page (a mebibyte each): 1 PiB.
const maxQuotaMB = 1 << 30

// adminUserDone are the flash messages /admin/users/ADDRESS?done=KEY may
// show.
var adminUserDone = map[string]bool{"disable": true, "enable": true, "unlock": true, "roles": true,
	"quota": true, "membership": true}

// adminUsersData is what admin_users.html shows.
type adminUsersData struct {
	Query              string
	Users              []directory.User
	Total              int64
	PrevHref, NextHref string
	Roles              []string // the roles the caller may give
	Address, Name      string   // the new user form, refilled
	Chosen             []string // its roles, refilled
	Created            string   // the login of the user just created
	Password           string   // their generated password, shown this once
}

// Checked reports whether the new user form had role r chosen.
func (d *adminUsersData) Checked(r string) bool { return slices.Contains(d.Chosen, r) }

// givableRoles are the roles the caller may give: all but admin for a
// ministry administrator (the directory refuses it anyway).
func givableRoles(caller directory.Principal) []string {
	out := directory.Roles()
	if !caller.HasRole(directory.RoleAdmin) {
		out = slices.DeleteFunc(out, func(r string) bool { return r == directory.RoleAdmin })
	}
	return out
}

// adminUsersList fills the list of the page: the users the caller
// administers, ?q= and ?page=.
func (s *Server) adminUsersList(c *gin.Context, p *uiPage, d *adminUsersData) bool {
	caller := principalOf(c).Principal
	d.Query = strings.TrimSpace(c.Query("q"))
	d.Roles = givableRoles(caller)
	page, err := strconv.Atoi(c.DefaultQuery("page", "1"))
	if err != nil || page < 1 {
		page = 1
	}
	us, n, err := s.opts.Directory.ManagedUsersAs(c.Request.Context(), caller,
		directory.ListOptions{Query: d.Query, Limit: adminUsersPerPage, Offset: (page - 1) * adminUsersPerPage})
	if err != nil {
		s.adminFail(c, "list users", err)
		return false
	}
	d.Users, d.Total = us, n
	href := func(page int) string {
		q := url.Values{"page": {strconv.Itoa(page)}}
		if d.Query != "" {
			q.Set("q", d.Query)
		}
		return "/admin/users?" + q.Encode()
	}
	if page > 1 {
		d.PrevHref = href(page - 1)
	}
	if int64(page*adminUsersPerPage) < n {
		d.NextHref = href(page + 1)
	}
	p.Data = d
	return true
}

func (s *Server) adminUsers(c *gin.Context) {
	p := s.newAdminPage(c, "users")
	if s.adminUsersList(c, p, &adminUsersData{}) {
		s.render(c, http.StatusOK, "admin_users", p)
	}
}

// adminAddUser creates a user with a generated password, shown on the
// answer once (never in a URL), to be changed at first login.
func (s *Server) adminAddUser(c *gin.Context) {
	p := s.newAdminPage(c, "users")
	d := &adminUsersData{Address: strings.TrimSpace(c.PostForm("address")), Name: strings.TrimSpace(c.PostForm("name")),
		Chosen: c.PostFormArray("role")}
	if !s.adminUsersList(c, p, d) {
		return
	}
	if d.Address == "" {
		p.SetFieldError("address", "admin.users.error.address_required")
	}
	if d.Name == "" {
		p.SetFieldError("name", "admin.users.error.name_required")
	}
	if len(d.Chosen) == 0 {
		p.SetFieldError("role", "admin.users.error.role_required")
	}
	if len(p.Errors) > 0 {
		s.render(c, http.StatusUnprocessableEntity, "admin_users", p)
		return
	}
	pw := directory.GeneratePassword()
	u, err := s.opts.Directory.AddUserAs(c.Request.Context(), principalOf(c).Principal, directory.NewUser{
		Address: d.Address, Name: d.Name, Roles: d.Chosen, Password: pw, MustChangePassword: true})
	if err != nil {
		s.adminInputError(c, p, "admin_users", "add user", err, map[string]string{
			"address": "admin.users.error.address", "name": "admin.users.error.name", "role": "admin.users.error.role",
			"password": "admin.users.error.password", "": "admin.users.error.exists"})
		return
	}
	// The list again, with the new user in it; the form empty.
	*d = adminUsersData{Created: u.Login, Password: pw}
	if s.adminUsersList(c, p, d) {
		p.Flash = p.T("admin.users.done.add", "Login", u.Login)
		s.render(c, http.StatusOK, "admin_users", p)
	}
}

// adminFail answers a service's refusal on a page of the administration:
// not there or not the caller's to see is 404; anything else is logged.
func (s *Server) adminFail(c *gin.Context, doing string, err error) {
	if errors.Is(err, directory.ErrNotFound) || errors.Is(err, directory.ErrForbidden) ||
		errors.Is(err, workflow.ErrNotFound) || errors.Is(err, workflow.ErrForbidden) {
		s.uiNotFound(c)
		return
	}
	s.uiInternal(c, doing, err)
}

// adminInputError renders page name again (422) with the message of
// messages for the field a service's *InputError names (the key "" for a
// name in use, ErrExists, said next to the address), or fails as
// adminFail does.
func (s *Server) adminInputError(c *gin.Context, p *uiPage, name, doing string, err error, messages map[string]string) {
	var ie *input.Error
	switch {
	case errors.As(err, &ie) && messages[ie.Field] != "":
		p.SetFieldError(ie.Field, messages[ie.Field])
	case (errors.Is(err, directory.ErrExists) || errors.Is(err, workflow.ErrExists)) && messages[""] != "":
		p.SetFieldError("address", messages[""])
	case errors.As(err, &ie):
		p.Error = p.T("admin.users.error.input")
	default:
		s.adminFail(c, doing, err)
		return
	}
	s.render(c, http.StatusUnprocessableEntity, name, p)
}
