package workflow

import (
	"context"

	"gorm.io/gorm"
)

// The statements of the recipient picker (registry_search.go): the
// versions its cache is kept at, and the registries it keeps.

// registryStateQuery reads, in one round trip, the version of
// registry_state (moved by every change to the registries, migrations/*/
// 00016) and of org_state (moved by a change of a ministry's code, which
// the picker shows).
const registryStateQuery = `SELECT (SELECT version FROM registry_state WHERE id = 1), (SELECT version FROM org_state WHERE id = 1)`

// registryStamp is the pair of versions a cache of the registries is
// current at.
type registryStamp struct{ registries, org int64 }

// readRegistryStamp reads the versions with q.
func readRegistryStamp(ctx context.Context, q *gorm.DB) (registryStamp, error) {
	st := registryStamp{registries: -1, org: -1}
	err := scanRows(ctx, q, registryStateQuery, nil, func(r rowScanner) error { return r.Scan(&st.registries, &st.org) })
	return st, err
}
