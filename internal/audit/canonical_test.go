package audit

import (
	"encoding/json"
	"testing"
)

// Details of plain values skip the round trip; they must come out as the
// round trip would make them.
func TestPlainDetailsAreCanonicalWithoutTheRoundTrip(t *testing.T) {
	type pair struct{ B, A int }
	for _, c := range []struct {
		name  string
		d     map[string]any
		plain bool
	}{
		{"strings and numbers", map[string]any{"to": "registered", "correspondence": int64(42), "n": 7, "ok": true, "none": nil}, true},
		{"escapes", map[string]any{"subject": "طلب <بيانات> & \"نص\"\u2028\x01", "z": "\\"}, true},
		{"lists", map[string]any{"recipients": []string{"MOF", "MOCT"}, "ids": []int64{3, 1}, "mixed": []any{"a", 1, false}}, true},
		{"nested", map[string]any{"b": map[string]any{"y": 1, "x": "2"}, "a": map[string]string{"k": "v", "j": "w"}}, true},
		{"struct", map[string]any{"p": pair{B: 1, A: 2}}, false},
		{"raw", map[string]any{"r": json.RawMessage(`{ "b": 1,  "a": 2 }`)}, false},
		{"float", map[string]any{"f": 1.5}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := plainJSON(c.d); got != c.plain {
				t.Fatalf("plainJSON = %v, want %v", got, c.plain)
			}
			got, err := canonicalDetails(c.d)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(c.d)
			if err != nil {
				t.Fatal(err)
			}
			want, err := roundTrip(b)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("canonical details\n got %s\nwant %s", got, want)
			}
		})
	}
}
