package policy

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"diwan.gov.sy/diwan/internal/directory"
)

// name is a domain as Decide needs it: canonical, and whether one of its
// labels mixes scripts.
type name struct {
	canon string
	ascii string // the A-label form, for replies
	mixed bool
	err   error
}

// nameCache remembers the canonical form of domains recently decided: IDNA
// processing costs more than the decision itself. It holds at most
// maxCachedNames entries and starts over when full, so hostile input cannot
// grow it.
type nameCache struct {
	mu sync.RWMutex
	m  map[string]name
}

const maxCachedNames = 8192

func (c *nameCache) init() { c.m = make(map[string]name, 256) }

func (c *nameCache) get(domain string) name {
	c.mu.RLock()
	n, ok := c.m[domain]
	c.mu.RUnlock()
	if ok {
		return n
	}
	n = parseName(domain)
	c.mu.Lock()
	if len(c.m) >= maxCachedNames {
		clear(c.m)
	}
	c.m[domain] = n
	c.mu.Unlock()
	return n
}

func parseName(domain string) name {
	canon, err := directory.CanonicalDomain(domain)
	if err != nil {
		return name{err: err}
	}
	ascii, err := directory.ASCIIDomain(canon)
	if err != nil {
		return name{err: err}
	}
	return name{canon: canon, ascii: ascii, mixed: hasMixedLabel(canon)}
}

// hasMixedLabel reports whether a label of the canonical domain mixes
// scripts.
func hasMixedLabel(canon string) bool {
	for label := range strings.SplitSeq(canon, ".") {
		if MixedScript(label) {
			return true
		}
	}
	return false
}

// MixedScript reports whether a label's letters come from more than one
// script, the mark of a look-alike such as "gоv" with a Cyrillic "о".
// Digits, hyphens and combining marks (scripts Common and Inherited) belong
// to any script. As in the "Highly Restrictive" level of Unicode TS #39
// §5.2, Han with Hiragana and Katakana (Japanese), with Bopomofo, or with
// Hangul, each also with Latin, count as one.
func MixedScript(label string) bool {
	var seen scriptSet
	var unlisted *unicode.RangeTable // the one script outside otherScripts seen
	for i := 0; i < len(label); {
		c := label[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
				seen |= sLatin
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(label[i:])
		i += size
		s, t := scriptOf(r)
		if t != nil {
			if unlisted != nil && unlisted != t {
				return true
			}
			unlisted = t
		}
		seen |= s
	}
	return seen.mixed()
}

type scriptSet uint32

const (
	sLatin scriptSet = 1 << iota
	sHan
	sHiragana
	sKatakana
	sBopomofo
	sHangul
	sOther0 // first of the other scripts, each its own bit (see scriptOf)
)

// mixed reports whether the set holds more than one script, the allowed
// CJK combinations aside.
func (s scriptSet) mixed() bool {
	if s&(s-1) == 0 {
		return false // zero or one script
	}
	for _, ok := range []scriptSet{
		sLatin | sHan | sHiragana | sKatakana,
		sLatin | sHan | sBopomofo,
		sLatin | sHan | sHangul,
	} {
		if s&^ok == 0 {
			return false
		}
	}
	return true
}

// otherScripts are checked in order; the common ones of this service come
// first. A script not listed here falls back to the whole Unicode table.
var otherScripts = []*unicode.RangeTable{
	unicode.Arabic, unicode.Cyrillic, unicode.Greek, unicode.Armenian,
	unicode.Hebrew, unicode.Syriac, unicode.Thaana, unicode.Georgian,
	unicode.Devanagari, unicode.Thai, unicode.Ethiopic, unicode.Cherokee,
}

// scriptOf returns the script of r as a bit; for a script not among the
// listed ones, a shared bit and its table (the caller tells two such
// scripts apart by the table).
func scriptOf(r rune) (scriptSet, *unicode.RangeTable) {
	switch {
	case unicode.In(r, unicode.Common, unicode.Inherited):
		return 0, nil
	case unicode.Is(unicode.Latin, r):
		return sLatin, nil
	case unicode.Is(unicode.Han, r):
		return sHan, nil
	case unicode.Is(unicode.Hiragana, r):
		return sHiragana, nil
	case unicode.Is(unicode.Katakana, r):
		return sKatakana, nil
	case unicode.Is(unicode.Bopomofo, r):
		return sBopomofo, nil
	case unicode.Is(unicode.Hangul, r):
		return sHangul, nil
	}
	for i, t := range otherScripts {
		if unicode.Is(t, r) {
			return sOther0 << i, nil
		}
	}
	for _, t := range unicode.Scripts {
		if unicode.Is(t, r) {
			return sOther0 << len(otherScripts), t
		}
	}
	return 0, nil
}
