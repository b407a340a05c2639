package uitest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/testenv"
)

func TestMain(m *testing.M) {
	code := testenv.Main(m)
	stopShared()
	os.Exit(code)
}

// The organisation the scenario works in: the Ministry of Communications
// (MOCT) writes to the Ministry of Finance (MOF), whose legal department
// has a head and a staff member.
const (
	moctClerk = "clerk@moct.gov.sy"
	mofClerk  = "clerk@mof.gov.sy"
	mofHead   = "head@mof.gov.sy"
	mofStaff  = "staff@mof.gov.sy"
	password  = "correct horse battery staple"
)

// instance is one `diwan serve` on a data directory of its own, with the
// diwan binary built for this test binary.
type instance struct {
	root    string // the module's root directory
	dir     string // temporary: the binary, the config, the data
	bin     string
	config  string
	base    string // https://127.0.0.1:PORT
	admin   string // the bootstrap administrator's generated password
	cmd     *exec.Cmd
	stderr  *syncBuffer
	exited  chan struct{}
	waitErr error
}

var (
	sharedOnce sync.Once
	shared     *instance
	sharedErr  error
	sharedSkip string // why the browser tests cannot run here
)

// server returns the instance shared by the tests and benchmarks of this
// binary, starting it on first use: build, migrate, organisation, serve.
func server(t testing.TB) *instance {
	t.Helper()
	sharedOnce.Do(func() {
		shared, sharedErr = startInstance()
	})
	if sharedErr != nil {
		t.Fatalf("start diwan: %v", sharedErr)
	}
	return shared
}

func stopShared() {
	stopBrowser()
	if shared != nil {
		shared.stop()
		_ = os.RemoveAll(shared.dir)
	}
}

func startInstance() (*instance, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "diwan-uitest-")
	if err != nil {
		return nil, err
	}
	in := &instance{root: root, dir: dir, bin: filepath.Join(dir, "diwan"), config: filepath.Join(dir, "diwan.yaml")}
	if err := in.build(); err != nil {
		return in, err
	}
	if err := in.writeConfig(); err != nil {
		return in, err
	}
	if err := in.bootstrap(); err != nil {
		return in, err
	}
	if err := in.organise(); err != nil {
		return in, err
	}
	return in, in.serve()
}

// moduleRoot is the directory of go.mod above the package's directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("no go.mod above the test's directory")
		}
		dir = up
	}
}

// build compiles the real program (./cmd/diwan) once per test binary,
// with the race detector when the tests have it, and with the flags of
// the tests' own builds so that they share the build cache.
func (in *instance) build() error {
	start := time.Now()
	args := []string{"build", "-o", in.bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/diwan")...)
	cmd.Dir = in.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/diwan: %v\n%s", err, out)
	}
	logf("built diwan (race detector %v) in %s", raceEnabled, time.Since(start).Round(time.Millisecond))
	return nil
}

// writeConfig writes a configuration on the data directory: SQLite, the
// filesystem blob store, the self-signed TLS pair, HTTPS on a free loopback
// port, SMTP submission on a loopback port of the system's choosing (the
// server announces it: submissionAddr) and every other listener off.
func (in *instance) writeConfig() error {
	port, err := testenv.FreePort()
	if err != nil {
		return err
	}
	in.base = fmt.Sprintf("https://127.0.0.1:%d", port)
	cfg := fmt.Sprintf(`data_dir: %s
http: {addr: "127.0.0.1:%d", base_url: %q}
smtp: {hostname: mail.mof.gov.sy, inbound_addr: "", submission_addr: "127.0.0.1:0", submissions_addr: ""}
imap: {addr: "", tls_addr: ""}
log: {level: warn}
`, filepath.Join(in.dir, "data"), port, in.base)
	return os.WriteFile(in.config, []byte(cfg), 0o600)
}

