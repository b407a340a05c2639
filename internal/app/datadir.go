package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"diwan.gov.sy/diwan/internal/config"
)

// SpoolDir is where messages too large to hold in memory wait while they
// are stored: data_dir/spool.
func SpoolDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "spool") }

// dataDirs are the directories the server writes into under its
// configuration: data_dir itself (the SQLite database, the master key),
// the spool, the filesystem blob store and the self-signed TLS pair, each
// when the configuration uses it.
func dataDirs(cfg *config.Config) []string {
	dirs := []string{cfg.DataDir, SpoolDir(cfg)}
	if cfg.Blob.Driver != "s3" {
		dirs = append(dirs, cfg.BlobDir())
	}
	if cfg.TLS.CertFile == "" {
		dirs = append(dirs, filepath.Join(cfg.DataDir, "tls"))
	}
	return dirs
}

// PrepareDataDirs creates every directory the server writes into (mode
// 0700; an existing directory keeps its mode) and checks that it can create
// a file in each, so that a missing or read-only directory stops the start
// with its name instead of failing the first large message. It returns the
// directories checked.
func PrepareDataDirs(cfg *config.Config) ([]string, error) {
	dirs := dataDirs(cfg)
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory %s cannot be created: %v; create it, writable by the user diwan runs as (uid %d), or set data_dir",
				dir, unwrapPath(err), os.Getuid())
		}
		if err := checkWritable(dir); err != nil {
			return nil, fmt.Errorf("data directory %s is not writable: %v; make it writable by the user diwan runs as (uid %d), or set data_dir",
				dir, unwrapPath(err), os.Getuid())
		}
	}
	return dirs, nil
}

// checkWritable creates and removes a file in dir.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".diwan-write-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	err = f.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	return err
}

// unwrapPath drops the operation and path of a *PathError: the message
// names the directory already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
