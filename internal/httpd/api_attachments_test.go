package httpd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"unicode/utf8"

	"diwan.gov.sy/diwan/internal/blob"
)

// pdfBytes is content that sniffs as a PDF whatever the client claims.
func pdfBytes(n int) []byte {
	b := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
	copy(b, "%PDF-1.4\n")
	return b
}

// multipartBody builds a multipart/form-data body with one part named
// name whose Content-Disposition is cd (written as given) and whose
// Content-Type claims ctype.
func multipartBody(t testing.TB, name, cd, ctype string, content []byte) (body []byte, contentType string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	if cd == "" {
		cd = fmt.Sprintf(`form-data; name=%q; filename="file.bin"`, name)
	}
	h.Set("Content-Disposition", cd)
	if ctype != "" {
		h.Set("Content-Type", ctype)
	}
	p, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(content)
	w.Close()
	return buf.Bytes(), w.FormDataContentType()
}

// upload sends an attachment; chunked hides its length (no
// Content-Length).
func (c *apiClient) upload(corrID int64, body []byte, contentType string, chunked bool) (*http.Response, []byte) {
	c.t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // hides the length from net/http
	}
	req, err := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/correspondence/%d/attachments", c.e.ts.url, corrID), r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	c.decorate(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (c *apiClient) attachments(corrID int64) []attachmentDTO {
	c.t.Helper()
	var doc correspondenceDTO
	c.call("GET", fmt.Sprintf("/api/v1/correspondence/%d", corrID), nil, http.StatusOK, &doc)
	return doc.Attachments
}

