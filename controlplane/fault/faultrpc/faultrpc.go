// Package faultrpc turns the control plane's domain errors into Connect
// errors, at the edge.
package faultrpc

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/controlplane/fault"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
)

var codes = map[fault.Kind]connect.Code{
	fault.Invalid:            connect.CodeInvalidArgument,
	fault.NotFound:           connect.CodeNotFound,
	fault.PermissionDenied:   connect.CodePermissionDenied,
	fault.AlreadyExists:      connect.CodeAlreadyExists,
	fault.FailedPrecondition: connect.CodeFailedPrecondition,
	fault.Unauthenticated:    connect.CodeUnauthenticated,
}

// Error maps a *fault.Error to its Connect code with its message, and
// anything else to rpcerr.Internal, which logs it and answers a bare
// "internal error".
func Error(ctx context.Context, err error) error {
	var fe *fault.Error
	if errors.As(err, &fe) {
		if code, ok := codes[fe.Kind]; ok {
			return connect.NewError(code, errors.New(fe.Msg))
		}
	}
	return rpcerr.Internal(ctx, err)
}
