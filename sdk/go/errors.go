package sovereign

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"
)

// Code classifies an error the platform answered with. Its values are
// Connect's codes, so they map one to one onto gRPC codes and HTTP statuses.
type Code = connect.Code

// Codes callers commonly branch on.
const (
	CodeCanceled           = connect.CodeCanceled
	CodeInvalidArgument    = connect.CodeInvalidArgument
	CodeDeadlineExceeded   = connect.CodeDeadlineExceeded
	CodeNotFound           = connect.CodeNotFound
	CodeAlreadyExists      = connect.CodeAlreadyExists
	CodePermissionDenied   = connect.CodePermissionDenied
	CodeUnauthenticated    = connect.CodeUnauthenticated
	CodeResourceExhausted  = connect.CodeResourceExhausted
	CodeFailedPrecondition = connect.CodeFailedPrecondition
	CodeAborted            = connect.CodeAborted
	CodeUnavailable        = connect.CodeUnavailable
	CodeUnimplemented      = connect.CodeUnimplemented
	CodeInternal           = connect.CodeInternal
)

// Error is an error the platform answered with, or a failure to reach it
// (CodeUnavailable). Use errors.As to get one:
//
//	var e *sovereign.Error
//	if errors.As(err, &e) && e.Code == sovereign.CodeNotFound { … }
//
// or one of the helpers: [IsNotFound], [IsAlreadyExists], [IsConflict],
// [IsInvalidArgument], [IsUnauthenticated], [IsPermissionDenied],
// [ErrorCode].
type Error struct {
	// Code classifies the error.
	Code Code
	// Message is the platform's explanation, written for a person.
	Message string
	// Procedure is the RPC that failed, e.g.
	// "/sovereign.controlplane.v1.StatusService/GetStatus"; empty for an
	// argument the SDK refused before sending anything.
	Procedure string
	err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("sovereign: %s: %s", e.Code, e.Message)
}

// Unwrap returns the transport error underneath.
func (e *Error) Unwrap() error { return e.err }

// ErrorCode returns the code of the *Error in err's chain, and false when
// there is none (nil, or an error that did not come from the platform).
func ErrorCode(err error) (Code, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, true
	}
	return 0, false
}

// IsNotFound reports whether err is the platform saying that the thing named
// does not exist, or is not visible to the caller.
func IsNotFound(err error) bool { return hasCode(err, CodeNotFound) }

// IsAlreadyExists reports whether err is the platform refusing to create
// something that exists (an email with an account, a taken project name).
func IsAlreadyExists(err error) bool { return hasCode(err, CodeAlreadyExists) }

// IsConflict reports whether err is the platform refusing a write because
// the record changed since it was read: its version is no longer the one
// the write expected ([ExpectVersion]). Read the record again, reapply the
// change and retry.
func IsConflict(err error) bool { return hasCode(err, CodeAborted) }

// IsInvalidArgument reports whether err is a request the platform (or the
// SDK, before sending it) refused as malformed: an unknown field or a value
// of the wrong type, a filter that does not parse or type-check, a bad
// name. The message names the field or the position at fault.
func IsInvalidArgument(err error) bool { return hasCode(err, CodeInvalidArgument) }

// IsUnauthenticated reports whether err is the platform refusing the
// credentials: missing, malformed, expired or revoked.
func IsUnauthenticated(err error) bool { return hasCode(err, CodeUnauthenticated) }

// IsPermissionDenied reports whether err is the platform refusing an action
// above the caller's role.
func IsPermissionDenied(err error) bool { return hasCode(err, CodePermissionDenied) }

func hasCode(err error, c Code) bool {
	code, ok := ErrorCode(err)
	return ok && code == c
}

// invalidArgument is an argument the SDK refuses before sending it.
func invalidArgument(format string, a ...any) error {
	return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf(format, a...)}
}

func asConnectError(err error) (*connect.Error, bool) {
	var ce *connect.Error
	ok := errors.As(err, &ce)
	return ce, ok
}

// wrapErr turns a connect error into an *Error; other errors pass through.
func wrapErr(procedure string, err error) error {
	if err == nil {
		return nil
	}
	if ce, ok := asConnectError(err); ok {
		return &Error{Code: ce.Code(), Message: ce.Message(), Procedure: procedure, err: err}
	}
	return err
}

// errMessage is the message of the *Error in err's chain, else err's text.
func errMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
