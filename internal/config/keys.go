package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EnvPrefix starts every environment variable that sets a config key.
const EnvPrefix = "DIWAN_"

// field is one leaf key of Config, found by walking its yaml tags.
type field struct {
	path   string // "smtp.max_message_bytes"
	index  []int  // for reflect.Value.FieldByIndex from Config
	typ    reflect.Type
	secret bool // also accepted from DIWAN_<KEY>_FILE
}

var (
	durationType = reflect.TypeFor[Duration]()
	stringType   = reflect.TypeFor[string]()
)

// keySchema is the key list of Config, built from its struct tags.
type keySchema struct {
	fields   []field
	byPath   map[string]field
	sections []string // key paths that hold a mapping: "smtp", "blob.s3"
}

// schema is built once; Config's shape does not change at run time.
var schema = sync.OnceValue(func() *keySchema {
	s := &keySchema{}
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				panic(fmt.Sprintf("config: field %s.%s has no yaml name", t.Name(), sf.Name))
			}
			path := joinPath(prefix, name)
			idx := append(append([]int(nil), index...), i)
			if sf.Type.Kind() == reflect.Struct {
				s.sections = append(s.sections, path)
				walk(sf.Type, path, idx)
				continue
			}
			if !supported(sf.Type) {
				panic(fmt.Sprintf("config: key %s has unsupported type %s", path, sf.Type))
			}
			s.fields = append(s.fields, field{
				path:   path,
				index:  idx,
				typ:    sf.Type,
				secret: sf.Tag.Get("secret") == "true",
			})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	s.byPath = make(map[string]field, len(s.fields))
	for _, f := range s.fields {
		s.byPath[f.path] = f
	}
	return s
})

// KeyPaths lists every key of the config file, in the order of the struct,
// as dotted paths: "data_dir", "smtp.max_message_bytes", "blob.s3.secret_key".
// Each is also the environment variable EnvName(path).
func (c *Config) KeyPaths() []string {
	return keyPathsOf(schema().fields)
}

// SecretKeyPaths lists the keys that hold secrets; each also accepts
// DIWAN_<KEY>_FILE, the path of a file holding the value. Never log their
// values.
func (c *Config) SecretKeyPaths() []string {
	var paths []string
	for _, f := range schema().fields {
		if f.secret {
			paths = append(paths, f.path)
		}
	}
	return paths
}

// EnvName is the environment variable that overrides the key at path:
// "smtp.max_message_bytes" → DIWAN_SMTP_MAX_MESSAGE_BYTES.
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

func joinPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func supported(t reflect.Type) bool {
	if t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64:
		return true
	case reflect.Slice:
		return t.Elem() == stringType || t.Elem() == durationType
	case reflect.Map:
		return t.Key() == stringType && t.Elem() == stringType
	}
	return false
}

// describe names what a value of type t is written as, for error messages.
func describe(t reflect.Type) string {
	if t == durationType {
		return `a duration such as "30s" or "15m"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Slice:
		if t.Elem() == durationType {
			return `a list of durations such as [5m, 1h]`
		}
		return "a list of strings"
	case reflect.Map:
		return `a mapping of names to strings such as {"moh.gov.sy": "10.1.2.3:25"}`
	case reflect.Struct:
		return "a mapping of keys"
	}
	return t.String()
}

// parseScalar reads text as a value of type t (any supported type but a
// slice). The error says what was expected and what was found, without the
// key, which the caller adds.
func parseScalar(t reflect.Type, text string) (reflect.Value, error) {
	v := reflect.New(t).Elem()
	wrong := func() error { return fmt.Errorf("expected %s, got %q", describe(t), text) }
	if t == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(text))
		if err != nil {
			return v, wrong()
		}
		v.SetInt(int64(d))
		return v, nil
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return v, wrong()
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(text), 0, t.Bits())
		if errors.Is(err, strconv.ErrRange) {
			return v, fmt.Errorf("%q is out of range for %s", text, describe(t))
		}
		if err != nil {
			return v, wrong()
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(text), 0, t.Bits())
		if errors.Is(err, strconv.ErrRange) {
			return v, fmt.Errorf("%q is out of range for %s", text, describe(t))
		}
		if err != nil {
			return v, wrong()
		}
		v.SetUint(n)
	default:
		return v, fmt.Errorf("cannot read %s from text", t)
	}
	return v, nil
}

// setFromText sets v from an environment value: scalars as parseScalar,
// lists comma-separated with blanks around items dropped, mappings as
// comma-separated name=value pairs ("moh.gov.sy=10.1.2.3:25,.mod.gov.sy=relay:25").
func setFromText(v reflect.Value, text string) error {
	if v.Kind() == reflect.Map {
		m := reflect.MakeMap(v.Type())
		for item := range strings.SplitSeq(text, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			name, val, ok := strings.Cut(item, "=")
			if !ok || strings.TrimSpace(name) == "" {
				return fmt.Errorf("item %q is not name=value", item)
			}
			m.SetMapIndex(reflect.ValueOf(strings.TrimSpace(name)), reflect.ValueOf(strings.TrimSpace(val)))
		}
		v.Set(m)
		return nil
	}
	if v.Kind() != reflect.Slice {
		x, err := parseScalar(v.Type(), text)
		if err != nil {
			return err
		}
		v.Set(x)
		return nil
	}
	list := reflect.MakeSlice(v.Type(), 0, 4)
	for item := range strings.SplitSeq(text, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		x, err := parseScalar(v.Type().Elem(), item)
		if err != nil {
			return fmt.Errorf("list item %q: %w", item, err)
		}
		list = reflect.Append(list, x)
	}
	v.Set(list)
	return nil
}

// suggestKey returns a known key path close to the unknown one, or "".
// siblings are the key names at the same level as the unknown name.
func suggestKey(unknownPath string, siblings []string) string {
	prefix, name := "", unknownPath
	if i := strings.LastIndexByte(unknownPath, '.'); i >= 0 {
		prefix, name = unknownPath[:i], unknownPath[i+1:]
	}
	best, bestDist := "", 3
	for _, s := range siblings {
		if d := editDistance(name, s); d < bestDist && d < len(name) {
			best, bestDist = joinPath(prefix, s), d
		}
	}
	if best != "" {
		return best
	}
	// A key put in the wrong section: "hostname" at the top for "smtp.hostname".
	sc := schema()
	all := append(append([]string(nil), sc.sections...), keyPathsOf(sc.fields)...)
	for _, p := range all {
		if p == name || strings.HasSuffix(p, "."+name) {
			return p
		}
	}
	return ""
}

// suggestEnv returns a known variable close to an unknown DIWAN_ name, or "".
func suggestEnv(name string) string {
	best, bestDist := "", 3
	for _, f := range schema().fields {
		if d := editDistance(name, EnvName(f.path)); d < bestDist {
			best, bestDist = EnvName(f.path), d
		}
	}
	return best
}

func keyPathsOf(fs []field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.path
	}
	return out
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
