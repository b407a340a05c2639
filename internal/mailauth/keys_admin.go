package mailauth

import (
	"context"
	"errors"

	"diwan.gov.sy/diwan/internal/directory"
)

// ErrForbidden: the caller may not read or make a domain's DKIM keys.
var ErrForbidden = errors.New("only an administrator may manage a domain's DKIM keys")

// EnsureAs is EnsureBy for the API and the web UI: the caller must
// administer the instance (the role admin), and is the audit actor of a
// key generated now. It answers the records to publish, as
// `diwan admin domain dkim DOMAIN` prints them.
func (k *Keys) EnsureAs(ctx context.Context, caller directory.Principal, domain string) ([]Record, error) {
	if caller.Disabled || !caller.HasRole(directory.RoleAdmin) {
		return nil, ErrForbidden
	}
	return k.EnsureBy(ctx, caller.Actor(), domain, false)
}
