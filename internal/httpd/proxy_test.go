package httpd

import (
	"io"
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"
)

// X-Forwarded-For names the client only when the peer is a trusted proxy.
func TestClientIPFromTrustedProxiesOnly(t *testing.T) {
	for _, c := range []struct {
		name    string
		trusted []string
		want    string
	}{
		{"no proxy trusted", nil, "127.0.0.1"},
		{"loopback proxy trusted", []string{"127.0.0.1"}, "203.0.113.7"},
		{"other proxy trusted", []string{"10.0.0.0/8"}, "127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := startPlain(t, Options{TrustedProxies: c.trusted}, func(s *Server) {
				s.Router().GET("/test/client-ip", func(g *gin.Context) { g.String(http.StatusOK, g.ClientIP()) })
			})
			req, _ := http.NewRequest("GET", ts.url+"/test/client-ip", nil)
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			resp, err := ts.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != c.want {
				t.Fatalf("client IP %q, want %q", body, c.want)
			}
		})
	}
}
