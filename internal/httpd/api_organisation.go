package httpd

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/input"
	"diwan.gov.sy/diwan/internal/workflow"
)

// Organisation (DESIGN.md §6a): ministries and users from the directory,
// registries, departments and memberships from the workflow engine. Every
// caller may read ministries, registries and departments, and the users
// the directory shows them; administrators change them, and a ministry
// administrator those of their own ministry. The services decide who may:
// the engine for its objects, the directory's *As methods for its own;
// the handlers bind, call and render.

// pageOf cuts one page out of a whole list.
func pageOf[T, U any](all []T, p page, conv func(T) U) list[U] {
	start := min(p.Offset(), len(all))
	end := min(start+p.PerPage, len(all))
	return newList(mapSlice(all[start:end], conv), int64(len(all)))
}

// Ministries.

type newMinistryRequest struct {
	Code   string `json:"code" required:"true"`
	NameAR string `json:"name_ar" required:"true"`
	NameEN string `json:"name_en" required:"true"`
}

func (s *Server) listMinistries(c *gin.Context) {
	p, ok := parsePage(c)
	if !ok {
		return
	}
	ms, err := s.opts.Directory.Ministries(c.Request.Context())
	if err != nil {
		s.coreError(c, "list ministries", err)
		return
	}
	c.JSON(http.StatusOK, pageOf(ms, p, toMinistryDTO))
}

func (s *Server) getMinistry(c *gin.Context) {
	m, err := s.opts.Directory.Ministry(c.Request.Context(), c.Param("code"))
	if err != nil {
		s.coreError(c, "read ministry", err)
		return
	}
	c.JSON(http.StatusOK, toMinistryDTO(m))
}

func (s *Server) addMinistry(c *gin.Context) {
	var req newMinistryRequest
	if !decodeJSON(c, &req) {
		return
	}
	who, ok := s.caller(c)
	if !ok {
		return
	}
	m, err := s.opts.Directory.AddMinistryAs(c.Request.Context(), who,
		directory.Ministry{Code: req.Code, NameAR: req.NameAR, NameEN: req.NameEN})
	if err != nil {
		s.coreError(c, "add ministry", err)
		return
	}
	c.JSON(http.StatusCreated, toMinistryDTO(m))
}

// Registries.

type newRegistryRequest struct {
	Code             string `json:"code"`
	Ministry         string `json:"ministry"`
	NameAR           string `json:"name_ar"`
	NameEN           string `json:"name_en"`
	Address          string `json:"address"`
	Template         string `json:"template"`
	ApprovalRequired bool   `json:"approval_required"`
}

type registryPatch struct {
	NameAR           *string `json:"name_ar"`
	NameEN           *string `json:"name_en"`
	Address          *string `json:"address"`
	Template         *string `json:"template"`
	ApprovalRequired *bool   `json:"approval_required"`
}

func (s *Server) listRegistries(c *gin.Context) {
	p, ok := parsePage(c)
	if !ok {
		return
	}
	rs, err := s.opts.Workflow.Registries(c.Request.Context(), c.Query("ministry"))
	if err != nil {
		s.coreError(c, "list registries", err)
		return
	}
	c.JSON(http.StatusOK, pageOf(rs, p, toRegistryDTO))
}

func (s *Server) getRegistry(c *gin.Context) {
	r, err := s.opts.Workflow.Registry(c.Request.Context(), c.Param("code"))
	if err != nil {
		s.coreError(c, "read registry", err)
		return
	}
	c.JSON(http.StatusOK, toRegistryDTO(r))
}

func (s *Server) addRegistry(c *gin.Context) {
	var req newRegistryRequest
	if !decodeJSON(c, &req) {
		return
	}
	r, err := asCaller(s, c, func(a workflow.Actor) (workflow.Registry, error) {
		return s.opts.Workflow.AddRegistry(c.Request.Context(), a, workflow.Registry{
			Code: req.Code, Ministry: req.Ministry, NameAR: req.NameAR, NameEN: req.NameEN,
			Address: req.Address, Template: req.Template, ApprovalRequired: req.ApprovalRequired,
		})
	})
	if err != nil {
		s.coreError(c, "add registry", err)
		return
	}
	c.JSON(http.StatusCreated, toRegistryDTO(r))
}

