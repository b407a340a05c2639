package httpd

// /admin/domains (DESIGN.md §3a): the hosted domains with their ministry,
// the form that hosts another for a ministry, and per domain
// (/admin/domains/{domain}) the DKIM records to publish in its DNS, made
// on first use as the API's GET /api/v1/domains/{domain}/dkim makes them
// (mailauth Keys.EnsureAs). The directory and mailauth decide who may.

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/mailauth"
)

// domainFields are the fields of the form that hosts a domain, as the
// directory names them.
var domainFields = []string{"domain", "ministry"}

// dkimLine is a DKIM record as the page shows it.
type dkimLine struct {
	mailauth.Record
	Zone string // the record as a zone file line
}

// domainsData is what admin_domains.html shows.
type domainsData struct {
	Items      []directory.Domain
	Ministries []directory.Ministry
	Form       orgForm
	Fields     []orgField
	// DKIM is the domain whose records are shown ("" none), and Records
	// its records.
	DKIM    string
	Records []dkimLine
}

// domainsPage lists the hosted domains.
func (s *Server) domainsPage(c *gin.Context) {
	p := s.newAdminPage(c, "domains")
	d, ok := s.domainsData(c, p)
	if !ok {
		return
	}
	orgDone(c, p, "domains")
	s.showDomains(c, p, http.StatusOK, d)
}

// domainPage lists the hosted domains and shows one's DKIM records.
func (s *Server) domainPage(c *gin.Context) {
	p := s.newAdminPage(c, "domains")
	d, ok := s.domainsData(c, p)
	if !ok {
		return
	}
	recs, err := s.opts.DKIM.EnsureAs(c.Request.Context(), principalOf(c).Principal, c.Param("domain"))
	if err != nil {
		if status, ok := s.orgFail(c, p, "domains", "dkim records", err, ""); ok {
			s.showDomains(c, p, status, d)
		}
		return
	}
	d.DKIM = c.Param("domain")
	if canon, err := directory.CanonicalDomain(d.DKIM); err == nil {
		d.DKIM = canon
	}
	for _, r := range recs {
		d.Records = append(d.Records, dkimLine{Record: r, Zone: r.String()})
	}
	s.showDomains(c, p, http.StatusOK, d)
}

// domainsData reads the hosted domains (as the caller: an administrator's
// alone) and the ministries.
func (s *Server) domainsData(c *gin.Context, p *uiPage) (*domainsData, bool) {
	ctx := c.Request.Context()
	ds, err := s.opts.Directory.DomainsAs(ctx, principalOf(c).Principal)
	if err != nil {
		if status, ok := s.orgFail(c, p, "domains", "list domains", err, ""); ok {
			s.uiError(c, status, "error.internal.title", "error.internal.message")
		}
		return nil, false
	}
	ms, err := s.opts.Directory.Ministries(ctx)
	if err != nil {
		s.uiInternal(c, "list ministries", err)
		return nil, false
	}
	return &domainsData{Items: ds, Ministries: ms, Form: orgForm{}}, true
}

func (s *Server) showDomains(c *gin.Context, p *uiPage, status int, d *domainsData) {
	for _, n := range domainFields {
		f := p.orgFieldOf("domains", n, d.Form)
		f.Required, f.LTR = true, true
		if n == "ministry" {
			f.Kind, f.Options = "select", p.orgMinistryOptions(d.Ministries)
		} else {
			f.Hint = p.T("admin.domains.hint.domain")
		}
		d.Fields = append(d.Fields, f)
	}
	p.Data = d
	s.render(c, status, "admin_domains", p)
}

// adminAddDomain hosts a domain for a ministry (directory.AddDomainAs).
func (s *Server) adminAddDomain(c *gin.Context) {
	f := orgFormOf(c, domainFields...)
	_, err := s.opts.Directory.AddDomainAs(c.Request.Context(), principalOf(c).Principal, f["domain"], f["ministry"])
	if err == nil {
		redirect(c, "/admin/domains?done=added")
		return
	}
	p := s.newAdminPage(c, "domains")
	status, ok := s.orgFail(c, p, "domains", "add a domain", err, "domain", domainFields...)
	if !ok {
		return
	}
	d, ok := s.domainsData(c, p)
	if !ok {
		return
	}
	d.Form = f
	s.showDomains(c, p, status, d)
}
