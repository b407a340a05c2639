package httpd

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/workflow"
)

// One user's page of the administration (/admin/users/ADDRESS) and its
// forms, each a POST to /admin/users/ADDRESS/ACTION.

// adminUserData is what admin_user.html shows.
type adminUserData struct {
	User        directory.User
	Locked      bool
	Membership  workflow.Membership
	Registries  []workflow.Registry   // of the user's ministry
	Departments []workflow.Department // of the user's ministry
	Clearances  []workflow.Clearance
	Roles       []string // the roles the caller may give
	Chosen      []string // the roles form, refilled
	QuotaMB     string   // the quota form, refilled
	// Protected: the user administers the instance, and the caller does
	// not: they see them, and change nothing.
	Protected bool
	Password  string // a password just generated, shown this once
}

// Checked reports whether the roles form has role r chosen.
func (d *adminUserData) Checked(r string) bool { return slices.Contains(d.Chosen, r) }

// ClearanceIs reports whether the user's clearance is c.
func (d *adminUserData) ClearanceIs(c workflow.Clearance) bool { return d.Membership.Clearance == c }

// adminUserPage reads what the page of the user login shows, as the
// caller; false when the answer is written (404 when the caller does not
// administer them).
func (s *Server) adminUserPage(c *gin.Context, p *uiPage, login string) (*adminUserData, bool) {
	ctx, caller := c.Request.Context(), principalOf(c).Principal
	u, err := s.opts.Directory.ManagedUserAs(ctx, caller, login)
	if err != nil {
		s.adminFail(c, "read user", err)
		return nil, false
	}
	d := &adminUserData{User: u, Locked: u.Locked(time.Now()), Roles: givableRoles(caller), Chosen: u.Roles,
		Clearances: []workflow.Clearance{workflow.Normal, workflow.Confidential, workflow.Secret},
		QuotaMB:    strconv.FormatInt(u.QuotaBytes>>20, 10),
		Protected:  u.HasRole(directory.RoleAdmin) && !caller.HasRole(directory.RoleAdmin)}
	if u.Ministry != "" {
		if err := s.adminUserOrg(c, d); err != nil {
			s.adminFail(c, "read the user's membership", err)
			return nil, false
		}
	}
	p.Data = d
	return d, true
}

// adminUserOrg reads the user's membership and their ministry's
// registries and departments.
func (s *Server) adminUserOrg(c *gin.Context, d *adminUserData) error {
	ctx := c.Request.Context()
	m, err := asCaller(s, c, func(a workflow.Actor) (workflow.Membership, error) {
		return s.opts.Workflow.Membership(ctx, a, d.User.Login)
	})
	if err != nil {
		return err
	}
	d.Membership = m
	if d.Registries, err = s.opts.Workflow.Registries(ctx, d.User.Ministry); err != nil {
		return err
	}
	d.Departments, err = asCaller(s, c, func(a workflow.Actor) ([]workflow.Department, error) {
		return s.opts.Workflow.Departments(ctx, a, d.User.Ministry)
	})
	return err
}

func (s *Server) adminUser(c *gin.Context) {
	p := s.newAdminPage(c, "users")
	if _, ok := s.adminUserPage(c, p, c.Param("address")); !ok {
		return
	}
	if k := c.Query("done"); adminUserDone[k] {
		p.Flash = p.T("admin.users.done." + k)
	}
	s.render(c, http.StatusOK, "admin_user", p)
}

// adminUserMessages are the messages next to the fields a change of a
// user may be refused for.
var adminUserMessages = map[string]string{
	"role": "admin.users.error.role", "login": "admin.users.error.last_admin", "quota": "admin.users.error.quota",
	"registry": "admin.users.error.registry", "department": "admin.users.error.department",
	"clearance": "admin.users.error.clearance", "user": "admin.users.error.no_ministry",
}

