package httpd

// The audit log page (DESIGN.md §3a, §4a): /admin/audit lists the events,
// newest first, filtered by actor, action, object (exact) and a time range
// (since inclusive, until exclusive: RFC 3339, or a date YYYY-MM-DD, its
// midnight UTC, as the violations dashboard links them), a page at a time
// by a keyset cursor like the API's; each event with its details and its
// link in the chain. POST /admin/audit/verify walks the chain and shows
// the answer `diwan admin audit verify` prints. Who may read is the audit
// log's decision (audit.Reader): anyone else gets the page that does not
// exist.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/directory"
)

// auditPerPage is the length of a page of /admin/audit.
const auditPerPage = 50

// maxAuditFilter bounds a filter's text (an address is at most 320).
const maxAuditFilter = 400

// auditFilterForm is the filter form as the user filled it.
type auditFilterForm struct {
	Actor, Action, Object, Since, Until string
}

// auditEventView is one event as the page shows it.
type auditEventView struct {
	ID             int64
	When           string // in time_zone, to the second
	ISO            string // RFC 3339, UTC
	Actor, Action  string
	Object         string
	Details        []auditDetail // by key
	Seq            int64         // 0: waiting to be linked
	Hash, PrevHash string
}

// auditDetail is one entry of an event's details.
type auditDetail struct{ Key, Value string }

// auditVerifyView is the answer of "verify the chain".
type auditVerifyView struct {
	OK      bool
	Linked  int64
	Waiting int64
	Broken  *audit.Break
	Line    string // what `diwan admin audit verify` prints
}

// auditPageData is what admin_audit.html shows.
type auditPageData struct {
	Form     auditFilterForm
	Events   []auditEventView
	Invalid  bool   // a filter is wrong: no events are listed
	Paged    bool   // this is a later page
	FirstURL string // the first page of the same filter
	NextURL  string // "" on the last page
	Verify   *auditVerifyView
	Zone     string // time_zone, where the times are shown
}

// auditPage shows a page of the audit log.
func (s *Server) auditPage(c *gin.Context) {
	s.showAudit(c, nil)
}

// verifyAuditForm verifies the chain and shows the answer above the
// newest events.
func (s *Server) verifyAuditForm(c *gin.Context) {
	who, ok := s.callerForPage(c)
	if !ok {
		return
	}
	r, err := s.opts.Audit.VerifyAs(c.Request.Context(), who)
	if err != nil {
		s.uiAuditFail(c, "verify the audit log", err)
		return
	}
	v := &auditVerifyView{OK: r.Broken == nil, Linked: r.Linked, Waiting: r.Waiting, Broken: r.Broken, Line: r.String()}
	s.showAudit(c, v)
}

// showAudit renders the page of the filter in the query, with the answer
// of a verification when there is one.
func (s *Server) showAudit(c *gin.Context, v *auditVerifyView) {
	p := s.newAdminPage(c, "audit")
	d := &auditPageData{Verify: v, Zone: p.zone.String()}
	p.Data = d
	who, ok := s.callerForPage(c)
	if !ok {
		return
	}
	if !who.MayReadAudit() {
		// The log's own answer, asked before anything is read.
		s.uiAuditFail(c, "read the audit log", audit.ErrForbidden)
		return
	}
	q := c.Request.URL.Query()
	if c.Request.Method == http.MethodPost {
		// The answer of a verification, above the newest events; the
		// other language is the log's page.
		q = url.Values{}
		p.OtherLangHref = "/admin/audit?lang=" + p.OtherLang
	}
	f, ok := readAuditFilter(p, q, &d.Form)
	if !ok {
		d.Invalid = true
		s.render(c, http.StatusUnprocessableEntity, "admin_audit", p)
		return
	}
	pg, err := s.opts.Audit.Search(c.Request.Context(), who, f)
	if err != nil {
		s.uiAuditFail(c, "read the audit log", err)
		return
	}
	for _, r := range pg.Records {
		d.Events = append(d.Events, newAuditEventView(p, r))
	}
	d.Paged = f.After != nil
	d.FirstURL = d.Form.url(nil)
	if pg.Next != nil {
		d.NextURL = d.Form.url(pg.Next)
	}
	s.render(c, http.StatusOK, "admin_audit", p)
}

