package directory

// SetBeforeCommitForTest makes every changing transaction of s call fn
// after its writes and audit events, just before commit; an error from fn
// rolls the transaction back.
func SetBeforeCommitForTest(s *Service, fn func() error) { s.beforeCommit = fn }

// HashChecksForTest is the number of argon2id checks s has made, against
// real or dummy hashes.
func HashChecksForTest(s *Service) int64 { return s.hashChecks.Load() }
