package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// notConfigKeys are DIWAN_ variables that other parts of the program read;
// they are neither applied nor warned about here.
var notConfigKeys = map[string]bool{
	"DIWAN_CONFIG":                   true,
	"DIWAN_BOOTSTRAP_ADMIN_PASSWORD": true,
}

// Load builds the config: Default, then the YAML file at path (when path is
// not empty), then the DIWAN_* variables in environ (as os.Environ gives
// them). The file may name only some keys; a key with no value (or null)
// keeps its default, while "" sets it empty. Load does not call Validate:
// the caller does, after logging the warnings.
//
// Errors name the file and line, or the variable, and the key path: an
// unknown key, a value of the wrong type, a secret given both directly and
// as _FILE. All such problems are reported together. The warnings are for
// the operator's log: DIWAN_ variables that set nothing, and settings that
// are valid but probably not meant.
func Load(path string, environ []string) (*Config, []string, error) {
	c := Default()
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("config %s: file not found; give --config FILE or set DIWAN_CONFIG: %w", path, err)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("config %s: %w", path, err)
		}
		errs = decodeFile(path, data, c)
	}
	warnings, envErrs := applyEnv(c, environ)
	errs = append(errs, envErrs...)
	if len(errs) > 0 {
		return nil, warnings, errors.Join(errs...)
	}
	return c, append(warnings, c.advice()...), nil
}

// decodeFile applies the YAML document in data to c, key by key, against
// the schema of Config.
func decodeFile(path string, data []byte, c *Config) []error {
	d := &fileDecoder{path: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file: all defaults
		}
		return []error{fmt.Errorf("config %s: %w", path, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return []error{fmt.Errorf("config %s: %w", path, err)}
		}
		return []error{fmt.Errorf("config %s: line %d: a second YAML document; keep the whole config in one", path, line)}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	if isNull(root) {
		return nil // only comments
	}
	if resolve(root).Kind != yaml.MappingNode {
		d.errorf(root, "expected a mapping of keys at the top level, got %s", nodeDesc(root))
		return d.errs
	}
	d.decodeStruct(root, reflect.ValueOf(c).Elem(), "")
	return d.errs
}

type fileDecoder struct {
	path string
	errs []error
}

func (d *fileDecoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("config %s: line %d: %s", d.path, n.Line, fmt.Sprintf(format, args...)))
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func nodeDesc(n *yaml.Node) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// decodeStruct applies a mapping node to the struct v whose key path is
// prefix.
func (d *fileDecoder) decodeStruct(n *yaml.Node, v reflect.Value, prefix string) {
	n = resolve(n)
	t := v.Type()
	names := make([]string, t.NumField())
	for i := range t.NumField() {
		names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
	}
	// Merge keys ("<<: *base") first, so that the mapping's own keys win.
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!merge" {
			continue
		}
		val = resolve(val)
		switch val.Kind {
		case yaml.MappingNode:
			d.decodeStruct(val, v, prefix)
		case yaml.SequenceNode:
			for _, m := range slices.Backward(val.Content) {
				if resolve(m).Kind != yaml.MappingNode {
					d.errorf(m, "%s: a merge (<<) takes mappings, got %s", shown(prefix), nodeDesc(m))
					continue
				}
				d.decodeStruct(m, v, prefix)
			}
		default:
			d.errorf(val, "%s: a merge (<<) takes a mapping, got %s", shown(prefix), nodeDesc(val))
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: keys are plain names, got %s", shown(prefix), nodeDesc(k))
			continue
		}
		path := joinPath(prefix, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.errorf(k, "key %q appears twice (first at line %d); keep one", path, line)
			continue
		}
		seen[k.Value] = k.Line
		idx := slices.Index(names, k.Value)
		if idx < 0 && strings.Contains(k.Value, ".") && isKnownPath(path) {
			d.errorf(k, "key %q is written with dots; nest it (%s:) instead", path, strings.ReplaceAll(path, ".", ": "))
			continue
		}
		if idx < 0 {
			msg := fmt.Sprintf("unknown key %q", path)
			if s := suggestKey(path, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			d.errorf(k, "%s", msg)
			continue
		}
		d.decodeValue(val, v.Field(idx), path)
	}
}

func shown(prefix string) string {
	if prefix == "" {
		return "top level"
	}
	return prefix
}

// decodeValue applies node n to v, the value of the key at path. A null
// leaves the default in place.
func (d *fileDecoder) decodeValue(n *yaml.Node, v reflect.Value, path string) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, "%s: expected a mapping of keys, got %s", path, nodeDesc(n))
			return
		}
		d.decodeStruct(n, v, path)
	case t.Kind() == reflect.Map:
		d.decodeMap(n, v, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "%s: expected %s, got %s", path, describe(t), nodeDesc(n))
			return
		}
		list := reflect.MakeSlice(t, 0, len(n.Content))
		ok := true
		for i, item := range n.Content {
			item = resolve(item)
			if item.Kind != yaml.ScalarNode || isNull(item) {
				d.errorf(item, "%s[%d]: expected %s, got %s", path, i, describe(t.Elem()), nodeDesc(item))
				ok = false
				continue
			}
			x, err := parseScalar(t.Elem(), item.Value)
			if err != nil {
				d.errorf(item, "%s[%d]: %v", path, i, err)
				ok = false
				continue
			}
			list = reflect.Append(list, x)
		}
		if ok {
			v.Set(list)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s: expected %s, got %s", path, describe(t), nodeDesc(n))
			return
		}
		x, err := parseScalar(t, n.Value)
		if err != nil {
			d.errorf(n, "%s: %v", path, err)
			return
		}
		v.Set(x)
	}
}

