package app

import (
	"net"
	"testing"
)

// The "log in at" address of `diwan serve` is where the HTTP listener is
// actually bound: the base URL only when it names that scheme and port.
func TestLoginURLNamesTheBoundAddress(t *testing.T) {
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, c := range []struct {
		scheme, bound, base, want string
	}{
		{"https", "127.0.0.1:43117", "https://localhost:8080", "https://127.0.0.1:43117"}, // http.addr 127.0.0.1:0
		{"https", "127.0.0.1:8080", "https://localhost:8080", "https://localhost:8080"},   // configs/dev.yaml
		{"https", "127.0.0.1:8080", "https://localhost:8080/", "https://localhost:8080"},
		{"https", "[::]:8080", "", "https://localhost:8080"},    // ":8080"
		{"https", "0.0.0.0:8080", "", "https://localhost:8080"}, // "0.0.0.0:8080"
		{"https", "[::1]:8443", "", "https://[::1]:8443"},       // IPv6 loopback
		{"https", "[::]:443", "https://diwan.gov.sy", "https://diwan.gov.sy"},
		{"https", "[::]:443", "", "https://localhost"},
		{"http", "127.0.0.1:8080", "https://diwan.gov.sy", "http://127.0.0.1:8080"}, // behind a TLS proxy
		{"https", "10.0.0.5:8443", "https://diwan.gov.sy:9443", "https://10.0.0.5:8443"},
	} {
		if got := LoginURL(c.scheme, tcp(c.bound), c.base); got != c.want {
			t.Errorf("LoginURL(%s, %s, %q) = %s, want %s", c.scheme, c.bound, c.base, got, c.want)
		}
	}
}
