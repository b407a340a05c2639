package uitest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"diwan.gov.sy/diwan/internal/testenv"
)

// axeCoreDefault is where .ci/run installs axe-core when AXE_CORE_JS is
// not set.
const axeCoreDefault = "/opt/diwan-ci/axe/node_modules/axe-core/axe.min.js"

// stepTimeout bounds every browser step: a page that never loads fails
// the step instead of hanging the test.
const stepTimeout = 30 * time.Second

// The size of the page's viewport, a desktop's.
const (
	viewportWidth  = 1280
	viewportHeight = 800
)

var (
	browserOnce   sync.Once
	browserCtx    context.Context // the one Chromium of this test binary
	browserCancel []context.CancelFunc
	browserErr    error
	axeSource     string
)

// findChromium looks for Chromium or Chrome on PATH.
func findChromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("none of chromium, chromium-browser, google-chrome on PATH")
}

// readAxe reads axe-core's axe.min.js from AXE_CORE_JS, else from where
// .ci/run installs it.
func readAxe() (string, error) {
	path := os.Getenv("AXE_CORE_JS")
	if path == "" {
		path = axeCoreDefault
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("axe-core (set AXE_CORE_JS or run .ci/run): %w", err)
	}
	return string(b), nil
}

// startBrowser starts the one headless Chromium of this test binary.
func startBrowser(exe string) error {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", "new"),
		chromedp.IgnoreCertErrors, // the self-signed development pair
		chromedp.Flag("lang", "ar"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to sandbox as root
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	browserCancel = []context.CancelFunc{cancel, cancelAlloc}
	if err := chromedp.Do(ctx); err != nil {
		return fmt.Errorf("start %s: %w", exe, err)
	}
	browserCtx = ctx
	return nil
}

func stopBrowser() {
	for _, c := range browserCancel {
		c()
	}
	browserCancel = nil
}

// tab is one browser tab with cookies of its own, on the shared server.
type tab struct {
	t     testing.TB
	ctx   context.Context
	in    *instance
	shots string // the directory of the screenshots
	name  string // prefix of the screenshots' file names
	n     int    // pages photographed so far

	mu       sync.Mutex
	problems []string // scripts' exceptions and refusals by the CSP, not yet reported
}

// newTab opens a tab in a fresh browser context (no cookies) on the
// shared server. Without Chromium or axe-core the test is skipped, or
// failed under CI=true.
func newTab(t testing.TB, name string) *tab {
	t.Helper()
	exe, err := findChromium()
	if err != nil {
		testenv.Unavailable(t, "Chromium", err)
	}
	src, err := readAxe()
	if err != nil {
		testenv.Unavailable(t, "axe-core", err)
	}
	in := server(t)
	browserOnce.Do(func() {
		axeSource = src
		browserErr = startBrowser(exe)
	})
	if browserErr != nil {
		t.Fatal(browserErr)
	}
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	t.Cleanup(func() {
		if out := in.stderr.String(); strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("the server reported a data race:\n%s", out)
		}
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(viewportWidth, viewportHeight)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	dir, err := artefactDir(in.root)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, name+"-*.png")) // an earlier run's
	for _, f := range old {
		_ = os.Remove(f)
	}
	b := &tab{t: t, ctx: ctx, in: in, shots: dir, name: name}
	t.Logf("screenshots of the pages: %s", filepath.Join(dir, name+"-*.png"))
	go b.watchConsole()
	return b
}

// watchConsole collects what the pages' console says that is a fault of
// the page: an uncaught exception, or something the Content-Security-Policy
// refused (an inline script or style, a request to another host).
func (b *tab) watchConsole() {
	for m, err := range chromedp.Console(b.ctx) {
		if err != nil {
			return
		}
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
			b.mu.Lock()
			b.problems = append(b.problems, fmt.Sprintf("%s at %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text))
			b.mu.Unlock()
		}
	}
}

// consoleProblems returns the problems collected since the last call.
func (b *tab) consoleProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// artefactDir is where screenshots go: $DIWAN_ARTIFACTS, else
// bin/artifacts/ui under the module root (ignored by git).
func artefactDir(root string) (string, error) {
	dir := os.Getenv("DIWAN_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(root, "bin", "artifacts", "ui")
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// do runs steps with the step timeout.
func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// must runs steps and fails the test on an error.
func (b *tab) must(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := b.do(steps...); err != nil {
		b.t.Fatalf("%s: %v\nserver:\n%s", what, err, b.in.stderr.tail(20))
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) on the page.
func eval[T any](b *tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// mustEval is eval that fails the test on an error.
func mustEval[T any](b *tab, expr string) T {
	b.t.Helper()
	v, err := eval[T](b, expr)
	if err != nil {
		b.t.Fatalf("evaluate %.80q: %v", expr, err)
	}
	return v
}

// open loads a path of the server and returns the status of the page.
func (b *tab) open(path string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.in.base+path))
	if err != nil {
		b.t.Fatalf("open %s: %v\nserver:\n%s", path, err, b.in.stderr.tail(20))
	}
	return resp.Status
}

// submit clicks a button (CSS selector) that sends a form and waits for
// the page the browser lands on; it returns that page's status.
func (b *tab) submit(button string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(button), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("click %s: %v\npage: %s\nserver:\n%s", button, err, b.path(), b.in.stderr.tail(20))
	}
	return resp.Status
}

// path is the path and query of the page shown.
func (b *tab) path() string {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	return u.RequestURI()
}

// wantPath fails the test unless the page shown is at path (query aside).
func (b *tab) wantPath(path string) {
	b.t.Helper()
	got := b.path()
	if p, _, _ := strings.Cut(got, "?"); p != path {
		b.t.Fatalf("page at %s, want %s\n%s", got, path, b.text("main"))
	}
}

// text is the visible text of the first element matching a CSS selector
// ("" when there is none).
func (b *tab) text(css string) string {
	s, _ := eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, css))
	return s
}

// has reports whether an element matches a CSS selector.
func (b *tab) has(css string) bool {
	ok, _ := eval[bool](b, fmt.Sprintf(`document.querySelector(%q) !== null`, css))
	return ok
}

// set sets the value of a form field (CSS selector).
func (b *tab) set(css, value string) {
	b.t.Helper()
	b.must("fill "+css, chromedp.SetValue(chromedp.CSS(css), value, chromedp.NodeReady))
}

// runAction runs one action that returns a value, with the step timeout.
func runAction[T any](b *tab, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}
