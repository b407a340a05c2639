package httpd

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/input"
	"diwan.gov.sy/diwan/internal/policy"
)

// The national-mail policy in the browser (/admin/policy, DESIGN.md §3a):
// the rules, adding an allow or deny rule with its note, removing one,
// and a test of an address. The policy service decides who may read and
// change it (policy.RulesAs, AddRule, RemoveRule, TestAs): for anyone else
// the page does not exist. A deny rule that covers hosted domains is made
// only once the administrator has confirmed it, having been shown what it
// covers.

// policyDone are the flash messages /admin/policy?done=KEY may show.
var policyDone = map[string]bool{"added": true, "removed": true}

// policyForm is the form of a new rule, as sent (refilled on an error).
type policyForm struct {
	Pattern, Action, Note string
}

// policyConfirm is the confirmation a deny rule covering hosted domains
// asks for: the rule as sent, and the hosted domains it would deny.
type policyConfirm struct {
	policyForm
	Canonical string // the pattern as it would be stored
	Covers    []string
}

// policyDecision is one side of a test: national or refused, the rule
// that decided, and the SMTP reply the mail would get.
type policyDecision struct {
	National bool
	Rule     string // policy.Decision.Rule: "deny:.example.sy"…
	Why      string // Rule in words, in the page's language
	Reply    string // "550 5.7.1 …"
}

// policyTest is the answer of the "test an address" box.
type policyTest struct {
	Domain            string
	Outbound, Inbound policyDecision
}

// policyPage is what admin_policy.html shows.
type policyPage struct {
	Rules    []policy.Rule
	Form     policyForm
	Confirm  *policyConfirm
	Address  string
	Test     *policyTest
	Suffixes []string // the configured national suffixes, which are not rules
}

// policyData reads the rules into a new page of the policy; false when it
// answered the request itself (not an administrator of the policy, or an
// error).
func (s *Server) policyData(c *gin.Context) (*uiPage, *policyPage, bool) {
	p := s.newAdminPage(c, "policy")
	d := &policyPage{Form: policyForm{Action: policy.Deny}, Suffixes: s.opts.Policy.NationalSuffixes()}
	p.Data = d
	rules, err := s.opts.Policy.RulesAs(c.Request.Context(), principalOf(c).Principal)
	if err != nil {
		s.policyFail(c, "list policy rules", err)
		return nil, nil, false
	}
	d.Rules = rules
	return p, d, true
}

// policyFail answers what the page cannot show: a caller who may not
// administer the policy sees no such page (404); anything else is logged.
func (s *Server) policyFail(c *gin.Context, doing string, err error) {
	if errors.Is(err, policy.ErrForbidden) {
		s.uiNotFound(c)
		return
	}
	s.uiInternal(c, doing, err)
}

// getPolicy shows the rules and, with ?address=, the test of an address.
func (s *Server) getPolicy(c *gin.Context) {
	p, d, ok := s.policyData(c)
	if !ok {
		return
	}
	// The flash names a pattern only in its canonical form: a link cannot
	// make the page say anything else.
	if pattern, err := policy.CanonicalPattern(c.Query("pattern")); err == nil && policyDone[c.Query("done")] {
		p.Flash = p.T("admin.policy.done."+c.Query("done"), "Pattern", pattern)
	}
	status := http.StatusOK
	if _, asked := c.GetQuery("address"); asked {
		d.Address = strings.TrimSpace(c.Query("address"))
		status = s.testAddress(c, p, d)
		if status == 0 {
			return
		}
	}
	s.render(c, status, "admin_policy", p)
}

// testAddress decides d.Address both ways into d.Test; it returns the
// status to render the page with, 0 when it answered the request itself.
func (s *Server) testAddress(c *gin.Context, p *uiPage, d *policyPage) int {
	if d.Address == "" {
		p.SetFieldError("address", "admin.policy.error.address_required")
		return http.StatusUnprocessableEntity
	}
	t, err := s.opts.Policy.TestAs(c.Request.Context(), principalOf(c).Principal, d.Address)
	var ie *input.Error
	switch {
	case errors.As(err, &ie):
		p.SetFieldError("address", "admin.policy.error.address")
		return http.StatusUnprocessableEntity
	case err != nil:
		s.policyFail(c, "test an address", err)
		return 0
	}
	d.Test = &policyTest{Domain: t.Outbound.Domain, Outbound: decisionOf(p, t.Outbound), Inbound: decisionOf(p, t.Inbound)}
	return http.StatusOK
}