// decodeMap applies a mapping of names to strings (delivery.transports).
func (d *fileDecoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected %s, got %s", path, describe(v.Type()), nodeDesc(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || val.Kind != yaml.ScalarNode || isNull(val) {
			d.errorf(k, "%s: expected %s, got %s: %s", path, describe(v.Type()), nodeDesc(k), nodeDesc(val))
			ok = false
			continue
		}
		if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			d.errorf(k, "%s: %q appears twice; keep one", path, k.Value)
			ok = false
			continue
		}
		m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(val.Value))
	}
	if ok {
		v.Set(m)
	}
}

// applyEnv applies the DIWAN_* variables of environ to c.
func applyEnv(c *Config, environ []string) (warnings []string, errs []error) {
	env := map[string]string{}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, EnvPrefix) {
			env[name] = val // a later duplicate wins, as in the shell
		}
	}
	used := map[string]bool{}
	root := reflect.ValueOf(c).Elem()
	for _, f := range schema().fields {
		name := EnvName(f.path)
		val, set := env[name]
		file, fileSet := "", false
		if f.secret {
			file, fileSet = env[name+"_FILE"]
		}
		used[name], used[name+"_FILE"] = set, fileSet
		from := name
		switch {
		case set && fileSet:
			errs = append(errs, fmt.Errorf("environment %s and %s_FILE are both set for %s; set only one", name, name, f.path))
			continue
		case fileSet:
			from = name + "_FILE"
			if file == "" {
				errs = append(errs, fmt.Errorf("environment %s: %s: empty; give the path of a file holding the value", from, f.path))
				continue
			}
			data, err := os.ReadFile(file)
			if err != nil {
				errs = append(errs, fmt.Errorf("environment %s: %s: %w", from, f.path, err))
				continue
			}
			val = strings.TrimRight(string(data), "\r\n")
		case !set:
			continue
		}
		if err := setFromText(root.FieldByIndex(f.index), val); err != nil {
			if f.secret {
				err = fmt.Errorf("expected %s", describe(f.typ)) // never echo a secret
			}
			errs = append(errs, fmt.Errorf("environment %s: %s: %w", from, f.path, err))
		}
	}
	names := make([]string, 0, len(env))
	for name := range env {
		if !used[name] && !notConfigKeys[name] {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if base, ok := strings.CutSuffix(name, "_FILE"); ok {
			if f, known := envField(base); known {
				warnings = append(warnings, fmt.Sprintf("environment %s ignored: %s is not a secret and has no _FILE form; set %s", name, f.path, base))
				continue
			}
		}
		w := fmt.Sprintf("environment %s ignored: not a config key", name)
		if s := suggestEnv(name); s != "" {
			w += fmt.Sprintf("; did you mean %s?", s)
		}
		warnings = append(warnings, w)
	}
	return warnings, errs
}

func isKnownPath(path string) bool {
	sc := schema()
	_, ok := sc.byPath[path]
	return ok || slices.Contains(sc.sections, path)
}

func envField(name string) (field, bool) {
	for _, f := range schema().fields {
		if EnvName(f.path) == name {
			return f, true
		}
	}
	return field{}, false
}

// advice lists settings that are valid but probably not what the operator
// meant.
func (c *Config) advice() []string {
	var out []string
	// An exchange message carries the letter base64-encoded (4/3 of its
	// size) plus headers and the signed metadata part: 70% leaves room.
	if limit := c.SMTP.MaxMessageBytes / 10 * 7; c.SMTP.MaxMessageBytes > 0 && c.Workflow.MaxLetterBytes > limit {
		out = append(out, fmt.Sprintf("workflow.max_letter_bytes %d is too large for smtp.max_message_bytes %d once encoded as MIME: a letter near the limit cannot be exchanged with another Diwan instance; keep it at most %d (70%%)",
			c.Workflow.MaxLetterBytes, c.SMTP.MaxMessageBytes, limit))
	}
	if c.SMTP.MaxRecipients > 0 && c.SMTP.MaxRecipients < 100 {
		out = append(out, fmt.Sprintf("smtp.max_recipients %d is below the 100 that RFC 5321 §4.5.3.1.8 asks servers to accept", c.SMTP.MaxRecipients))
	}
	if c.HTTP.TLS && strings.HasPrefix(c.HTTP.BaseURL, "http://") {
		out = append(out, fmt.Sprintf("http.base_url %q is plain http but http.tls is true: links in mail and QR codes will not reach the HTTPS listener", c.HTTP.BaseURL))
	}
	return out
}
