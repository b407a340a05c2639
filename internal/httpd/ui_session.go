package httpd

// Logging in and out of the web UI, and the middleware that guards every
// page: the session cookie diwan_session (the one the API shares), the
// CSRF token of every form, and the way back to the page after a login.

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/web"
)

// preloginCookie holds a random value that the login form's CSRF token is
// derived from, before there is a session (login CSRF).
const preloginCookie = "diwan_prelogin"

// csrfField is the form field of the CSRF token that every form carries.
const csrfField = "csrf_token"

// csrfDeferredKey marks a multipart request whose CSRF token is a part of
// its body: the handler reads it (uiCheckCSRF) before it uses any other
// part, so that an upload is never parsed into memory or onto disk first.
const csrfDeferredKey = "diwan.csrf_deferred"

// uiSession guards every page that needs a login. Without a valid session
// the browser goes to /login and, once logged in, back to the page it
// asked for. A request that changes state must come from this site and
// carry the session's CSRF token (form field csrf_token, or the
// X-CSRF-Token header of the page's script).
func (s *Server) uiSession(c *gin.Context) {
	cookie, _ := c.Cookie(sessionCookie)
	if cookie == "" {
		s.toLogin(c)
		return
	}
	dp, err := s.opts.Directory.CheckSession(c.Request.Context(), cookie)
	if errors.Is(err, directory.ErrInvalidCredentials) {
		s.clearCookie(c)
		s.toLogin(c)
		return
	}
	if err != nil {
		s.uiInternal(c, "check the session", err)
		c.Abort()
		return
	}
	c.Set(principalKey, &principal{Principal: dp, cookie: cookie})
	if dp.MustChangePassword && !passwordChangePaths[c.Request.URL.Path] {
		redirect(c, "/account") // DESIGN.md §3a: nothing else until it is changed
		return
	}
	if changesState(c.Request.Method) {
		if !s.sameOrigin(c.Request) {
			s.uiCSRFRefused(c)
			return
		}
		// What the user changes shows in their counters at once.
		s.counters.forget(dp.Login)
		defer s.counters.forget(dp.Login)
		presented := c.GetHeader(csrfHeader)
		if presented == "" {
			mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
			if mt == "multipart/form-data" {
				c.Set(csrfDeferredKey, true)
				c.Next()
				return
			}
			presented = c.PostForm(csrfField)
		}
		if !validCSRF(cookie, presented) {
			s.uiCSRFRefused(c)
			return
		}
	}
	c.Next()
}

// uiCheckCSRF checks the CSRF token a multipart handler read from its
// body; it answers the refusal itself and returns false when it fails.
func (s *Server) uiCheckCSRF(c *gin.Context, presented string) bool {
	if _, deferred := c.Get(csrfDeferredKey); !deferred {
		return true // checked by uiSession already
	}
	if p := principalOf(c); p != nil && validCSRF(p.cookie, presented) {
		return true
	}
	s.uiCSRFRefused(c)
	return false
}

func (s *Server) uiCSRFRefused(c *gin.Context) {
	s.uiError(c, http.StatusForbidden, "error.csrf.title", "error.csrf.message")
	c.Abort()
}

// toLogin sends the browser to the login page, with the page it asked for
// (a GET) to come back to.
func (s *Server) toLogin(c *gin.Context) {
	to := "/login"
	if c.Request.Method == http.MethodGet && c.Request.URL.Path != "/" {
		to += "?next=" + url.QueryEscape(c.Request.URL.RequestURI())
	}
	redirect(c, to)
}

// uiCurrentUser is the logged-in user's directory record, loaded once per
// request.
func (s *Server) uiCurrentUser(c *gin.Context) (directory.User, bool) {
	p := principalOf(c)
	if p == nil {
		return directory.User{}, false
	}
	if p.user != nil {
		return *p.user, true
	}
	u, err := s.opts.Directory.UserByLogin(c.Request.Context(), p.Login)
	if err != nil {
		return u, false
	}
	p.user = &u
	return u, true
}

// loginForm is what the login page shows again after a failure.
type loginForm struct {
	Login string
	Next  string
}

