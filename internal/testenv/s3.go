package testenv

import (
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// S3Server is a running S3-compatible server reached over plain HTTP.
type S3Server struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Region    string
}

var (
	s3Once      sync.Once
	s3Shared    S3Server
	s3Err       error
	bucketCount atomic.Int64
)

// S3 returns the versitygw server shared by this test binary, starting it on
// first use from $GOPATH/bin/versitygw (or PATH). Without the binary the test
// is skipped (failed under CI=true).
func S3(t testing.TB) S3Server {
	t.Helper()
	s3Once.Do(func() { s3Shared, s3Err = startVersityGW() })
	if s3Err != nil {
		Unavailable(t, "S3 server (versitygw)", s3Err)
	}
	return s3Shared
}

// Bucket returns a fresh, unused bucket name (the store creates it).
func Bucket(t testing.TB) string {
	return fmt.Sprintf("diwan-t%d-%d", os.Getpid(), bucketCount.Add(1))
}

func versityGWPath() (string, error) {
	if p := os.Getenv("DIWAN_VERSITYGW"); p != "" {
		return p, nil
	}
	gopath := build.Default.GOPATH
	if first := filepath.SplitList(gopath); len(first) > 0 {
		p := filepath.Join(first[0], "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("versitygw")
	if err != nil {
		return "", fmt.Errorf("versitygw not in %s/bin nor on PATH (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)", gopath)
	}
	return p, nil
}

func startVersityGW() (S3Server, error) {
	bin, err := versityGWPath()
	if err != nil {
		return S3Server{}, err
	}
	dir, err := os.MkdirTemp("", "diwan-s3-")
	if err != nil {
		return S3Server{}, err
	}
	port, err := FreePort()
	if err != nil {
		return S3Server{}, err
	}
	srv := S3Server{
		Endpoint:  fmt.Sprintf("127.0.0.1:%d", port),
		AccessKey: "diwantestaccess",
		SecretKey: "diwantestsecret0123456789",
		Region:    "us-east-1",
	}
	cmd := exec.Command(bin, "-a", srv.AccessKey, "-s", srv.SecretKey, "-p", srv.Endpoint, "posix", dir)
	logf, err := os.Create(filepath.Join(dir, "..", filepath.Base(dir)+".log"))
	if err != nil {
		return S3Server{}, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server dies with the test binary, however the binary ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return S3Server{}, fmt.Errorf("start versitygw: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		os.Remove(logf.Name())
		os.RemoveAll(dir)
	}
	if err := waitTCP(srv.Endpoint, 30*time.Second, exited); err != nil {
		stop()
		return S3Server{}, fmt.Errorf("versitygw: %w", err)
	}
	atExit(stop)
	return srv, nil
}
