package httpd

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzCheckKeysLetsThroughOnlyExactFields: whatever the bytes, checkKeys
// does not panic, and a document it passes that encoding/json decodes has
// no key, at any depth of a request type, that is not exactly a field
// name and no key given twice.
func FuzzCheckKeysLetsThroughOnlyExactFields(f *testing.F) {
	for _, s := range []string{
		`{"subject": "x", "classification": "secret", "classification": "normal"}`,
		`{"Classification": "normal"}`,
		`{"recipients": [{"registry": "MOF", "Registry": "MOCT"}], "references": [{"id": 1}]}`,
		`{"subject": {"a": 1, "a": 2}}`,
		`[{"a": 1}]`, `{"subject": "x"} {}`, `{`, `{"\u0073ubject": "x"}`, `{"subject": "x", "subject": "y"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if checkKeys(data, reflect.TypeOf(&newCorrespondenceRequest{})) != nil {
			return
		}
		var req newCorrespondenceRequest
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if dec.Decode(&req) != nil {
			return
		}
		// Every key, as the token stream reads it, at the top and in the
		// recipients and references, is exact and given once.
		var top map[string]json.RawMessage
		if json.Unmarshal(data, &top) != nil {
			return
		}
		fields := jsonFields(reflect.TypeOf(req))
		for k := range top {
			if _, ok := fields[k]; !ok {
				t.Fatalf("key %q passed but is not a field", k)
			}
		}
		if countKeys(data) != countUnique(data) {
			t.Fatalf("a key given twice passed: %s", data)
		}
	})
}

// countKeys and countUnique count the object keys of the top-level
// object, all and distinct.
func countKeys(data []byte) int { return len(topKeys(data)) }

func countUnique(data []byte) int {
	seen := map[string]bool{}
	for _, k := range topKeys(data) {
		seen[k] = true
	}
	return len(seen)
}

func topKeys(data []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}