// adminUserAction makes one change to a user (the ACTION of the path) as
// the caller: on success back to the user's page with a flash (a reset
// password is shown on the answer instead, once); bad input next to its
// field, nothing changed.
func (s *Server) adminUserAction(c *gin.Context) {
	login, action := c.Param("address"), c.Param("action")
	do, ok := s.adminUserChanges(c, login)[action]
	if !ok {
		s.uiNotFound(c)
		return
	}
	p := s.newAdminPage(c, "users")
	if action == "quota" {
		if _, err := parseQuotaMB(c.PostForm("quota_mb")); err != nil {
			if d, ok := s.adminUserPage(c, p, login); ok {
				d.QuotaMB = c.PostForm("quota_mb")
				p.SetFieldError("quota", "admin.users.error.quota")
				s.render(c, http.StatusUnprocessableEntity, "admin_user", p)
			}
			return
		}
	}
	if action == "roles" && len(c.PostFormArray("role")) == 0 {
		if d, ok := s.adminUserPage(c, p, login); ok {
			d.Chosen = nil
			p.SetFieldError("role", "admin.users.error.role_required")
			s.render(c, http.StatusUnprocessableEntity, "admin_user", p)
		}
		return
	}
	pw, err := do(c.Request.Context())
	if err != nil {
		if d, ok := s.adminUserPage(c, p, login); ok {
			if action == "roles" {
				d.Chosen = c.PostFormArray("role")
			}
			s.adminInputError(c, p, "admin_user", action+" user", err, adminUserMessages)
		}
		return
	}
	if pw != "" {
		if d, ok := s.adminUserPage(c, p, login); ok {
			d.Password = pw
			p.Flash = p.T("admin.users.done.password")
			s.render(c, http.StatusOK, "admin_user", p)
		}
		return
	}
	redirect(c, "/admin/users/"+url.PathEscape(login)+"?done="+action)
}

// adminUserChanges are the changes of a user's page, by ACTION; each
// answers a generated password (the reset) or "".
func (s *Server) adminUserChanges(c *gin.Context, login string) map[string]func(ctx context.Context) (string, error) {
	d, caller := s.opts.Directory, principalOf(c).Principal
	none := func(err error) (string, error) { return "", err }
	return map[string]func(ctx context.Context) (string, error){
		"disable": func(ctx context.Context) (string, error) { return none(d.DisableAs(ctx, caller, login)) },
		"enable":  func(ctx context.Context) (string, error) { return none(d.EnableAs(ctx, caller, login)) },
		"unlock":  func(ctx context.Context) (string, error) { return none(d.UnlockAs(ctx, caller, login)) },
		"password": func(ctx context.Context) (string, error) {
			pw := directory.GeneratePassword()
			if err := d.SetPasswordAs(ctx, caller, login, pw, true); err != nil {
				return "", err
			}
			return pw, nil
		},
		"roles": func(ctx context.Context) (string, error) {
			_, err := d.SetRolesAs(ctx, caller, login, c.PostFormArray("role"))
			return "", err
		},
		"quota": func(ctx context.Context) (string, error) {
			mb, _ := parseQuotaMB(c.PostForm("quota_mb"))
			return none(d.SetQuotaAs(ctx, caller, login, mb<<20))
		},
		"membership": func(ctx context.Context) (string, error) {
			_, err := asCaller(s, c, func(a workflow.Actor) (workflow.Membership, error) {
				return s.opts.Workflow.SetMembership(ctx, a, login, membershipForm(c))
			})
			return "", err
		},
	}
}

// membershipForm is the change the membership forms ask for: the
// department only when the form has the field ("" for none).
func membershipForm(c *gin.Context) workflow.MembershipChange {
	m := workflow.MembershipChange{AddRegistry: c.PostForm("add_registry"), RemoveRegistry: c.PostForm("remove_registry"),
		Clearance: workflow.Clearance(c.PostForm("clearance"))}
	if dep, ok := c.GetPostForm("department"); ok {
		m.Department = &dep
	}
	return m
}

// parseQuotaMB reads a quota in mebibytes: a whole number from 0
// (unlimited) to maxQuotaMB.
func parseQuotaMB(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > maxQuotaMB {
		return 0, strconv.ErrRange
	}
	return n, nil
}
