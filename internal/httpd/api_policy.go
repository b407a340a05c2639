package httpd

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/policy"
)

// The national-mail policy (DESIGN.md §4, §6a): its rules, a test of an
// address, and the violations. The policy service decides who may read
// and change it; the handlers bind, call and render.

type ruleDTO struct {
	Pattern   string    `json:"pattern"`
	Action    string    `json:"action" enum:"allow,deny"`
	Note      string    `json:"note"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

func toRuleDTO(r policy.Rule) ruleDTO {
	return ruleDTO{Pattern: r.Pattern, Action: r.Action, Note: r.Note, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt}
}

type newRuleRequest struct {
	Pattern string `json:"pattern" required:"true"`
	Action  string `json:"action" enum:"allow,deny" required:"true"`
	Note    string `json:"note"`
	// Confirm makes a deny rule that covers hosted domains; without it
	// such a rule is refused with 409 confirm_required naming them.
	Confirm bool `json:"confirm"`
}

// replyDTO is an SMTP reply the policy gives.
type replyDTO struct {
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced"`
	Message  string `json:"message"`
}

type policyTestDTO struct {
	Address string `json:"address"`
	Domain  string `json:"domain"`
	// Decision is "allow" (national) or "deny"; Rule what made it:
	// "deny:.example.sy", "allow:gov.sy", "suffix:.gov.sy",
	// "hosted:mof.gov.sy", "mixed-script", "default".
	Decision    string   `json:"decision" enum:"allow,deny"`
	Rule        string   `json:"rule"`
	AsRecipient replyDTO `json:"as_recipient"`
	AsSender    replyDTO `json:"as_sender"`
}

type violationCountDTO struct {
	Key      string         `json:"key"`
	Total    int            `json:"total"`
	ByReason map[string]int `json:"by_reason"`
}

type violationsDTO struct {
	Since    time.Time           `json:"since"`
	Until    time.Time           `json:"until"`
	By       string              `json:"by" enum:"user,domain,day"`
	Refusals int                 `json:"refusals"`
	Items    []violationCountDTO `json:"items"`
	Total    int64               `json:"total"`
	// Truncated: more refusals matched than are counted; the counts cover
	// the newest.
	Truncated bool `json:"truncated"`
}

// caller is the caller as the core services authorise them, read afresh:
// a kept API token's roles may be seconds old, a change of the policy or
// a read of the audit log must not act on them.
func (s *Server) caller(c *gin.Context) (directory.Principal, bool) {
	p, err := s.opts.Directory.Principal(c.Request.Context(), principalOf(c).UserID)
	if errors.Is(err, directory.ErrNotFound) {
		unauthenticated(c)
		return p, false
	}
	if err != nil {
		s.internalError(c, "read the caller", err)
		return p, false
	}
	return p, true
}

func (s *Server) listPolicyRules(c *gin.Context) {
	p, ok := parsePage(c)
	if !ok {
		return
	}
	who, ok := s.caller(c)
	if !ok {
		return
	}
	rules, err := s.opts.Policy.RulesAs(c.Request.Context(), who)
	if err != nil {
		s.coreError(c, "list policy rules", err)
		return
	}
	c.JSON(http.StatusOK, pageOf(rules, p, toRuleDTO))
}

func (s *Server) addPolicyRule(c *gin.Context) {
	var req newRuleRequest
	if !decodeJSON(c, &req) || !oneOf(c, "action", req.Action, policy.Allow, policy.Deny) {
		return
	}
	if req.Action == "" {
		WriteError(c, http.StatusBadRequest, "missing_field", "action is required: allow or deny", "action")
		return
	}
	who, ok := s.caller(c)
	if !ok {
		return
	}
	r, err := s.opts.Policy.AddRule(c.Request.Context(), who, policy.NewRule{
		Pattern: req.Pattern, Action: req.Action, Note: req.Note, Confirm: req.Confirm})
	if err != nil {
		s.coreError(c, "add policy rule", err)
		return
	}
	c.JSON(http.StatusCreated, toRuleDTO(r))
}

func (s *Server) removePolicyRule(c *gin.Context) {
	who, ok := s.caller(c)
	if !ok {
		return
	}
	if err := s.opts.Policy.RemoveRule(c.Request.Context(), who, c.Param("pattern")); err != nil {
		s.coreError(c, "remove policy rule", err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) testPolicy(c *gin.Context) {
	address := c.Query("address")
	if address == "" {
		WriteError(c, http.StatusBadRequest, "missing_field", "address is required: an address or a domain", "address")
		return
	}
	who, ok := s.caller(c)
	if !ok {
		return
	}
	t, err := s.opts.Policy.TestAs(c.Request.Context(), who, address)
	if err != nil {
		s.coreError(c, "test policy", err)
		return
	}
	d := policyTestDTO{Address: address, Domain: t.Outbound.Domain, Decision: policy.Deny, Rule: t.Outbound.Rule,
		AsRecipient: replyDTO{t.Outbound.Code, t.Outbound.Enhanced, t.Outbound.Message},
		AsSender:    replyDTO{t.Inbound.Code, t.Inbound.Enhanced, t.Inbound.Message}}
	if t.Outbound.Allow {
		d.Decision = policy.Allow
	}
	c.JSON(http.StatusOK, d)
}

// defaultViolationsSince is how far back violations are counted without
// ?since=.
const defaultViolationsSince = 24 * time.Hour

func (s *Server) listViolations(c *gin.Context) {
	p, ok := parsePage(c)
	if !ok {
		return
	}
	by := c.DefaultQuery("by", "user")
	if !oneOf(c, "by", by, policy.Groupings...) {
		return
	}
	now := time.Now().UTC()
	since, ok := parseSince(c, now)
	if !ok {
		return
	}
	who, ok := s.caller(c)
	if !ok {
		return
	}
	v, err := s.opts.Policy.ViolationsAs(c.Request.Context(), who, s.opts.Audit, since, now.Add(time.Second))
	if err != nil {
		s.coreError(c, "summarise violations", err)
		return
	}
	counts := v.By(by)
	l := pageOf(counts, p, func(n policy.Count) violationCountDTO {
		return violationCountDTO{Key: n.Key, Total: n.Total, ByReason: n.ByReason}
	})
	c.JSON(http.StatusOK, violationsDTO{Since: v.Since, Until: v.Until, By: by, Refusals: v.Total,
		Items: l.Items, Total: l.Total, Truncated: v.Truncated})
}

// parseSince reads ?since=: a time (RFC 3339), a date (YYYY-MM-DD, from
// its midnight UTC), or how far back (a duration such as 90m or 24h, or
// days: 7d). Absent, defaultViolationsSince.
func parseSince(c *gin.Context, now time.Time) (time.Time, bool) {
	v := c.Query("since")
	if v == "" {
		return now.Add(-defaultViolationsSince), true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true
	}
	if n, ok := strings.CutSuffix(v, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 && days <= 3660 {
			return now.AddDate(0, 0, -days), true
		}
	} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), true
	}
	WriteError(c, http.StatusBadRequest, "invalid_parameter",
		fmt.Sprintf("since must be a time (RFC 3339), a date (YYYY-MM-DD) or how far back (24h, 7d), not %q", clip(v)), "since")
	return time.Time{}, false
}
