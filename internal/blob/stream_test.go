package blob

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// putReader holds a stream to its declared size, and tells a short stream, a
// long one and a broken one apart.
func TestPutReaderSize(t *testing.T) {
	broken := errors.New("broken")
	cases := []struct {
		name string
		r    io.Reader
		size int64
		want error
	}{
		{"exact", strings.NewReader("hello"), 5, nil},
		{"unknown", strings.NewReader("hello"), -1, nil},
		{"short", strings.NewReader("hell"), 5, ErrSizeMismatch},
		{"long", strings.NewReader("hello!"), 5, ErrSizeMismatch},
		{"empty but declared", strings.NewReader(""), 1, ErrSizeMismatch},
		{"broken", io.MultiReader(strings.NewReader("he"), iotestErr{broken}), 5, broken},
		{"broken after the end", io.MultiReader(strings.NewReader("hello"), iotestErr{broken}), 5, broken},
	}
	for _, c := range cases {
		pr := newPutReader(context.Background(), c.r, c.size)
		_, err := io.Copy(io.Discard, pr)
		if err == nil {
			err = pr.done()
		}
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }
