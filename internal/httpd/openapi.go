package httpd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/workflow"
)

// The OpenAPI 3 document of /api/v1, served at /api/v1/openapi.json. The
// operations are listed below by hand, beside the routes function; the
// schemas are derived from the API's own request and response types, so
// that the document cannot drift from the JSON the handlers read and
// write. Tests validate the document and hold its operations and the
// registered routes equal.

// apiOp is one operation of the document.
type apiOp struct {
	Method, Path string // Path as OpenAPI writes it, below /api/v1: "/entries/{id}"
	Tag, Summary string
	Query        []apiParam
	Body         string // request schema name; "multipart" for an upload; "" none
	Status       int    // success status
	Response     string // response schema name; "binary" for a download; "" no content
	Public       bool   // needs no session or token
	Errors       []int
}

type apiParam struct {
	Name, Type, Description string
	Enum                    []string
}

var (
	qPage    = apiParam{Name: "page", Type: "integer", Description: "page number, from 1"}
	qPerPage = apiParam{Name: "per_page", Type: "integer", Description: fmt.Sprintf("items per page, 1 to %d (default %d)", maxPerPage, defaultPerPage)}
	qMinistr = apiParam{Name: "ministry", Type: "string", Description: "ministry code; all when absent"}
)

// stateNames are states as the API writes them.
func stateNames(ss []workflow.State) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// Error statuses shared by most operations.
var (
	errsRead   = []int{401, 404}
	errsList   = []int{400, 401}
	errsChange = []int{400, 401, 403, 404, 409, 422}
)

// byOrganisers says who may use a route that changes a ministry's
// organisation: the instance's administrators, and a ministry's
// administrators within their own ministry (another ministry's things are
// 404 to them, as if they did not exist).
const byOrganisers = "(administrators, or ministry administrators for their own ministry)"

