package db

import (
	"context"
	"fmt"
)

// SchemaVersion is the version of Diwan's schema the database is at (its
// last applied migration) and the latest this build knows; they differ
// while migrations are pending. It takes no migration lock: it neither
// waits for nor holds up a node that migrates.
func (d *DB) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := d.goose(MigrationFS(d.driver))
	if err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	current, latest, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	return current, latest, nil
}
