package httpd

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/audit"
)

// The audit log (DESIGN.md §4a, §6a): administrators read it, newest
// first, a page at a time, and verify its chain. Pages are found by a
// keyset cursor, not page numbers: counting the matches of a filter over
// millions of events costs more than reading a page, so the answer is
// {"items": […], "next_cursor": "…"} without a total; the last page has no
// next_cursor.

type auditEventDTO struct {
	ID      int64          `json:"id"`
	Time    time.Time      `json:"time"`
	Actor   string         `json:"actor"`
	Action  string         `json:"action"`
	Object  string         `json:"object"`
	Details map[string]any `json:"details"`
	// Seq is the event's place in the hash chain; absent while it waits
	// to be linked.
	Seq int64 `json:"seq,omitempty"`
}

type auditPageDTO struct {
	Items      []auditEventDTO `json:"items"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

type auditBreakDTO struct {
	EventID int64  `json:"event_id"`
	Seq     int64  `json:"seq"`
	Waiting bool   `json:"waiting"`
	Reason  string `json:"reason"`
}

// auditVerifyDTO is what `diwan admin audit verify` prints, as JSON:
// Result is its line ("ok N events (M waiting)" or the first break).
type auditVerifyDTO struct {
	OK      bool           `json:"ok"`
	Linked  int64          `json:"linked"`
	Waiting int64          `json:"waiting"`
	Broken  *auditBreakDTO `json:"broken"`
	Result  string         `json:"result"`
}

func toAuditEventDTO(r audit.Record) auditEventDTO {
	d := r.Details
	if d == nil {
		d = map[string]any{}
	}
	return auditEventDTO{ID: r.ID, Time: r.Time, Actor: r.Actor, Action: r.Action, Object: r.Target, Details: d, Seq: r.Seq}
}

func (s *Server) listAudit(c *gin.Context) {
	f := audit.Filter{Actor: c.Query("actor"), Action: c.Query("action"), Target: c.Query("object"), Limit: defaultPerPage}
	var ok bool
	if f.Since, ok = parseTimeParam(c, "since"); !ok {
		return
	}
	if f.Until, ok = parseTimeParam(c, "until"); !ok {
		return
	}
	if v, given := c.GetQuery("per_page"); given {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPerPage {
			WriteError(c, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("per_page must be an integer from 1 to %d", maxPerPage), "per_page")
			return
		}
		f.Limit = n
	}
	if v := c.Query("cursor"); v != "" {
		cur, err := parseCursor(v)
		if err != nil {
			WriteError(c, http.StatusBadRequest, "invalid_parameter", "cursor must be the next_cursor of a page, unchanged", "cursor")
			return
		}
		f.After = &cur
	}
	who, ok := s.caller(c)
	if !ok {
		return
	}
	p, err := s.opts.Audit.Search(c.Request.Context(), who, f)
	if err != nil {
		s.coreError(c, "read the audit log", err)
		return
	}
	out := auditPageDTO{Items: mapSlice(p.Records, toAuditEventDTO)}
	if p.Next != nil {
		out.NextCursor = fmt.Sprintf("%d.%d", p.Next.Time.UnixMicro(), p.Next.ID)
	}
	c.JSON(http.StatusOK, out)
}

// parseCursor reads a next_cursor: "UNIXMICRO.ID".
func parseCursor(v string) (audit.Cursor, error) {
	t, id, ok := strings.Cut(v, ".")
	if !ok {
		return audit.Cursor{}, fmt.Errorf("no dot")
	}
	us, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return audit.Cursor{}, err
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 1 {
		return audit.Cursor{}, fmt.Errorf("bad id %q", id)
	}
	return audit.Cursor{Time: time.UnixMicro(us).UTC(), ID: n}, nil
}

// parseTimeParam reads an optional time query parameter: RFC 3339, or a
// date (YYYY-MM-DD, its midnight UTC).
func parseTimeParam(c *gin.Context, name string) (time.Time, bool) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, true
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true
	}
	WriteError(c, http.StatusBadRequest, "invalid_parameter",
		fmt.Sprintf("%s must be a time (RFC 3339) or a date (YYYY-MM-DD), not %q", name, clip(v)), name)
	return time.Time{}, false
}

func (s *Server) verifyAudit(c *gin.Context) {
	who, ok := s.caller(c)
	if !ok {
		return
	}
	r, err := s.opts.Audit.VerifyAs(c.Request.Context(), who)
	if err != nil {
		s.coreError(c, "verify the audit log", err)
		return
	}
	out := auditVerifyDTO{OK: r.Broken == nil, Linked: r.Linked, Waiting: r.Waiting, Result: r.String()}
	if b := r.Broken; b != nil {
		out.Broken = &auditBreakDTO{EventID: b.EventID, Seq: b.Seq, Waiting: b.Waiting, Reason: b.Reason}
	}
	c.JSON(http.StatusOK, out)
}
