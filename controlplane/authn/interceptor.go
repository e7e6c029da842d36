package authn

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// Authenticator checks a bearer credential. A credential that is not good
// (malformed, unknown, expired, revoked) gives a *CredentialError; any other
// error is treated as internal.
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (Principal, error)
}

// CredentialError is an Authenticator's answer for a credential that is not
// good. Reason is sent to the caller ("token expired"), so it must say
// nothing secret.
type CredentialError struct {
	Reason string
}

func (e *CredentialError) Error() string { return e.Reason }

// MissingCredentials is the message for a call without a bearer credential.
const MissingCredentials = "missing credentials: send Authorization: Bearer <token>"

// PublicProcedures are the control plane's calls that need no credentials:
// signing up and in, and the mail-link calls of AccountService, and the
// whole StatusService. An entry ending in "/" names a whole service.
func PublicProcedures() []string {
	return []string{
		controlplanev1connect.AccountServiceSignupProcedure,
		controlplanev1connect.AccountServiceLoginProcedure,
		controlplanev1connect.AccountServiceRefreshProcedure,
		controlplanev1connect.AccountServiceVerifyEmailProcedure,
		controlplanev1connect.AccountServiceRequestPasswordResetProcedure,
		controlplanev1connect.AccountServiceResetPasswordProcedure,
		"/" + controlplanev1connect.StatusServiceName + "/",
	}
}

// InterceptorConfig configures NewInterceptor.
type InterceptorConfig struct {
	// Authenticator checks bearer credentials. Required.
	Authenticator Authenticator
	// Skip lists the procedures the interceptor leaves alone: public calls
	// (see PublicProcedures) and calls authenticated by another scheme
	// (e.g. a data plane's region secret). An entry is a full procedure
	// ("/sovereign.controlplane.v1.AccountService/Login") or, ending in "/",
	// a whole service ("/sovereign.controlplane.v1.StatusService/"). A
	// skipped call carries no Principal even when it sends credentials.
	Skip []string
}

// Interceptor authenticates every call of the handlers it is installed on,
// except the skipped ones: it reads `Authorization: Bearer <token>`, asks
// the Authenticator, and puts the Principal in the context (FromContext).
// Calls without a good credential end with CodeUnauthenticated before the
// handler runs. On clients it does nothing.
type Interceptor struct {
	auth       Authenticator
	procedures map[string]bool
	services   []string
}

var _ connect.Interceptor = (*Interceptor)(nil)

// NewInterceptor returns the interceptor for cfg.
func NewInterceptor(cfg InterceptorConfig) (*Interceptor, error) {
	if cfg.Authenticator == nil {
		return nil, errors.New("authn: an authenticator is required")
	}
	i := &Interceptor{auth: cfg.Authenticator, procedures: make(map[string]bool)}
	for _, p := range cfg.Skip {
		if !strings.HasPrefix(p, "/") {
			return nil, errors.New("authn: skip entry " + p + " must start with /")
		}
		if strings.HasSuffix(p, "/") {
			i.services = append(i.services, p)
		} else {
			i.procedures[p] = true
		}
	}
	return i, nil
}

func (i *Interceptor) skipped(procedure string) bool {
	if i.procedures[procedure] {
		return true
	}
	for _, s := range i.services {
		if strings.HasPrefix(procedure, s) {
			return true
		}
	}
	return false
}

// authenticate returns ctx with the caller's Principal, or a Connect error.
func (i *Interceptor) authenticate(ctx context.Context, procedure string, h http.Header) (context.Context, error) {
	if i.skipped(procedure) {
		return ctx, nil
	}
	bearer, ok := bearerToken(h.Get("Authorization"))
	if !ok {
		return ctx, connect.NewError(connect.CodeUnauthenticated, errors.New(MissingCredentials))
	}
	p, err := i.auth.Authenticate(ctx, bearer)
	if err != nil {
		var ce *CredentialError
		if errors.As(err, &ce) {
			return ctx, connect.NewError(connect.CodeUnauthenticated, errors.New(ce.Reason))
		}
		return ctx, rpcerr.Internal(ctx, err)
	}
	return WithPrincipal(ctx, p), nil
}

// bearerToken extracts the token from an Authorization header value. The
// scheme is case-insensitive (RFC 9110).
func bearerToken(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// WrapUnary implements connect.Interceptor.
func (i *Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, err := i.authenticate(ctx, req.Spec().Procedure, req.Header())
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

// WrapStreamingHandler implements connect.Interceptor with the same check
// as unary calls, made before the handler reads the stream.
func (i *Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := i.authenticate(ctx, conn.Spec().Procedure, conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
