package httpd

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// errorRequest is one request that must be refused with the JSON error
// shape.
type errorRequest struct {
	name, method, path string
	body               func() io.Reader // nil: no body
	length             int64            // declared Content-Length; -1 chunked; 0 from body
	header             []string
	status             int
	code               string
}

// TestEveryAPIErrorHasTheJSONBody walks the ways a request to the API can
// be refused besides a handler's own checks (no route, another method, a
// body over a limit, a body of another type, no credential, a missing CSRF
// token, a bad query parameter, a recovered panic, a body cut short) over
// HTTP/2 and HTTP/1.1: each answer has the status, Content-Type
// application/json and the body {"error": {"code", "message"}}.
func TestEveryAPIErrorHasTheJSONBody(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		// The same API with a route that panics, as a handler bug would.
		e.ts = startTLS(t, Options{Directory: e.dir, Workflow: e.wf, BaseURL: "https://diwan.example.gov"}, func(s *Server) {
			s.Router().GET("/api/v1/panics", func(*gin.Context) { panic("handler bug") })
		})
		c := e.withToken(moctClerk)
		cookie := e.login(moctClerk)
		d := newLetter(c, "errors")
		attach := fmt.Sprintf("/api/v1/correspondence/%d/attachments", d.ID)
		big := func(n int) func() io.Reader {
			return func() io.Reader { return io.LimitReader(zeros{}, int64(n)) }
		}
		// file is an upload of n bytes and its Content-Type.
		file := func(n int) (func() io.Reader, []string) {
			body, ct := multipartBody(t, "file", "", "", pdfBytes(n))
			return func() io.Reader { return bytes.NewReader(body) }, []string{"Content-Type", ct}
		}
		justOver, justOverType := file(testMaxAttachment + 1)
		farOver, farOverType := file(8 << 20)
		jsonBody := func(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }
		ctJSON := []string{"Content-Type", "application/json"}

		reqs := []errorRequest{
			{name: "no route under /api/v1", method: "GET", path: "/api/v1/nothing", status: 404, code: "not_found"},
			{name: "no route, deeper", method: "GET", path: fmt.Sprintf("/api/v1/entries/%d/extra/deep", d.EntryID), status: 404, code: "not_found"},
			{name: "no route outside the API", method: "GET", path: "/nothing", status: 404, code: "not_found"},
			{name: "id that is not a number", method: "GET", path: "/api/v1/entries/abc", status: 404, code: "not_found"},
			{name: "another method", method: "DELETE", path: "/api/v1/entries", status: 405, code: "method_not_allowed"},
			{name: "PUT for PATCH", method: "PUT", path: fmt.Sprintf("/api/v1/correspondence/%d", d.ID), body: jsonBody(`{}`), header: ctJSON, status: 405, code: "method_not_allowed"},
			{name: "POST to the document", method: "POST", path: "/api/v1/openapi.json", status: 405, code: "method_not_allowed"},
			{name: "OPTIONS", method: "OPTIONS", path: "/api/v1/entries", status: 405, code: "method_not_allowed"},
			{name: "JSON body over the limit", method: "POST", path: "/api/v1/correspondence", body: big(maxJSONBytes + 1), length: maxJSONBytes + 1, header: ctJSON, status: 413, code: "too_large"},
			{name: "JSON body over the limit, chunked", method: "POST", path: "/api/v1/correspondence", body: big(4 * maxJSONBytes), length: -1, header: ctJSON, status: 413, code: "too_large"},
			{name: "attachment just over the limit", method: "POST", path: attach, body: justOver, header: justOverType, status: 413, code: "too_large"},
			{name: "attachment far over the limit", method: "POST", path: attach, body: farOver, header: farOverType, status: 413, code: "too_large"},
			{name: "attachment far over the limit, chunked", method: "POST", path: attach, body: farOver, length: -1, header: farOverType, status: 413, code: "too_large"},
			{name: "attachment declared far over the limit", method: "POST", path: attach, body: big(64 << 20), length: 64 << 20, header: farOverType, status: 413, code: "too_large"},
			{name: "body of another type", method: "POST", path: "/api/v1/correspondence", body: jsonBody(`{}`), header: []string{"Content-Type", "text/plain"}, status: 415, code: "unsupported_media_type"},
			{name: "bad query parameter", method: "GET", path: "/api/v1/entries?state=bogus", status: 400, code: "invalid_value"},
			{name: "recovered panic", method: "GET", path: "/api/v1/panics", status: 500, code: "internal"},
			{name: "no credential", method: "GET", path: "/api/v1/entries", header: []string{"Authorization", ""}, status: 401, code: "unauthenticated"},
		}
		protos := map[string]*http.Client{"HTTP/2": e.ts.client, "HTTP/1.1": http1Client(e.ts.client)}
		for proto, hc := range protos {
			for _, r := range reqs {
				t.Run(proto+"/"+r.name, func(t *testing.T) {
					var body io.Reader
					if r.body != nil {
						body = r.body()
						if r.length < 0 {
							body = io.MultiReader(body) // hides the length
						}
					}
					req, err := http.NewRequest(r.method, e.ts.url+r.path, body)
					if err != nil {
						t.Fatal(err)
					}
					if r.length > 0 {
						req.ContentLength = r.length
					}
					c.decorate(req)
					for i := 0; i+1 < len(r.header); i += 2 {
						if r.header[i+1] == "" {
							req.Header.Del(r.header[i])
						} else {
							req.Header.Set(r.header[i], r.header[i+1])
						}
					}
					resp, err := hc.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					if err != nil {
						t.Fatalf("read the answer: %v", err)
					}
					wantErrorShape(t, resp, b, r.status, r.code)
					if r.status == 405 && resp.Header.Get("Allow") == "" {
						t.Error("405 without Allow")
					}
				})
			}
		}

		// A cookie request that changes state without the CSRF token.
		resp, b := cookie.do("POST", "/api/v1/correspondence", `{}`, csrfHeader, "")
		wantErrorShape(t, resp, b, http.StatusForbidden, "csrf")

		// A body cut short: the client declares more than it sends and stops.
		plain := startPlain(t, Options{Directory: e.dir, Workflow: e.wf}, nil)
		conn, err := net.Dial("tcp", plain.srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /api/v1/correspondence HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"subject\":", c.token)
		conn.(*net.TCPConn).CloseWrite()
		_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
		cut, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("body cut short: %v", err)
		}
		b, _ = io.ReadAll(cut.Body)
		wantErrorShape(t, cut, b, http.StatusBadRequest, "incomplete_body")
	})
}