func (s *Server) updateRegistry(c *gin.Context) {
	var req registryPatch
	if !decodeJSON(c, &req) {
		return
	}
	r, err := asCaller(s, c, func(a workflow.Actor) (workflow.Registry, error) {
		return s.opts.Workflow.UpdateRegistry(c.Request.Context(), a, c.Param("code"), workflow.RegistryUpdate{
			NameAR: req.NameAR, NameEN: req.NameEN, Address: req.Address, Template: req.Template,
			ApprovalRequired: req.ApprovalRequired,
		})
	})
	if err != nil {
		s.coreError(c, "update registry", err)
		return
	}
	c.JSON(http.StatusOK, toRegistryDTO(r))
}

// Departments.

type newDepartmentRequest struct {
	Code     string `json:"code"`
	Ministry string `json:"ministry"`
	NameAR   string `json:"name_ar"`
	NameEN   string `json:"name_en"`
	Parent   string `json:"parent"`
	Head     string `json:"head"`
}

type departmentPatch struct {
	NameAR *string `json:"name_ar"`
	NameEN *string `json:"name_en"`
	Parent *string `json:"parent"` // "" moves it to the top
	Head   *string `json:"head"`   // "" removes the head
}

func (s *Server) listDepartments(c *gin.Context) {
	p, ok := parsePage(c)
	if !ok {
		return
	}
	ds, err := asCaller(s, c, func(a workflow.Actor) ([]workflow.Department, error) {
		return s.opts.Workflow.Departments(c.Request.Context(), a, c.Query("ministry"))
	})
	if err != nil {
		s.coreError(c, "list departments", err)
		return
	}
	c.JSON(http.StatusOK, pageOf(ds, p, toDepartmentDTO))
}

func (s *Server) getDepartment(c *gin.Context) {
	d, err := asCaller(s, c, func(a workflow.Actor) (workflow.Department, error) {
		return s.opts.Workflow.Department(c.Request.Context(), a, c.Param("ministry"), c.Param("code"))
	})
	if err != nil {
		s.coreError(c, "read department", err)
		return
	}
	c.JSON(http.StatusOK, toDepartmentDTO(d))
}

func (s *Server) addDepartment(c *gin.Context) {
	var req newDepartmentRequest
	if !decodeJSON(c, &req) {
		return
	}
	d, err := asCaller(s, c, func(a workflow.Actor) (workflow.Department, error) {
		return s.opts.Workflow.AddDepartment(c.Request.Context(), a, workflow.Department{
			Code: req.Code, Ministry: req.Ministry, NameAR: req.NameAR, NameEN: req.NameEN,
			Parent: req.Parent, Head: req.Head,
		})
	})
	if err != nil {
		s.coreError(c, "add department", err)
		return
	}
	c.JSON(http.StatusCreated, toDepartmentDTO(d))
}

func (s *Server) updateDepartment(c *gin.Context) {
	var req departmentPatch
	if !decodeJSON(c, &req) {
		return
	}
	d, err := asCaller(s, c, func(a workflow.Actor) (workflow.Department, error) {
		return s.opts.Workflow.UpdateDepartment(c.Request.Context(), a, c.Param("ministry"), c.Param("code"),
			workflow.DepartmentUpdate{NameAR: req.NameAR, NameEN: req.NameEN, Parent: req.Parent, Head: req.Head})
	})
	if err != nil {
		s.coreError(c, "update department", err)
		return
	}
	c.JSON(http.StatusOK, toDepartmentDTO(d))
}

// Users.

type newUserRequest struct {
	Address  string   `json:"address"`
	Name     string   `json:"name"`
	Ministry string   `json:"ministry"`
	Roles    []string `json:"roles"`
	// Password is optional: without it one is generated, answered once,
	// and must be changed at first login.
	Password string `json:"password"`
}

