package httpd

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/input"
)

// The aliases of the administration (/admin/aliases): the list, a new
// alias with its targets, the removal of one. The directory's *As methods
// decide which the caller administers (a ministry administrator: those of
// their ministry's domains, to its users).

// adminAliasesDone are the flash messages /admin/aliases?done=KEY may
// show.
var adminAliasesDone = map[string]bool{"add": true, "remove": true}

// adminAliasesData is what admin_aliases.html shows.
type adminAliasesData struct {
	Aliases []directory.Alias
	Address string // the new alias form, refilled
	To      string
}

// adminAliasesList reads the aliases the caller administers into the
// page; false when the answer is written.
func (s *Server) adminAliasesList(c *gin.Context, p *uiPage, d *adminAliasesData) bool {
	as, err := s.opts.Directory.AliasesAs(c.Request.Context(), principalOf(c).Principal)
	if err != nil {
		s.adminFail(c, "list aliases", err)
		return false
	}
	d.Aliases = as
	p.Data = d
	return true
}

func (s *Server) adminAliases(c *gin.Context) {
	p := s.newAdminPage(c, "aliases")
	if !s.adminAliasesList(c, p, &adminAliasesData{}) {
		return
	}
	if k := c.Query("done"); adminAliasesDone[k] {
		p.Flash = p.T("admin.aliases.done." + k)
	}
	s.render(c, http.StatusOK, "admin_aliases", p)
}

// aliasTargets splits the targets typed: one per line, or separated by
// commas or spaces.
func aliasTargets(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '،' || r == '\n' || r == '\r' || r == ' ' || r == '\t' })
}

// adminAddAlias adds an alias as the caller; what the directory refuses
// is said next to its field, nothing changed.
func (s *Server) adminAddAlias(c *gin.Context) {
	p := s.newAdminPage(c, "aliases")
	d := &adminAliasesData{Address: strings.TrimSpace(c.PostForm("address")), To: c.PostForm("to")}
	if !s.adminAliasesList(c, p, d) {
		return
	}
	targets := aliasTargets(d.To)
	if d.Address == "" {
		p.SetFieldError("address", "admin.aliases.error.address_required")
	}
	if len(targets) == 0 {
		p.SetFieldError("to", "admin.aliases.error.to_required")
	}
	if len(p.Errors) > 0 {
		s.render(c, http.StatusUnprocessableEntity, "admin_aliases", p)
		return
	}
	_, err := s.opts.Directory.AddAliasAs(c.Request.Context(), principalOf(c).Principal, d.Address, targets)
	var ie *input.Error
	switch {
	case err == nil:
		redirect(c, "/admin/aliases?done=add")
		return
	case errors.As(err, &ie) && ie.Field == "to" && aliasLoop(d, targets):
		p.SetFieldError("to", "admin.aliases.error.loop")
	case errors.As(err, &ie) && ie.Field == "to":
		p.SetFieldError("to", "admin.aliases.error.target")
	case errors.As(err, &ie):
		p.SetFieldError("address", "admin.aliases.error.address")
	case errors.Is(err, directory.ErrExists):
		p.SetFieldError("address", "admin.aliases.error.exists")
	default:
		s.adminFail(c, "add alias", err)
		return
	}
	s.render(c, http.StatusUnprocessableEntity, "admin_aliases", p)
}

// aliasLoop reports whether a refused target is the alias itself or
// another alias (targets are users: an alias never reaches an alias), to
// say so rather than "not a user".
func aliasLoop(d *adminAliasesData, targets []string) bool {
	self, _ := directory.CanonicalLogin(d.Address)
	for _, t := range targets {
		l, err := directory.CanonicalLogin(t)
		if err != nil {
			continue
		}
		if l == self || slices.ContainsFunc(d.Aliases, func(a directory.Alias) bool { return a.Address == l }) {
			return true
		}
	}
	return false
}

// adminRemoveAlias removes the alias of the form's address as the caller;
// one the caller does not administer is 404.
func (s *Server) adminRemoveAlias(c *gin.Context) {
	err := s.opts.Directory.RemoveAliasAs(c.Request.Context(), principalOf(c).Principal, c.PostForm("address"))
	var ie *input.Error
	if errors.As(err, &ie) {
		err = directory.ErrNotFound
	}
	if err != nil {
		s.adminFail(c, "remove alias", err)
		return
	}
	redirect(c, "/admin/aliases?done=remove")
}
