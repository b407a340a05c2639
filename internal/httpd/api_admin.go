package httpd

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/mailauth"
)

// Administration of the directory (DESIGN.md §6a): hosted domains and
// their DKIM records, aliases, ministries' names. The directory (and
// mailauth, for DKIM keys) decides who may; the handlers bind, call and
// render.

type domainDTO struct {
	Name      string    `json:"name"`
	ASCII     string    `json:"ascii"`
	Ministry  string    `json:"ministry"`
	CreatedAt time.Time `json:"created_at"`
}

func toDomainDTO(d directory.Domain) domainDTO {
	return domainDTO{Name: d.Name, ASCII: d.ASCII, Ministry: d.Ministry, CreatedAt: d.CreatedAt}
}

type newDomainRequest struct {
	Name     string `json:"name" required:"true"`
	Ministry string `json:"ministry" required:"true"`
}

// dkimRecordDTO is a DNS TXT record to publish: what
// `diwan admin domain dkim` prints.
type dkimRecordDTO struct {
	Selector  string `json:"selector"`
	Algorithm string `json:"algorithm"`
	Name      string `json:"name"`
	TXT       string `json:"txt"`
	// Zone is the record as a zone file line, its text cut in strings
	// of at most 255 bytes.
	Zone   string `json:"zone"`
	Active bool   `json:"active"`
	// RetiresAt: a retiring key stays published until then.
	RetiresAt *time.Time `json:"retires_at"`
}

type dkimDTO struct {
	Domain  string          `json:"domain"`
	Records []dkimRecordDTO `json:"records"`
}

type aliasDTO struct {
	Address   string    `json:"address"`
	To        []string  `json:"to"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

func toAliasDTO(a directory.Alias) aliasDTO {
	return aliasDTO{Address: a.Address, To: a.Targets, CreatedBy: a.CreatedBy, CreatedAt: a.CreatedAt}
}

type newAliasRequest struct {
	Address string   `json:"address" required:"true"`
	To      []string `json:"to" required:"true"`
}

type ministryPatch struct {
	NameAR *string `json:"name_ar"`
	NameEN *string `json:"name_en"`
}

func (s *Server) listDomains(c *gin.Context) {
	p, ok := parsePage(c)
	if !ok {
		return
	}
	who, ok := s.caller(c)
	if !ok {
		return
	}
	ds, err := s.opts.Directory.DomainsAs(c.Request.Context(), who)
	if err != nil {
		s.coreError(c, "list domains", err)
		return
	}
	c.JSON(http.StatusOK, pageOf(ds, p, toDomainDTO))
}

func (s *Server) addDomain(c *gin.Context) {
	var req newDomainRequest
	if !decodeJSON(c, &req) {
		return
	}
	who, ok := s.caller(c)
	if !ok {
		return
	}
	d, err := s.opts.Directory.AddDomainAs(c.Request.Context(), who, req.Name, req.Ministry)
	if err != nil {
		s.coreError(c, "add domain", err)
		return
	}
	c.JSON(http.StatusCreated, toDomainDTO(d))
}

func (s *Server) domainDKIM(c *gin.Context) {
	who, ok := s.caller(c)
	if !ok {
		return
	}
	recs, err := s.opts.DKIM.EnsureAs(c.Request.Context(), who, c.Param("domain"))
	if err != nil {
		s.coreError(c, "dkim records", err)
		return
	}
	out := dkimDTO{Domain: c.Param("domain"), Records: mapSlice(recs, func(r mailauth.Record) dkimRecordDTO {
		return dkimRecordDTO{Selector: r.Selector, Algorithm: r.Algorithm, Name: r.Name, TXT: r.TXT, Zone: r.String(),
			Active: r.Active, RetiresAt: r.RetiresAt}
	})}
	if d, err := directory.CanonicalDomain(out.Domain); err == nil {
		out.Domain = d
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) listAliases(c *gin.Context) {
	p, ok := parsePage(c)
	if !ok {
		return
	}
	who, ok := s.caller(c)
	if !ok {
		return
	}
	as, err := s.opts.Directory.AliasesAs(c.Request.Context(), who)
	if err != nil {
		s.coreError(c, "list aliases", err)
		return
	}
	c.JSON(http.StatusOK, pageOf(as, p, toAliasDTO))
}

func (s *Server) addAlias(c *gin.Context) {
	var req newAliasRequest
	if !decodeJSON(c, &req) {
		return
	}
	who, ok := s.caller(c)
	if !ok {
		return
	}
	a, err := s.opts.Directory.AddAliasAs(c.Request.Context(), who, req.Address, req.To)
	if err != nil {
		s.coreError(c, "add alias", err)
		return
	}
	c.JSON(http.StatusCreated, toAliasDTO(a))
}

func (s *Server) removeAlias(c *gin.Context) {
	who, ok := s.caller(c)
	if !ok {
		return
	}
	if err := s.opts.Directory.RemoveAliasAs(c.Request.Context(), who, c.Param("address")); err != nil {
		s.coreError(c, "remove alias", err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) updateMinistry(c *gin.Context) {
	var req ministryPatch
	if !decodeJSON(c, &req) {
		return
	}
	who, ok := s.caller(c)
	if !ok {
		return
	}
	m, err := s.opts.Directory.UpdateMinistryAs(c.Request.Context(), who, c.Param("code"),
		directory.MinistryUpdate{NameAR: req.NameAR, NameEN: req.NameEN})
	if err != nil {
		s.coreError(c, "update ministry", err)
		return
	}
	c.JSON(http.StatusOK, toMinistryDTO(m))
}
