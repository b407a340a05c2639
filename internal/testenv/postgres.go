package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGBinDir is where the PostgreSQL server binaries are looked for when
// DIWAN_PGBIN is not set.
const PGBinDir = "/usr/lib/postgresql/15/bin"

// Cluster is a throwaway PostgreSQL cluster on 127.0.0.1.
type Cluster struct {
	bin     string
	dataDir string
	port    int
	asUser  string // run the server binaries as this OS user ("" = current user)
	durable bool
}

var (
	sharedOnce    sync.Once
	sharedCluster *Cluster
	sharedErr     error
	dbCounter     atomic.Int64
)

// Postgres returns the DSN of a fresh, empty database on the cluster shared
// by this test binary, starting the cluster on first use. The database is
// dropped with the cluster when Main returns. Without PostgreSQL binaries the
// test is skipped (failed under CI=true).
func Postgres(t testing.TB) string {
	t.Helper()
	sharedOnce.Do(func() {
		sharedCluster, sharedErr = StartCluster(false)
		if sharedErr == nil {
			atExit(func() { _ = sharedCluster.Remove() })
		}
	})
	if sharedErr != nil {
		Unavailable(t, "PostgreSQL", sharedErr)
	}
	dsn, err := sharedCluster.CreateDatabase(context.Background())
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	return dsn
}

// NewCluster starts a cluster of the test's own (for tests that stop and
// start it); it is removed when the test ends. durable keeps fsync on.
func NewCluster(t testing.TB, durable bool) *Cluster {
	t.Helper()
	c, err := StartCluster(durable)
	if err != nil {
		Unavailable(t, "PostgreSQL", err)
	}
	t.Cleanup(func() { _ = c.Remove() })
	return c
}

func pgBin() (string, error) {
	dir := os.Getenv("DIWAN_PGBIN")
	if dir == "" {
		dir = PGBinDir
	}
	if _, err := os.Stat(filepath.Join(dir, "initdb")); err != nil {
		if p, lerr := exec.LookPath("initdb"); lerr == nil {
			return filepath.Dir(p), nil
		}
		return "", fmt.Errorf("no initdb in %s or on PATH (set DIWAN_PGBIN)", dir)
	}
	return dir, nil
}

// StartCluster initialises and starts a new cluster. Without durable, fsync
// and synchronous commit are off: fast, and fine for functional tests.
func StartCluster(durable bool) (*Cluster, error) {
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, durable: durable}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root.
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, errors.New("running as root and there is no postgres user to run initdb as")
		}
		c.asUser = "postgres"
	}
	removeStaleClusters()
	c.dataDir, err = os.MkdirTemp("", "diwan-pg-")
	if err != nil {
		return nil, err
	}
	if err := c.chown(c.dataDir); err != nil {
		return nil, err
	}
	if err := os.Chmod(c.dataDir, 0o700); err != nil {
		return nil, err
	}
	pwFile := filepath.Join(c.dataDir, "..", filepath.Base(c.dataDir)+".pw")
	if err := os.WriteFile(pwFile, []byte("app\n"), 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(pwFile)
	if err := c.chown(pwFile); err != nil {
		return nil, err
	}
	if out, err := c.run("initdb", "-D", c.dataDir, "-U", "app", "--pwfile="+pwFile,
		"--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"); err != nil {
		os.RemoveAll(c.dataDir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if err := c.Start(); err != nil {
		os.RemoveAll(c.dataDir)
		return nil, err
	}
	return c, nil
}

// removeStaleClusters deletes the data directories that test binaries
// killed before their clean-up left in the temporary directory: older than
// an hour, with no server running on them (no postmaster.pid, or its
// process is gone). Each holds a whole cluster, so they fill a disk fast.
func removeStaleClusters() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "diwan-pg-*"))
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < time.Hour {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "postmaster.pid")); err == nil {
			first, _, _ := strings.Cut(string(b), "\n")
			if pid, _ := strconv.Atoi(strings.TrimSpace(first)); pid > 0 {
				if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
					continue // still running
				}
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

func (c *Cluster) chown(path string) error {
	if c.asUser == "" {
		return nil
	}
	u, err := user.Lookup(c.asUser)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

func (c *Cluster) run(tool string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, tool)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = os.TempDir()
	return cmd.CombinedOutput()
}

// Start starts the (stopped) cluster, on a new free port the first time and
// on the same port afterwards.
func (c *Cluster) Start() error {
	if c.port == 0 {
		p, err := FreePort()
		if err != nil {
			return err
		}
		c.port = p
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=200", c.port, c.dataDir)
	if !c.durable {
		opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	if out, err := c.run("pg_ctl", "-D", c.dataDir, "-l", filepath.Join(c.dataDir, "log"), "-w", "-t", "60", "start", "-o", opts); err != nil {
		logTail, _ := os.ReadFile(filepath.Join(c.dataDir, "log"))
		return fmt.Errorf("pg_ctl start: %v: %s %s", err, out, lastLines(logTail, 5))
	}
	return nil
}

// Stop stops the cluster quickly, keeping its data.
func (c *Cluster) Stop() error {
	if out, err := c.run("pg_ctl", "-D", c.dataDir, "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

// Remove stops the cluster and deletes its data directory.
func (c *Cluster) Remove() error {
	err := c.Stop()
	os.RemoveAll(c.dataDir)
	return err
}

// Addr is the cluster's host:port.
func (c *Cluster) Addr() string { return fmt.Sprintf("127.0.0.1:%d", c.port) }

// DSN returns the URL of database name on this cluster.
func (c *Cluster) DSN(name string) string {
	return fmt.Sprintf("postgres://app:app@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// CreateDatabase creates a new empty database and returns its DSN.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbCounter.Add(1))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return c.DSN(name), nil
}

func lastLines(b []byte, n int) string {
	lines := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			lines++
			if lines > n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}
