package db

import (
	"context"
	"io/fs"
)

// MigrateFSForTest runs the migrations of fsys, for tests of failure handling.
func MigrateFSForTest(ctx context.Context, d *DB, fsys fs.FS) ([]Applied, error) {
	return d.migrateFS(ctx, fsys)
}

// StmtCompilesForTest is how many statements SQLite connections have
// compiled into their caches.
func StmtCompilesForTest() int64 { return stmtCompiles.Load() }

const StmtCacheSizeForTest = stmtCacheSize

// CacheableForTest reports whether a connection keeps query compiled.
func CacheableForTest(query string) bool { return cacheable(query) }
