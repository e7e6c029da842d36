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
	CodeInvalidArgument    = connect.CodeInvalidArgument
	CodeNotFound           = connect.CodeNotFound
	CodeAlreadyExists      = connect.CodeAlreadyExists
	CodePermissionDenied   = connect.CodePermissionDenied
	CodeUnauthenticated    = connect.CodeUnauthenticated
	CodeResourceExhausted  = connect.CodeResourceExhausted
	CodeFailedPrecondition = connect.CodeFailedPrecondition
	CodeAborted            = connect.CodeAborted
	CodeUnavailable        = connect.CodeUnavailable
	CodeInternal           = connect.CodeInternal
)

// Error is an error the platform answered with, or a failure to reach it
// (CodeUnavailable). Use errors.As to get one:
//
//	var e *sovereign.Error
//	if errors.As(err, &e) && e.Code == sovereign.CodeNotFound { … }
type Error struct {
	// Code classifies the error.
	Code Code
	// Message is the platform's explanation, written for a person.
	Message string
	// Procedure is the RPC that failed, e.g.
	// "/sovereign.controlplane.v1.StatusService/GetStatus".
	Procedure string
	err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("sovereign: %s: %s", e.Code, e.Message)
}

// Unwrap returns the transport error underneath.
func (e *Error) Unwrap() error { return e.err }

// wrapErr turns a connect error into an *Error; other errors pass through.
func wrapErr(procedure string, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return &Error{Code: ce.Code(), Message: ce.Message(), Procedure: procedure, err: err}
	}
	return err
}
