package smtp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// The log lines a postmaster reads, as Postfix writes them: one for every
// message received (accepted or refused, with its id, envelope, size, TLS
// and result), one for every refused command with its reason (refuse), one
// for every AUTH attempt (logLogin).

// logMessage logs the end of one DATA or BDAT transfer: id (the one in the
// Received field), envelope, size as received, TLS, listener, client,
// user, result and the reply.
func (s *session) logMessage(id, helo string, tx transaction, size int64, err error, took time.Duration) {
	result, level, rep := "accepted", slog.LevelInfo, "250 2.0.0 OK"
	if err != nil {
		var se *gosmtp.SMTPError
		rep = "451 4.3.0 " + err.Error()
		if errors.As(err, &se) {
			rep = replyText(se)
			if se.Code >= 500 {
				result = "refused"
			} else {
				result = "deferred"
			}
		}
	}
	msg := "smtp: message " + result
	s.srv.log.Log(s.srv.base, level, msg, slog.String("id", id), slog.String("listener", string(s.door.name)),
		slog.String("client", s.client), slog.String("helo", logText(helo)), slog.String("user", s.login()),
		slog.String("from", "<"+tx.from+">"), slog.String("to", strings.Join(tx.rcpts, ",")), slog.Int("recipients", len(tx.rcpts)),
		slog.Int64("size", size), slog.String("tls", s.tlsVersion()), slog.String("result", result), slog.String("reply", rep),
		slog.Duration("took", took))
}

// tlsVersion names the session's TLS version, or "none".
func (s *session) tlsVersion() string {
	if s.tls == nil {
		return "none"
	}
	return tls.VersionName(s.tls.Version)
}

// replyText is a reply as the client reads it, without its line end.
func replyText(e *gosmtp.SMTPError) string {
	c := e.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, c[0], c[1], c[2], e.Message)
}

// logText keeps text a client chose short and valid UTF-8 for a log line
// (the handler quotes it).
func logText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > 256 {
		s = strings.ToValidUTF8(s[:256], "") + "…"
	}
	return s
}

// countingReader counts the octets of a message as they are received.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