func blobCount(t testing.TB, s *blob.FS) int {
	t.Helper()
	n := 0
	if err := s.List(context.Background(), "", func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestArabicFileNameRoundTrips uploads a file with an Arabic name and gets
// it back whole, with the name intact in Content-Disposition filename*.
func TestArabicFileNameRoundTrips(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		c := e.login(moctClerk)
		d := newLetter(c, "with attachment")
		const name = "تقرير الموازنة ٢٠٢٦.pdf"
		content := pdfBytes(40 << 10)
		body, ct := multipartBody(t, "file", `form-data; name="file"; filename="`+name+`"`, "application/octet-stream", content)
		resp, b := c.upload(d.ID, body, ct, false)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload: %d %s", resp.StatusCode, b)
		}
		var att attachmentDTO
		mustJSON(t, b, &att)
		sum := sha256.Sum256(content)
		if att.Name != name || att.Size != int64(len(content)) || att.SHA256 != hex.EncodeToString(sum[:]) || att.ContentType != "application/pdf" {
			t.Errorf("attachment %+v", att)
		}

		resp, got := c.do("GET", fmt.Sprintf("/api/v1/correspondence/%d/attachments/%d", d.ID, att.ID), nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, content) {
			t.Fatalf("download: %d, %d bytes (want %d)", resp.StatusCode, len(got), len(content))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/pdf" {
			t.Errorf("download Content-Type %q", ct)
		}
		cd := resp.Header.Get("Content-Disposition")
		disp, params, err := mime.ParseMediaType(cd)
		if err != nil || disp != "attachment" || params["filename"] != name {
			t.Errorf("Content-Disposition %q parses to %q %q (%v), want the Arabic name", cd, disp, params, err)
		}
		if !strings.Contains(cd, "filename*=UTF-8''") || !isASCII(cd) {
			t.Errorf("Content-Disposition %q: want an ASCII header with filename*=UTF-8''", cd)
		}

		// Another ministry cannot fetch it; the owner can delete it from
		// the draft.
		e.withToken(mofClerk).wantError("GET", fmt.Sprintf("/api/v1/correspondence/%d/attachments/%d", d.ID, att.ID), nil, http.StatusNotFound, "not_found", "")
		c.call("DELETE", fmt.Sprintf("/api/v1/correspondence/%d/attachments/%d", d.ID, att.ID), nil, http.StatusNoContent, nil)
		if as := c.attachments(d.ID); len(as) != 0 {
			t.Errorf("attachments after delete: %+v", as)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func mustJSON(t testing.TB, b []byte, out any) {
	t.Helper()
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// TestHostileFileNamesAreDisplayText uploads files whose names try path
// traversal, device names, excess length and a NUL, with a Content-Type
// that lies: each is accepted, the name reduced to display text and the
// type sniffed from the content.
func TestHostileFileNamesAreDisplayText(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		c := e.withToken(moctClerk)
		d := newLetter(c, "hostile names")
		for _, tc := range []struct{ name, cd string }{
			{"traversal", `form-data; name="file"; filename="../../etc/passwd"`},
			{"windows traversal", `form-data; name="file"; filename="..\\..\\windows\\system32\\config"`},
			{"device", `form-data; name="file"; filename="CON"`},
			{"long", `form-data; name="file"; filename="` + strings.Repeat("م", 300) + `.pdf"`},
			{"NUL", `form-data; name="file"; filename*=UTF-8''evil%00.pdf%0D%0Ax`},
			{"no name", `form-data; name="file"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				body, ct := multipartBody(t, "file", tc.cd, "image/png", pdfBytes(1000))
				resp, b := c.upload(d.ID, body, ct, false)
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("upload: %d %s", resp.StatusCode, b)
				}
				var att attachmentDTO
				mustJSON(t, b, &att)
				t.Logf("stored as %q, %s", att.Name, att.ContentType)
				if att.ContentType != "application/pdf" {
					t.Errorf("content type %q: the client's claim was kept, want application/pdf", att.ContentType)
				}
				if strings.ContainsAny(att.Name, "/\\\x00\r\n") || strings.Contains(att.Name, "..") ||
					len(att.Name) > 255 || !utf8.ValidString(att.Name) {
					t.Errorf("name %q is not display text", att.Name)
				}
				resp, _ = c.do("GET", fmt.Sprintf("/api/v1/correspondence/%d/attachments/%d", d.ID, att.ID), nil)
				if cd := resp.Header.Get("Content-Disposition"); !isASCII(cd) || strings.ContainsAny(cd, "\r\n\x00") {
					t.Errorf("Content-Disposition %q", cd)
				}
			})
		}
	})
}

// TestOverLimitUploadIs413AndStoresNothing sends an attachment over the
// per-file limit with and without a declared length.
func TestOverLimitUploadIs413AndStoresNothing(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		c := e.withToken(moctClerk)
		d := newLetter(c, "too large")
		body, ct := multipartBody(t, "file", "", "", pdfBytes(testMaxAttachment+1))
		for _, chunked := range []bool{false, true} {
			resp, b := c.upload(d.ID, body, ct, chunked)
			var er apiError
			mustJSON(t, b, &er)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || er.Error.Code != "too_large" || er.Error.Field != "file" {
				t.Errorf("chunked %v: %d %s, want 413 too_large", chunked, resp.StatusCode, b)
			}
		}
		if as := c.attachments(d.ID); len(as) != 0 {
			t.Errorf("attachments after refused uploads: %+v", as)
		}
		if n := blobCount(t, e.blobs); n != 0 {
			t.Errorf("%d blobs stored by refused uploads", n)
		}
		// Exactly the limit is fine.
		body, ct = multipartBody(t, "file", "", "", pdfBytes(testMaxAttachment))
		if resp, b := c.upload(d.ID, body, ct, true); resp.StatusCode != http.StatusCreated {
			t.Errorf("upload of exactly the limit: %d %s", resp.StatusCode, b)
		}
	})
}

// TestUploadCutShortLeavesNoAttachment drops the connection in the middle
// of an upload: no attachment row appears.
func TestUploadCutShortLeavesNoAttachment(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		c := e.withToken(moctClerk)
		d := newLetter(c, "cut short")

		tr := e.ts.client.Transport.(*http.Transport)
		conf := tr.TLSClientConfig.Clone()
		conf.NextProtos = []string{"http/1.1"}
		conn, err := tls.Dial("tcp", e.ts.srv.Addr().String(), conf)
		if err != nil {
			t.Fatal(err)
		}
		const boundary = "cut-short-boundary"
		head := fmt.Sprintf("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"half.pdf\"\r\n\r\n", boundary)
		fmt.Fprintf(conn, "POST /api/v1/correspondence/%d/attachments HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n",
			d.ID, e.ts.srv.Addr(), c.token, boundary, len(head)+testMaxAttachment/2+100)
		conn.Write([]byte(head))
		conn.Write(pdfBytes(testMaxAttachment / 4))
		conn.Close()

		waitFor(t, "the server to notice the cut", func() bool {
			return strings.Contains(e.ts.logs.String(), "upload cut short")
		})
		if as := c.attachments(d.ID); len(as) != 0 {
			t.Errorf("attachments after a cut-short upload: %+v", as)
		}
	})
}

func TestMultipartWithoutFilePartIs400(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	c := e.withToken(moctClerk)
	d := newLetter(c, "no file")
	body, ct := multipartBody(t, "document", `form-data; name="document"; filename="a.pdf"`, "", pdfBytes(100))
	resp, b := c.upload(d.ID, body, ct, false)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"field":"document"`) {
		t.Errorf("part named document: %d %s", resp.StatusCode, b)
	}
	resp, b = c.upload(d.ID, []byte(`{"file": "x"}`), "application/json", false)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"field":"file"`) {
		t.Errorf("JSON upload: %d %s", resp.StatusCode, b)
	}
}

func TestContentDispositionKeepsAnyName(t *testing.T) {
	for _, name := range []string{"تقرير.pdf", `a "quoted" name.txt`, "back\\slash", "plain.txt", "", "نسخة (1) ١٠٠%.docx"} {
		cd := contentDisposition(name)
		if !isASCII(cd) {
			t.Errorf("%q: header %q is not ASCII", name, cd)
		}
		_, params, err := mime.ParseMediaType(cd)
		want := name
		if want == "" {
			want = "attachment"
		}
		if err != nil || params["filename"] != want {
			t.Errorf("%q: %q parses to %q (%v)", name, cd, params["filename"], err)
		}
	}
}
