package httpd

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/input"
)

// The must-change-password rule (DESIGN.md §3a): a user whose password
// must change (the bootstrap administrator's generated one, a password
// set by an administrator) may do nothing but change it. The UI sends
// them to /account from every other page; the API answers 403
// password_change_required on every route but these.

// passwordChangeRoutes are the API routes (method and pattern) open to a
// user who must change their password: who am I, log out, and the change.
var passwordChangeRoutes = map[string]bool{
	"GET /api/v1/session":           true,
	"DELETE /api/v1/session":        true,
	"POST /api/v1/session/password": true,
}

// passwordChangePaths are the pages open to such a user (and /static/,
// which needs no session).
var passwordChangePaths = map[string]bool{
	"/account":          true,
	"/account/password": true,
	"/account/language": true,
	"/logout":           true,
}

// errPasswordChangeRequired is the refusal of a call by a user who must
// change their password, found when their credential was checked again
// (asCaller): 403 password_change_required, or /account in the UI.
var errPasswordChangeRequired = errors.New("the password must be changed first")

func passwordChangeRequired(c *gin.Context) {
	WriteError(c, http.StatusForbidden, "password_change_required",
		"the password must be changed first: POST /api/v1/session/password, or log in to the web interface", "")
}

// mustChangeRefused reports whether the caller must change their password
// and this route is not open to them; then it has answered. A principal
// an API token took from the directory's keep is checked again first (the
// password may have been changed since).
func (s *Server) mustChangeRefused(c *gin.Context, p *principal) bool {
	if !p.MustChangePassword || passwordChangeRoutes[c.Request.Method+" "+c.FullPath()] {
		return false
	}
	if p.viaToken() {
		dp, err := s.opts.Directory.RecheckToken(c.Request.Context(), p.token)
		switch {
		case errors.Is(err, directory.ErrInvalidCredentials):
			s.refused(c, p)
			return true
		case err != nil:
			s.internalError(c, "authenticate", err)
			return true
		}
		p.Principal = dp
		if !dp.MustChangePassword {
			return false
		}
	}
	passwordChangeRequired(c)
	return true
}

// passwordRequest is the body of POST /api/v1/session/password
// (DESIGN.md §6a: {"current","new"}).
type passwordRequest struct {
	Current string `json:"current" required:"true"`
	New     string `json:"new" required:"true"`
}

// passwordFields names the directory's fields of a password change as
// the API's body does.
var passwordFields = map[string]string{"current_password": "current", "new_password": "new"}

// postSessionPassword changes the caller's own password: the current one
// is checked as a login is (failures count towards the lockout), the new
// one must pass the password rules. It clears must_change_password.
func (s *Server) postSessionPassword(c *gin.Context) {
	var req passwordRequest
	if !decodeJSON(c, &req) {
		return
	}
	for _, f := range []struct{ name, v string }{{"current", req.Current}, {"new", req.New}} {
		if f.v == "" {
			WriteError(c, http.StatusBadRequest, "missing_field", f.name+" is required", f.name)
			return
		}
	}
	p := principalOf(c)
	ctx := directory.WithClient(c.Request.Context(), "http:"+c.ClientIP())
	if err := s.opts.Directory.ChangePassword(ctx, p.Login, req.Current, req.New); err != nil {
		var ie *input.Error
		if errors.As(err, &ie) && passwordFields[ie.Field] != "" {
			err = &input.Error{Field: passwordFields[ie.Field], Message: ie.Message, Unprocessable: ie.Unprocessable}
		}
		s.coreError(c, "change the password", err)
		return
	}
	c.Status(http.StatusNoContent)
}
