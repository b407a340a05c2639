package httpd

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// metricsRefused is the body of a refused /metrics request.
const metricsRefused = `{"error":{"code":"forbidden","message":"metrics are served only to the networks in metrics.allow or with the bearer metrics.token"}}`

// clientFrom is a plain-HTTP client whose connections leave from the
// loopback address local (all of 127.0.0.0/8 reaches this machine).
func clientFrom(t *testing.T, local string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: waitTimeout}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: waitTimeout, Transport: tr}
}

// getMetrics fetches /metrics with c, adding the headers given as
// name, value pairs.
func getMetrics(t *testing.T, ts *testServer, c *http.Client, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", ts.url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: read body: %v", err)
	}
	return resp, body
}

func wantMetrics(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "go_goroutines ") {
		t.Errorf("GET /metrics = %d, want 200 with the runtime metrics:\n%.300s", resp.StatusCode, body)
	}
}

func TestMetricsServedToAllowedNetworkOnly(t *testing.T) {
	ts := startPlain(t, Options{MetricsAllow: []string{"127.0.0.1/32"}}, nil)

	resp, body := getMetrics(t, ts, clientFrom(t, "127.0.0.1"))
	wantMetrics(t, resp, body)

	other := clientFrom(t, "127.0.0.2")
	resp, body = getMetrics(t, ts, other)
	wantJSON(t, resp, body, http.StatusForbidden, metricsRefused)

	// X-Forwarded-For from a peer that is not a trusted proxy is the
	// client's own word: not believed.
	resp, body = getMetrics(t, ts, other, "X-Forwarded-For", "127.0.0.1")
	wantJSON(t, resp, body, http.StatusForbidden, metricsRefused)
	if !regexp.MustCompile(`level=INFO msg="http request" method=GET path=/metrics status=403 .*remote=127\.0\.0\.2`).MatchString(ts.logs.String()) {
		t.Errorf("refused request not in the request log at INFO with the client's address:\n%s", ts.logs.String())
	}
}

func TestMetricsNoNetworkAllowedWhenAllowIsEmpty(t *testing.T) {
	ts := startPlain(t, Options{}, nil)
	resp, body := getMetrics(t, ts, ts.client)
	wantJSON(t, resp, body, http.StatusForbidden, metricsRefused)
}

func TestMetricsBehindTrustedProxyJudgeForwardedAddress(t *testing.T) {
	ts := startPlain(t, Options{TrustedProxies: []string{"127.0.0.1"}, MetricsAllow: []string{"10.0.0.0/8", "::1"}}, nil)
	proxy := clientFrom(t, "127.0.0.1")
	for _, c := range []struct {
		forwarded string
		allowed   bool
	}{
		{"10.1.2.3", true},
		{"::1", true},
		{"203.0.113.7", false},
		{"", false},                      // the proxy itself (127.0.0.1) is not in metrics.allow
		{"10.1.2.3, 203.0.113.7", false}, // the address the proxy saw is the last
	} {
		var h []string
		if c.forwarded != "" {
			h = []string{"X-Forwarded-For", c.forwarded}
		}
		resp, body := getMetrics(t, ts, proxy, h...)
		if c.allowed {
			wantMetrics(t, resp, body)
		} else {
			wantJSON(t, resp, body, http.StatusForbidden, metricsRefused)
		}
		if t.Failed() {
			t.Fatalf("X-Forwarded-For %q", c.forwarded)
		}
	}
}

func TestMetricsTokenOpensMetricsFromAnyAddress(t *testing.T) {
	const token = "s3cret-metrics-token"
	ts := startPlain(t, Options{MetricsAllow: []string{"127.0.0.1/32"}, MetricsToken: token}, nil)
	other := clientFrom(t, "127.0.0.2")
	for _, c := range []struct {
		auth    string
		allowed bool
	}{
		{"Bearer " + token, true},
		{"bearer " + token, true}, // the scheme is case-insensitive (RFC 9110 §11.1)
		{"Bearer " + token + "x", false},
		{"Bearer " + token[:len(token)-1], false},
		{"Bearer ", false},
		{"Basic " + token, false},
		{token, false},
		{"", false},
	} {
		var h []string
		if c.auth != "" {
			h = []string{"Authorization", c.auth}
		}
		resp, body := getMetrics(t, ts, other, h...)
		if c.allowed {
			wantMetrics(t, resp, body)
		} else {
			wantJSON(t, resp, body, http.StatusForbidden, metricsRefused)
		}
		if t.Failed() {
			t.Fatalf("Authorization %q", c.auth)
		}
	}
	// From an allowed address a wrong token does not matter: the address
	// suffices.
	resp, body := getMetrics(t, ts, clientFrom(t, "127.0.0.1"), "Authorization", "Bearer wrong")
	wantMetrics(t, resp, body)
}

func TestMetricsAllowEntriesParsed(t *testing.T) {
	for _, c := range []struct {
		entry string
		want  string
	}{
		{"127.0.0.1", "127.0.0.1/32"},
		{"::1", "::1/128"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"fd00::/8", "fd00::/8"},
	} {
		p, err := parsePrefix(c.entry)
		if err != nil || p.String() != c.want {
			t.Errorf("parsePrefix(%q) = %v, %v; want %s", c.entry, p, err, c.want)
		}
	}
	if _, err := parsePrefix("localhost"); err == nil {
		t.Error("parsePrefix accepted a host name")
	}
}
