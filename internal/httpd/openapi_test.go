package httpd

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPIDocumentIsValid loads the served document with kin-openapi
// and validates it as OpenAPI 3.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	e := newAPIEnv(t, "sqlite", false)
	resp, body := e.anonymous().do("GET", "/api/v1/openapi.json", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(body)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	// Every operation answers errors in the one error shape.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code, r := range op.Responses.Map() {
				if code[0] != '4' {
					continue
				}
				if r.Ref != "#/components/responses/Error" {
					t.Errorf("%s %s: response %s is not the shared error", method, path, code)
				}
			}
		}
	}
}

// ginParam matches a gin path parameter (":id").
var ginParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// TestOpenAPIMatchesRoutes fails when a route under /api/v1 is missing from
// the document, or the document names a route that does not exist.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newAPIEnv(t, "sqlite", false)
	var routes []string
	for _, r := range e.ts.srv.Router().Routes() {
		path, ok := strings.CutPrefix(r.Path, "/api/v1")
		if !ok {
			continue
		}
		routes = append(routes, r.Method+" "+ginParam.ReplaceAllString(path, "{$1}"))
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIJSON, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range doc.Paths {
		for method := range item {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(routes)
	slices.Sort(documented)
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("openapi.json names %s, which is not a route", d)
		}
	}
	if len(routes) < 30 {
		t.Errorf("only %d API routes registered: %v", len(routes), routes)
	}
}

// TestOpenAPIRequestSchemasMatchDecoding checks that the document tells
// the truth about strictness: request bodies refuse unknown properties,
// as decodeJSON does, and versions are required where the handlers
// require them.
func TestOpenAPIRequestSchemasMatchDecoding(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIJSON)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range apiSchemas {
		if !s.Request {
			continue
		}
		schema := doc.Components.Schemas[s.Name].Value
		if schema.AdditionalProperties.Has == nil || *schema.AdditionalProperties.Has {
			t.Errorf("%s allows unknown properties", s.Name)
		}
	}
	for _, name := range []string{"Transition", "ReferralTransition", "CorrespondencePatch"} {
		if !slices.Contains(doc.Components.Schemas[name].Value.Required, "version") {
			t.Errorf("%s does not require version", name)
		}
	}
	entry := doc.Components.Schemas["Entry"].Value
	for _, f := range []string{"id", "correspondence_id", "registry", "direction", "number", "state", "version"} {
		if !slices.Contains(entry.Required, f) {
			t.Errorf("Entry lacks required %s (DESIGN.md §6a)", f)
		}
	}
}
