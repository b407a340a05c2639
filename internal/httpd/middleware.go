package httpd

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
)

// unmatchedRoute is the route label of requests no route matches.
const unmatchedRoute = "unmatched"

// quietRoutes are polled by load balancers and Prometheus; their requests
// are logged at debug level only, unless refused or failed (a client
// outside metrics.allow, a database down).
var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// observe logs each request (method, path, status, duration) and records it
// in the request metrics. It runs outermost, so it also sees the 500 the
// recovery middleware writes. The query string is not logged: it may carry
// tokens.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	defer func() {
		d := time.Since(start)
		route := c.FullPath()
		if route == "" {
			route = unmatchedRoute
		}
		status := c.Writer.Status()
		s.metrics.observe(c.Request.Method, route, status, d.Seconds())
		level := slog.LevelInfo
		if quietRoutes[route] && status < http.StatusBadRequest {
			level = slog.LevelDebug
		}
		s.log.LogAttrs(c.Request.Context(), level, "http request",
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", status),
			slog.Duration("duration", d),
			slog.String("remote", c.ClientIP()),
		)
	}()
	c.Next()
}

// securityHeaders sets the headers every response carries. HSTS is sent
// only over TLS (RFC 6797 §7.2: never over plain HTTP).
func securityHeaders(tls bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if tls {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		c.Next()
	}
}

// recovery turns a panic in a handler into a logged error (once, with the
// stack) and a 500 in the JSON error shape, and the server goes on serving.
// When the handler had already started its response, the connection is
// aborted instead, so that the client cannot take a truncated answer for a
// complete one. http.ErrAbortHandler passes through untouched: it is how a
// handler asks net/http to abort quietly.
func (s *Server) recovery(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		s.log.LogAttrs(c.Request.Context(), slog.LevelError, "panic serving request",
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.String("panic", fmt.Sprint(v)),
			slog.String("stack", string(debug.Stack())),
		)
		if c.Writer.Written() {
			c.Abort()
			panic(http.ErrAbortHandler)
		}
		WriteError(c, http.StatusInternalServerError, "internal", "internal error", "")
	}()
	c.Next()
}

// lingerTime bounds how long the rest of a refused HTTP/1.1 request's body
// is read and dropped after the answer.
const lingerTime = 30 * time.Second

// lingerOnRefusal keeps reading, for at most lingerTime, the body of an
// HTTP/1.1 request answered with an error before its body was read whole
// (an attachment over the limit is refused on its declared length), as
// nginx's lingering close does. Without it net/http reads at most 256 KiB
// more and closes the connection while the client is still sending: a
// client that sends its whole body before reading the answer (Python's
// requests, over TLS) then fails on a reset and never sees the 413 and
// its JSON body. HTTP/2 needs none of this: the stream is reset and the
// connection stays.
func (s *Server) lingerOnRefusal(c *gin.Context) {
	r := c.Request
	if r.ProtoMajor != 1 || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		c.Next()
		return
	}
	rc := http.NewResponseController(c.Writer)
	if rc.EnableFullDuplex() != nil {
		c.Next()
		return
	}
	body := &watchedBody{ReadCloser: r.Body}
	r.Body = body
	c.Next()
	if body.eof || c.Writer.Status() < http.StatusBadRequest {
		return
	}
	c.Writer.Flush()
	_ = rc.SetReadDeadline(time.Now().Add(lingerTime))
	n, err := io.Copy(io.Discard, body)
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "http: read the rest of a refused request's body",
		slog.String("path", r.URL.Path), slog.Int64("bytes", n), slog.Any("error", err))
}

// watchedBody is a request body that knows whether it was read to its end.
type watchedBody struct {
	io.ReadCloser
	eof bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}
