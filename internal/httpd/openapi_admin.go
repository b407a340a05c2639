package httpd

// adminOps are the operations of administration (DESIGN.md §6a): the
// national-mail policy, the audit log, domains, aliases. Each service
// refuses whoever may not administer it (403).
var adminOps = []apiOp{
	{Method: "GET", Path: "/policy/rules", Tag: "policy", Summary: "The national-mail rules, by pattern (administrators); policy.national_suffixes and hosted domains are not rules",
		Query: []apiParam{qPage, qPerPage}, Status: 200, Response: "PolicyRuleList", Errors: []int{400, 401, 403}},
	{Method: "POST", Path: "/policy/rules", Tag: "policy", Summary: "Add an allow or deny rule: gov.sy names that exact domain, .gov.sy it and every subdomain (administrators). " +
		"A pattern that has a rule is 409 exists; a deny rule that covers hosted domains is 409 confirm_required naming them, made only with confirm: true",
		Body: "NewPolicyRule", Status: 201, Response: "PolicyRule", Errors: []int{400, 401, 403, 409}},
	{Method: "DELETE", Path: "/policy/rules/{pattern}", Tag: "policy", Summary: "Remove the rule of a pattern (administrators)", Status: 204, Errors: []int{400, 401, 403, 404}},
	{Method: "GET", Path: "/policy/test", Tag: "policy", Summary: "How the policy decides an address or a domain: the decision, the rule that made it, and the SMTP replies (administrators)",
		Query: []apiParam{{Name: "address", Type: "string", Description: "an address (ali@mof.gov.sy) or a domain"}}, Status: 200, Response: "PolicyTest", Errors: []int{400, 401, 403}},
	{Method: "GET", Path: "/policy/violations", Tag: "policy", Summary: "Refusals (policy, relay attempts, spoofing, SMTP logins) counted per user, domain or day (UTC), most first; days oldest first (administrators)",
		Query: []apiParam{{Name: "since", Type: "string", Description: "a time (RFC 3339), a date (YYYY-MM-DD) or how far back (24h, 7d); default 24h"},
			{Name: "by", Type: "string", Enum: []string{"user", "domain", "day"}}, qPage, qPerPage},
		Status: 200, Response: "Violations", Errors: []int{400, 401, 403}},

	{Method: "GET", Path: "/audit", Tag: "audit", Summary: "The audit log, newest first (administrators); a page at a time by keyset: next_cursor, absent on the last page, is the cursor of the next",
		Query: []apiParam{{Name: "actor", Type: "string", Description: "exact: user:ali@mof.gov.sy, cli:root, smtp:203.0.113.5"},
			{Name: "action", Type: "string", Description: "exact: policy.deny, user.add, policy.refused"},
			{Name: "object", Type: "string", Description: "exact: user:ali@mof.gov.sy, policy:.gov.sy, domain:mof.gov.sy"},
			{Name: "since", Type: "string", Description: "at or after this time (RFC 3339) or date (YYYY-MM-DD)"},
			{Name: "until", Type: "string", Description: "before this time (RFC 3339) or date (YYYY-MM-DD)"},
			{Name: "cursor", Type: "string", Description: "the next_cursor of the page before"}, qPerPage},
		Status: 200, Response: "AuditPage", Errors: []int{400, 401, 403}},
	{Method: "POST", Path: "/audit/verify", Tag: "audit", Summary: "Walk the audit chain, as diwan admin audit verify does: ok with the events linked and waiting, or the first broken link (administrators)",
		Status: 200, Response: "AuditVerification", Errors: []int{401, 403}},

	{Method: "GET", Path: "/domains", Tag: "administration", Summary: "The hosted domains (administrators)", Query: []apiParam{qPage, qPerPage}, Status: 200, Response: "DomainList", Errors: []int{400, 401, 403}},
	{Method: "POST", Path: "/domains", Tag: "administration", Summary: "Host a domain for a ministry (administrators)", Body: "NewDomain", Status: 201, Response: "Domain", Errors: []int{400, 401, 403, 409}},
	{Method: "GET", Path: "/domains/{domain}/dkim", Tag: "administration", Summary: "The DNS TXT records of a hosted domain's DKIM keys, the RSA key generated on first use, as diwan admin domain dkim prints them (administrators)",
		Status: 200, Response: "DKIM", Errors: []int{400, 401, 403, 404}},
	{Method: "GET", Path: "/aliases", Tag: "administration", Summary: "The aliases the caller administers: every one for administrators, those on their own ministry's domains for ministry administrators", Query: []apiParam{qPage, qPerPage}, Status: 200, Response: "AliasList", Errors: []int{400, 401, 403}},
	{Method: "POST", Path: "/aliases", Tag: "administration", Summary: "Make an address on a hosted domain deliver to users (administrators, or ministry administrators on their own ministry's domains to its users); targets are users, never aliases, so no alias loops",
		Body: "NewAlias", Status: 201, Response: "Alias", Errors: []int{400, 401, 403, 409}},
	{Method: "DELETE", Path: "/aliases/{address}", Tag: "administration", Summary: "Remove an alias (administrators, or ministry administrators on their own ministry's domains)", Status: 204, Errors: []int{400, 401, 403, 404}},
}
