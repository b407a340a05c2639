package httpd

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/input"
	"diwan.gov.sy/diwan/internal/workflow"
)

// uiFail turns an engine error into what the page shows, in the user's
// language: a message next to the field the error names (error.input.FIELD
// when the locale has one, else error.input), or above the form. It
// returns the status to render the form again with, and true; for what the
// user may not see (not found), a refused credential or an internal error
// it answers the request itself and returns false: the handler stops.
//
// The engine's own sentence (English) is added in English, where it is
// more precise than the general one.
func (s *Server) uiFail(c *gin.Context, p *uiPage, doing string, err error) (int, bool) {
	var (
		ie *input.Error
		te *workflow.TransitionError
		se *workflow.StaleError
	)
	detail := func(id string) string {
		m := p.T(id)
		if p.Lang == "en" && err.Error() != "" {
			m += " (" + err.Error() + ")"
		}
		return m
	}
	switch {
	case errors.As(err, &ie):
		status := http.StatusBadRequest
		if ie.Unprocessable {
			status = http.StatusUnprocessableEntity
		}
		msg := p.T("error.input")
		if id := "error.input." + ie.Field; ie.Field != "" && p.T(id) != id {
			msg = p.T(id)
		}
		if p.Lang == "en" {
			msg = ie.Message
		}
		if ie.Field != "" {
			if p.Errors == nil {
				p.Errors = map[string]string{}
			}
			p.Errors[ie.Field] = msg
		} else {
			p.Error = msg
		}
		return status, true
	case errors.As(err, &se), errors.Is(err, workflow.ErrStaleVersion):
		p.Error = p.T("error.stale")
		return http.StatusConflict, true
	case errors.As(err, &te) && te.Conflict, errors.Is(err, workflow.ErrConflict), errors.Is(err, workflow.ErrCredentialStale):
		p.Error = detail("error.conflict")
		return http.StatusConflict, true
	case errors.As(err, &te), errors.Is(err, workflow.ErrInvalidTransition):
		p.Error = detail("error.transition")
		return http.StatusConflict, true
	case errors.Is(err, workflow.ErrForbidden):
		p.Error = detail("error.forbidden")
		return http.StatusForbidden, true
	case errors.Is(err, workflow.ErrExists), errors.Is(err, directory.ErrExists):
		p.Error = detail("error.exists")
		return http.StatusConflict, true
	case errors.Is(err, workflow.ErrTooLarge):
		p.Error = detail("error.too_large")
		return http.StatusRequestEntityTooLarge, true
	case errors.Is(err, errCredentialRefused):
		s.clearCookie(c)
		s.toLogin(c)
	case errors.Is(err, errPasswordChangeRequired):
		redirect(c, "/account")
	case errors.Is(err, workflow.ErrNotFound), errors.Is(err, directory.ErrNotFound):
		s.uiNotFound(c)
	default:
		s.uiInternal(c, doing, err)
	}
	return 0, false
}
