package httpd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// Strict input (DESIGN.md §6a): every JSON body is read by decodeJSON, and
// every query string is checked by checkQuery against the parameters the
// OpenAPI document lists for the route. What encoding/json lets through on
// its own is refused here: a body that is not sent as application/json, a
// key given twice (encoding/json keeps the last: "classification": "secret"
// then "normal" would be read as normal), and a key spelt in another case
// ("Classification" for classification: encoding/json matches names without
// regard to case). A request is read as the client wrote it or refused.

// decodeJSON reads the request body as one JSON object into dst, strictly:
// a body not sent as application/json (UTF-8) is answered 415; an unknown
// field, a field given twice or spelt in another case, a value of the wrong
// type, malformed JSON, trailing data or an empty body is answered 400
// naming the field (or "body" when no field is concerned); a body over
// maxJSONBytes is answered 413. It reports whether dst was filled; when
// not, the answer is written.
func decodeJSON(c *gin.Context, dst any) bool {
	if !isJSONContentType(c.GetHeader("Content-Type")) {
		WriteError(c, http.StatusUnsupportedMediaType, "unsupported_media_type",
			"the request body must be JSON, sent with Content-Type: application/json", "")
		return false
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxJSONBytes))
	if err != nil {
		if isTooLarge(err) {
			writeDecodeError(c, err)
			return false
		}
		WriteError(c, http.StatusBadRequest, "incomplete_body", "the request body did not arrive whole", "body")
		return false
	}
	if p := checkKeys(raw, reflect.TypeOf(dst)); p != nil {
		WriteError(c, http.StatusBadRequest, p.code, p.message, p.field)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		writeDecodeError(c, err)
		return false
	}
	// Exactly one JSON value: "{}{}" or "{} x" is malformed.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		WriteError(c, http.StatusBadRequest, "malformed_json", "the request body must hold one JSON object and nothing after it", "body")
		return false
	}
	return true
}

// isJSONContentType accepts application/json, with no charset or UTF-8
// (RFC 8259 §8.1: JSON exchanged between systems is UTF-8).
func isJSONContentType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// writeDecodeError answers a failed decode. encoding/json names an unknown
// field only inside its message (`json: unknown field "x"`); that is the
// one error text parsed here.
func writeDecodeError(c *gin.Context, err error) {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case isTooLarge(err):
		WriteError(c, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("the request body is larger than %d bytes", maxJSONBytes), "body")
	case errors.Is(err, io.EOF):
		WriteError(c, http.StatusBadRequest, "malformed_json", "the request body is empty; a JSON object is expected", "body")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		WriteError(c, http.StatusBadRequest, "malformed_json", "the request body is not valid JSON", "body")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			WriteError(c, http.StatusBadRequest, "malformed_json", "the request body must be a JSON object", "body")
			return
		}
		WriteError(c, http.StatusBadRequest, "invalid_type",
			fmt.Sprintf("%s must be %s, not %s", field, jsonKind(typ), typ.Value), field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		WriteError(c, http.StatusBadRequest, "unknown_field", fmt.Sprintf("%s is not a field of this request", field), field)
	default:
		WriteError(c, http.StatusBadRequest, "malformed_json", "the request body is not valid JSON", "body")
	}
}

// jsonKind names the JSON type a Go type expects, for messages.
func jsonKind(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "another type"
	}
	switch e.Type.Kind().String() {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "another type"
}

// keyProblem is a refused object key: its 400 code, the field (dotted
// path, as encoding/json names fields: "recipients.role") and a sentence.
type keyProblem struct {
	code, field, message string
}

// checkKeys walks the object keys of a JSON document beside the Go type it
// is decoded into (t, a pointer to it) and returns the first key given
// twice in one object, spelt in another case than its field, or naming no
// field of a struct. Malformed JSON gives no problem here: the decoder that
// runs next names it.
func checkKeys(data []byte, t reflect.Type) *keyProblem {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p, _ := walkKeys(dec, t, "", 0)
	return p
}

// maxJSONDepth bounds the nesting walkKeys follows; encoding/json itself
// refuses documents nested deeper than 10,000.
const maxJSONDepth = 10000

