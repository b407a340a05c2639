package httpd

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// checkTimeout bounds each readiness check.
const checkTimeout = 2 * time.Second

// maxCheckError bounds the error text /readyz shows for one check.
const maxCheckError = 200

// healthz reports that the process is up and serving. It checks no
// dependency: a load balancer or supervisor uses it for liveness, and a
// database outage must not get the process restarted.
func healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

type failingCheck struct {
	Name  string `json:"name"`
	Error string `json:"error"`
}

// readyz runs every check concurrently, each bounded by checkTimeout, and
// answers 200 when all pass, else 503 naming each failing dependency in the
// order the checks were given. A failure is logged as a warning.
func (s *Server) readyz(c *gin.Context) {
	errs := runChecks(c.Request.Context(), s.opts.Checks, s.checkTimeout)
	var failing []failingCheck
	for i, err := range errs {
		if err == nil {
			continue
		}
		name := s.opts.Checks[i].Name
		s.log.Warn("readiness check failed", slog.String("check", name), slog.Any("error", err))
		failing = append(failing, failingCheck{Name: name, Error: operatorText(err)})
	}
	if len(failing) > 0 {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "failing": failing})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// runChecks runs the checks concurrently and returns their errors in order.
// A check that does not return within timeout, or panics, counts as failed;
// runChecks does not wait for a check that overstays its timeout.
func runChecks(ctx context.Context, checks []Check, timeout time.Duration) []error {
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, ch := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = runCheck(ctx, ch, timeout)
		}()
	}
	wg.Wait()
	return errs
}

func runCheck(ctx context.Context, ch Check, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1) // buffered: a late check never blocks
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Errorf("check panicked: %v", v)
			}
		}()
		done <- ch.Fn(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s: %w", timeout, ctx.Err())
	}
}

// userinfo matches the credentials in a URL ("scheme://user:password@").
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^/\s@]*@`)

// operatorText turns a check error into what /readyz shows: one line, at
// most maxCheckError characters, with any password in a URL replaced.
func operatorText(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	s = userinfo.ReplaceAllString(s, "${1}:xxxxx@")
	if r := []rune(s); len(r) > maxCheckError {
		s = string(r[:maxCheckError]) + "…"
	}
	return s
}