// wantErrorShape insists on the status and the JSON error shape with code.
func wantErrorShape(t *testing.T, resp *http.Response, b []byte, status int, code string) {
	t.Helper()
	var er apiError
	if err := json.Unmarshal(b, &er); err != nil {
		t.Fatalf("status %d, body %q is not the JSON error shape", resp.StatusCode, b)
	}
	if resp.StatusCode != status || er.Error.Code != code || er.Error.Message == "" {
		t.Errorf("got %d %s (%s), want %d %s", resp.StatusCode, er.Error.Code, er.Error.Message, status, code)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
}

// http1Client is a client of the same server that speaks HTTP/1.1 only.
func http1Client(hc *http.Client) *http.Client {
	tr := hc.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	return &http.Client{Timeout: hc.Timeout, Transport: tr}
}

// zeros reads zero bytes without end.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestRefusedUploadIsReadToItsEndSoTheClientSeesThe413: a client that
// sends its whole body before reading the answer (as Python's requests
// does) gets the 413 and its JSON body over HTTP/1.1, TLS or not, for an
// attachment refused on its declared length before any of it is read:
// the server reads the rest and drops it instead of resetting the
// connection under the client's writes.
func TestRefusedUploadIsReadToItsEndSoTheClientSeesThe413(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		c := e.withToken(moctClerk)
		d := newLetter(c, "too large")
		plain := startPlain(t, Options{Directory: e.dir, Workflow: e.wf}, nil)
		conf := e.ts.client.Transport.(*http.Transport).TLSClientConfig.Clone()
		conf.NextProtos = []string{"http/1.1"}
		dial := map[string]func() (net.Conn, error){
			"TLS":   func() (net.Conn, error) { return tls.Dial("tcp", e.ts.srv.Addr().String(), conf) },
			"plain": func() (net.Conn, error) { return net.Dial("tcp", plain.srv.Addr().String()) },
		}
		const size = 16 << 20
		for name, dial := range dial {
			conn, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(waitTimeout))
			fmt.Fprintf(conn, "POST /api/v1/correspondence/%d/attachments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
				"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: %d\r\n\r\n", d.ID, c.token, size)
			chunk := make([]byte, 64<<10)
			for sent := 0; sent < size; sent += len(chunk) {
				if _, err := conn.Write(chunk); err != nil {
					t.Fatalf("%s: the server cut the upload short after %d bytes: %v", name, sent, err)
				}
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("%s: read the answer: %v", name, err)
			}
			b, _ := io.ReadAll(resp.Body)
			conn.Close()
			wantErrorShape(t, resp, b, http.StatusRequestEntityTooLarge, "too_large")
		}
		if n := blobCount(t, e.blobs); n != 0 {
			t.Errorf("%d blobs stored by refused uploads", n)
		}
	})
}
