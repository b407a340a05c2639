// Package secrets holds Diwan's master key: the one secret read from a file
// (secrets.master_key_file, by default data_dir/master.key) from which every
// other key of the server is derived. The key is never stored in the
// database, so that whoever can write the database, or read a copy of it,
// still cannot forge what the keys protect.
//
// Derive gives a separate 32-byte key per purpose (HKDF-SHA256, RFC 5869,
// with the purpose as the info string): "audit chain" keys the audit hash
// chain, "audit row" seals each audit event at insert (package audit).
// Registry signing keys will be stored encrypted under a key derived here.
// Losing the file loses all of that: back it up apart from the database.
//
// The file holds at least 32 random bytes (Generate writes 32) and must be
// readable by its owner only; Load refuses anything else with a one-line
// error naming the file. The package never logs and never writes the key
// anywhere but the file Generate creates.
package secrets

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeySize is the length of a generated master key and the least a key file
// may hold, in bytes.
const KeySize = 32

// MasterKey is the master key. Its value never leaves the package except as
// derived keys.
type MasterKey struct {
	key []byte
}

// New returns the master key of b (at least KeySize bytes), for tests and
// for keys that do not come from a file.
func New(b []byte) (*MasterKey, error) {
	if len(b) < KeySize {
		return nil, fmt.Errorf("master key has %d bytes, want at least %d", len(b), KeySize)
	}
	return &MasterKey{key: append([]byte(nil), b...)}, nil
}

// Random returns a new random master key that is kept nowhere (tests).
func Random() *MasterKey {
	b := make([]byte, KeySize)
	rand.Read(b) // never fails (Go 1.24+)
	return &MasterKey{key: b}
}

// Load reads the master key from path. A file readable or writable by group
// or others, or shorter than KeySize bytes, is refused.
func Load(path string) (*MasterKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("master key file %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("master key file %s: mode %04o lets group or others read it; chmod 600 it", path, perm)
	}
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if err != nil && n == 0 {
		return nil, fmt.Errorf("master key file %s: empty, want at least %d bytes", path, KeySize)
	}
	if n < KeySize {
		return nil, fmt.Errorf("master key file %s: %d bytes, want at least %d", path, n, KeySize)
	}
	return &MasterKey{key: b[:n]}, nil
}

// Generate writes a new random key of KeySize bytes to path, with mode 0600
// and fsynced (the directory too), and returns it. An existing file is
// never replaced: it is an error.
func Generate(path string) (*MasterKey, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, unwrapPath(err))
	}
	k := Random()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, unwrapPath(err))
	}
	if _, err := f.Write(k.key); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("master key file %s: %w", path, unwrapPath(err))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("master key file %s: %w", path, unwrapPath(err))
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("master key file %s: %w", path, unwrapPath(err))
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return k, nil
}

// LoadOrGenerate loads the key at path, or generates it there when no file
// exists; created says which.
func LoadOrGenerate(path string) (k *MasterKey, created bool, err error) {
	k, err = Load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, err = Generate(path)
	if errors.Is(err, fs.ErrExist) { // created meanwhile by another process
		k, err = Load(path)
		return k, false, err
	}
	return k, err == nil, err
}

// Derive returns the 32-byte key of purpose ("audit chain", "audit row"):
// HKDF-SHA256 of the master key with no salt and the info
// "diwan/v1/" + purpose. Different purposes give independent keys.
func (k *MasterKey) Derive(purpose string) []byte {
	out, err := hkdf.Key(sha256.New, k.key, nil, "diwan/v1/"+purpose, 32)
	if err != nil {
		panic("secrets: hkdf: " + err.Error()) // only for lengths over 255×32
	}
	return out
}

// unwrapPath drops the *fs.PathError around err (the message names the file
// already) and keeps what errors.Is needs.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
