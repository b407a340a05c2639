package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// FS is a Store in a local directory, for a single machine. An object is a
// file at its key's path under the directory (mode 0600, directories 0700).
// All access goes through an os.Root, so no key, symbolic link or race can
// reach outside the directory.
//
// A Put writes an unnamed file (O_TMPFILE) in the final directory, fsyncs
// it, links it under its name and fsyncs the directory (and the parents of
// directories it created), so an object is either absent or complete and
// durable. Where unnamed files are not available, and to replace an
// existing object, it uses a temporary name and a rename instead.
// Temporary names are ".tmp%…": '%' is never in a key, so they cannot
// collide with an object and List skips them. A crash in the middle of a
// Put can leave one behind; nothing reads it.
type FS struct {
	root *os.Root

	// dirs holds open handles on directories objects were put in or read
	// from, so that each operation on an object is one system call from
	// its directory instead of a walk of every path component (os.Root
	// opens, checks and closes each one). Directories are never removed
	// (see Delete), so a handle stays valid; at most maxDirHandles are
	// kept.
	mu   sync.Mutex
	dirs map[string]*dirHandle
	top  *dirHandle // the root's

	// tmpfile: new objects are written as unnamed files (O_TMPFILE) and
	// linked under their name once complete; creating a named temporary
	// file and renaming it costs about a third more system time per
	// object, and a crash leaves no temporary file behind.
	tmpfile bool
}

// dirHandle is an open directory: as a root for operations on its names,
// and as a file for fsync, O_TMPFILE and linkat.
type dirHandle struct {
	root *os.Root
	file *os.File
	fd   int
}

func openDirHandle(r *os.Root) (*dirHandle, error) {
	f, err := r.Open(".")
	if err != nil {
		return nil, err
	}
	return &dirHandle{root: r, file: f, fd: int(f.Fd())}, nil
}

func (h *dirHandle) close() {
	h.file.Close()
	h.root.Close()
}

// maxDirHandles bounds the directory handles FS keeps open.
const maxDirHandles = 512

var _ Store = (*FS)(nil)

// tmpPrefix starts the name of every temporary file; see FS.
const tmpPrefix = ".tmp%"

// copyBufs holds the buffers Put copies through.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// NewFS opens the store in dir, creating dir (mode 0700) if it is missing.
func NewFS(dir string) (*FS, error) {
	if dir == "" {
		return nil, errors.New("blob: fs store: no directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob: fs store: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: fs store: %w", err)
	}
	top, err := openDirHandle(root)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("blob: fs store: %w", err)
	}
	s := &FS{root: root, dirs: map[string]*dirHandle{}, top: top}
	s.tmpfile = s.probeTmpfile()
	return s, nil
}

// Close releases the directory. The store must not be used afterwards.
func (s *FS) Close() error {
	s.mu.Lock()
	for _, d := range s.dirs {
		d.close()
	}
	s.dirs = nil
	s.mu.Unlock()
	s.top.file.Close()
	return s.root.Close()
}

// probeTmpfile reports whether the file system takes unnamed files and
// this process can link them (it needs /proc).
func (s *FS) probeTmpfile() bool {
	f, err := openTmpfile(s.top)
	if err != nil {
		return false
	}
	defer f.Close()
	name := tmpPrefix + "probe"
	_ = s.root.Remove(name)
	if err := linkTmpfile(f, s.top, name); err != nil {
		return false
	}
	_ = s.root.Remove(name)
	return true
}

// openTmpfile opens a new unnamed file in d, for writing.
func openTmpfile(d *dirHandle) (*os.File, error) {
	fd, err := unix.Openat(d.fd, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: "(unnamed)", Err: err}
	}
	return os.NewFile(uintptr(fd), "(unnamed)"), nil
}

// linkTmpfile gives the unnamed file f the name name in d; fs.ErrExist
// when the name is taken. (linkat with AT_EMPTY_PATH needs a capability;
// the /proc link of the descriptor does not.)
func linkTmpfile(f *os.File, d *dirHandle, name string) error {
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), d.fd, name, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &fs.PathError{Op: "link", Path: name, Err: err}
	}
	return nil
}

