package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/testenv"
)

// do sends a request with the bearer token and returns the status and body.
func (s *server) do(t *testing.T, method, path, token, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// api sends a JSON request that must answer want, and decodes the answer
// into out (when not nil).
func (s *server) api(t *testing.T, method, path, token string, in any, want int, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	code, b := s.do(t, method, path, token, "application/json", body)
	if code != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, code, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// sample is the value of the series written exactly as name (with its
// labels) in a Prometheus text exposition, and whether it is there.
func sample(exposition, name string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(exposition)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// A real server, after a letter with an attachment is drafted and
// registered, shows the registration, the transition and the blob store's
// put and get in /metrics: on SQLite with the filesystem store, and on
// PostgreSQL with S3.
func TestMetricsShowTransitionsRegistrationsAndBlobOperations(t *testing.T) {
	t.Run("sqlite+fs", func(t *testing.T) { testMetricsOfALetter(t, "", "fs") })
	t.Run("postgres+s3", func(t *testing.T) {
		s3 := testenv.S3(t)
		extra := fmt.Sprintf("database: {driver: postgres, dsn: %q}\n", testenv.Postgres(t)) +
			fmt.Sprintf("blob: {driver: s3, s3: {endpoint: %q, bucket: %s, access_key: %s, secret_key: %s}}\n",
				s3.Endpoint, testenv.Bucket(t), s3.AccessKey, s3.SecretKey)
		testMetricsOfALetter(t, extra, "s3")
	})
}

func testMetricsOfALetter(t *testing.T, extra, store string) {
	in := newInstance(t, extra)
	in.ok("", "admin", "ministry", "add", "MOF", "--name-ar", "وزارة المالية", "--name-en", "Ministry of Finance")
	in.ok("", "admin", "domain", "add", "mof.gov.sy", "--ministry", "MOF")
	in.ok("correct horse battery\n", "admin", "user", "add", "clerk@mof.gov.sy", "--name", "Clerk", "--ministry", "MOF", "--role", "clerk", "--password-stdin")
	in.ok("", "admin", "registry", "add", "MOFREG", "--ministry", "MOF", "--name-ar", "ديوان المالية", "--name-en", "Finance registry", "--address", "diwan@mof.gov.sy")
	in.ok("", "admin", "member", "clerk@mof.gov.sy", "--registry", "MOFREG")
	token := strings.TrimSpace(in.ok("", "admin", "user", "token", "clerk@mof.gov.sy"))
	s := in.serve()

	var draft struct {
		ID      int64 `json:"id"`
		EntryID int64 `json:"entry_id"`
		Version int64 `json:"version"`
	}
	s.api(t, "POST", "/api/v1/correspondence", token, map[string]any{
		"kind": "letter", "subject": "طلب بيانات", "body": "نص", "sender_registry": "MOFREG",
	}, http.StatusCreated, &draft)

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, err := mw.CreateFormFile("file", "note.txt")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(fw, "the attachment's content")
	mw.Close()
	code, b := s.do(t, "POST", fmt.Sprintf("/api/v1/correspondence/%d/attachments", draft.ID), token, mw.FormDataContentType(), &form)
	if code != http.StatusCreated {
		t.Fatalf("add attachment = %d: %s", code, b)
	}
	var att struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(b, &att); err != nil {
		t.Fatal(err)
	}
	code, b = s.do(t, "GET", fmt.Sprintf("/api/v1/correspondence/%d/attachments/%d", draft.ID, att.ID), token, "", nil)
	if code != http.StatusOK || string(b) != "the attachment's content" {
		t.Fatalf("download attachment = %d: %q", code, b)
	}
	var entry struct {
		State  string `json:"state"`
		Number string `json:"number"`
	}
	s.api(t, "POST", fmt.Sprintf("/api/v1/entries/%d/register", draft.EntryID), token,
		map[string]any{"version": draft.Version}, http.StatusOK, &entry)
	if entry.State != "registered" || entry.Number == "" {
		t.Fatalf("registered entry = %+v", entry)
	}

	code, body := s.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", code, body)
	}
	for name, want := range map[string]float64{
		`diwan_workflow_transitions_total{action="register"}`:               1,
		`diwan_workflow_registered_total{direction="outgoing"}`:             1,
		`diwan_workflow_registered_total{direction="incoming"}`:             0,
		`diwan_blob_operation_errors_total{op="put",store="` + store + `"}`: 0,
		`diwan_blob_operation_errors_total{op="get",store="` + store + `"}`: 0,
	} {
		if got, ok := sample(body, name); !ok || got != want {
			t.Errorf("%s = %v (found %v), want %v", name, got, ok, want)
		}
	}
	for _, op := range []string{"put", "get"} {
		count, ok := sample(body, `diwan_blob_operation_duration_seconds_count{op="`+op+`",store="`+store+`"}`)
		if !ok || count < 1 {
			t.Errorf("blob %s: %v operations timed (found %v), want at least 1", op, count, ok)
		}
		sum, _ := sample(body, `diwan_blob_operation_duration_seconds_sum{op="`+op+`",store="`+store+`"}`)
		if sum <= 0 || sum > count*5 {
			t.Errorf("blob %s: %v seconds over %v operations, want a small positive time", op, sum, count)
		}
	}
	s.stop(t)
}

// metrics.allow and metrics.token reach the server: a loopback client
// outside the allowed networks is refused without the token and served
// with it.
func TestMetricsAllowAndTokenFromConfig(t *testing.T) {
	const token = "metrics-token-for-the-test"
	in := newInstance(t, `metrics: {allow: ["10.0.0.0/8"]}`+"\n")
	in.env = []string{"DIWAN_METRICS_TOKEN=" + token}
	s := in.serve()
	code, b := s.do(t, "GET", "/metrics", "", "", nil)
	if code != http.StatusForbidden || !strings.Contains(string(b), `"code":"forbidden"`) {
		t.Errorf("GET /metrics from loopback outside metrics.allow = %d %s, want 403 with the JSON error", code, b)
	}
	code, _ = s.do(t, "GET", "/metrics", "wrong-"+token, "", nil)
	if code != http.StatusForbidden {
		t.Errorf("GET /metrics with a wrong token = %d, want 403", code)
	}
	code, b = s.do(t, "GET", "/metrics", token, "", nil)
	if code != http.StatusOK || !strings.Contains(string(b), "go_goroutines ") {
		t.Errorf("GET /metrics with the token = %d, want 200 with the runtime metrics", code)
	}
	s.stop(t)
}
