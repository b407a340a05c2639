package httpd

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// errorBody is the JSON error shape of DESIGN.md §6a:
// {"error": {"code": "...", "message": "...", "field": "..."}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// WriteError answers with status and the JSON error shape of DESIGN.md §6a
// and aborts the handler chain (handlers after the caller do not run; the
// caller returns). code is a stable machine-readable word
// ("not_found", "invalid_transition"); message is a sentence safe to show a
// client, never an internal error's text; field names the offending input
// field of a 400 and is left out of the body when empty.
func WriteError(c *gin.Context, status int, code, message, field string) {
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: code, Message: message, Field: field}})
}

// notFound answers any request no route matches.
// noRoute answers a path that does not exist: a page for a browser
// outside /api/, else the JSON error.
func (s *Server) noRoute(c *gin.Context) {
	if wantsPage(c) {
		s.uiNotFound(c)
		return
	}
	notFound(c)
}

// noMethod answers a path that exists with other methods: a page for a
// browser outside /api/ (a bookmarked action's address, say), else the
// JSON error; gin has set the Allow header.
func (s *Server) noMethod(c *gin.Context) {
	if wantsPage(c) {
		s.uiError(c, http.StatusMethodNotAllowed, "error.method.title", "error.method.message")
		return
	}
	methodNotAllowed(c)
}

// wantsPage reports whether the request is a browser's for a page: not
// under /api/, and accepting HTML.
func wantsPage(c *gin.Context) bool {
	return !strings.HasPrefix(c.Request.URL.Path, "/api/") && strings.Contains(c.GetHeader("Accept"), "text/html")
}

func notFound(c *gin.Context) {
	WriteError(c, http.StatusNotFound, "not_found", "not found", "")
}

// methodNotAllowed answers a request for a path that exists with other
// methods; gin has set the Allow header.
func methodNotAllowed(c *gin.Context) {
	WriteError(c, http.StatusMethodNotAllowed, "method_not_allowed",
		c.Request.Method+" is not a method of this path; it takes "+c.Writer.Header().Get("Allow"), "")
}
