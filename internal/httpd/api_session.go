package httpd

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
)

// Authentication of /api/v1 (DESIGN.md §6a): the session cookie of a
// login, or a personal API token in "Authorization: Bearer TOKEN". A cookie
// request that changes state must also carry the session's CSRF token in
// X-CSRF-Token and a same-origin Origin (or Referer), as browsers send;
// a token request needs neither (no browser attaches it on its own).

// sessionCookie is the name of the session cookie.
const sessionCookie = "diwan_session"

// csrfHeader carries the CSRF token on cookie requests that change state.
const csrfHeader = "X-CSRF-Token"

// principalKey is where authenticate leaves the *principal in the gin
// context.
const principalKey = "diwan.principal"

// csrfFor derives the CSRF token of a session from its cookie value:
// HMAC-SHA256 keyed by the cookie. It is tied to the session (a new login
// gives a new one), needs no storage, and cannot be computed by a page
// that cannot read the HttpOnly cookie.
func csrfFor(cookie string) string {
	m := hmac.New(sha256.New, []byte(cookie))
	m.Write([]byte("diwan csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validCSRF compares a presented CSRF token with the session's in constant
// time.
func validCSRF(cookie, presented string) bool {
	if presented == "" {
		return false
	}
	return hmac.Equal([]byte(csrfFor(cookie)), []byte(presented))
}

// principal is who is calling: the directory's Principal of the session
// or token.
type principal struct {
	directory.Principal
	cookie string // the session cookie; "" for an API token
	token  string // the API token (secret, never logged); "" for a session
	user   *directory.User
}

// viaToken reports whether the request came with an API token.
func (p *principal) viaToken() bool { return p.cookie == "" }

func principalOf(c *gin.Context) *principal {
	v, _ := c.Get(principalKey)
	p, _ := v.(*principal)
	return p
}

// currentUser loads the caller's directory record (roles, ministry) once
// per request.
func (s *Server) currentUser(c *gin.Context) (directory.User, bool) {
	p := principalOf(c)
	if p.user != nil {
		return *p.user, true
	}
	u, err := s.opts.Directory.UserByLogin(c.Request.Context(), p.Login)
	if errors.Is(err, directory.ErrNotFound) {
		unauthenticated(c)
		return u, false
	}
	if err != nil {
		s.internalError(c, "load the caller's account", err)
		return u, false
	}
	if u.Disabled {
		unauthenticated(c)
		return u, false
	}
	p.user = &u
	return u, true
}

func unauthenticated(c *gin.Context) {
	WriteError(c, http.StatusUnauthorized, "unauthenticated", "log in, or send an API token in the Authorization header", "")
}

// internalError logs err once, with what the handler was doing, and answers
// 500 with a generic sentence.
func (s *Server) internalError(c *gin.Context, doing string, err error) {
	s.log.LogAttrs(c.Request.Context(), slog.LevelError, "api: "+doing,
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.Any("error", err))
	WriteError(c, http.StatusInternalServerError, "internal", "internal error", "")
}

// authenticate is the middleware of every /api/v1 route that needs a
// caller. It checks the credential and its user with the directory on
// every request (one query; for an API token on inBandRoutes, the engine's
// first read does), so that logout, expiry, a revoked token and a disabled
// account take effect at once, and enforces CSRF on cookie requests that
// change state.
func (s *Server) authenticate(c *gin.Context) {
	ctx := c.Request.Context()
	var (
		p   = &principal{}
		err error
	)
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			WriteError(c, http.StatusUnauthorized, "unauthenticated", "the Authorization header must be \"Bearer\" and an API token", "")
			return
		}
		p.token = token
		if inBandRoutes[c.Request.Method+" "+c.FullPath()] {
			p.Principal, err = s.opts.Directory.CheckToken(ctx, token)
		} else {
			p.Principal, err = s.opts.Directory.RecheckToken(ctx, token)
		}
	} else if v, cerr := c.Cookie(sessionCookie); cerr == nil && v != "" {
		p.cookie = v
		p.Principal, err = s.opts.Directory.CheckSession(ctx, v)
	} else {
		unauthenticated(c)
		return
	}
	if errors.Is(err, directory.ErrInvalidCredentials) {
		s.refused(c, p)
		return
	}
	if err != nil {
		s.internalError(c, "authenticate", err)
		return
	}
	if p.cookie != "" && changesState(c.Request.Method) {
		if !s.sameOrigin(c.Request) {
			WriteError(c, http.StatusForbidden, "csrf", "a request that changes state must come from this site (Origin)", "")
			return
		}
		if !validCSRF(p.cookie, c.GetHeader(csrfHeader)) {
			WriteError(c, http.StatusForbidden, "csrf", "a request that changes state needs the session's CSRF token in the X-CSRF-Token header", "")
			return
		}
	}
	if s.mustChangeRefused(c, p) {
		return
	}
	c.Set(principalKey, p)
	c.Next()
}

// refused answers a credential the directory refused: 401, and the
// session cookie cleared from the browser.
func (s *Server) refused(c *gin.Context, p *principal) {
	if p.cookie != "" {
		s.clearCookie(c)
	}
	WriteError(c, http.StatusUnauthorized, "unauthenticated", "the session or API token is not valid (expired, logged out, or the account is disabled)", "")
}

// inBandRoutes are the routes (method and pattern) whose handler makes one
// engine call and nothing else with the caller before it: for them
// authenticate takes an API token found valid before from the directory's
// keep (directory.CheckToken) without a query, and the engine call checks
// the version of org_state it was found valid at in its own first read. A
// revoked token, or a disabled user's, has moved that version: the engine
// refuses the call before anything is read out or changed
// (workflow.ErrCredentialStale), asCaller checks the token again and
// answers 401. Only a malformed request is answered 400 first. Every
// other route checks the token here.
var inBandRoutes = map[string]bool{
	"POST /api/v1/correspondence":      true,
	"GET /api/v1/correspondence/:id":   true,
	"POST /api/v1/entries/:id/:action": true,
}

// changesState reports whether a request with this method may change
// state (RFC 9110 §9.2.1: the safe methods do not).
func changesState(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// sameOrigin reports whether the request's Origin (else its Referer) is
// this site: the origin of http.base_url, or the origin the request itself
// was addressed to. A request with neither header is refused, as one from
// a sandboxed document (Origin "null") is.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		ref := r.Header.Get("Referer")
		if ref == "" {
			return false
		}
		origin = ref
	}
	got, ok := originOf(origin)
	if !ok {
		return false
	}
	if s.baseOrigin != "" && got == s.baseOrigin {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	own, ok := originOf(scheme + "://" + r.Host)
	return ok && got == own
}

// originOf returns the RFC 6454 origin of an absolute URL: lower-case
// scheme and host, and the port unless it is the scheme's default.
func originOf(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}

// secureCookies reports whether cookies get the Secure attribute: when the
// server speaks TLS, or sits behind a proxy that does (https base URL).
func (s *Server) secureCookies() bool {
	return s.opts.TLS != nil || strings.HasPrefix(strings.ToLower(s.opts.BaseURL), "https://")
}

func (s *Server) setSessionCookie(c *gin.Context, value string, expires time.Time) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     sessionCookie,
		Value:    value,
		Path:     "/",
		Expires:  expires,
		MaxAge:   max(1, int(time.Until(expires).Seconds())),
		HttpOnly: true,
		Secure:   s.secureCookies(),
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.secureCookies(),
		SameSite: http.SameSiteLaxMode,
	})
}

