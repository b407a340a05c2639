package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"diwan.gov.sy/diwan/internal/directory"
)

// Sending as a registry (DESIGN.md §4): a registry's clerks may submit
// mail whose envelope sender and header From are the registry's mailbox
// address. The SMTP listener asks the directory first (own address,
// aliases); internal/app adds this answer to the directory's.

// ClerkOfRegistryAddress reports whether the user works address, the
// mailbox of a registry, as its clerk: a clerkship of that registry, the
// clerk role, and an account not disabled (as principal.go counts a
// clerk). An address of no registry, or a malformed one, is (false, nil);
// an error means the database or the directory could not answer.
func (s *Service) ClerkOfRegistryAddress(ctx context.Context, userID int64, address string) (bool, error) {
	local, domain, err := directory.CanonicalAddress(address)
	if err != nil {
		return false, nil
	}
	addr := local + "@" + domain
	clerk, err := orgOn(ctx, s.db.Reader()).ClerkOfAddress(userID, addr)
	if err != nil {
		return false, fmt.Errorf("is user %d a clerk of %s: %w", userID, addr, err)
	}
	if !clerk {
		return false, nil
	}
	// The directory's facts, asked after the workflow's connection is
	// given back (Directory's rule).
	p, err := s.dir.Principal(ctx, userID)
	if errors.Is(err, directory.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("facts of user %d: %w", userID, err)
	}
	return !p.Disabled && slices.Contains(p.Roles, directory.RoleClerk), nil
}
