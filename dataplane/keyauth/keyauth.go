// Package keyauth authenticates the project API keys that tenants' apps send
// to a data plane, at the Connect edge: an interceptor reads the key, checks
// it with package apikeys, and puts the key's identity in the request's
// context for the handlers behind it.
package keyauth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
)

// Header is the header an API key may come in; `Authorization: Bearer` is
// the other place.
const Header = "apikey"

// MissingKeyMessage is the Unauthenticated message for a request without a
// key.
const MissingKeyMessage = "missing API key: send it in the apikey header or Authorization: Bearer"

// Authenticator checks an API key; *apikeys.Keys is one.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (apikeys.Identity, error)
}

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id apikeys.Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity the interceptor put in ctx, and whether
// there is one.
func FromContext(ctx context.Context) (apikeys.Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(apikeys.Identity)
	return id, ok
}

// KeyFromHeader returns the API key in h: the apikey header, else the token
// of `Authorization: Bearer` (the scheme is case-insensitive), else "".
func KeyFromHeader(h http.Header) string {
	if k := strings.TrimSpace(h.Get(Header)); k != "" {
		return k
	}
	return bearer(h)
}

func bearer(h http.Header) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// Interceptor authenticates every call it handles with a project API key;
// build it with NewInterceptor and install it only on tenant-facing services
// (not on AdminService, which takes the region secret).
type Interceptor struct{ auth Authenticator }

// NewInterceptor returns an interceptor that refuses calls without a valid
// key: Unauthenticated for a missing, malformed, unknown, revoked or expired
// key (the message says which), FailedPrecondition when the key's project is
// paused or being deleted. It passes the others on with the key's identity
// in the context (FromContext).
func NewInterceptor(auth Authenticator) *Interceptor { return &Interceptor{auth: auth} }

func (i *Interceptor) authenticate(ctx context.Context, h http.Header) (context.Context, error) {
	key := KeyFromHeader(h)
	if key == "" {
		return ctx, rpcerr.New(connect.CodeUnauthenticated, MissingKeyMessage)
	}
	id, err := i.auth.Authenticate(ctx, key)
	if err != nil {
		return ctx, Error(ctx, err)
	}
	return NewContext(ctx, id), nil
}

// Error maps an error of apikeys.Keys.Authenticate to what the client sees.
func Error(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, apikeys.ErrMalformed), errors.Is(err, apikeys.ErrUnknown),
		errors.Is(err, apikeys.ErrRevoked), errors.Is(err, apikeys.ErrExpired):
		return rpcerr.New(connect.CodeUnauthenticated, err.Error())
	case errors.Is(err, apikeys.ErrProjectPaused), errors.Is(err, apikeys.ErrProjectDeleting),
		errors.Is(err, apikeys.ErrProjectNotReady):
		return rpcerr.New(connect.CodeFailedPrecondition, err.Error())
	}
	return rpcerr.Internal(ctx, err)
}

// WrapUnary implements connect.Interceptor.
func (i *Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, err := i.authenticate(ctx, req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor; clients pass through.
func (i *Interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor.
func (i *Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := i.authenticate(ctx, conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
