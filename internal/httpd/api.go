package httpd

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/input"
	"diwan.gov.sy/diwan/internal/mailauth"
	"diwan.gov.sy/diwan/internal/policy"
	"diwan.gov.sy/diwan/internal/workflow"
)

// The JSON API (/api/v1, DESIGN.md §6a): request decoding, the input
// checks every handler shares, and the list envelope. Handlers bind and
// check input here, call one core service method with typed arguments, and
// render a DTO of this package; the core's own types never reach JSON.

// maxJSONBytes bounds a JSON request body. Documents are small; attachments
// come as multipart uploads, never inside JSON.
const maxJSONBytes = 1 << 20

// Paging of lists: ?page=1&per_page=50; per_page at most maxPerPage.
const (
	defaultPerPage = 50
	maxPerPage     = 200
)

// list is the envelope of every list answer: {"items": […], "total": N}.
type list[T any] struct {
	Items []T   `json:"items"`
	Total int64 `json:"total"`
}

func newList[T any](items []T, total int64) list[T] {
	if items == nil {
		items = []T{}
	}
	return list[T]{Items: items, Total: total}
}

// dateLayout is the API's date format (DESIGN.md §6a): YYYY-MM-DD.
const dateLayout = time.DateOnly

// parseDate checks an optional date field: "" is no date (zero time), a
// date is YYYY-MM-DD and a real calendar day, anything else a 400 naming
// the field. It reports whether the input was good; when not, the answer
// is written.
func parseDate(c *gin.Context, field, s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil || len(s) != len(dateLayout) {
		WriteError(c, http.StatusBadRequest, "invalid_date",
			fmt.Sprintf("%s must be a date written YYYY-MM-DD, not %q", field, clip(s)), field)
		return time.Time{}, false
	}
	return t, true
}

// page is a requested page of a list.
type page struct {
	Page, PerPage int
}

// Offset is the number of items before the page.
func (p page) Offset() int { return (p.Page - 1) * p.PerPage }

// parsePage reads ?page= and ?per_page= (defaults 1 and defaultPerPage;
// per_page at most maxPerPage). Anything but a positive integer is a 400
// naming the parameter.
func parsePage(c *gin.Context) (page, bool) {
	p := page{Page: 1, PerPage: defaultPerPage}
	for _, q := range []struct {
		name string
		dst  *int
		max  int
	}{{"page", &p.Page, 1 << 30}, {"per_page", &p.PerPage, maxPerPage}} {
		v, ok := c.GetQuery(q.name)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > q.max {
			WriteError(c, http.StatusBadRequest, "invalid_parameter",
				fmt.Sprintf("%s must be an integer from 1 to %d", q.name, q.max), q.name)
			return p, false
		}
		*q.dst = n
	}
	return p, true
}

// pathID reads a numeric path parameter. Anything else cannot name a
// stored object: 404, as for an id that does not exist.
func pathID(c *gin.Context, name string) (int64, bool) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		WriteError(c, http.StatusNotFound, "not_found", "not found", "")
		return 0, false
	}
	return id, true
}

// oneOf checks that an optional enumerated field holds one of the allowed
// values; "" passes. When not, the 400 is written.
func oneOf(c *gin.Context, field, v string, allowed ...string) bool {
	if v == "" {
		return true
	}
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	WriteError(c, http.StatusBadRequest, "invalid_value",
		fmt.Sprintf("%s must be one of %s, not %q", field, strings.Join(allowed, ", "), clip(v)), field)
	return false
}

// requireVersion checks that a change names the version it was based on.
func requireVersion(c *gin.Context, v *int64) bool {
	if v == nil {
		WriteError(c, http.StatusBadRequest, "missing_field", "version is required: the version of the entry the change is based on", "version")
		return false
	}
	if *v < 0 {
		WriteError(c, http.StatusBadRequest, "invalid_value", "version must not be negative", "version")
		return false
	}
	return true
}

