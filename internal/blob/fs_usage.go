package blob

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Usage is the space of the filesystem an FS store's directory is on, in
// bytes: Used by everything on it (not only the store), Free to an
// unprivileged writer, and its Total size.
type Usage struct {
	Used, Free, Total int64
}

// Usage reports the space of the filesystem that holds the store's
// directory (statfs(2) on the open directory: one system call, nothing
// walked).
func (s *FS) Usage() (Usage, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(s.top.fd, &st); err != nil {
		return Usage{}, fmt.Errorf("blob: fs store %s: statfs: %w", s.root.Name(), err)
	}
	bs := int64(st.Bsize) //nolint:unconvert // its type differs between platforms
	return Usage{
		Used:  int64(st.Blocks-st.Bfree) * bs,
		Free:  int64(st.Bavail) * bs,
		Total: int64(st.Blocks) * bs,
	}, nil
}

// DiskUsage is the Usage of s when it is an FS store, bare or
// instrumented; ok is false for any other store (S3 has no disk of ours).
func DiskUsage(s Store) (u Usage, ok bool, err error) {
	if m, wrapped := s.(*instrumented); wrapped {
		s = m.s
	}
	fs, isFS := s.(*FS)
	if !isFS {
		return Usage{}, false, nil
	}
	u, err = fs.Usage()
	return u, true, err
}
