package aiproxy

import "fmt"

// Application error codes: every error the gateway can answer is one of these. Packages
// below the HTTP layer return them, never statuses; the HTTP layer's one error writer turns
// each code into its status (the table in docs/contract.md, "Error index").
const (
	EINVALID         = "invalid"            // the request is malformed: 400, {"error": …}
	EUNAUTHORIZED    = "unauthorized"       // no key, or a key that is not valid: 401
	EBUDGET          = "budget_exhausted"   // the org's budget for the service is used up: 402
	EFORBIDDEN       = "forbidden"          // a valid key that may not do this: 403
	ENOTFOUND        = "not_found"          // 404
	EMETHOD          = "method_not_allowed" // the route does not serve this method: 405
	ETIMEOUT         = "timeout"            // the client stalled while sending: 408
	ECONFLICT        = "conflict"           // a unique name is taken, or a request collides with another: 409
	EUNPROCESSABLE   = "unprocessable"      // well-formed, but contradicts what was sent before: 422
	ETOOLARGE        = "too_large"          // a body over its limit: 413
	ETHROTTLED       = "throttled"          // a rate limit, ours or the upstream's: 429
	EINTERNAL        = "internal"           // a bug or an unexpected failure: 500
	EUPSTREAM        = "upstream"           // the upstream failed or answered an error: 502
	EUNAVAILABLE     = "unavailable"        // a dependency of ours is down: 503
	EUPSTREAMTIMEOUT = "upstream_timeout"   // the upstream did not answer in time: 504
)

// Error is an application error: a code and a message safe to show a client.
type Error struct {
	Code    string
	Message string
	// Fields are further members of the answer's JSON body beside the message (for example
	// upstream_status and upstream_body). Never a secret.
	Fields map[string]any
	// RetryAfter, when set, is sent as the Retry-After header (seconds or an HTTP date).
	RetryAfter string
	// Err is the cause, for the log only; it is never shown to a client.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("aiproxy error: code=%s message=%s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("aiproxy error: code=%s message=%s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other
// error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e := AsError(err); e != nil {
		return e.Code
	}
	return EINTERNAL
}

// AsError finds the first *Error in err's chain without the allocation errors.As makes
// (ErrorCode runs on the hot path, for every not-found lookup).
func AsError(err error) *Error {
	for err != nil {
		switch x := err.(type) {
		case *Error:
			return x
		case interface{ Unwrap() error }:
			err = x.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				if found := AsError(e); found != nil {
					return found
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}

// ErrorMessage returns the message of the first *Error in err's chain, or a generic text.
func ErrorMessage(err error) string {
	if e := AsError(err); e != nil {
		return e.Message
	}
	return "Internal error."
}
