package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/unicode/norm"
	"gorm.io/gorm"
)

// The recipient picker's search: registries found by code and by Arabic or
// English name, the way people type them. Arabic is written with variants
// that mean the same letter (أ إ آ ٱ and ا; ة and ه; ى and ي), with or
// without short vowels (harakat) and tatweel; both the names and what is
// typed are reduced to one spelling (foldSearch) before they are compared.
//
// The registries are few (a country's ministries have some hundreds) and
// the search runs as someone types, so their folded names are kept in
// memory rather than in a column: the folding then lives in Go alone, once,
// for both sides, and a change of the rules needs no migration of the
// data. What is kept is current while registry_state's version (moved by
// triggers on every change to the registries, by any process or tool) and
// org_state's (ministry codes) have not moved; each search reads the two
// in one small statement and loads the registries again when they moved.

// maxRegistryMatches bounds a search's answer.
const maxRegistryMatches = 50

// registryIndex is the registries as the picker searches them, at a stamp.
type registryIndex struct {
	stamp registryStamp
	regs  []Registry
	folds []string // folds[i]: code, Arabic and English name of regs[i], folded
}

// registrySearchCache holds the last index read.
type registrySearchCache struct {
	mu  sync.Mutex
	idx *registryIndex
}

// searchRegistries finds up to limit registries (0 or more than
// maxRegistryMatches means maxRegistryMatches) whose code or names hold
// every word of q, after folding. Codes that start with q come first, then
// names that start with it, then the rest, each by code. An empty q finds
// nothing.
func (s *Service) searchRegistries(ctx context.Context, q string, limit int) ([]Registry, error) {
	words := strings.Fields(foldSearch(q))
	if len(words) == 0 {
		return []Registry{}, nil
	}
	if limit <= 0 || limit > maxRegistryMatches {
		limit = maxRegistryMatches
	}
	idx, err := s.registryIndex(ctx)
	if err != nil {
		return nil, fmt.Errorf("search registries: %w", err)
	}
	whole := strings.Join(words, " ")
	type hit struct {
		rank int
		i    int
	}
	var hits []hit
	for i, f := range idx.folds {
		if !holdsAll(f, words) {
			continue
		}
		rank := 2
		if strings.HasPrefix(f, whole) {
			rank = 0 // the code (first in the fold) starts with it
		} else if strings.Contains(f, "\x00"+whole) {
			rank = 1 // a name starts with it
		}
		hits = append(hits, hit{rank, i})
	}
	slices.SortStableFunc(hits, func(a, b hit) int { return a.rank - b.rank })
	out := make([]Registry, 0, min(limit, len(hits)))
	for _, h := range hits[:min(limit, len(hits))] {
		out = append(out, idx.regs[h.i])
	}
	return out, nil
}

func holdsAll(f string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(f, w) {
			return false
		}
	}
	return true
}

// registryIndex returns the kept index when it is current, else reads the
// registries again.
func (s *Service) registryIndex(ctx context.Context) (*registryIndex, error) {
	var (
		stamp registryStamp
		rows  []registryRow
		kept  *registryIndex
	)
	err := s.read(ctx, func(q *gorm.DB) error {
		var err error
		if stamp, err = readRegistryStamp(ctx, q); err != nil {
			return err
		}
		if kept = s.regSearch.current(stamp); kept != nil {
			return nil
		}
		rows, err = orgOn(ctx, q).LoadRegistries(0)
		return err
	})
	if err != nil || kept != nil {
		return kept, err
	}
	// In Go's order of codes, whatever the database's collation: lookups
	// by code search it.
	slices.SortFunc(rows, func(a, b registryRow) int { return strings.Compare(a.Code, b.Code) })
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.MinistryID
	}
	codes, err := s.ministryCodes(ctx, ids)
	if err != nil {
		return nil, err
	}
	idx := &registryIndex{stamp: stamp, regs: make([]Registry, len(rows)), folds: make([]string, len(rows))}
	for i, r := range rows {
		idx.regs[i] = r.registry(codes[r.MinistryID])
		// NUL marks where each name starts (the rank of a name's prefix);
		// folded text never holds one.
		idx.folds[i] = foldSearch(r.Code) + "\x00" + foldSearch(r.NameAR) + "\x00" + foldSearch(r.NameEN)
	}
	s.regSearch.keep(idx)
	return idx, nil
}

// current returns the kept index if it was read at stamp.
func (c *registrySearchCache) current(stamp registryStamp) *registryIndex {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idx != nil && c.idx.stamp == stamp {
		return c.idx
	}
	return nil
}

// keep keeps idx unless a newer one is kept (versions only grow).
func (c *registrySearchCache) keep(idx *registryIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idx == nil || idx.stamp.registries > c.idx.stamp.registries ||
		idx.stamp.registries == c.idx.stamp.registries && idx.stamp.org >= c.idx.stamp.org {
		c.idx = idx
	}
}

// foldSearch reduces text to the one spelling searches compare: Unicode
// compatibility decomposition with the combining marks dropped (Arabic
// harakat, the hamza and madda over or under alef, waw and yeh, Latin
// accents); alef wasla to alef; teh marbuta to heh; alef maksura and the
// Persian yeh to yeh; the Persian keheh to kaf;
// no tatweel; Arabic-Indic digits to 0-9; lower case; every run of other
// characters (spaces, punctuation) one space.
func foldSearch(s string) string {
	var b strings.Builder
	space := true // no leading space
	for _, r := range norm.NFKD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r), r == 'ـ':
			continue
		case r == 'ٱ':
			r = 'ا'
		case r == 'ة':
			r = 'ه'
		case r == 'ى', r == 'ی': // and the Persian yeh some keyboards type
			r = 'ي'
		case r == 'ک': // the Persian keheh, likewise
			r = 'ك'
		case '٠' <= r && r <= '٩':
			r = '0' + (r - '٠')
		case '۰' <= r && r <= '۹':
			r = '0' + (r - '۰')
		}
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			if !space {
				b.WriteByte(' ')
				space = true
			}
			continue
		}
		b.WriteRune(unicode.ToLower(r))
		space = false
	}
	return strings.TrimSuffix(b.String(), " ")
}

// registriesByCode returns the registries with these codes (canonical:
// upper case) that exist, from the picker's index.
func (s *Service) registriesByCode(ctx context.Context, codes []string) (map[string]Registry, error) {
	out := make(map[string]Registry, len(codes))
	if len(codes) == 0 {
		return out, nil
	}
	idx, err := s.registryIndex(ctx)
	if err != nil {
		return nil, fmt.Errorf("find registries: %w", err)
	}
	for _, code := range codes {
		c := strings.ToUpper(strings.TrimSpace(code))
		if i, ok := slices.BinarySearchFunc(idx.regs, c, func(r Registry, c string) int { return strings.Compare(r.Code, c) }); ok {
			out[c] = idx.regs[i]
		}
	}
	return out, nil
}