// clip bounds client text quoted back in a message.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// coreError answers an error of a core service (workflow, directory) with
// the status DESIGN.md §6a gives it. Their sentinel and input errors carry
// texts safe for a client; anything else is logged once and answered 500.
func (s *Server) coreError(c *gin.Context, doing string, err error) {
	var (
		ie *input.Error
		te *workflow.TransitionError
		se *workflow.StaleError
		ce *policy.ConfirmError
	)
	switch {
	case errors.As(err, &ie):
		if ie.Unprocessable {
			WriteError(c, http.StatusUnprocessableEntity, "unprocessable", ie.Message, ie.Field)
			return
		}
		WriteError(c, http.StatusBadRequest, "invalid_input", ie.Message, ie.Field)
	case errors.As(err, &ce):
		WriteError(c, http.StatusConflict, "confirm_required", ce.Error(), "confirm")
	case errors.As(err, &se):
		WriteError(c, http.StatusConflict, "stale_version", se.Error()+"; reload it and try again", "version")
	case errors.Is(err, workflow.ErrStaleVersion):
		WriteError(c, http.StatusConflict, "stale_version", "the object has changed since that version; reload it and try again", "version")
	case errors.As(err, &te) && te.Conflict, errors.Is(err, workflow.ErrConflict):
		WriteError(c, http.StatusConflict, "conflict", err.Error(), "")
	case errors.As(err, &te), errors.Is(err, workflow.ErrInvalidTransition):
		WriteError(c, http.StatusConflict, "invalid_transition", err.Error(), "")
	case errors.Is(err, errCredentialRefused):
		s.refused(c, principalOf(c))
	case errors.Is(err, errPasswordChangeRequired):
		passwordChangeRequired(c)
	case errors.Is(err, workflow.ErrCredentialStale):
		// Twice in a row: the organisation keeps changing under the call.
		WriteError(c, http.StatusConflict, "conflict", "the organisation changed while the request ran; try again", "")
	case errors.Is(err, workflow.ErrNotFound), errors.Is(err, directory.ErrNotFound), errors.Is(err, policy.ErrNotFound),
		errors.Is(err, directory.ErrNotHosted):
		WriteError(c, http.StatusNotFound, "not_found", "not found", "")
	case errors.Is(err, workflow.ErrForbidden), errors.Is(err, policy.ErrForbidden), errors.Is(err, audit.ErrForbidden),
		errors.Is(err, directory.ErrForbidden), errors.Is(err, mailauth.ErrForbidden):
		WriteError(c, http.StatusForbidden, "forbidden", err.Error(), "")
	case errors.Is(err, policy.ErrExists):
		WriteError(c, http.StatusConflict, "exists", err.Error(), "pattern")
	case errors.Is(err, workflow.ErrExists), errors.Is(err, directory.ErrExists):
		WriteError(c, http.StatusConflict, "exists", err.Error(), "")
	case errors.Is(err, workflow.ErrTooLarge):
		WriteError(c, http.StatusRequestEntityTooLarge, "too_large", err.Error(), "file")
	case c.Request.Context().Err() != nil:
		// The client went away: nobody reads the answer, nothing to log
		// as an error.
		s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "api: client gone: "+doing,
			slog.String("path", c.Request.URL.Path), slog.Any("error", err))
		WriteError(c, http.StatusBadRequest, "cancelled", "the request was cancelled before it was answered", "")
	default:
		s.internalError(c, doing, err)
	}
}

// actor is the caller as the workflow engine knows them: with the
// directory's facts their credential's check gave.
func actor(c *gin.Context) workflow.Actor {
	p := principalOf(c)
	a := workflow.UserActor(p.UserID, p.Login)
	a.Facts = workflow.FactsOf(p.Principal)
	return a
}

// errCredentialRefused is asCaller's answer when the check of the caller's
// credential made again refuses it: 401.
var errCredentialRefused = errors.New("the credential is not valid")

// asCaller makes one engine call as the caller. The engine trusts the
// facts of the caller's credential only at the version of org_state they
// were read at, and refuses them before doing anything when it has moved
// (a kept API token's, above all; workflow.ErrCredentialStale): then the
// credential is checked again, with the database, and the call made once
// more with the fresh facts.
func asCaller[T any](s *Server, c *gin.Context, call func(a workflow.Actor) (T, error)) (T, error) {
	v, err := call(actor(c))
	if !errors.Is(err, workflow.ErrCredentialStale) {
		return v, err
	}
	if err := s.recheck(c); err != nil {
		return v, err
	}
	return call(actor(c))
}

// recheck checks the caller's credential again with the database.
func (s *Server) recheck(c *gin.Context) error {
	p := principalOf(c)
	ctx := c.Request.Context()
	var (
		dp  directory.Principal
		err error
	)
	if p.viaToken() {
		dp, err = s.opts.Directory.RecheckToken(ctx, p.token)
	} else {
		dp, err = s.opts.Directory.CheckSession(ctx, p.cookie)
	}
	if errors.Is(err, directory.ErrInvalidCredentials) {
		return errCredentialRefused
	}
	if err != nil {
		return fmt.Errorf("check the credential again: %w", err)
	}
	p.Principal = dp
	if dp.MustChangePassword && !passwordChangeRoutes[c.Request.Method+" "+c.FullPath()] &&
		!passwordChangePaths[c.Request.URL.Path] {
		return errPasswordChangeRequired
	}
	return nil
}
