// Package migrations embeds Diwan's versioned SQL schema: one history, with a
// file per dialect under the same version number in sqlite/ and postgres/.
// Migrations are forward-only; each runs in one transaction.
package migrations

import "embed"

// FS holds sqlite/*.sql and postgres/*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
