package workflow

// The text of the store's statements: ? placeholders numbered for
// PostgreSQL, and lists of values written out as gorm would.

import (
	"strconv"
	"strings"
	"sync"
)

// pgStatements caches pgSQL's results: the engine's statements are few,
// but for their lists of values; the long ones (many recipients) are not
// kept.
var pgStatements sync.Map

const maxCachedStatement = 4096

// pgSQL numbers the ? placeholders of a statement for PostgreSQL ($1, $2,
// ...), leaving quoted text alone.
func pgSQL(s string) string {
	if v, ok := pgStatements.Load(s); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	out := b.String()
	if len(s) <= maxCachedStatement {
		pgStatements.Store(s, out)
	}
	return out
}

// expandLists writes each ? whose argument is a list as "(?, ?, ...)",
// one ? an element ("(NULL)" for none), as gorm does, for the statements
// sent through pgx; quoted text is left alone.
func expandLists(s string, args []any) (string, []any) {
	lists := false
	for _, a := range args {
		switch a.(type) {
		case []int64, []string:
			lists = true
		}
	}
	if !lists {
		return s, args
	}
	var b strings.Builder
	out := make([]any, 0, len(args)+8)
	n := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?' && n < len(args):
			a := args[n]
			n++
			switch l := a.(type) {
			case []int64:
				b.WriteString(listOf(len(l)))
				for _, v := range l {
					out = append(out, v)
				}
				continue
			case []string:
				b.WriteString(listOf(len(l)))
				for _, v := range l {
					out = append(out, v)
				}
				continue
			}
			out = append(out, a)
		}
		b.WriteByte(c)
	}
	return b.String(), append(out, args[n:]...)
}

// listOf is "(?, ?, ...)" for n values, "(NULL)" for none.
func listOf(n int) string {
	if n == 0 {
		return "(NULL)"
	}
	return "(" + placeholders(n) + ")"
}

// placeholders is "?, ?, ..." for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
