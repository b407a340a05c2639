package blob

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxKeyLen is the longest key a Store accepts, in bytes, and MaxSegmentLen
// the longest segment between slashes (a file name on Linux file systems).
const (
	MaxKeyLen     = 512
	MaxSegmentLen = 255
)

// ValidateKey reports whether key may name an object, returning an error that
// wraps ErrInvalidKey if not. A key is 1 to MaxKeyLen bytes of valid UTF-8
// without control characters, made of '/'-separated segments that are
// neither empty ("a//b", "/a", "a/") nor "." nor ".." nor longer than
// MaxSegmentLen, and contains no '\'
// and no '%' (so no layer can URL-decode it into something else). Both
// stores apply these rules, so a key that one accepts the other does too.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	if err := checkKeyChars(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := checkSegment(key, seg); err != nil {
			return err
		}
	}
	return nil
}

// validatePrefix checks a List prefix: "" (everything), or a key's beginning
// whose complete segments follow the key rules; the last, partial segment
// may be empty or a beginning of "." or "..".
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > MaxKeyLen {
		return fmt.Errorf("%w: prefix of %d bytes, more than %d", ErrInvalidKey, len(prefix), MaxKeyLen)
	}
	if err := checkKeyChars(prefix); err != nil {
		return err
	}
	segs := strings.Split(prefix, "/")
	for _, seg := range segs[:len(segs)-1] {
		if err := checkSegment(prefix, seg); err != nil {
			return err
		}
	}
	return nil
}

func checkKeyChars(key string) error {
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidKey, key)
	}
	for _, r := range key {
		switch {
		case unicode.IsControl(r):
			return fmt.Errorf("%w: %q has a control character", ErrInvalidKey, key)
		case r == '\\':
			return fmt.Errorf("%w: %q has a backslash", ErrInvalidKey, key)
		case r == '%':
			return fmt.Errorf("%w: %q has a '%%'", ErrInvalidKey, key)
		}
	}
	return nil
}

func checkSegment(key, seg string) error {
	switch {
	case seg == "":
		return fmt.Errorf("%w: %q has an empty path segment", ErrInvalidKey, key)
	case seg == "." || seg == "..":
		return fmt.Errorf("%w: %q has a %q segment", ErrInvalidKey, key, seg)
	case len(seg) > MaxSegmentLen:
		return fmt.Errorf("%w: a segment of %d bytes, more than %d", ErrInvalidKey, len(seg), MaxSegmentLen)
	}
	return nil
}

// randomKey returns a fresh key "ab/cd/abcd…" of 128 random bits in hex; the
// two leading directories spread objects over 65,536 directories.
func randomKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	h := hex.EncodeToString(b[:])
	return h[0:2] + "/" + h[2:4] + "/" + h
}
