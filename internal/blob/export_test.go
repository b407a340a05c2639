package blob

// WithoutTmpfileForTest makes s write through named temporary files and
// renames, as on a file system without O_TMPFILE.
func (s *FS) WithoutTmpfileForTest() { s.tmpfile = false }

// TmpfileForTest reports whether s writes unnamed files.
func (s *FS) TmpfileForTest() bool { return s.tmpfile }