// apiOps lists every operation of /api/v1; those of administration are
// in openapi_admin.go.
var apiOps = append([]apiOp{
	{Method: "GET", Path: "/openapi.json", Tag: "meta", Summary: "This OpenAPI document", Status: 200, Response: "object", Public: true},

	{Method: "POST", Path: "/session", Tag: "session", Summary: "Log in: sets the diwan_session cookie; answers who is logged in and the CSRF token",
		Body: "Login", Status: 200, Response: "Session", Public: true, Errors: []int{400, 401, 403}},
	{Method: "GET", Path: "/session", Tag: "session", Summary: "Who am I, with the session's CSRF token", Status: 200, Response: "Session", Errors: []int{401}},
	{Method: "DELETE", Path: "/session", Tag: "session", Summary: "Log out", Status: 204, Errors: []int{400, 401, 403}},
	{Method: "POST", Path: "/session/password", Tag: "session", Summary: "Change one's own password (the current one is checked as a login is); clears must_change_password. " +
		"A user who must change their password gets 403 password_change_required on every route but this one, GET and DELETE /session",
		Body: "PasswordChange", Status: 204, Errors: []int{400, 401, 403}},

	{Method: "GET", Path: "/ministries", Tag: "organisation", Summary: "List ministries", Query: []apiParam{qPage, qPerPage}, Status: 200, Response: "MinistryList", Errors: errsList},
	{Method: "POST", Path: "/ministries", Tag: "organisation", Summary: "Add a ministry (administrators)", Body: "NewMinistry", Status: 201, Response: "Ministry", Errors: []int{400, 401, 403, 409}},
	{Method: "GET", Path: "/ministries/{code}", Tag: "organisation", Summary: "One ministry", Status: 200, Response: "Ministry", Errors: errsRead},
	{Method: "PATCH", Path: "/ministries/{code}", Tag: "organisation", Summary: "Rename a ministry (administrators)", Body: "MinistryPatch", Status: 200, Response: "Ministry", Errors: []int{400, 401, 403, 404}},
	{Method: "GET", Path: "/registries", Tag: "organisation", Summary: "List registries", Query: []apiParam{qMinistr, qPage, qPerPage}, Status: 200, Response: "RegistryList", Errors: errsList},
	{Method: "POST", Path: "/registries", Tag: "organisation", Summary: "Add a registry " + byOrganisers, Body: "NewRegistry", Status: 201, Response: "Registry", Errors: []int{400, 401, 403, 404, 409}},
	{Method: "GET", Path: "/registries/{code}", Tag: "organisation", Summary: "One registry", Status: 200, Response: "Registry", Errors: errsRead},
	{Method: "PATCH", Path: "/registries/{code}", Tag: "organisation", Summary: "Change a registry " + byOrganisers, Body: "RegistryPatch", Status: 200, Response: "Registry", Errors: []int{400, 401, 403, 404}},
	{Method: "GET", Path: "/departments", Tag: "organisation", Summary: "List departments", Query: []apiParam{qMinistr, qPage, qPerPage}, Status: 200, Response: "DepartmentList", Errors: errsList},
	{Method: "POST", Path: "/departments", Tag: "organisation", Summary: "Add a department " + byOrganisers, Body: "NewDepartment", Status: 201, Response: "Department", Errors: []int{400, 401, 403, 404, 409}},
	{Method: "GET", Path: "/departments/{ministry}/{code}", Tag: "organisation", Summary: "One department", Status: 200, Response: "Department", Errors: errsRead},
	{Method: "PATCH", Path: "/departments/{ministry}/{code}", Tag: "organisation", Summary: "Change a department " + byOrganisers, Body: "DepartmentPatch", Status: 200, Response: "Department", Errors: []int{400, 401, 403, 404}},
	{Method: "GET", Path: "/users", Tag: "organisation", Summary: "List the users the caller may see: their own ministry's (with roles), other ministries' (names and addresses) only with directory.national_users; administrators see all, whole, and ministry administrators their own ministry's whole",
		Query: []apiParam{{Name: "q", Type: "string", Description: "part of the address or the name"}, qPage, qPerPage}, Status: 200, Response: "DirectoryUserList", Errors: errsList},
	{Method: "POST", Path: "/users", Tag: "organisation", Summary: "Add a user " + byOrganisers + "; only an administrator gives the role admin; without a password one is generated and answered once", Body: "NewUser", Status: 201, Response: "NewUserResult", Errors: []int{400, 401, 403, 409}},
	{Method: "GET", Path: "/users/{address}", Tag: "organisation", Summary: "One user, as GET /users shows them; 404 for a user the caller may not see", Status: 200, Response: "DirectoryUser", Errors: errsRead},
	{Method: "PATCH", Path: "/users/{address}", Tag: "organisation", Summary: "Disable or enable a user, set a password, the mail quota or the roles " + byOrganisers + "; only an administrator changes an administrator or gives the role admin", Body: "UserPatch", Status: 200, Response: "User", Errors: []int{400, 401, 403, 404}},
	{Method: "GET", Path: "/users/{address}/membership", Tag: "organisation", Summary: "Where a user works and their clearance (the user, administrators, and ministry administrators for their own ministry)", Status: 200, Response: "Membership", Errors: errsRead},
	{Method: "PATCH", Path: "/users/{address}/membership", Tag: "organisation", Summary: "Change where a user works and their clearance " + byOrganisers, Body: "MembershipPatch", Status: 200, Response: "Membership", Errors: []int{400, 401, 403, 404}},

	{Method: "POST", Path: "/correspondence", Tag: "correspondence", Summary: "New outgoing draft, or (with sender_party) a paper letter received from an outside party", Body: "NewCorrespondence", Status: 201, Response: "Draft", Errors: errsChange},
	{Method: "GET", Path: "/correspondence/{id}", Tag: "correspondence", Summary: "The document, the caller's entry, every entry the caller may see, and the timeline", Status: 200, Response: "Correspondence", Errors: errsRead},
	{Method: "PATCH", Path: "/correspondence/{id}", Tag: "correspondence", Summary: "Edit a draft (with the version of its entry)", Body: "CorrespondencePatch", Status: 200, Response: "Draft", Errors: errsChange},
	{Method: "GET", Path: "/correspondence/{id}/verify", Tag: "correspondence", Summary: "What the verification page shows of a registered letter", Status: 200, Response: "Verification", Errors: errsRead},
	{Method: "POST", Path: "/correspondence/{id}/attachments", Tag: "correspondence", Summary: "Upload an attachment (multipart part named file), streamed", Body: "multipart", Status: 201, Response: "Attachment", Errors: []int{400, 401, 403, 404, 409, 413}},
	{Method: "GET", Path: "/correspondence/{id}/attachments/{aid}", Tag: "correspondence", Summary: "Download an attachment", Status: 200, Response: "binary", Errors: errsRead},
	{Method: "DELETE", Path: "/correspondence/{id}/attachments/{aid}", Tag: "correspondence", Summary: "Remove an attachment of a draft", Status: 204, Errors: []int{401, 403, 404, 409}},

	{Method: "GET", Path: "/entries", Tag: "entries", Summary: "The entries the caller may see, newest first",
		Query: []apiParam{{Name: "registry", Type: "string", Description: "registry code"}, {Name: "direction", Type: "string", Enum: []string{"incoming", "outgoing"}},
			{Name: "state", Type: "string", Enum: stateNames(workflow.EntryStates())}, {Name: "q", Type: "string", Description: "part of the subject or the number"}, qPage, qPerPage},
		Status: 200, Response: "EntryList", Errors: errsList},
	{Method: "GET", Path: "/entries/{id}", Tag: "entries", Summary: "One entry", Status: 200, Response: "Entry", Errors: errsRead},
	{Method: "POST", Path: "/entries/{id}/{action}", Tag: "entries", Summary: "A transition of the entry; answers the entry as it now stands", Body: "Transition", Status: 200, Response: "Entry", Errors: errsChange},

	{Method: "GET", Path: "/referrals", Tag: "referrals", Summary: "The referrals the caller may see, newest first",
		Query: []apiParam{{Name: "mine", Type: "boolean", Description: "only referrals to me or my department"}, {Name: "state", Type: "string", Enum: stateNames(workflow.ReferralStates())},
			{Name: "entry_id", Type: "integer"}, qPage, qPerPage},
		Status: 200, Response: "ReferralList", Errors: errsList},
	{Method: "GET", Path: "/referrals/{id}", Tag: "referrals", Summary: "One referral", Status: 200, Response: "Referral", Errors: errsRead},
	{Method: "POST", Path: "/referrals/{id}/{action}", Tag: "referrals", Summary: "A transition of the referral; answers the referral as it now stands", Body: "ReferralTransition", Status: 200, Response: "Referral", Errors: errsChange},

	{Method: "GET", Path: "/queue", Tag: "queue", Summary: "The outbound queue to other national servers, one item per recipient, oldest first (administrators)",
		Query: []apiParam{qQueueState, qPage, qPerPage}, Status: 200, Response: "QueueEntryList", Errors: []int{400, 401, 403, 503}},
	{Method: "POST", Path: "/queue/{id}/retry", Tag: "queue", Summary: "Try a pending recipient again now (administrators); answers the entry",
		Status: 200, Response: "QueueEntry", Errors: []int{401, 403, 404, 409, 503}},
	{Method: "POST", Path: "/queue/{id}/drop", Tag: "queue", Summary: "Give a pending recipient up and bounce it to its sender (administrators); answers the entry",
		Status: 200, Response: "QueueEntry", Errors: []int{401, 403, 404, 409, 503}},
}, adminOps...)

