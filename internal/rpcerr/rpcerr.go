// Package rpcerr turns errors into what a client may see. Domain packages
// return their own errors; handlers map the ones a person can act on to
// Connect codes, and hand everything else to Internal, which logs it with the
// request id and answers a bare "internal error" that leaks no SQL, stack or
// other tenant's data.
package rpcerr

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/internal/httpserver"
)

// Internal logs err with the request's logger and returns a CodeInternal
// error that names only the request id.
func Internal(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	if errors.Is(err, context.Canceled) {
		return connect.NewError(connect.CodeCanceled, errors.New("the request was canceled"))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("the request ran out of time"))
	}
	id := httpserver.RequestID(ctx)
	httpserver.Logger(ctx).Error("internal error", "err", err.Error())
	msg := "internal error"
	if id != "" {
		msg += " (request id " + id + ")"
	}
	return connect.NewError(connect.CodeInternal, errors.New(msg))
}

// New is connect.NewError with a plain message, for errors meant for the
// client.
func New(code connect.Code, msg string) error {
	return connect.NewError(code, errors.New(msg))
}
