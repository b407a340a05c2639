package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var (
	examplePath = filepath.Join("..", "..", "configs", "diwan.example.yaml")
	devPath     = filepath.Join("..", "..", "configs", "dev.yaml")
)

func TestExampleConfigLoadsAndShowsTheDefaults(t *testing.T) {
	c, warnings := mustLoad(t, examplePath)
	if len(warnings) != 0 {
		t.Errorf("warnings = %q", warnings)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	want := Default()
	for _, p := range c.KeyPaths() {
		f := schema().byPath[p]
		got := reflect.ValueOf(c).Elem().FieldByIndex(f.index)
		def := reflect.ValueOf(want).Elem().FieldByIndex(f.index)
		if (got.Kind() == reflect.Slice && got.Len() == 0 && def.Len() == 0) || reflect.DeepEqual(got.Interface(), def.Interface()) {
			continue
		}
		t.Errorf("example sets %s to %v, but the default is %v; the example documents the defaults", p, got, def)
	}
}

// TestExampleConfigDocumentsEveryKey keeps configs/diwan.example.yaml and
// the Config struct in step: every key is written out, with a comment.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	type entry struct{ key, value *yaml.Node }
	found := map[string]entry{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := joinPath(prefix, k.Value)
			found[path] = entry{k, v}
			if v.Kind == yaml.MappingNode {
				walk(v, path)
			}
		}
	}
	walk(doc.Content[0], "")
	for _, p := range Default().KeyPaths() {
		e, ok := found[p]
		if !ok {
			t.Errorf("configs/diwan.example.yaml does not document %s", p)
			continue
		}
		if strings.TrimSpace(e.key.HeadComment+e.key.LineComment+e.value.LineComment) == "" {
			t.Errorf("configs/diwan.example.yaml: %s (line %d) has no comment", p, e.key.Line)
		}
	}
	for _, p := range Default().SecretKeyPaths() {
		if e := found[p]; e.key != nil && !strings.Contains(e.key.HeadComment, "secret") {
			t.Errorf("configs/diwan.example.yaml: %s is a secret but its comment does not say so", p)
		}
	}
}

func TestDevConfigLoadsAndValidates(t *testing.T) {
	c, warnings := mustLoad(t, devPath)
	if len(warnings) != 0 {
		t.Errorf("warnings = %q", warnings)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	checks := []struct {
		key       string
		got, want any
	}{
		{"database.driver", c.Database.Driver, "sqlite"},
		{"DatabaseDSN()", c.DatabaseDSN(), filepath.Join("data", "diwan.db")},
		{"blob.driver", c.Blob.Driver, "fs"},
		{"BlobDir()", c.BlobDir(), filepath.Join("data", "blobs")},
		{"http.addr", c.HTTP.Addr, "127.0.0.1:8080"},
		{"smtp.inbound_addr", c.SMTP.InboundAddr, "127.0.0.1:2525"},
		{"smtp.submission_addr", c.SMTP.SubmissionAddr, "127.0.0.1:2587"},
		{"smtp.submissions_addr", c.SMTP.SubmissionsAddr, "127.0.0.1:2465"},
		{"imap.addr", c.IMAP.Addr, "127.0.0.1:2143"},
		{"imap.tls_addr", c.IMAP.TLSAddr, "127.0.0.1:2993"},
		{"log.format", c.Log.Format, "text"},
	}
	for _, tc := range checks {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.key, tc.got, tc.want)
		}
	}
}
