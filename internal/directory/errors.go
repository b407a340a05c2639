package directory

import (
	"errors"

	"diwan.gov.sy/diwan/internal/input"
)

// Sentinel errors. They are wrapped with the object they concern
// ("domain mof.gov.sy: already exists"); test with errors.Is.
var (
	// ErrNotFound: no ministry, domain or user by that name.
	ErrNotFound = errors.New("not found")
	// ErrExists: a ministry, domain or user of that name exists already,
	// in whatever spelling it was given (names are compared canonically).
	ErrExists = errors.New("already exists")
	// ErrInvalidCredentials is Authenticate's one answer to every refused
	// login: unknown login, wrong password, disabled or locked account;
	// and the answer of CheckSession and CheckToken to an unknown,
	// expired, logged-out or revoked credential or a disabled account.
	// Callers must not tell the client more.
	ErrInvalidCredentials = errors.New("invalid credentials")
)

// InputError is bad input to a directory call: which field ("domain",
// "address", "login", "ministry", "code", "name", "name_ar", "name_en",
// "role", "password", "quota"), and a complete sentence fit to show to the
// person who typed it (it names the value and the rule). It is the core's
// one input error, input.Error. Test with errors.As.
type InputError = input.Error

func inputErr(field, msg string) *InputError { return input.Invalid(field, msg) }
