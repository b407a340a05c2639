package httpd

// The web UI's frame (DESIGN.md §3a): the page templates of web/templates,
// the texts of web/locales in the user's language, and the page every UI
// handler renders. The handlers of each page are in ui_*.go; they call the
// same services as the API, never the API over HTTP.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"diwan.gov.sy/diwan/internal/workflow"
	"diwan.gov.sy/diwan/web"
)

// langCookie remembers the language chosen with ?lang= before login (and
// for a browser whose user has not chosen one).
const langCookie = "diwan_lang"

// uiCSP is the Content-Security-Policy of every UI page: nothing from
// another host, no inline script or style, no framing.
const uiCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ui holds the parsed pages and the localizers, built once by New.
type ui struct {
	pages map[string]*template.Template // page name (file name without .html) → layout + page
	loc   *time.Location                // time_zone: times are shown there
	text  map[string]*i18n.Localizer    // language → its texts
	// plain holds, per language, the texts that take no data, translated
	// once: a page of a register asks for hundreds, and a Localize call
	// costs a language match and a template's execution.
	plain map[string]map[string]string
}

// newUI parses every page of web/templates with the layout, and loads the
// locale files. A broken template or locale file fails start-up.
func newUI(loc *time.Location) (*ui, error) {
	bundle := i18n.NewBundle(language.Arabic)
	bundle.RegisterUnmarshalFunc("json", json.Unmarshal)
	u := &ui{pages: map[string]*template.Template{}, text: map[string]*i18n.Localizer{}, plain: map[string]map[string]string{}, loc: loc}
	for _, lang := range web.Languages {
		f, err := bundle.LoadMessageFileFS(web.Locales, "locales/"+lang+".json")
		if err != nil {
			return nil, fmt.Errorf("locale %s: %w", lang, err)
		}
		u.text[lang] = i18n.NewLocalizer(bundle, lang)
		u.plain[lang] = map[string]string{}
		for _, m := range f.Messages {
			if !strings.Contains(m.Other, "{{") {
				u.plain[lang][m.ID] = m.Other
			}
		}
	}
	files, err := fs.Glob(web.Templates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(u.funcs()).ParseFS(web.Templates, "templates/layout.html", f)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", f, err)
		}
		u.pages[name] = t
	}
	return u, nil
}

// funcs are the helpers every template may call. Texts are not among
// them: a page asks its uiPage (.T), which knows the language. Times are
// shown in time_zone, where register years and deadlines are counted,
// with Latin digits in both languages, as registers are kept.
func (u *ui) funcs() template.FuncMap {
	return template.FuncMap{
		"date":     func(t time.Time) string { return showTime(t, u.loc, time.DateOnly) },
		"datetime": func(t time.Time) string { return showTime(t, u.loc, "2006-01-02 15:04") },
	}
}

// showTime formats t in loc; the zero time is "".
func showTime(t time.Time, loc *time.Location, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format(layout)
}

// navItem is one link of the navigation bar.
type navItem struct {
	Href    string
	Label   string // message ID
	Count   int64  // shown as a counter when not 0
	Current bool
	Alert   bool // the counter is of something late
	More    bool // there are more than Count ("999+")
}

// uiUser is who is logged in, as the bar shows them.
type uiUser struct {
	Login string
	Name  string
	Where string // ministry and registry, as the bar shows them
	Roles []string
	// MustChange: the user must change their password before anything
	// else (DESIGN.md §3a).
	MustChange bool
}

// Has reports whether the user holds role.
func (u *uiUser) Has(role string) bool {
	for _, r := range u.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// uiPage is what the layout and a page's templates render: the frame's
// facts (language, user, navigation, CSRF token) and the page's own Data.
type uiPage struct {
	Lang, Dir     string
	OtherLang     string
	OtherLangHref string
	User          *uiUser
	Nav           []navItem
	CSRF          string            // the form field csrf_token of every form
	Flash         string            // a translated message of success
	Error         string            // a translated message of failure, above the page
	Errors        map[string]string // form field → translated message, next to the field
	Data          any               // the page's own data
	// AdminSection is the page of the administration this is (its
	// adminSections name), "" outside it.
	AdminSection string

	loc   *i18n.Localizer
	plain map[string]string // ui.plain of the page's language
	zone  *time.Location    // time_zone
}

// NavHTML writes the items of the navigation bar, each text escaped, as
// registerRows writes a register's rows: the layout's loop over them took
// some forty actions of the template on every page, a fifth of a
// register page's rendering.
func (p *uiPage) NavHTML() template.HTML {
	var b strings.Builder
	for _, n := range p.Nav {
		b.WriteString("\n      <li><a href=\"" + html.EscapeString(n.Href) + "\"")
		if n.Current {
			b.WriteString(` aria-current="page"`)
		}
		b.WriteString(">" + html.EscapeString(p.T(n.Label)))
		if n.Count != 0 {
			b.WriteString(` <span class="count`)
			if n.Alert {
				b.WriteString(" late")
			}
			b.WriteString(`">` + strconv.FormatInt(n.Count, 10))
			if n.More {
				b.WriteString("+")
			}
			b.WriteString("</span>")
		}
		b.WriteString("</a></li>")
	}
	return template.HTML(b.String()) // #nosec G203 -- every text escaped above
}

// datetime formats t as the templates' datetime does, for Go.
func (p *uiPage) datetime(t time.Time) string { return showTime(t, p.zone, "2006-01-02 15:04") }

// T translates a message ID into the page's language. args are pairs of
// template data names and values: .T "entries.count" "Count" 5.
func (p *uiPage) T(id string, args ...any) string {
	if s, ok := p.plain[id]; ok && len(args) < 2 {
		return s
	}
	var data map[string]any
	if len(args) > 1 {
		data = make(map[string]any, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			data[fmt.Sprint(args[i])] = args[i+1]
		}
	}
	s, err := p.loc.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data})
	if err != nil || s == "" {
		return id // a missing text shows its ID (a test holds the files complete)
	}
	return s
}

