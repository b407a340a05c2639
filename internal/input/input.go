// Package input holds the one error type of Diwan's core services for bad
// input: which field, and a complete sentence fit to show the person who
// typed it. directory.InputError and workflow.InputError are this type;
// policy returns it too, and httpd turns it into a 400 (or 422) in one
// place.
//
// It imports nothing of Diwan and knows no protocol.
package input

// Error is bad input: Field names it as the caller sent it (the JSON name
// or the CLI's flag: "address", "subject", "due_date", "pattern", ...);
// Message is a complete sentence that names the value and the rule, and
// Error returns it unchanged. Test with errors.As.
type Error struct {
	Field   string
	Message string
	// Unprocessable marks well-formed input the service cannot act on
	// (dispatch without recipients or to the sender's own registry, a
	// reference to a letter the actor cannot see): HTTP 422 rather than
	// 400.
	Unprocessable bool
}

func (e *Error) Error() string { return e.Message }

// Invalid is bad input for field, explained by message.
func Invalid(field, message string) *Error { return &Error{Field: field, Message: message} }

// Unprocessable is well-formed input for field that cannot be acted on.
func Unprocessable(field, message string) *Error {
	return &Error{Field: field, Message: message, Unprocessable: true}
}