type newUserResponse struct {
	User userDTO `json:"user"`
	// Password is the generated password, shown this once; absent when
	// the request gave one.
	Password string `json:"password,omitempty"`
}

type userPatch struct {
	Disabled *bool `json:"disabled"`
	// Password sets a new password; MustChangePassword (default true)
	// makes the user change it at the next login.
	Password           *string `json:"password"`
	MustChangePassword *bool   `json:"must_change_password"`
	QuotaBytes         *int64  `json:"quota_bytes"`
	// Unlock lifts a lockout, as "diwan admin user unlock" does.
	Unlock bool `json:"unlock"`
	// Roles replaces the user's roles, as "diwan admin user roles" does.
	Roles []string `json:"roles"`
}

// adminUserDTO is a user as an administrator sees it: with the lock.
func adminUserDTO(u directory.User) userDTO {
	d := toUserDTO(u)
	if now := time.Now(); u.Locked(now) {
		t := u.LockedUntil.UTC()
		d.LockedUntil = &t
	}
	return d
}

type membershipPatch struct {
	AddRegistry    string  `json:"add_registry"`
	RemoveRegistry string  `json:"remove_registry"`
	Department     *string `json:"department"` // "" removes it
	Clearance      string  `json:"clearance" enum:"normal,confidential,secret"`
}

// listUsers and getUser show users as the directory lets the caller see
// them: outside the caller's ministry only names and addresses, and only
// with directory.national_users (directory.UsersAs).
func (s *Server) listUsers(c *gin.Context) {
	p, ok := parsePage(c)
	if !ok {
		return
	}
	viewer, ok := s.currentUser(c)
	if !ok {
		return
	}
	us, n, err := s.opts.Directory.UsersAs(c.Request.Context(), viewer, directory.ListOptions{Query: c.Query("q"), Limit: p.PerPage, Offset: p.Offset()})
	if err != nil {
		s.coreError(c, "list users", err)
		return
	}
	c.JSON(http.StatusOK, newList(mapSlice(us, toDirectoryUserDTO), n))
}

func (s *Server) getUser(c *gin.Context) {
	viewer, ok := s.currentUser(c)
	if !ok {
		return
	}
	u, err := s.opts.Directory.UserAs(c.Request.Context(), viewer, c.Param("address"))
	if err != nil {
		s.coreError(c, "read user", err)
		return
	}
	if viewer.HasRole(directory.RoleAdmin) || viewer.HasRole(directory.RoleMinistryAdmin) && u.Detail == directory.DetailFull {
		c.JSON(http.StatusOK, adminUserDTO(u.User))
		return
	}
	c.JSON(http.StatusOK, toDirectoryUserDTO(u))
}

func (s *Server) addUser(c *gin.Context) {
	var req newUserRequest
	if !decodeJSON(c, &req) {
		return
	}
	who, ok := s.caller(c)
	if !ok {
		return
	}
	nu := directory.NewUser{Address: req.Address, Name: req.Name, Ministry: req.Ministry, Roles: req.Roles, Password: req.Password}
	var generated string
	if nu.Password == "" {
		generated = directory.GeneratePassword()
		nu.Password, nu.MustChangePassword = generated, true
	}
	u, err := s.opts.Directory.AddUserAs(c.Request.Context(), who, nu)
	if err != nil {
		s.coreError(c, "add user", err)
		return
	}
	c.JSON(http.StatusCreated, newUserResponse{User: toUserDTO(u), Password: generated})
}