// apiSchemas are the named schemas, each derived from a Go type. Request
// schemas refuse unknown properties, as the handlers do.
var apiSchemas = []struct {
	Name    string
	Value   any
	Request bool
}{
	{"Error", errorBody{}, false},
	{"ErrorDetail", errorDetail{}, false},
	{"Login", loginRequest{}, true},
	{"Session", sessionResponse{}, false},
	{"PasswordChange", passwordRequest{}, true},
	{"User", userDTO{}, false},
	{"QueueEntry", queueEntryDTO{}, false},
	{"DirectoryUser", directoryUserDTO{}, false},
	{"NewUser", newUserRequest{}, true},
	{"NewUserResult", newUserResponse{}, false},
	{"UserPatch", userPatch{}, true},
	{"Membership", membershipDTO{}, false},
	{"MembershipPatch", membershipPatch{}, true},
	{"Ministry", ministryDTO{}, false},
	{"NewMinistry", newMinistryRequest{}, true},
	{"Registry", registryDTO{}, false},
	{"NewRegistry", newRegistryRequest{}, true},
	{"RegistryPatch", registryPatch{}, true},
	{"Department", departmentDTO{}, false},
	{"NewDepartment", newDepartmentRequest{}, true},
	{"DepartmentPatch", departmentPatch{}, true},
	{"RecipientInput", recipientRequest{}, true},
	{"ReferenceInput", referenceRequest{}, true},
	{"NewCorrespondence", newCorrespondenceRequest{}, true},
	{"CorrespondencePatch", correspondencePatch{}, true},
	{"Draft", draftDTO{}, false},
	{"Recipient", recipientDTO{}, false},
	{"Reference", referenceDTO{}, false},
	{"Attachment", attachmentDTO{}, false},
	{"TimelineEvent", timelineDTO{}, false},
	{"Correspondence", correspondenceDTO{}, false},
	{"Verification", verificationDTO{}, false},
	{"Entry", entryDTO{}, false},
	{"Transition", transitionRequest{}, true},
	{"Referral", referralDTO{}, false},
	{"ReferralTransition", referralActionRequest{}, true},
	{"PolicyRule", ruleDTO{}, false},
	{"NewPolicyRule", newRuleRequest{}, true},
	{"PolicyTest", policyTestDTO{}, false},
	{"SMTPReply", replyDTO{}, false},
	{"Violations", violationsDTO{}, false},
	{"ViolationCount", violationCountDTO{}, false},
	{"Domain", domainDTO{}, false},
	{"NewDomain", newDomainRequest{}, true},
	{"DKIMRecord", dkimRecordDTO{}, false},
	{"DKIM", dkimDTO{}, false},
	{"Alias", aliasDTO{}, false},
	{"NewAlias", newAliasRequest{}, true},
	{"MinistryPatch", ministryPatch{}, true},
	{"AuditEvent", auditEventDTO{}, false},
	{"AuditPage", auditPageDTO{}, false},
	{"AuditBreak", auditBreakDTO{}, false},
	{"AuditVerification", auditVerifyDTO{}, false},
}

