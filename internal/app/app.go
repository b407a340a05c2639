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

	"github.com/prometheus/client_golang/prometheus"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/httpd"
	"diwan.gov.sy/diwan/internal/mailstore"
	"diwan.gov.sy/diwan/internal/policy"
	"diwan.gov.sy/diwan/internal/secrets"
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
	MasterKey *secrets.MasterKey
	Audit     *audit.Log
	// Sealer seals the audit events of every service that writes them.
	Sealer    *audit.Sealer
	Directory *directory.Service
	// Policy is the national-mail-only policy of the configuration.
	Policy   *policy.Service
	Workflow *workflow.Service
	Mail     *mailstore.Store
	// Metrics is the registry /metrics exposes: the Go runtime and process
	// collectors, the blob store's and the workflow's metrics, and those
	// the listeners add.
	Metrics *prometheus.Registry
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

// AuditHeadFile is the file under data_dir where the audit chain head is
// recorded as the linker advances.
const AuditHeadFile = "audit-head"

// LoadMasterKey loads the master key (secrets.master_key_file, by default
// data_dir/master.key), generating it on first start.
func LoadMasterKey(cfg *config.Config, log *slog.Logger) (*secrets.MasterKey, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	k, created, err := secrets.LoadOrGenerate(cfg.MasterKeyPath())
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("master key generated; back it up apart from the database", slog.String("file", cfg.MasterKeyPath()))
	}
	return k, nil
}

// Open opens the database (migrating it when migrate is true, otherwise
// refusing a schema that is behind) and the blob store, loads the master
// key, and builds the core services. Close releases everything.
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
	reg := httpd.NewRegistry()
	st, err := OpenBlob(ctx, cfg)
	if err != nil {
		d.Close()
		return nil, err
	}
	storeName := "fs"
	if cfg.Blob.Driver == "s3" {
		storeName = "s3"
	}
	if st, err = blob.Instrument(st, storeName, reg); err != nil {
		d.Close()
		return nil, err
	}
	wfMetrics, err := newWorkflowMetrics(reg)
	if err != nil {
		d.Close()
		return nil, err
	}
	mk, err := LoadMasterKey(cfg, log)
	if err != nil {
		d.Close()
		return nil, err
	}
	e := &Env{Config: cfg, Log: log, DB: d, Blob: st, Metrics: reg, MasterKey: mk, Sealer: audit.NewSealer(mk)}
	e.Audit = audit.Open(d, audit.Options{
		Keys:   mk,
		Heads:  []audit.HeadStore{audit.HeadFile(filepath.Join(cfg.DataDir, AuditHeadFile)), audit.HeadBlob(st)},
		Logger: log,
	})
	if _, err := e.Audit.Rekey(ctx); err != nil {
		d.Close()
		return nil, err
	}
	// In the configuration 0 turns a bound off; in Options it means the
	// default and a negative value turns it off.
	off := func(n int) int {
		if n == 0 {
			return -1
		}
		return n
	}
	e.Directory = directory.New(d, directory.Options{
		Audit:              e.Sealer,
		LockoutThreshold:   off(cfg.Auth.LockoutThreshold),
		LockoutDuration:    cfg.Auth.LockoutDuration.Duration(),
		LockoutAddresses:   off(cfg.Auth.LockoutAddresses),
		AddressMaxFailures: off(cfg.Auth.AddressMaxFailures),
		MinPasswordLength:  cfg.Auth.MinPasswordLength,
		AuthCacheTTL:       cfg.Auth.CacheTTL.Duration(),
		NationalUsers:      cfg.Directory.NationalUsers,
		SessionTTL:         cfg.Auth.SessionTTL.Duration(),
		Logger:             log,
	})
	e.Policy, err = policy.New(d, policy.Options{Audit: e.Sealer, NationalSuffixes: cfg.Policy.NationalSuffixes, Hosted: e.Directory, Logger: log})
	if err != nil {
		d.Close()
		return nil, err
	}
	e.Mail, err = mailstore.New(mailstore.Options{
		DB:        d,
		Blobs:     st,
		Directory: e.Directory,
		Feed:      mailstore.NewLocalFeed(),
		// Room for the trace fields SMTP adds (Received, later
		// DKIM-Signature) on top of a message of the advertised size.
		MaxMessageBytes: cfg.SMTP.MaxMessageBytes + 64<<10,
		SpoolDir:        SpoolDir(cfg),
		Location:        cfg.Location(),
		Logger:          log,
	})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("mail store: %w", err)
	}
	e.Workflow = workflow.New(d, st, workflow.Options{
		Audit:         e.Sealer,
		Workflow:      cfg.Workflow,
		Location:      cfg.Location(),
		NationalUsers: cfg.Directory.NationalUsers,
		Logger:        log,
		Observer:      wfMetrics,
		Directory:     e.Directory,
	})
	return e, nil
}

// The directory answers what the engine asks of callers, ministries,
// domains and users.
var _ workflow.Directory = (*directory.Service)(nil)

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