// command is the diwan program with the instance's configuration.
func (in *instance) command(stdin string, args ...string) *exec.Cmd {
	cmd := exec.Command(in.bin, args...)
	cmd.Env = append(os.Environ(), "DIWAN_CONFIG="+in.config)
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

// run runs diwan to completion; a non-zero exit is an error carrying its
// standard error. It returns standard output and standard error.
func (in *instance) run(stdin string, args ...string) (string, string, error) {
	cmd := in.command(stdin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), errb.String(), fmt.Errorf("diwan %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String(), nil
}

var bootstrapLine = regexp.MustCompile(`(?m)^bootstrap administrator: admin (\S{16,})$`)

// bootstrap migrates the empty database, which creates the bootstrap
// administrator with a generated password that must be changed at the
// first login (DESIGN.md §3): the password is read from the line
// `diwan migrate` prints once.
func (in *instance) bootstrap() error {
	cmd := in.command("", "migrate")
	cmd.Env = append(cmd.Env, "DIWAN_BOOTSTRAP_ADMIN_PASSWORD=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("diwan migrate: %v: %s", err, errb.String())
	}
	m := bootstrapLine.FindStringSubmatch(errb.String())
	if m == nil {
		return fmt.Errorf("diwan migrate printed no bootstrap password:\n%s", errb.String())
	}
	in.admin = m[1]
	return nil
}

// organise sets up the organisation with the administration commands.
func (in *instance) organise() error {
	steps := []struct {
		stdin string
		args  []string
	}{
		{"", []string{"ministry", "add", "MOCT", "--name-ar", "وزارة الاتصالات والتقانة", "--name-en", "Ministry of Communications and Technology"}},
		{"", []string{"ministry", "add", "MOF", "--name-ar", "وزارة المالية", "--name-en", "Ministry of Finance"}},
		{"", []string{"domain", "add", "moct.gov.sy", "--ministry", "MOCT"}},
		{"", []string{"domain", "add", "mof.gov.sy", "--ministry", "MOF"}},
		{"", []string{"registry", "add", "MOCT", "--ministry", "MOCT", "--name-ar", "ديوان وزارة الاتصالات", "--name-en", "MOCT registry", "--address", "diwan@moct.gov.sy"}},
		{"", []string{"registry", "add", "MOF", "--ministry", "MOF", "--name-ar", "ديوان وزارة المالية", "--name-en", "MOF registry", "--address", "diwan@mof.gov.sy"}},
		{password + "\n", []string{"user", "add", moctClerk, "--name", "سامر الكاتب", "--ministry", "MOCT", "--role", "clerk", "--password-stdin"}},
		{password + "\n", []string{"user", "add", mofClerk, "--name", "ريم المحمد", "--ministry", "MOF", "--role", "clerk", "--password-stdin"}},
		{password + "\n", []string{"user", "add", mofHead, "--name", "هالة رئيسة الدائرة", "--ministry", "MOF", "--role", "head", "--password-stdin"}},
		{password + "\n", []string{"user", "add", mofStaff, "--name", "عمر الموظف", "--ministry", "MOF", "--role", "staff", "--password-stdin"}},
		{"", []string{"department", "add", "LEGAL", "--ministry", "MOF", "--name-ar", "الشؤون القانونية", "--name-en", "Legal affairs", "--head", mofHead}},
		{"", []string{"member", moctClerk, "--registry", "MOCT"}},
		{"", []string{"member", mofClerk, "--registry", "MOF"}},
		{"", []string{"member", mofHead, "--department", "LEGAL"}},
		{"", []string{"member", mofStaff, "--department", "LEGAL"}},
	}
	for _, s := range steps {
		if _, _, err := in.run(s.stdin, append([]string{"admin"}, s.args...)...); err != nil {
			return err
		}
	}
	return nil
}

// serve starts `diwan serve` and waits until /readyz answers 200.
func (in *instance) serve() error {
	in.cmd = in.command("", "serve")
	in.stderr = &syncBuffer{}
	in.cmd.Stdout, in.cmd.Stderr = in.stderr, in.stderr
	if err := in.cmd.Start(); err != nil {
		return err
	}
	in.exited = make(chan struct{})
	go func() {
		in.waitErr = in.cmd.Wait()
		close(in.exited)
	}()
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // the self-signed dev pair
	}
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(in.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-in.exited:
			return fmt.Errorf("diwan serve exited before it was ready: %v\n%s", in.waitErr, in.stderr.String())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("diwan serve not ready after 60s (last: %v):\n%s", err, in.stderr.String())
		}
	}
}

// stop ends the server with SIGTERM (SIGKILL after 20 s).
func (in *instance) stop() {
	if in.cmd == nil || in.cmd.Process == nil {
		return
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.exited:
	case <-time.After(20 * time.Second):
		_ = in.cmd.Process.Kill()
		<-in.exited
	}
}

// syncBuffer collects the server's output for a failure report.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tail is the last n lines of the server's output so far.
func (s *syncBuffer) tail(n int) string {
	var ls []string
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	for sc.Scan() {
		ls = append(ls, sc.Text())
	}
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// logf prints set-up progress with `go test -v`.
func logf(format string, args ...any) {
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "uitest: "+format+"\n", args...)
	}
}