// apiLists are the list envelopes {"items": [...], "total": N}, by the
// schema of their items.
var apiLists = []string{"Ministry", "Registry", "Department", "DirectoryUser", "Entry", "Referral", "QueueEntry", "PolicyRule", "Domain", "Alias"}

// openAPIJSON is the document, built once.
var openAPIJSON = mustBuildOpenAPI()

func openAPIDocument(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", openAPIJSON)
}

type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func mustBuildOpenAPI() []byte {
	b, err := json.MarshalIndent(buildOpenAPI(), "", "  ")
	if err != nil {
		panic(fmt.Sprintf("httpd: build OpenAPI document: %v", err)) // a programming error
	}
	return b
}

func buildOpenAPI() obj {
	// The transition bodies differ by action; the {action} names are fixed.
	actionEnums := map[string][]string{
		"/entries/{id}/{action}":   sortedActions(entryActions),
		"/referrals/{id}/{action}": sortedActions(referralActions),
	}
	paths := obj{}
	for _, op := range apiOps {
		item, _ := paths[op.Path].(obj)
		if item == nil {
			item = obj{}
			paths[op.Path] = item
		}
		item[strings.ToLower(op.Method)] = openAPIOperation(op, actionEnums[op.Path])
	}
	schemas := openAPISchemas()

	return obj{
		"openapi": "3.0.3",
		"info": obj{
			"title":   "Diwan API",
			"version": "1",
			"description": "The JSON API of Diwan (DESIGN.md §6a). Errors are " +
				`{"error": {"code", "message", "field"}}. Lists take page and per_page and answer {"items", "total"}. ` +
				"Dates are YYYY-MM-DD, times RFC 3339. Cookie requests that change state send X-CSRF-Token and a same-origin Origin.",
		},
		"servers":  []obj{{"url": "/api/v1"}},
		"security": []obj{{"session": []string{}}, {"token": []string{}}},
		"tags": []obj{
			{"name": "meta"}, {"name": "session"}, {"name": "organisation"},
			{"name": "correspondence"}, {"name": "entries"}, {"name": "referrals"}, {"name": "queue"},
		},
		"paths": paths,
		"components": obj{
			"schemas": schemas,
			"securitySchemes": obj{
				"session": obj{"type": "apiKey", "in": "cookie", "name": sessionCookie},
				"token":   obj{"type": "http", "scheme": "bearer", "description": "personal API token (diwan admin user token ADDRESS)"},
			},
			"parameters": obj{
				"CSRFToken": obj{"name": csrfHeader, "in": "header", "required": false,
					"description": "the session's csrf_token; required on cookie requests, not with a bearer token",
					"schema":      obj{"type": "string"}},
			},
			"responses": obj{
				"Error": obj{"description": "an error", "content": obj{"application/json": obj{"schema": ref("Error")}}},
			},
		},
	}
}