// decisionOf is a decision as the page shows it.
func decisionOf(p *uiPage, d policy.Decision) policyDecision {
	return policyDecision{National: d.Allow, Rule: d.Rule, Why: ruleInWords(p, d.Rule),
		Reply: strings.TrimSpace(strconv.Itoa(d.Code) + " " + d.Enhanced + " " + d.Message)}
}

// ruleInWords says what a decision's rule is: "deny:.example.sy" is the
// deny rule .example.sy.
func ruleInWords(p *uiPage, rule string) string {
	kind, pattern, _ := strings.Cut(rule, ":")
	switch kind {
	case "deny", "allow", "suffix", "hosted", "mixed-script", "default", "invalid":
		return p.T("admin.policy.rule."+kind, "Pattern", pattern)
	}
	return rule
}

// postPolicyRule adds a rule. Invalid input or a pattern that has a rule
// already is said next to its field, nothing made; a deny rule covering
// hosted domains shows what it covers and asks to be sent again with
// confirm=1.
func (s *Server) postPolicyRule(c *gin.Context) {
	p, d, ok := s.policyData(c)
	if !ok {
		return
	}
	d.Form = policyForm{Pattern: strings.TrimSpace(c.PostForm("pattern")), Action: c.PostForm("action"), Note: c.PostForm("note")}
	if d.Form.Action != policy.Allow && d.Form.Action != policy.Deny {
		p.SetFieldError("action", "admin.policy.error.action")
		s.render(c, http.StatusUnprocessableEntity, "admin_policy", p)
		return
	}
	r, err := s.opts.Policy.AddRule(c.Request.Context(), principalOf(c).Principal, policy.NewRule{
		Pattern: d.Form.Pattern, Action: d.Form.Action, Note: d.Form.Note, Confirm: c.PostForm("confirm") == "1"})
	if err == nil {
		redirect(c, "/admin/policy?done=added&pattern="+url.QueryEscape(r.Pattern))
		return
	}
	if status := s.ruleRefused(c, p, d, err); status != 0 {
		s.render(c, status, "admin_policy", p)
	}
}

// ruleRefused shows why a new rule was not made; it returns the status of
// the page, 0 when it answered the request itself.
func (s *Server) ruleRefused(c *gin.Context, p *uiPage, d *policyPage, err error) int {
	var (
		ie *input.Error
		ce *policy.ConfirmError
	)
	switch {
	case errors.As(err, &ce):
		d.Confirm = &policyConfirm{policyForm: d.Form, Canonical: ce.Pattern, Covers: ce.Covers}
		return http.StatusConflict
	case errors.Is(err, policy.ErrExists):
		p.SetFieldError("pattern", "admin.policy.error.exists")
		return http.StatusConflict
	case errors.As(err, &ie) && ie.Field == "note":
		p.SetFieldError("note", "admin.policy.error.note")
		return http.StatusUnprocessableEntity
	case errors.As(err, &ie) && ie.Field == "action":
		p.SetFieldError("action", "admin.policy.error.action")
		return http.StatusUnprocessableEntity
	case errors.As(err, &ie):
		p.SetFieldError("pattern", "admin.policy.error.pattern")
		return http.StatusUnprocessableEntity
	}
	s.policyFail(c, "add a policy rule", err)
	return 0
}

// postPolicyRemove removes the rule of the form's pattern; a rule that
// does not exist is said above the rules, nothing changed.
func (s *Server) postPolicyRemove(c *gin.Context) {
	pattern := strings.TrimSpace(c.PostForm("pattern"))
	err := s.opts.Policy.RemoveRule(c.Request.Context(), principalOf(c).Principal, pattern)
	if err == nil {
		canon, _ := policy.CanonicalPattern(pattern) // removed, so valid
		redirect(c, "/admin/policy?done=removed&pattern="+url.QueryEscape(canon))
		return
	}
	if errors.Is(err, policy.ErrForbidden) {
		s.uiNotFound(c)
		return
	}
	p, _, ok := s.policyData(c)
	if !ok {
		return
	}
	var ie *input.Error
	switch {
	case errors.Is(err, policy.ErrNotFound):
		p.Error = p.T("admin.policy.error.no_rule", "Pattern", pattern)
		s.render(c, http.StatusNotFound, "admin_policy", p)
	case errors.As(err, &ie):
		p.Error = p.T("admin.policy.error.remove_pattern", "Pattern", pattern)
		s.render(c, http.StatusUnprocessableEntity, "admin_policy", p)
	default:
		s.uiInternal(c, "remove a policy rule", err)
	}
}