// updateUser changes an account: disable or enable it, set a password, set
// the mail quota, unlock it, set its roles. Each is its own audited change
// as the caller, made in that order.
func (s *Server) updateUser(c *gin.Context) {
	var req userPatch
	if !decodeJSON(c, &req) {
		return
	}
	who, ok := s.caller(c)
	if !ok {
		return
	}
	ctx, login := c.Request.Context(), c.Param("address")
	if _, err := s.opts.Directory.ManagedUserAs(ctx, who, login); err != nil {
		s.coreError(c, "read user", err)
		return
	}
	if req.Password == nil && req.MustChangePassword != nil {
		WriteError(c, http.StatusBadRequest, "invalid_input", "must_change_password goes with a new password", "must_change_password")
		return
	}
	for _, ch := range s.userChanges(req, who, login) {
		if err := ch.do(ctx); err != nil {
			s.coreError(c, ch.doing, err)
			return
		}
	}
	if req.Roles != nil && !s.setRoles(c, login, req.Roles) {
		return
	}
	u, err := s.opts.Directory.UserByLogin(ctx, login)
	if err != nil {
		s.coreError(c, "read user", err)
		return
	}
	c.JSON(http.StatusOK, adminUserDTO(u))
}

// userChange is one change a PATCH of a user asks for.
type userChange struct {
	doing string
	do    func(ctx context.Context) error
}

// userChanges are the changes of req to the user login as who, in order.
func (s *Server) userChanges(req userPatch, who directory.Principal, login string) []userChange {
	d := s.opts.Directory
	var out []userChange
	if req.Disabled != nil {
		disable := *req.Disabled
		out = append(out, userChange{"disable or enable user", func(ctx context.Context) error {
			if disable {
				return d.DisableAs(ctx, who, login)
			}
			return d.EnableAs(ctx, who, login)
		}})
	}
	if req.Password != nil {
		pw, mustChange := *req.Password, req.MustChangePassword == nil || *req.MustChangePassword
		out = append(out, userChange{"set password", func(ctx context.Context) error {
			return d.SetPasswordAs(ctx, who, login, pw, mustChange)
		}})
	}
	if req.QuotaBytes != nil {
		q := *req.QuotaBytes
		out = append(out, userChange{"set quota", func(ctx context.Context) error { return d.SetQuotaAs(ctx, who, login, q) }})
	}
	if req.Unlock {
		out = append(out, userChange{"unlock user", func(ctx context.Context) error { return d.UnlockAs(ctx, who, login) }})
	}
	return out
}

// setRoles replaces a user's roles as the caller; false when the answer
// is written.
func (s *Server) setRoles(c *gin.Context, login string, roles []string) bool {
	caller, ok := s.caller(c)
	if !ok {
		return false
	}
	if _, err := s.opts.Directory.SetRolesAs(c.Request.Context(), caller, login, roles); err != nil {
		// The directory names the command line's --role; the JSON field
		// is roles.
		var ie *input.Error
		if errors.As(err, &ie) && ie.Field == "role" {
			err = &input.Error{Field: "roles", Message: ie.Message, Unprocessable: ie.Unprocessable}
		}
		s.coreError(c, "set roles", err)
		return false
	}
	return true
}

func (s *Server) getMembership(c *gin.Context) {
	m, err := asCaller(s, c, func(a workflow.Actor) (workflow.Membership, error) {
		return s.opts.Workflow.Membership(c.Request.Context(), a, c.Param("address"))
	})
	if err != nil {
		s.coreError(c, "read membership", err)
		return
	}
	c.JSON(http.StatusOK, toMembershipDTO(m))
}

func (s *Server) updateMembership(c *gin.Context) {
	var req membershipPatch
	if !decodeJSON(c, &req) {
		return
	}
	if !oneOf(c, "clearance", req.Clearance, string(workflow.Normal), string(workflow.Confidential), string(workflow.Secret)) {
		return
	}
	m, err := asCaller(s, c, func(a workflow.Actor) (workflow.Membership, error) {
		return s.opts.Workflow.SetMembership(c.Request.Context(), a, c.Param("address"), workflow.MembershipChange{
			AddRegistry: req.AddRegistry, RemoveRegistry: req.RemoveRegistry, Department: req.Department,
			Clearance: workflow.Clearance(req.Clearance),
		})
	})
	if err != nil {
		s.coreError(c, "change membership", err)
		return
	}
	c.JSON(http.StatusOK, toMembershipDTO(m))
}
