package auth

import (
	"context"
	"net/http"
	"strings"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/caller"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// AuthenticateUser finds the signed-in user of a request whose API key
// keyauth has already put in ctx. When `Authorization: Bearer` holds a JWT
// and the apikey header holds the key, the JWT is verified as an access
// token of the key's project and the user goes into the returned context
// (caller.WithUser). A bearer that is the API key itself (no apikey header,
// or the same value) means no user. Any other bearer is refused:
// Unauthenticated with the reason ("token expired", "invalid token
// signature", …).
func (s *Service) AuthenticateUser(ctx context.Context, h http.Header) (context.Context, error) {
	k, ok := keyauth.FromContext(ctx)
	if !ok {
		return ctx, nil
	}
	bearer := bearerToken(h)
	key := strings.TrimSpace(h.Get(keyauth.Header))
	if bearer == "" || key == "" || bearer == key {
		return ctx, nil
	}
	if !IsJWT(bearer) {
		if token.KindOf(bearer, token.RefreshToken) != "" {
			return ctx, rpcerr.New(connect.CodeUnauthenticated, ReasonRefreshToken)
		}
		return ctx, rpcerr.New(connect.CodeUnauthenticated, ReasonBearer)
	}
	u, err := s.VerifyAccessToken(ctx, k.TenantRef, bearer)
	if err != nil {
		return ctx, toConnect(ctx, err)
	}
	return caller.WithUser(ctx, u), nil
}

func bearerToken(h http.Header) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// Interceptor verifies end users' access tokens with AuthenticateUser.
// Install it after keyauth's interceptor (which must run first, to name the
// project) on every tenant-facing service.
func (s *Service) Interceptor() connect.Interceptor { return &interceptor{svc: s} }

type interceptor struct{ svc *Service }

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, err := i.svc.AuthenticateUser(ctx, req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := i.svc.AuthenticateUser(ctx, conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
