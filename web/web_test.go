package web

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

// Every language must carry the same message IDs, none empty: a text missing
// in one language would show its ID to the user.
func TestLocalesHaveTheSameKeys(t *testing.T) {
	keys := map[string][]string{}
	for _, lang := range Languages {
		b, err := Locales.ReadFile("locales/" + lang + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s.json: %v", lang, err)
		}
		for k, v := range m {
			if v == "" {
				t.Errorf("%s.json: %q is empty", lang, k)
			}
		}
		keys[lang] = slices.Sorted(maps.Keys(m))
	}
	for _, lang := range Languages[1:] {
		if !slices.Equal(keys[lang], keys[Languages[0]]) {
			t.Errorf("%s.json and %s.json differ:\n%v\n%v", lang, Languages[0], keys[lang], keys[Languages[0]])
		}
	}
}