// readAuditFilter reads the filter of the query into form and the
// service's Filter; a wrong value is an error next to its field (false).
func readAuditFilter(p *uiPage, q url.Values, form *auditFilterForm) (audit.Filter, bool) {
	*form = auditFilterForm{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")),
		Object: strings.TrimSpace(q.Get("object")), Since: strings.TrimSpace(q.Get("since")), Until: strings.TrimSpace(q.Get("until"))}
	f := audit.Filter{Actor: form.Actor, Action: form.Action, Target: form.Object, Limit: auditPerPage}
	for field, v := range map[string]string{"actor": form.Actor, "action": form.Action, "object": form.Object} {
		if utf8.RuneCountInString(v) > maxAuditFilter || !utf8.ValidString(v) {
			p.SetFieldError(field, "admin.audit.error.too_long", "Max", maxAuditFilter)
		}
	}
	var ok bool
	if f.Since, ok = parseAuditTime(form.Since); !ok {
		p.SetFieldError("since", "admin.audit.error.time")
	}
	if f.Until, ok = parseAuditTime(form.Until); !ok {
		p.SetFieldError("until", "admin.audit.error.time")
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) && p.FieldError("until") == "" && p.FieldError("since") == "" {
		p.SetFieldError("until", "admin.audit.error.range")
	}
	if v := q.Get("cursor"); v != "" {
		cur, err := parseCursor(v)
		if err != nil {
			p.Error = p.T("admin.audit.error.cursor")
		} else {
			f.After = &cur
		}
	}
	return f, len(p.Errors) == 0 && p.Error == ""
}

// parseAuditTime reads a time of the filter: "" (none), RFC 3339, or a date
// YYYY-MM-DD (its midnight UTC).
func parseAuditTime(v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, true
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// url is the page of the filter starting after cursor (nil: the first).
func (f auditFilterForm) url(after *audit.Cursor) string {
	q := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "action": f.Action, "object": f.Object, "since": f.Since, "until": f.Until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if after != nil {
		q.Set("cursor", fmt.Sprintf("%d.%d", after.Time.UnixMicro(), after.ID))
	}
	if len(q) == 0 {
		return "/admin/audit"
	}
	return "/admin/audit?" + q.Encode()
}

func newAuditEventView(p *uiPage, r audit.Record) auditEventView {
	v := auditEventView{ID: r.ID, When: showTime(r.Time, p.zone, "2006-01-02 15:04:05 -07:00"),
		ISO: r.Time.UTC().Format(time.RFC3339Nano), Actor: r.Actor, Action: r.Action, Object: r.Target,
		Seq: r.Seq, Hash: r.Hash, PrevHash: r.PrevHash}
	for k, x := range r.Details {
		v.Details = append(v.Details, auditDetail{Key: k, Value: auditDetailText(x)})
	}
	slices.SortFunc(v.Details, func(a, b auditDetail) int { return strings.Compare(a.Key, b.Key) })
	return v
}

// auditDetailText is a detail's value as text: a string as it is, anything
// else as JSON.
func auditDetailText(x any) string {
	if s, ok := x.(string); ok {
		return s
	}
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Sprint(x)
	}
	return string(b)
}

// callerForPage is the logged-in user as the services judge them, read afresh
// (roles changed a moment ago count); false: it answered the request.
func (s *Server) callerForPage(c *gin.Context) (directory.Principal, bool) {
	p, err := s.opts.Directory.Principal(c.Request.Context(), principalOf(c).UserID)
	if err != nil {
		s.uiAuditFail(c, "read the caller", err)
		return p, false
	}
	return p, true
}

// uiAuditFail answers an error of the audit log or the directory: what the
// caller may not read does not exist for them (404).
func (s *Server) uiAuditFail(c *gin.Context, doing string, err error) {
	if errors.Is(err, audit.ErrForbidden) || errors.Is(err, directory.ErrNotFound) {
		s.uiNotFound(c)
		return
	}
	s.uiInternal(c, doing, err)
}
