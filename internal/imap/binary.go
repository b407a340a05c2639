package imap

import (
	"bytes"
	"io"

	"diwan.gov.sy/diwan/internal/message"
)

// binaryMessage reads a message that came as a literal8 (APPEND ~{n}, RFC
// 3516 §4.4) and, when it holds NUL octets, returns it with its binary parts
// in base64 (message.EncodeBinaryParts): BODY[] and BODY[n] send the message
// as stored, in normal literals, which may not carry NUL (RFC 9051 §4.3);
// BINARY[n] decodes the part back to the octets appended. Such literals are
// rare (only BINARY clients send them) and at most APPENDLIMIT long; the
// message is held in memory while it is converted.
func binaryMessage(lit io.Reader) (io.Reader, error) {
	raw, err := io.ReadAll(lit)
	if err != nil {
		return nil, err
	}
	if !message.HasNUL(raw) {
		return bytes.NewReader(raw), nil
	}
	var buf bytes.Buffer
	if err := message.EncodeBinaryParts(raw, &buf); err != nil {
		// RFC 3516 §4.4: content the server cannot store.
		return nil, no("UNKNOWN-CTE", "The message's binary content cannot be stored")
	}
	return &buf, nil
}