// dir returns a handle on the directory dir ("." is the root), opening it
// when it exists, or creating it (and its parents) when create is set;
// created reports that it was made now. The caller calls release when
// done with the handle.
func (s *FS) dir(dir string, create bool) (d *dirHandle, created bool, release func(), err error) {
	keep := func() {}
	if dir == "." {
		return s.top, false, keep, nil
	}
	s.mu.Lock()
	d = s.dirs[dir]
	s.mu.Unlock()
	if d != nil {
		return d, false, keep, nil
	}
	r, err := s.root.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := s.root.MkdirAll(dir, 0o700); err != nil {
			return nil, false, nil, err
		}
		created = true
		r, err = s.root.OpenRoot(dir)
	}
	if err != nil {
		if fi, serr := s.root.Lstat(dir); serr == nil && !fi.IsDir() {
			// OpenRoot's own error for a file in the way is not ENOTDIR.
			return nil, false, nil, &fs.PathError{Op: "open", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil, false, nil, err
	}
	if d, err = openDirHandle(r); err != nil {
		r.Close()
		return nil, false, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.dirs[dir]; old != nil {
		d.close()
		return old, created, keep, nil
	}
	if s.dirs != nil && len(s.dirs) < maxDirHandles {
		s.dirs[dir] = d
		return d, created, keep, nil
	}
	return d, created, d.close, nil
}

// Dir returns the store's directory.
func (s *FS) Dir() string { return s.root.Name() }

// Put implements Store.
func (s *FS) Put(ctx context.Context, r io.Reader, size int64) (Info, error) {
	return s.put(ctx, randomKey(), r, size)
}

// PutKey implements Store.
func (s *FS) PutKey(ctx context.Context, key string, r io.Reader, size int64) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	return s.put(ctx, key, r, size)
}

func (s *FS) put(ctx context.Context, key string, r io.Reader, size int64) (info Info, err error) {
	if size < -1 {
		return Info{}, fmt.Errorf("blob: put %s: negative size %d", key, size)
	}
	dir, base := path.Dir(key), path.Base(key)
	d, newDir, release, err := s.dir(dir, true)
	if err != nil {
		return Info{}, s.putError(key, err)
	}
	defer release()
	var tmp string // the temporary name, while there is one
	var f *os.File
	if s.tmpfile {
		f, err = openTmpfile(d)
	} else {
		tmp, f, err = createTemp(d.root)
	}
	if err != nil {
		return Info{}, s.putError(key, err)
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil && tmp != "" {
			_ = d.root.Remove(tmp)
		}
	}()

	pr := newPutReader(ctx, r, size)
	bufp := copyBufs.Get().(*[]byte)
	// Hide *os.File's ReadFrom so the copy goes through the pooled buffer.
	_, err = io.CopyBuffer(struct{ io.Writer }{f}, pr, *bufp)
	copyBufs.Put(bufp)
	if err == nil {
		err = pr.done()
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err = f.Sync(); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err = ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if s.tmpfile {
		// Linked straight to its name when the name is free; else to a
		// temporary name that then replaces the object in one rename.
		if err = linkTmpfile(f, d, base); errors.Is(err, fs.ErrExist) {
			tmp, err = linkTemp(f, d)
			if err == nil {
				err = d.root.Rename(tmp, base)
			}
		}
	} else {
		if err = f.Close(); err == nil {
			err = d.root.Rename(tmp, base)
		}
		f = nil
	}
	if err != nil {
		return Info{}, s.putError(key, err)
	}
	tmp = "" // the object exists
	// Make the new name durable, and the names of directories just made.
	if err = d.file.Sync(); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: sync directory: %w", key, err)
	}
	for p := dir; newDir && p != "."; {
		p = path.Dir(p)
		if err = syncDir(s.root, p); err != nil {
			return Info{}, fmt.Errorf("blob: put %s: sync directory: %w", key, err)
		}
	}
	return Info{Key: key, Size: pr.n, SHA256: pr.sum(), ModTime: fi.ModTime()}, nil
}

// putError explains a failure to create the object's directory or file; one
// caused by a file standing where a directory must be (or the reverse) is the
// caller's key layout, hence ErrInvalidKey.
func (s *FS) putError(key string, err error) error {
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) ||
		errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
		return fmt.Errorf("%w: %q clashes with another key (a key cannot also be a directory of keys): %v", ErrInvalidKey, key, err)
	}
	return fmt.Errorf("blob: put %s: %w", key, err)
}

// createTemp creates a new empty temporary file in the directory d.
func createTemp(d *os.Root) (name string, f *os.File, err error) {
	name, err = newTempName(func(name string) (err error) {
		f, err = d.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		return err
	})
	return name, f, err
}

// linkTemp links the unnamed file f under a new temporary name in d.
func linkTemp(f *os.File, d *dirHandle) (string, error) {
	return newTempName(func(name string) error { return linkTmpfile(f, d, name) })
}

// newTempName calls create with new random temporary names until one is
// free, and returns it.
func newTempName(create func(name string) error) (string, error) {
	for {
		var b [8]byte
		_, _ = rand.Read(b[:])
		name := tmpPrefix + hex.EncodeToString(b[:])
		if err := create(name); !errors.Is(err, fs.ErrExist) {
			return name, err
		}
	}
}