// FieldError is the message next to a form field, "" when it is fine.
func (p *uiPage) FieldError(field string) string { return p.Errors[field] }

// SetFieldError records a translated error next to a field.
func (p *uiPage) SetFieldError(field, messageID string, args ...any) {
	if p.Errors == nil {
		p.Errors = map[string]string{}
	}
	p.Errors[field] = p.T(messageID, args...)
}

// uiLanguage is the language of this request: ?lang= (remembered in a
// cookie, and for a logged-in user with their account), else the logged-in
// user's own choice, else the browser's cookie (the login page), else
// Arabic.
func (s *Server) uiLanguage(c *gin.Context) string {
	pr := principalOf(c)
	if l := c.Query("lang"); isUILanguage(l) {
		s.setLangCookie(c, l)
		if pr != nil && pr.Language != l {
			s.rememberLanguage(c, pr, l)
		}
		return l
	}
	if pr != nil && isUILanguage(pr.Language) {
		return pr.Language
	}
	if l, err := c.Cookie(langCookie); err == nil && isUILanguage(l) {
		return l
	}
	return web.Languages[0]
}

func (s *Server) setLangCookie(c *gin.Context, l string) {
	http.SetCookie(c.Writer, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode})
}

// rememberLanguage stores the language a logged-in user chose with their
// account. A failure is logged: the page is still shown in that language.
func (s *Server) rememberLanguage(c *gin.Context, pr *principal, l string) {
	if err := s.opts.Directory.SetLanguage(c.Request.Context(), pr.Actor(), pr.Login, l); err != nil {
		s.log.ErrorContext(c.Request.Context(), "ui: remember the language", "user", pr.Login, "error", err)
		return
	}
	pr.Language = l
}

func isUILanguage(l string) bool {
	for _, x := range web.Languages {
		if l == x {
			return true
		}
	}
	return false
}

// newPage starts the page of this request: language, direction, the
// logged-in user (when there is one) with their navigation, and the CSRF
// token of their session.
func (s *Server) newPage(c *gin.Context) *uiPage {
	lang := s.uiLanguage(c)
	p := &uiPage{Lang: lang, Dir: "rtl", OtherLang: "en", loc: s.ui.text[lang], plain: s.ui.plain[lang], zone: s.ui.loc}
	if lang != "ar" {
		p.Dir, p.OtherLang = "ltr", "ar"
	}
	q := c.Request.URL.Query()
	q.Set("lang", p.OtherLang)
	p.OtherLangHref = c.Request.URL.Path + "?" + q.Encode()
	if pr := principalOf(c); pr != nil {
		p.CSRF = csrfFor(pr.cookie)
		// The session's principal has what the bar shows: no other read.
		p.User = &uiUser{Login: pr.Login, Name: pr.Name, Roles: pr.Roles, Where: pr.Ministry, MustChange: pr.MustChangePassword}
		if p.User.Name == "" {
			p.User.Name = pr.Login
		}
		p.Nav = s.uiNav(c, p.User)
	}
	return p
}

