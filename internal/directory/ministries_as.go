package directory

import "context"

// AddMinistryAs adds a ministry as the caller (AddMinistry): ministries
// are the instance's administrators' alone (role admin), else
// ErrForbidden.
func (s *Service) AddMinistryAs(ctx context.Context, caller Principal, m Ministry) (Ministry, error) {
	if err := authorizeAdmin(caller); err != nil {
		return Ministry{}, err
	}
	return s.AddMinistry(ctx, caller.Actor(), m)
}
