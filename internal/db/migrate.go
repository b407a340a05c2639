package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"diwan.gov.sy/diwan/migrations"
)

// ErrSchemaBehind is returned by CheckSchema when migrations are pending.
var ErrSchemaBehind = errors.New("database schema is behind")

// Applied is one migration that Migrate ran.
type Applied struct {
	Line    string // "diwan" or "river"
	Version int64
	Name    string // file name for Diwan's, description for River's
}

func (a Applied) String() string {
	if a.Line == "river" {
		return fmt.Sprintf("applied river %03d %s", a.Version, a.Name)
	}
	return fmt.Sprintf("applied diwan %s", a.Name)
}

// dialectDir is the folder of migrations/ for the driver.
func dialectDir(driver string) string {
	if driver == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// MigrationFS returns the embedded migrations of one dialect.
func MigrationFS(driver string) fs.FS {
	sub, err := fs.Sub(migrations.FS, dialectDir(driver))
	if err != nil {
		panic(err) // the embedded tree always has both folders
	}
	return sub
}

func (d *DB) goose(fsys fs.FS) (*goose.Provider, error) {
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	opts = append(opts, goose.WithDisableGlobalRegistry(true))
	if d.driver == Postgres {
		dialect = goose.DialectPostgres
		// Several nodes may start at once: one migrates, the others wait.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, d.sqlDB, fsys, opts...)
}

// Migrate applies every pending migration — Diwan's, then River's — and
// returns what it applied. Each migration runs in its own transaction; one
// that fails is rolled back and the error names its version.
func (d *DB) Migrate(ctx context.Context) ([]Applied, error) {
	applied, err := d.migrateFS(ctx, MigrationFS(d.driver))
	if err != nil {
		return applied, err
	}
	river, err := d.migrateRiver(ctx)
	return append(applied, river...), err
}

func (d *DB) migrateFS(ctx context.Context, fsys fs.FS) ([]Applied, error) {
	p, err := d.goose(fsys)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	var out []Applied
	for _, r := range results {
		out = append(out, Applied{Line: "diwan", Version: r.Source.Version, Name: path.Base(r.Source.Path)})
	}
	if err != nil {
		var pe *goose.PartialError
		if errors.As(err, &pe) && pe.Failed != nil {
			for _, r := range pe.Applied {
				out = append(out, Applied{Line: "diwan", Version: r.Source.Version, Name: path.Base(r.Source.Path)})
			}
			return out, fmt.Errorf("migration %05d (%s) failed and was rolled back: %v",
				pe.Failed.Source.Version, path.Base(pe.Failed.Source.Path), rootCause(pe.Err))
		}
		return out, fmt.Errorf("migrations: %w", err)
	}
	return out, nil
}

// rootCause drops goose's wrapping ("failed to run SQL migration: ...").
func rootCause(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s[:i], "failed to") {
		return s[i+2:]
	}
	return s
}

func (d *DB) migrateRiver(ctx context.Context) ([]Applied, error) {
	var res *rivermigrate.MigrateResult
	var err error
	switch d.driver {
	case Postgres:
		var m *rivermigrate.Migrator[pgx.Tx]
		m, err = rivermigrate.New(riverpgxv5.New(d.pool), nil)
		if err == nil {
			res, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		}
	default:
		m, merr := rivermigrate.New(riversqlite.New(d.sqlDB), nil)
		if merr != nil {
			err = merr
			break
		}
		res, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	var out []Applied
	for _, v := range res.Versions {
		out = append(out, Applied{Line: "river", Version: int64(v.Version), Name: v.Name})
	}
	return out, nil
}

// Pending lists the migrations not yet applied, Diwan's and River's.
func (d *DB) Pending(ctx context.Context) ([]string, error) {
	p, err := d.goose(MigrationFS(d.driver))
	if err != nil {
		return nil, err
	}
	status, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	var out []string
	for _, s := range status {
		if s.State == goose.StatePending {
			out = append(out, "diwan "+path.Base(s.Source.Path))
		}
	}
	var msgs []string
	switch d.driver {
	case Postgres:
		m, err := rivermigrate.New(riverpgxv5.New(d.pool), nil)
		if err != nil {
			return nil, err
		}
		r, err := m.Validate(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("river migration status: %w", err)
		}
		msgs = r.Messages
	default:
		m, err := rivermigrate.New(riversqlite.New(d.sqlDB), nil)
		if err != nil {
			return nil, err
		}
		r, err := m.Validate(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("river migration status: %w", err)
		}
		msgs = r.Messages
	}
	for _, msg := range msgs {
		out = append(out, "river "+msg)
	}
	return out, nil
}

// CheckSchema returns an error wrapping ErrSchemaBehind, naming the command
// to run, when any migration is pending.
func (d *DB) CheckSchema(ctx context.Context) error {
	pending, err := d.Pending(ctx)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return fmt.Errorf("%w: %d migration(s) pending (first: %s); run `diwan migrate` or set database.auto_migrate: true",
			ErrSchemaBehind, len(pending), pending[0])
	}
	return nil
}
