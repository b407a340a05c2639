package httpd

import (
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
)

// The account page (/account): who the user is, the change of their own
// password and the language of their pages. A user who must change their
// password is sent here and may go nowhere else (password_change.go).

// accountDone are the flash messages /account?done=KEY may show.
var accountDone = map[string]bool{"password": true, "language": true}

// accountPage is what account.html shows.
type accountPage struct {
	Login, Name, Where string
	Roles              []string
	Language           string // the language of the page: the one chosen
	Languages          []string
	MustChange         bool
	MinLength          int
	MailProfile        bool // the Apple mail profile can be downloaded
}

func (s *Server) accountData(c *gin.Context, p *uiPage) *accountPage {
	d := &accountPage{Login: p.User.Login, Name: p.User.Name, Where: p.User.Where, Roles: p.User.Roles,
		Language: p.Lang, Languages: directory.Languages, MustChange: p.User.MustChange,
		MinLength: s.opts.Directory.MinPasswordLength()}
	if ok, err := s.hasMailProfile(c.Request.Context(), p.User.Login); err == nil {
		d.MailProfile = ok
	} else {
		s.log.Warn("account page: mail profile", "login", p.User.Login, "err", err)
	}
	p.Data = d
	return d
}

// getAccount shows the account page.
func (s *Server) getAccount(c *gin.Context) {
	p := s.newPage(c)
	s.accountData(c, p)
	if k := c.Query("done"); accountDone[k] {
		p.Flash = p.T("account.done." + k)
	}
	s.render(c, http.StatusOK, "account", p)
}

// postAccountPassword changes the user's own password. Every mistake is
// said next to its field, in the user's language; a wrong current
// password counts as a failed login.
func (s *Server) postAccountPassword(c *gin.Context) {
	p := s.newPage(c)
	d := s.accountData(c, p)
	current, next, confirm := c.PostForm("current_password"), c.PostForm("new_password"), c.PostForm("confirm_password")
	switch {
	case current == "":
		p.SetFieldError("current_password", "account.error.current_required")
	case next == "":
		p.SetFieldError("new_password", "account.error.new_required")
	case utf8.RuneCountInString(next) < d.MinLength:
		p.SetFieldError("new_password", "account.error.new_short", "Min", d.MinLength)
	case next != confirm:
		p.SetFieldError("confirm_password", "account.error.confirm")
	case next == current:
		p.SetFieldError("new_password", "account.error.new_same")
	}
	if len(p.Errors) > 0 {
		s.render(c, http.StatusBadRequest, "account", p)
		return
	}
	ctx := directory.WithClient(c.Request.Context(), "http:"+c.ClientIP())
	err := s.opts.Directory.ChangePassword(ctx, p.User.Login, current, next)
	var ie *directory.InputError
	switch {
	case err == nil:
		redirect(c, "/account?done=password")
	case errors.As(err, &ie) && ie.Field == "current_password":
		p.SetFieldError("current_password", "account.error.current_wrong")
		s.render(c, http.StatusBadRequest, "account", p)
	case errors.As(err, &ie):
		p.SetFieldError("new_password", "account.error.new_invalid")
		s.render(c, http.StatusBadRequest, "account", p)
	default:
		s.uiInternal(c, "change the password", err)
	}
}

// postAccountLanguage records the language the user chose, for their
// account and this browser.
func (s *Server) postAccountLanguage(c *gin.Context) {
	l := c.PostForm("language")
	if !isUILanguage(l) {
		p := s.newPage(c)
		s.accountData(c, p)
		p.SetFieldError("language", "account.error.language")
		s.render(c, http.StatusBadRequest, "account", p)
		return
	}
	pr := principalOf(c)
	if err := s.opts.Directory.SetLanguage(c.Request.Context(), pr.Actor(), pr.Login, l); err != nil {
		s.uiInternal(c, "set the language", err)
		return
	}
	s.setLangCookie(c, l)
	redirect(c, "/account?done=language")
}