func walkKeys(dec *json.Decoder, t reflect.Type, path string, depth int) (*keyProblem, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("json: nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil, nil // a scalar: its type is the decoder's to check
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch d {
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		switch {
		case t != nil && t.Kind() == reflect.Struct:
			fields = jsonFields(t)
		case t != nil && t.Kind() == reflect.Map:
			elem = t.Elem()
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := kt.(string)
			field := key
			if path != "" {
				field = path + "." + key
			}
			if seen[key] {
				return &keyProblem{"duplicate_field", field, fmt.Sprintf("%s is given more than once", clip(field))}, nil
			}
			seen[key] = true
			ft := elem
			if fields != nil {
				var ok bool
				if ft, ok = fields[key]; !ok {
					return unknownKey(fields, key, field), nil
				}
			}
			if p, err := walkKeys(dec, ft, field, depth+1); p != nil || err != nil {
				return p, err
			}
		}
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if p, err := walkKeys(dec, elem, path, depth+1); p != nil || err != nil {
				return p, err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return nil, err
}

// unknownKey is the problem of a key that names no field: a field spelt in
// another case is named with its spelling.
func unknownKey(fields map[string]reflect.Type, key, field string) *keyProblem {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return &keyProblem{"unknown_field", field,
				fmt.Sprintf("%s is not a field of this request; field names are case-sensitive: write %s", clip(field), name)}
		}
	}
	return &keyProblem{"unknown_field", field, fmt.Sprintf("%s is not a field of this request", clip(field))}
}

// jsonFieldCache holds the JSON field names of each request type.
var jsonFieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields maps the JSON names of a struct's fields, as encoding/json
// reads them (tag name, else the Go name; embedded structs flattened), to
// their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := jsonFieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, ok := m[k]; !ok {
						m[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = ft
	}
	jsonFieldCache.Store(t, m)
	return m
}

// queryParams maps each API route, as gin names it ("GET
// /api/v1/entries/:id"), to the query parameters the OpenAPI document
// lists for it.
var queryParams = func() map[string][]apiParam {
	m := map[string][]apiParam{}
	for _, op := range apiOps {
		m[op.Method+" "+ginPath(op.Path)] = op.Query
	}
	return m
}()

// ginPath turns an OpenAPI path below /api/v1 ("/entries/{id}") into the
// route gin matched ("/api/v1/entries/:id").
func ginPath(p string) string {
	return "/api/v1" + strings.NewReplacer("{", ":", "}", "").Replace(p)
}

// checkQuery refuses, with 400 naming the parameter, a query parameter the
// route does not take, one given twice, a value of an enumerated one that
// is not among its values (listing them), and a boolean that is not true
// or false. Numbers and their ranges are checked by their handlers.
func checkQuery(c *gin.Context) {
	params, ok := queryParams[c.Request.Method+" "+c.FullPath()]
	if !ok {
		c.Next()
		return
	}
	q := c.Request.URL.Query()
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names) // the first problem in a stable order
	for _, name := range names {
		i := slices.IndexFunc(params, func(p apiParam) bool { return p.Name == name })
		if i < 0 {
			WriteError(c, http.StatusBadRequest, "unknown_parameter", unknownParamMessage(name, params), name)
			return
		}
		if len(q[name]) > 1 {
			WriteError(c, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("%s is given more than once", clip(name)), name)
			return
		}
		p, v := params[i], q[name][0]
		if len(p.Enum) > 0 && !oneOf(c, name, v, p.Enum...) {
			return
		}
		if p.Type == "boolean" && v != "true" && v != "false" {
			WriteError(c, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("%s must be true or false, not %q", name, clip(v)), name)
			return
		}
	}
	c.Next()
}

func unknownParamMessage(name string, params []apiParam) string {
	if len(params) == 0 {
		return fmt.Sprintf("%s is not a parameter of this request; it takes none", clip(name))
	}
	known := make([]string, len(params))
	for i, p := range params {
		known[i] = p.Name
	}
	return fmt.Sprintf("%s is not a parameter of this request; it takes %s", clip(name), strings.Join(known, ", "))
}
