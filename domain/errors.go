package domain

import "fmt"

// Error is a domain error with a stable code. The HTTP layer maps each code to
// a status once; nothing below it knows about status codes.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Is matches any *Error with the same code, so a specific error
// (Errorf(ErrMissingField, "...")) still satisfies errors.Is(err, ErrMissingField).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf returns an error with base's code and a specific message.
func Errorf(base *Error, format string, args ...any) *Error {
	return &Error{Code: base.Code, Message: fmt.Sprintf(format, args...)}
}

// Errors of the product, by code.
var (
	ErrInvalidPayload       = &Error{Code: "invalid_payload", Message: "the request body is not valid"}
	ErrMissingField         = &Error{Code: "missing_field", Message: "a required field is missing"}
	ErrInvalidField         = &Error{Code: "invalid_field", Message: "a field has an invalid value"}
	ErrEventIgnored         = &Error{Code: "event_ignored", Message: "the provider event carries no message and was not stored"}
	ErrUnsupportedProvider  = &Error{Code: "unsupported_provider", Message: "the provider is not supported"}
	ErrInstanceNotFound     = &Error{Code: "instance_not_found", Message: "no such instance"}
	ErrThreadNotFound       = &Error{Code: "thread_not_found", Message: "no such thread"}
	ErrConcurrencyExhausted = &Error{Code: "concurrent_update", Message: "the thread changed concurrently too many times; retry"}
	// ErrAppendTooLarge is an input whose events exceed what the event store
	// takes in one append (MaxAppendBytes): the same code as a body over the
	// HTTP cap, since the fix for the sender is the same.
	ErrAppendTooLarge = &Error{Code: "payload_too_large", Message: "the input is larger than the event store takes in one append"}
)