// getLogin shows the login form. A browser with a valid session goes home.
func (s *Server) getLogin(c *gin.Context) {
	if cookie, _ := c.Cookie(sessionCookie); cookie != "" {
		if _, err := s.opts.Directory.CheckSession(c.Request.Context(), cookie); err == nil {
			redirect(c, localPath(c.Query("next")))
			return
		}
	}
	s.renderLogin(c, http.StatusOK, loginForm{Next: localPath(c.Query("next"))}, nil)
}

// renderLogin renders the login form with a fresh pre-login CSRF value;
// fill, when not nil, sets the page's errors.
func (s *Server) renderLogin(c *gin.Context, status int, f loginForm, fill func(*uiPage)) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(c.Writer, &http.Cookie{Name: preloginCookie, Value: v, Path: "/login", HttpOnly: true,
		Secure: s.secureCookies(), SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	p := s.newPage(c)
	p.CSRF = csrfFor(v)
	p.Data = f
	if fill != nil {
		fill(p)
	}
	s.render(c, status, "login", p)
}

// postLogin checks the form's CSRF token, the login and the password. A
// wrong password, an unknown login, a locked and a disabled account all
// get the same message: it reveals nothing about the account.
func (s *Server) postLogin(c *gin.Context) {
	f := loginForm{Login: strings.TrimSpace(c.PostForm("login")), Next: localPath(c.PostForm("next"))}
	pre, _ := c.Cookie(preloginCookie)
	if !s.sameOrigin(c.Request) || pre == "" || !validCSRF(pre, c.PostForm(csrfField)) {
		s.renderLogin(c, http.StatusForbidden, f, func(p *uiPage) { p.Error = p.T("login.expired") })
		return
	}
	password := c.PostForm("password")
	if f.Login == "" || password == "" {
		s.renderLogin(c, http.StatusBadRequest, f, func(p *uiPage) {
			if f.Login == "" {
				p.SetFieldError("login", "login.login_required")
			}
			if password == "" {
				p.SetFieldError("password", "login.password_required")
			}
		})
		return
	}
	ctx := directory.WithClient(c.Request.Context(), "http:"+c.ClientIP())
	u, err := s.opts.Directory.Authenticate(ctx, f.Login, password)
	s.logLogin(c, f.Login, err)
	if errors.Is(err, directory.ErrInvalidCredentials) {
		s.renderLogin(c, http.StatusUnauthorized, f, func(p *uiPage) { p.Error = p.T("login.failed") })
		return
	}
	if err != nil {
		s.uiInternal(c, "log in", err)
		return
	}
	sess, err := s.opts.Directory.CreateSession(c.Request.Context(), u, c.ClientIP())
	if err != nil {
		s.uiInternal(c, "create session", err)
		return
	}
	s.setSessionCookie(c, sess.Cookie, sess.ExpiresAt)
	http.SetCookie(c.Writer, &http.Cookie{Name: preloginCookie, Path: "/login", MaxAge: -1, HttpOnly: true,
		Secure: s.secureCookies(), SameSite: http.SameSiteStrictMode})
	if u.MustChangePassword {
		f.Next = "/account"
	}
	redirect(c, f.Next)
}

// postLogout ends the session and goes to the login page.
func (s *Server) postLogout(c *gin.Context) {
	if err := s.opts.Directory.DeleteSession(c.Request.Context(), principalOf(c).cookie); err != nil {
		s.uiInternal(c, "log out", err)
		return
	}
	s.clearCookie(c)
	redirect(c, "/login")
}

// home sends the user to where their work is: a clerk's registers, a
// head's or staff member's referrals, everyone else their account.
func (s *Server) home(c *gin.Context) {
	u, _ := s.uiCurrentUser(c)
	switch {
	case u.HasRole("clerk"):
		redirect(c, "/registers")
	case u.HasRole("head"), u.HasRole("staff"):
		redirect(c, "/referrals")
	case u.HasRole("admin"), u.HasRole("ministry_admin"):
		redirect(c, "/admin/")
	default:
		redirect(c, "/account")
	}
}

// staticFiles serves web/static under /static/: the stylesheet, the script
// and the icon, cached by the browser for an hour.
func staticFiles() gin.HandlerFunc {
	sub, err := fs.Sub(web.Static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	h := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(c.Writer, c.Request)
	}
}
