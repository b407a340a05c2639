// Package app is Diwan's composition root: it reads the configuration, opens
// the database and the blob store, builds the core services and starts the
// listeners. Nothing else opens a database or a store; services receive what
// they need explicitly.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/mailstore"
	"diwan.gov.sy/diwan/internal/workflow"
)

// Version and Commit are set at build time (-ldflags -X).
var (
	Version = "dev"
	Commit  = "unknown"
)

// LoadConfig reads the configuration named by flag (or $DIWAN_CONFIG, or
// configs/dev.yaml), prints its warnings to warnOut and validates it.
func LoadConfig(flag string, warnOut io.Writer) (*config.Config, error) {
	path := config.ResolvePath(flag)
	cfg, warnings, err := config.Load(path, os.Environ())
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		fmt.Fprintln(warnOut, "diwan: warning: "+w)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// NewLogger builds the process logger from log.level and log.format.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.Log.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Env is what every command works with: the configuration, the open
// database and blob store, and the core services built on them.
type Env struct {
	Config    *config.Config
	Log       *slog.Logger
	DB        *db.DB
	Blob      blob.Store
	Audit     *audit.Log
	Directory *directory.Service
	Workflow  *workflow.Service
	Mail      *mailstore.Store
}

// OpenDB opens the configured database; the error names the driver and the
// address when it cannot be reached.
func OpenDB(ctx context.Context, cfg *config.Config, log *slog.Logger) (*db.DB, error) {
	return db.Open(ctx, db.Options{
		Driver:       cfg.Database.Driver,
		DSN:          cfg.DatabaseDSN(),
		MaxOpenConns: cfg.Database.MaxOpenConns,
		Logger:       log,
	})
}

// OpenBlob opens the configured blob store; the error names the store and
// its address when it cannot be reached.
func OpenBlob(ctx context.Context, cfg *config.Config) (blob.Store, error) {
	switch cfg.Blob.Driver {
	case "s3":
		s := cfg.Blob.S3
		return blob.NewS3(ctx, blob.S3Options{
			Endpoint: s.Endpoint, Bucket: s.Bucket, AccessKey: s.AccessKey, SecretKey: s.SecretKey,
			Region: s.Region, UseTLS: s.UseTLS, PartSize: s.PartSize, Threads: s.Threads,
		})
	default:
		st, err := blob.NewFS(cfg.BlobDir())
		if err != nil {
			return nil, fmt.Errorf("blob store fs at %s: %w", cfg.BlobDir(), err)
		}
		return st, nil
	}
}

// Open opens the database (migrating it when migrate is true, otherwise
// refusing a schema that is behind) and the blob store, and builds the core
// services. Close releases everything.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger, migrate bool, out io.Writer) (*Env, error) {
	d, err := OpenDB(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if migrate {
		applied, err := d.Migrate(ctx)
		for _, a := range applied {
			fmt.Fprintln(out, a.String())
		}
		if err != nil {
			d.Close()
			return nil, err
		}
	} else if err := d.CheckSchema(ctx); err != nil {
		d.Close()
		return nil, err
	}
	st, err := OpenBlob(ctx, cfg)
	if err != nil {
		d.Close()
		return nil, err
	}
	e := &Env{Config: cfg, Log: log, DB: d, Blob: st}
	e.Audit = audit.New(d, log)
	// In the configuration 0 turns a bound off; in Options it means the
	// default and a negative value turns it off.
	off := func(n int) int {
		if n == 0 {
			return -1
		}
		return n
	}
	e.Directory = directory.New(d, directory.Options{
		LockoutThreshold:   off(cfg.Auth.LockoutThreshold),
		LockoutDuration:    cfg.Auth.LockoutDuration.Duration(),
		LockoutAddresses:   off(cfg.Auth.LockoutAddresses),
		AddressMaxFailures: off(cfg.Auth.AddressMaxFailures),
		MinPasswordLength:  cfg.Auth.MinPasswordLength,
		AuthCacheTTL:       cfg.Auth.CacheTTL.Duration(),
		Logger:             log,
	})
	e.Mail, err = mailstore.New(mailstore.Options{
		DB:    d,
		Blobs: st,
		Feed:  mailstore.NewLocalFeed(),
		// Room for the trace fields SMTP adds (Received, later
		// DKIM-Signature) on top of a message of the advertised size.
		MaxMessageBytes: cfg.SMTP.MaxMessageBytes + 64<<10,
		SpoolDir:        filepath.Join(cfg.DataDir, "spool"),
		Location:        cfg.Location(),
		Logger:          log,
	})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("mail store: %w", err)
	}
	e.Workflow = workflow.New(d, st, workflow.Options{
		Workflow: cfg.Workflow,
		Location: cfg.Location(),
		Logger:   log,
	})
	return e, nil
}

// Close closes the database.
func (e *Env) Close() {
	if e.DB != nil {
		e.DB.Close()
	}
}

// Bootstrap creates the bootstrap administrator on an empty database with
// the password from DIWAN_BOOTSTRAP_ADMIN_PASSWORD, else a generated one,
// printed once on w as the line "bootstrap administrator: admin <password>".
func (e *Env) Bootstrap(ctx context.Context, w io.Writer) error {
	created, generated, err := e.Directory.EnsureBootstrapAdmin(ctx, os.Getenv("DIWAN_BOOTSTRAP_ADMIN_PASSWORD"))
	if err != nil {
		return fmt.Errorf("bootstrap administrator: %w", err)
	}
	if created && generated != "" {
		fmt.Fprintf(w, "bootstrap administrator: admin %s\n", generated)
	}
	if created {
		// Link the creation event now so a later verify shows nothing waiting.
		if _, err := e.Audit.LinkPending(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Migrate applies pending migrations, printing each to out, and creates the
// bootstrap administrator on an empty database.
func Migrate(ctx context.Context, cfg *config.Config, log *slog.Logger, out, errOut io.Writer) error {
	e, err := Open(ctx, cfg, log, true, out)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.Bootstrap(ctx, errOut); err != nil {
		return err
	}
	return nil
}

// errString keeps an error's message on one line.
func errString(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

var errStop = errors.New("stopped")