// uiNav is the navigation of a user: only what their roles may do, with
// the counters of what waits for them (workflow.Counters, one query). A
// user who must change their password sees their account only.
func (s *Server) uiNav(c *gin.Context, u *uiUser) []navItem {
	if u.MustChange {
		return []navItem{{Href: "/account", Label: "nav.account", Current: true}}
	}
	clerk := u.Has("clerk")
	worker := clerk || u.Has("head") || u.Has("staff")
	var counts workflow.Counters
	if worker {
		counts = s.uiCounters(c)
		if len(counts.Registries) > 0 {
			u.Where += " · " + strings.Join(counts.Registries, " · ")
		}
	}
	var nav []navItem
	add := func(href, label string, count int64, show bool) {
		if show {
			nav = append(nav, counted(navItem{Href: href, Label: label, Current: strings.HasPrefix(c.Request.URL.Path, href)}, count))
		}
	}
	add("/registers", "nav.registers", counts.Waiting, clerk)
	add("/correspondence/new", "nav.new", 0, worker)
	add("/referrals", "nav.referrals", counts.Referrals, worker)
	if counts.Overdue > 0 {
		// Overdue work is in the clerk's registers, or in one's referrals.
		href := "/referrals?scope=mine"
		if clerk {
			href = "/registers?direction=incoming"
		}
		nav = append(nav, counted(navItem{Href: href, Label: "nav.overdue", Alert: true}, counts.Overdue))
	}
	add("/admin/", "nav.admin", 0, u.administers())
	add("/account", "nav.account", 0, true)
	return nav
}

// counted gives a navigation item its counter: workflow.Counters stop at
// CounterLimit, shown as "999+".
func counted(n navItem, count int64) navItem {
	n.Count = count
	if count >= workflow.CounterLimit {
		n.Count, n.More = workflow.CounterLimit-1, true
	}
	return n
}

// uiCounters are the counters of the navigation, kept a few seconds per
// user (uiCountersCache); a failure is logged and shows none (the page
// itself still works).
func (s *Server) uiCounters(c *gin.Context) workflow.Counters {
	n, err := s.counters.get(principalOf(c).Login, func() (workflow.Counters, error) {
		return asCaller(s, c, func(a workflow.Actor) (workflow.Counters, error) {
			return s.opts.Workflow.Counters(c.Request.Context(), a)
		})
	})
	if err != nil {
		s.log.ErrorContext(c.Request.Context(), "ui: count what waits", "user", principalOf(c).Login, "error", err)
	}
	return n
}

// render writes a page: the layout around the page's "content", in the
// page's language, with the UI's security headers. The page is rendered
// whole before anything is written, so a template error is a 500, never
// half a page.
func (s *Server) render(c *gin.Context, status int, name string, p *uiPage) {
	t, ok := s.ui.pages[name]
	if !ok {
		s.uiInternal(c, "render", fmt.Errorf("no page %q", name))
		return
	}
	b := renderBuffers.Get().(*bytes.Buffer)
	defer putRenderBuffer(b)
	if err := t.ExecuteTemplate(b, "layout", p); err != nil {
		s.uiInternal(c, "render "+name, err)
		return
	}
	uiHeaders(c)
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
}

// renderBuffers are the buffers pages are rendered into, kept between
// requests: grown from nothing to a page's 20 KB each time, a buffer cost
// a tenth of a register page's rendering.
var renderBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putRenderBuffer returns b to renderBuffers once its page is written
// (c.Data copies it); a buffer grown past 256 KB is left to the collector.
func putRenderBuffer(b *bytes.Buffer) {
	if b.Cap() > 256<<10 {
		return
	}
	b.Reset()
	renderBuffers.Put(b)
}

// uiHeaders are the headers of every UI response (DESIGN.md §3a).
func uiHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("Cache-Control", "no-store")
}

// uiError renders the error page with a title and a message (message IDs).
func (s *Server) uiError(c *gin.Context, status int, title, message string) {
	p := s.newPage(c)
	p.Data = struct{ Title, Message string }{title, message}
	s.render(c, status, "error", p)
}

// uiNotFound is the answer for what does not exist or the user may not
// see: the same page, so that nothing is revealed.
func (s *Server) uiNotFound(c *gin.Context) {
	s.uiError(c, http.StatusNotFound, "error.not_found.title", "error.not_found.message")
}

// uiInternal logs err once and answers a page that says nothing of it.
func (s *Server) uiInternal(c *gin.Context, doing string, err error) {
	s.log.ErrorContext(c.Request.Context(), "ui: "+doing, "method", c.Request.Method, "path", c.Request.URL.Path, "error", err)
	if _, ok := s.ui.pages["error"]; !ok || doing == "render error" {
		c.String(http.StatusInternalServerError, "internal error")
		return
	}
	s.uiError(c, http.StatusInternalServerError, "error.internal.title", "error.internal.message")
}

// redirect answers 303 See Other to a path of this site.
func redirect(c *gin.Context, to string) {
	c.Redirect(http.StatusSeeOther, to)
	c.Abort()
}

// localPath returns next when it is a path of this site (and not a
// scheme-relative or backslash trick that browsers take for another
// host), else "/".
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}