// openAPISchemas are the components' schemas: every API type, and a list
// of each listed one.
func openAPISchemas() obj {
	g := schemaGen{names: map[reflect.Type]string{}}
	for _, s := range apiSchemas {
		g.names[reflect.TypeOf(s.Value)] = s.Name
	}
	schemas := obj{}
	for _, s := range apiSchemas {
		schemas[s.Name] = g.structSchema(reflect.TypeOf(s.Value), s.Request)
	}
	for _, item := range apiLists {
		schemas[item+"List"] = obj{
			"type":     "object",
			"required": []string{"items", "total"},
			"properties": obj{
				"items": obj{"type": "array", "items": ref(item)},
				"total": obj{"type": "integer", "format": "int64"},
			},
		}
	}
	return schemas
}

// openAPIOperation describes one operation; actions, when not nil, are
// the names its {action} may take.
func openAPIOperation(op apiOp, actions []string) obj {
	o := obj{
		"tags":        []string{op.Tag},
		"summary":     op.Summary,
		"operationId": operationID(op),
	}
	if params := openAPIParams(op, actions); len(params) > 0 {
		o["parameters"] = params
	}
	switch op.Body {
	case "":
	case "multipart":
		o["requestBody"] = obj{"required": true, "content": obj{"multipart/form-data": obj{"schema": obj{
			"type":       "object",
			"required":   []string{"file"},
			"properties": obj{"file": obj{"type": "string", "format": "binary"}},
		}}}}
	default:
		o["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": ref(op.Body)}}}
	}
	o["responses"] = openAPIResponses(op)
	if op.Public {
		o["security"] = []obj{}
	}
	return o
}

// openAPIParams are the operation's path and query parameters, and the
// CSRF header where it changes state.
func openAPIParams(op apiOp, actions []string) []obj {
	var params []obj
	for _, name := range pathParams(op.Path) {
		schema := obj{"type": "string"}
		if name == "id" || name == "aid" {
			schema = obj{"type": "integer", "format": "int64", "minimum": 1}
		}
		if actions != nil && name == "action" {
			schema["enum"] = actions
		}
		params = append(params, obj{"name": name, "in": "path", "required": true, "schema": schema})
	}
	for _, q := range op.Query {
		schema := obj{"type": q.Type}
		if len(q.Enum) > 0 {
			schema["enum"] = q.Enum
		}
		p := obj{"name": q.Name, "in": "query", "required": false, "schema": schema}
		if q.Description != "" {
			p["description"] = q.Description
		}
		params = append(params, p)
	}
	if changesState(op.Method) && !op.Public {
		params = append(params, obj{"$ref": "#/components/parameters/CSRFToken"})
	}
	return params
}