// Session DTOs.

type loginRequest struct {
	Login    string `json:"login" required:"true"`
	Password string `json:"password" required:"true"`
}

type sessionResponse struct {
	User userDTO `json:"user"`
	// Auth is "session" (cookie) or "token" (API token).
	Auth string `json:"auth" enum:"session,token"`
	// CSRFToken goes in X-CSRF-Token on cookie requests that change
	// state; absent for API tokens.
	CSRFToken string `json:"csrf_token,omitempty"`
	// ExpiresAt is when the session ends (RFC 3339); absent for tokens.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// postSession logs in: checks the login and password with the directory
// (which counts failures towards the lockout and audits refusals) and sets
// the session cookie. Every refusal is the same 401.
func (s *Server) postSession(c *gin.Context) {
	var req loginRequest
	if !decodeJSON(c, &req) {
		return
	}
	if req.Login == "" {
		WriteError(c, http.StatusBadRequest, "missing_field", "login is required", "login")
		return
	}
	if req.Password == "" {
		WriteError(c, http.StatusBadRequest, "missing_field", "password is required", "password")
		return
	}
	// A login from another site's page (login CSRF) is refused; clients
	// that send no Origin (scripts, integrations) are not browsers.
	if c.GetHeader("Origin") != "" && !s.sameOrigin(c.Request) {
		WriteError(c, http.StatusForbidden, "csrf", "a login must come from this site (Origin)", "")
		return
	}
	ctx := directory.WithClient(c.Request.Context(), "http:"+c.ClientIP())
	u, err := s.opts.Directory.Authenticate(ctx, req.Login, req.Password)
	s.logLogin(c, req.Login, err)
	if errors.Is(err, directory.ErrInvalidCredentials) {
		WriteError(c, http.StatusUnauthorized, "invalid_credentials", "the login or the password is wrong, or the account is locked or disabled", "")
		return
	}
	if err != nil {
		s.internalError(c, "log in", err)
		return
	}
	sess, err := s.opts.Directory.CreateSession(c.Request.Context(), u, c.ClientIP())
	if err != nil {
		s.internalError(c, "create session", err)
		return
	}
	s.setSessionCookie(c, sess.Cookie, sess.ExpiresAt)
	exp := sess.ExpiresAt
	c.JSON(http.StatusOK, sessionResponse{User: toUserDTO(u), Auth: "session", CSRFToken: csrfFor(sess.Cookie), ExpiresAt: &exp})
}

// logLogin writes the log line of one login attempt, as the SMTP and IMAP
// listeners do: protocol, user (bounded: it is the client's string),
// client address and result.
func (s *Server) logLogin(c *gin.Context, login string, err error) {
	if len(login) > 100 {
		login = login[:100] + "…"
	}
	result := "ok"
	switch {
	case errors.Is(err, directory.ErrInvalidCredentials):
		result = "failed"
	case err != nil:
		result = "error"
	}
	s.log.Info("login", slog.String("protocol", "http"), slog.String("user", login),
		slog.String("client", c.ClientIP()), slog.String("result", result))
}

// getSession answers who the caller is, with the CSRF token of a cookie
// session.
func (s *Server) getSession(c *gin.Context) {
	u, ok := s.currentUser(c)
	if !ok {
		return
	}
	p := principalOf(c)
	if p.viaToken() {
		c.JSON(http.StatusOK, sessionResponse{User: toUserDTO(u), Auth: "token"})
		return
	}
	exp := p.ExpiresAt
	c.JSON(http.StatusOK, sessionResponse{User: toUserDTO(u), Auth: "session", CSRFToken: csrfFor(p.cookie), ExpiresAt: &exp})
}

// deleteSession logs out: the session ends on the server, not only in the
// browser. An API token is not a session; it is revoked by an
// administrator.
func (s *Server) deleteSession(c *gin.Context) {
	p := principalOf(c)
	if p.viaToken() {
		WriteError(c, http.StatusBadRequest, "not_a_session", "an API token is not a session; ask an administrator to revoke it", "")
		return
	}
	if err := s.opts.Directory.DeleteSession(c.Request.Context(), p.cookie); err != nil {
		s.internalError(c, "log out", err)
		return
	}
	s.clearCookie(c)
	c.Status(http.StatusNoContent)
}
