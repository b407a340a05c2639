package secrets_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/secrets"
)

func TestLoadOrGenerateCreatesAPrivateKeyOnceAndLoadsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "master.key")
	k1, created, err := secrets.LoadOrGenerate(path)
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != secrets.KeySize {
		t.Fatalf("key file mode %v size %d, want 0600 and %d bytes", st.Mode().Perm(), st.Size(), secrets.KeySize)
	}
	k2, created, err := secrets.LoadOrGenerate(path)
	if err != nil || created {
		t.Fatalf("second start: created %v, %v", created, err)
	}
	if !bytes.Equal(k1.Derive("audit chain"), k2.Derive("audit chain")) {
		t.Fatal("the loaded key derives other keys than the generated one")
	}
	if _, err := secrets.Generate(path); err == nil {
		t.Fatal("Generate replaced an existing key file")
	}
}

func TestLoadRefusesAKeyFileOthersCanReadOrTooShort(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		content []byte
		mode    os.FileMode
		want    string
	}{
		"readable by others": {bytes.Repeat([]byte{1}, 32), 0o644, "chmod 600"},
		"readable by group":  {bytes.Repeat([]byte{1}, 32), 0o640, "chmod 600"},
		"too short":          {bytes.Repeat([]byte{1}, 31), 0o600, "31 bytes, want at least 32"},
		"empty":              {nil, 0o600, "empty"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
			if err := os.WriteFile(path, c.content, c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			_, err := secrets.Load(path)
			if err == nil {
				t.Fatal("loaded")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line naming %s and saying %q", msg, path, c.want)
			}
			if _, _, err := secrets.LoadOrGenerate(path); err == nil {
				t.Fatal("LoadOrGenerate accepted it")
			}
		})
	}
}

func TestDeriveGivesOneKeyPerPurpose(t *testing.T) {
	k, err := secrets.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	chain, row := k.Derive("audit chain"), k.Derive("audit row")
	// RFC 5869 HKDF-SHA256, no salt, info "diwan/v1/audit chain": keys
	// derived from the master key must never change under a stored key.
	if got := fmt.Sprintf("%x", chain); got != "af49f2ee487c232c0e399a7227eaf3607ba8c8f02cd5f17754af17939be7e792" {
		t.Fatalf("Derive(audit chain) = %s", got)
	}
	if len(chain) != 32 || bytes.Equal(chain, row) {
		t.Fatalf("derived keys %x and %x", chain, row)
	}
	if !bytes.Equal(chain, k.Derive("audit chain")) {
		t.Fatal("Derive is not deterministic")
	}
	other, _ := secrets.New(bytes.Repeat([]byte{8}, 32))
	if bytes.Equal(chain, other.Derive("audit chain")) {
		t.Fatal("another master key derives the same key")
	}
	if _, err := secrets.New(make([]byte, 16)); err == nil {
		t.Fatal("a 16-byte master key was accepted")
	}
}