// openAPIResponses are the operation's success and its errors.
func openAPIResponses(op apiOp) obj {
	responses := obj{}
	success := obj{"description": http.StatusText(op.Status)}
	switch op.Response {
	case "":
	case "binary":
		success["content"] = obj{"application/octet-stream": obj{"schema": obj{"type": "string", "format": "binary"}}}
		success["headers"] = obj{"Content-Disposition": obj{
			"description": "attachment, with the name in filename* (RFC 6266, UTF-8)",
			"schema":      obj{"type": "string"},
		}}
	case "object":
		success["content"] = obj{"application/json": obj{"schema": obj{"type": "object"}}}
	default:
		success["content"] = obj{"application/json": obj{"schema": ref(op.Response)}}
	}
	if op.Path == "/session" && op.Method == "POST" {
		success["headers"] = obj{"Set-Cookie": obj{
			"description": "diwan_session: HttpOnly, SameSite=Lax, Secure over TLS",
			"schema":      obj{"type": "string"},
		}}
	}
	responses[fmt.Sprint(op.Status)] = success
	errs := op.Errors
	if op.Body != "" && op.Body != "multipart" {
		// A JSON body: too large, or not sent as application/json.
		errs = append(slices.Clone(errs), http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
	}
	if len(op.Query) > 0 || op.Method == "GET" {
		errs = append(slices.Clone(errs), http.StatusBadRequest) // an unknown or bad query parameter
	}
	for _, code := range errs {
		responses[fmt.Sprint(code)] = obj{"$ref": "#/components/responses/Error"}
	}
	return responses
}

var pathParamRE = regexp.MustCompile(`\{([a-z_]+)\}`)

func pathParams(path string) []string {
	var out []string
	for _, m := range pathParamRE.FindAllStringSubmatch(path, -1) {
		out = append(out, m[1])
	}
	return out
}

// operationID is method and path in camel case: "postEntriesIdAction".
func operationID(op apiOp) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(op.Method))
	for _, part := range strings.FieldsFunc(op.Path, func(r rune) bool {
		return r == '/' || r == '{' || r == '}' || r == '_' || r == '.'
	}) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// schemaGen derives JSON schemas from Go types by their json tags. Tags it
// reads besides json: format:"date" for YYYY-MM-DD strings, enum:"a,b"
// for the allowed values, required:"true" for request fields that must be
// given.
type schemaGen struct {
	names map[reflect.Type]string // types that have a named schema
}

var timeType = reflect.TypeOf(time.Time{})

func (g schemaGen) structSchema(t reflect.Type, request bool) obj {
	props := obj{}
	var required []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := g.schema(f.Type)
		if format := f.Tag.Get("format"); format != "" {
			s["format"] = format
		}
		if enum := f.Tag.Get("enum"); enum != "" {
			s["enum"] = strings.Split(enum, ",")
		}
		props[name] = s
		if request {
			if f.Tag.Get("required") == "true" {
				required = append(required, name)
			}
		} else if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	s := obj{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	if request {
		s["additionalProperties"] = false
	}
	return s
}

func (g schemaGen) schema(t reflect.Type) obj {
	if t.Kind() == reflect.Pointer {
		s := g.schema(t.Elem())
		if _, isRef := s["$ref"]; isRef {
			// OpenAPI 3.0 ignores siblings of $ref: wrap it.
			return obj{"allOf": []obj{s}, "nullable": true}
		}
		s["nullable"] = true
		return s
	}
	if name, ok := g.names[t]; ok {
		return ref(name)
	}
	switch {
	case t == timeType:
		return obj{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.String:
		return obj{"type": "string"}
	case t.Kind() == reflect.Bool:
		return obj{"type": "boolean"}
	case t.Kind() == reflect.Int64:
		return obj{"type": "integer", "format": "int64"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return obj{"type": "integer"}
	case t.Kind() == reflect.Slice:
		return obj{"type": "array", "items": g.schema(t.Elem())}
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		return obj{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case t.Kind() == reflect.Interface:
		return obj{} // any JSON value
	case t.Kind() == reflect.Struct:
		return g.structSchema(t, false)
	}
	panic(fmt.Sprintf("httpd: no OpenAPI schema for %s", t)) // a programming error
}
