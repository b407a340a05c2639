package message

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// HasNUL reports whether raw holds a NUL octet: only a message that came in
// binary form (an IMAP literal8, RFC 3516 §4.4) can.
func HasNUL(raw []byte) bool { return bytes.IndexByte(raw, 0) >= 0 }

// EncodeBinaryParts rewrites a message so that its parts in binary
// (Content-Transfer-Encoding: binary, or holding a NUL octet) are base64:
// IMAP never sends a NUL inside a normal literal (RFC 9051 §4.3), BODY[]
// sends the message as stored, and BINARY[] still decodes each part to the
// octets that were appended (RFC 3516 §4.4 lets the server store binary
// content in another encoding). Every other part and every header keep
// their octets; multipart boundaries are kept, preambles are not.
func EncodeBinaryParts(raw []byte, w io.Writer) error {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	body, err := encodeEntity(&h, br)
	if err != nil {
		return err
	}
	if err := textproto.WriteHeader(w, h); err != nil {
		return err
	}
	_, err = w.Write(body)
	return err
}

// encodeEntity returns the entity's body with its binary leaves in base64,
// and sets their Content-Transfer-Encoding in h.
func encodeEntity(h *textproto.Header, body io.Reader) ([]byte, error) {
	mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if boundary := params["boundary"]; strings.HasPrefix(mt, "multipart/") && boundary != "" {
		var buf bytes.Buffer
		mw := textproto.NewMultipartWriter(&buf)
		if err := mw.SetBoundary(boundary); err != nil {
			return nil, err
		}
		mr := textproto.NewMultipartReader(body, boundary)
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read part: %w", err)
			}
			pb, err := encodeEntity(&p.Header, p)
			if err != nil {
				return nil, err
			}
			pw, err := mw.CreatePart(p.Header)
			if err != nil {
				return nil, err
			}
			if _, err := pw.Write(pb); err != nil {
				return nil, err
			}
		}
		if err := mw.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if cte != "binary" && !HasNUL(raw) {
		return raw, nil
	}
	h.Set("Content-Transfer-Encoding", "base64")
	return base64Lines(raw), nil
}

// base64Lines is data in base64, in CRLF-ended lines of 76 characters
// (RFC 2045 §6.8).
func base64Lines(data []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(data)
	var b bytes.Buffer
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	if enc != "" {
		b.WriteString(enc + "\r\n")
	}
	return b.Bytes()
}