// syncDir fsyncs the directory name of r.
func syncDir(r *os.Root, name string) error {
	d, err := r.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// openFile opens key as a regular file; anything else is ErrNotFound.
func (s *FS) openFile(key string) (*os.File, fs.FileInfo, error) {
	if err := ValidateKey(key); err != nil {
		return nil, nil, err
	}
	d, _, release, err := s.dir(path.Dir(key), false)
	if err != nil {
		return nil, nil, s.readError(key, err)
	}
	f, err := d.root.Open(path.Base(key))
	release()
	if err != nil {
		return nil, nil, s.readError(key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return f, fi, nil
}

// readError maps "no such file" (also "a file is where a directory should
// be") to ErrNotFound.
func (s *FS) readError(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return fmt.Errorf("blob: %s: %w", key, err)
}

// Open implements Store.
func (s *FS) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	f, _, err := s.openFile(key)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// OpenRange implements Store.
func (s *FS) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := checkRange(offset, length); err != nil {
		return nil, err
	}
	f, fi, err := s.openFile(key)
	if err != nil {
		return nil, err
	}
	n := clampRange(fi.Size(), offset, length)
	return &sectionReadCloser{SectionReader: io.NewSectionReader(f, min(offset, fi.Size()), n), c: f}, nil
}

type sectionReadCloser struct {
	*io.SectionReader
	c io.Closer
}

func (r *sectionReadCloser) Close() error { return r.c.Close() }

// Stat implements Store. The FS store does not record digests, so SHA256 is
// empty.
func (s *FS) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	fi, err := s.root.Stat(key)
	if err != nil {
		return Info{}, s.readError(key, err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete implements Store. Directories emptied by it stay: a concurrent Put
// may be about to use them.
func (s *FS) Delete(ctx context.Context, key string) error {
	if _, err := s.Stat(ctx, key); err != nil {
		return err
	}
	if err := s.root.Remove(key); err != nil {
		return s.readError(key, err)
	}
	return nil
}

// List implements Store. It walks only the directory the prefix points into,
// visiting each directory's entries so that keys come out in byte order: a
// directory "a" sorts as "a/", before "a0" and after "a-b".
func (s *FS) List(ctx context.Context, prefix string, fn func(Info) error) error {
	if err := validatePrefix(prefix); err != nil {
		return err
	}
	dir, partial := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir, partial = prefix[:i], prefix[i+1:]
	}
	err := s.walk(ctx, dir, partial, fn)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // nothing under that prefix
	}
	return err
}

// walk lists the objects in dir ("" for the root) whose names start with
// partial, and everything below the matching subdirectories.
func (s *FS) walk(ctx context.Context, dir, partial string, fn func(Info) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := dir
	if name == "" {
		name = "."
	}
	d, err := s.root.Open(name)
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("blob: list %s: %w", name, err)
	}
	type entry struct {
		sortKey, name string
		isDir         bool
	}
	list := make([]entry, 0, len(entries))
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, partial) || checkSegment(n, n) != nil || checkKeyChars(n) != nil {
			continue // temporary files have a '%'; nothing else here is a key
		}
		switch {
		case e.IsDir():
			list = append(list, entry{n + "/", n, true})
		case e.Type().IsRegular():
			list = append(list, entry{n, n, false})
		}
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.sortKey, b.sortKey) })
	for _, e := range list {
		key := e.name
		if dir != "" {
			key = dir + "/" + e.name
		}
		if e.isDir {
			err := s.walk(ctx, key, "", fn)
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			if err != nil {
				return err
			}
			continue
		}
		if len(key) > MaxKeyLen {
			continue
		}
		fi, err := s.root.Lstat(key)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("blob: list %s: %w", key, err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if err := fn(Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// Ping implements Store: it creates and removes a temporary file in the root.
func (s *FS) Ping(ctx context.Context) error {
	name, f, err := createTemp(s.root)
	if err != nil {
		return fmt.Errorf("blob: fs store %s: %w", s.root.Name(), err)
	}
	f.Close()
	if err := s.root.Remove(name); err != nil {
		return fmt.Errorf("blob: fs store %s: %w", s.root.Name(), err)
	}
	return nil
}

// checkRange refuses a negative offset or a length below -1.
func checkRange(offset, length int64) error {
	if offset < 0 || length < -1 {
		return fmt.Errorf("%w: offset %d, length %d", ErrInvalidRange, offset, length)
	}
	return nil
}

// clampRange returns how many bytes of an object of size bytes the range
// offset, length (-1: to the end) covers.
func clampRange(size, offset, length int64) int64 {
	if offset >= size {
		return 0
	}
	rest := size - offset
	if length < 0 || length > rest {
		return rest
	}
	return length
}
