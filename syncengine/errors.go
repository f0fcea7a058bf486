package syncengine

import (
	"errors"
	"fmt"
)

// Code classifies a domain error. The server translates each code to a
// Connect code in exactly one place (server/errors.go).
type Code int

const (
	// CodeInternal is a fault of ours: storage failed, an invariant broke.
	CodeInternal Code = iota
	// CodeInvalid is malformed or rule-breaking input.
	CodeInvalid
	// CodeNotFound is a missing (or invisible to the caller) entity.
	CodeNotFound
	// CodeAlreadyExists is a create that collides with an existing entity.
	CodeAlreadyExists
	// CodeUnauthenticated is a missing, unknown, revoked or malformed credential.
	CodeUnauthenticated
	// CodePermissionDenied is a known caller acting outside its permissions.
	CodePermissionDenied
	// CodeSequenceGap is a push whose seq skips ahead; Detail says where to resume.
	CodeSequenceGap
	// CodeResyncRequired is a cursor that cannot be served; start over.
	CodeResyncRequired
	// CodeWrongOffset is an upload chunk at the wrong offset; Detail has the right one.
	CodeWrongOffset
	// CodeFailedPrecondition is a request the current state does not allow.
	CodeFailedPrecondition
	// CodeResourceExhausted is a limit reached (size, count, rate).
	CodeResourceExhausted
	// CodeDataLoss is corrupted input (a checksum mismatch).
	CodeDataLoss
	// CodeUnavailable is a dependency that is down for now; retry later.
	CodeUnavailable
)

// Error is a domain error: a code, a message for the caller, and an
// optional structured detail (a protobuf message the server attaches).
type Error struct {
	Code    Code
	Message string
	Detail  any
	Err     error // wrapped cause, not shown to callers
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf makes a domain error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetail returns e carrying a structured detail.
func (e *Error) WithDetail(d any) *Error {
	e.Detail = d
	return e
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal when there is none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsCode reports whether err carries code.
func IsCode(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
