package auth

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/dataplane/caller"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Handler serves sovereign.dataplane.v1.AuthService. Mount it behind
// keyauth's interceptor and this package's (Service.Interceptor), in that
// order:
//
//	opts := connect.WithInterceptors(keyauth.NewInterceptor(keys), authSvc.Interceptor())
//	mux.Handle(dataplanev1connect.NewAuthServiceHandler(auth.NewHandler(authSvc), opts))
type Handler struct{ svc *Service }

var _ dataplanev1connect.AuthServiceHandler = (*Handler)(nil)

// NewHandler returns the AuthService handler of svc.
func NewHandler(svc *Service) *Handler { return &Handler{svc: svc} }

// MissingUserMessage answers a call that needs a signed-in user without one.
const MissingUserMessage = "sign in first: send the user's access token in Authorization: Bearer and the project key in the apikey header"

// toConnect maps the domain's errors to Connect codes; anything else is
// internal, logged and not shown.
func toConnect(ctx context.Context, err error) error {
	var (
		ie *InputError
		ce *CredentialError
		te *ThrottledError
		xe *connect.Error
	)
	switch {
	case errors.As(err, &ie):
		return rpcerr.New(connect.CodeInvalidArgument, ie.Error())
	case errors.As(err, &te):
		return rpcerr.New(connect.CodeResourceExhausted, te.Error())
	case errors.Is(err, ErrThrottled):
		return rpcerr.New(connect.CodeResourceExhausted, err.Error())
	case errors.As(err, &ce):
		return rpcerr.New(connect.CodeUnauthenticated, ce.Reason)
	case errors.Is(err, ErrWrongCredentials), errors.Is(err, ErrRefreshReuse), errors.Is(err, ErrWrongCode):
		return rpcerr.New(connect.CodeUnauthenticated, err.Error())
	case errors.Is(err, ErrEmailTaken):
		return rpcerr.New(connect.CodeAlreadyExists, err.Error())
	case errors.Is(err, ErrUserDisabled), errors.Is(err, ErrMFARequired):
		return rpcerr.New(connect.CodePermissionDenied, err.Error())
	case errors.Is(err, ErrNotFound):
		return rpcerr.New(connect.CodeNotFound, err.Error())
	case errors.Is(err, ErrMFAUnavailable), errors.Is(err, ErrOAuthUnavailable):
		return rpcerr.New(connect.CodeUnimplemented, err.Error())
	case errors.Is(err, ErrFactorState):
		return rpcerr.New(connect.CodeFailedPrecondition, strings.TrimPrefix(err.Error(), ErrFactorState.Error()+": "))
	case errors.Is(err, ErrProviderFailed):
		return rpcerr.New(connect.CodeUnavailable, err.Error())
	case errors.As(err, &xe):
		return xe
	}
	return rpcerr.Internal(ctx, err)
}

// project returns the ref of the request's API key.
func project(ctx context.Context) (string, error) {
	k, ok := keyauth.FromContext(ctx)
	if !ok {
		return "", rpcerr.New(connect.CodeUnauthenticated, keyauth.MissingKeyMessage)
	}
	return k.TenantRef, nil
}

// signedIn returns the project and the signed-in user.
func signedIn(ctx context.Context) (string, caller.User, error) {
	ref, err := project(ctx)
	if err != nil {
		return "", caller.User{}, err
	}
	u, ok := caller.UserFromContext(ctx)
	if !ok {
		return "", caller.User{}, rpcerr.New(connect.CodeUnauthenticated, MissingUserMessage)
	}
	return ref, u, nil
}

type clientIPKey struct{}

// WithClientIP returns ctx carrying the client's address, for a transport
// that calls the handler in process (the REST face), where the Connect
// request has no peer.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// clientIP is the client's address: the one the REST face recorded, else
// the host part of the peer address. Behind a reverse proxy it is the
// proxy's, which must then do its own per-client limiting.
func clientIP(ctx context.Context, peer connect.Peer) string {
	if ip, ok := ctx.Value(clientIPKey{}).(string); ok {
		return ip
	}
	host, _, err := net.SplitHostPort(peer.Addr)
	if err != nil {
		return peer.Addr
	}
	return host
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// UserPB is the wire form of u.
func UserPB(u User) *dataplanev1.User {
	return &dataplanev1.User{
		Id: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Anonymous: u.Anonymous, Role: u.Role,
		MfaEnabled: u.MFAEnabled, Disabled: u.Disabled, CreatedAt: ts(u.CreatedAt), LastSignInAt: ts(u.LastSignInAt),
		Providers: u.Providers,
	}
}

func sessionPB(s Session) *dataplanev1.Session {
	return &dataplanev1.Session{
		AccessToken: s.AccessToken, AccessExpiresAt: ts(s.AccessExpiresAt),
		RefreshToken: s.RefreshToken, RefreshExpiresAt: ts(s.RefreshExpiresAt),
		Aal: s.AAL, User: UserPB(s.User),
	}
}

// Grant types of Token.
const (
	GrantPassword     = "password"
	GrantRefreshToken = "refresh_token"
	GrantAnonymous    = "anonymous"
)

func (h *Handler) SignUp(ctx context.Context, req *connect.Request[dataplanev1.SignUpRequest]) (*connect.Response[dataplanev1.SignUpResponse], error) {
	ref, err := project(ctx)
	if err != nil {
		return nil, err
	}
	s, err := h.svc.SignUp(ctx, ref, SignUpParams{Email: req.Msg.GetEmail(), Password: req.Msg.GetPassword(), ClientIP: clientIP(ctx, req.Peer())})
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.SignUpResponse{Session: sessionPB(s)}), nil
}

func (h *Handler) Token(ctx context.Context, req *connect.Request[dataplanev1.TokenRequest]) (*connect.Response[dataplanev1.TokenResponse], error) {
	ref, err := project(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	var (
		s   Session
		mfa bool
	)
	switch m.GetGrantType() {
	case GrantPassword:
		s, mfa, err = h.svc.SignInPassword(ctx, ref, SignInParams{Email: m.GetEmail(), Password: m.GetPassword(), ClientIP: clientIP(ctx, req.Peer())})
	case GrantRefreshToken:
		if m.GetRefreshToken() == "" {
			return nil, rpcerr.New(connect.CodeInvalidArgument, "refresh_token: required for grant_type refresh_token")
		}
		s, err = h.svc.Refresh(ctx, ref, m.GetRefreshToken())
	case GrantAnonymous:
		s, err = h.svc.SignInAnonymous(ctx, ref, clientIP(ctx, req.Peer()))
	case "":
		return nil, rpcerr.New(connect.CodeInvalidArgument, `grant_type: required: "password", "refresh_token" or "anonymous"`)
	default:
		return nil, rpcerr.New(connect.CodeInvalidArgument, `grant_type: must be "password", "refresh_token" or "anonymous", got "`+m.GetGrantType()+`"`)
	}
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.TokenResponse{Session: sessionPB(s), MfaRequired: mfa && s.AAL != AAL2}), nil
}

func (h *Handler) SignOut(ctx context.Context, req *connect.Request[dataplanev1.SignOutRequest]) (*connect.Response[dataplanev1.SignOutResponse], error) {
	ref, u, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	var all bool
	switch req.Msg.GetScope() {
	case "", "session":
	case "all":
		all = true
	default:
		return nil, rpcerr.New(connect.CodeInvalidArgument, `scope: must be "session" or "all", got "`+req.Msg.GetScope()+`"`)
	}
	if err := h.svc.SignOut(ctx, ref, u, all); err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.SignOutResponse{}), nil
}

func (h *Handler) GetUser(ctx context.Context, _ *connect.Request[dataplanev1.GetUserRequest]) (*connect.Response[dataplanev1.GetUserResponse], error) {
	ref, u, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	user, err := h.svc.GetUser(ctx, ref, u.ID)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.GetUserResponse{User: UserPB(user)}), nil
}

func (h *Handler) UpdateUser(ctx context.Context, req *connect.Request[dataplanev1.UpdateUserRequest]) (*connect.Response[dataplanev1.UpdateUserResponse], error) {
	ref, u, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	user, err := h.svc.UpdateUser(ctx, ref, u, UpdateUserParams{Email: req.Msg.GetEmail(), Password: req.Msg.GetPassword()})
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.UpdateUserResponse{User: UserPB(user)}), nil
}

func (h *Handler) Recover(ctx context.Context, req *connect.Request[dataplanev1.RecoverRequest]) (*connect.Response[dataplanev1.RecoverResponse], error) {
	ref, err := project(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.svc.Recover(ctx, ref, RecoverParams{Email: req.Msg.GetEmail(), ClientIP: clientIP(ctx, req.Peer())}); err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.RecoverResponse{}), nil
}

func (h *Handler) Verify(ctx context.Context, req *connect.Request[dataplanev1.VerifyRequest]) (*connect.Response[dataplanev1.VerifyResponse], error) {
	ref, err := project(ctx)
	if err != nil {
		return nil, err
	}
	u, err := h.svc.Verify(ctx, ref, VerifyParams{Type: req.Msg.GetType(), Token: req.Msg.GetToken(), NewPassword: req.Msg.GetNewPassword()})
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.VerifyResponse{User: UserPB(u)}), nil
}

func (h *Handler) MfaEnroll(ctx context.Context, _ *connect.Request[dataplanev1.MfaEnrollRequest]) (*connect.Response[dataplanev1.MfaEnrollResponse], error) {
	ref, u, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	e, err := h.svc.MFAEnroll(ctx, ref, u)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.MfaEnrollResponse{Secret: e.Secret, Uri: e.URI, RecoveryCodes: e.RecoveryCodes}), nil
}

func (h *Handler) MfaVerify(ctx context.Context, req *connect.Request[dataplanev1.MfaVerifyRequest]) (*connect.Response[dataplanev1.MfaVerifyResponse], error) {
	ref, u, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	s, err := h.svc.MFAVerify(ctx, ref, u, req.Msg.GetCode(), clientIP(ctx, req.Peer()))
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.MfaVerifyResponse{Session: sessionPB(s)}), nil
}

func (h *Handler) Authorize(ctx context.Context, req *connect.Request[dataplanev1.AuthorizeRequest]) (*connect.Response[dataplanev1.AuthorizeResponse], error) {
	ref, err := project(ctx)
	if err != nil {
		return nil, err
	}
	url, err := h.svc.Authorize(ctx, ref, req.Msg.GetProvider(), req.Msg.GetRedirectTo())
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.AuthorizeResponse{Url: url}), nil
}

func (h *Handler) Callback(ctx context.Context, req *connect.Request[dataplanev1.CallbackRequest]) (*connect.Response[dataplanev1.CallbackResponse], error) {
	ref, err := project(ctx)
	if err != nil {
		return nil, err
	}
	s, redirectTo, err := h.svc.Callback(ctx, ref, req.Msg.GetCode(), req.Msg.GetState())
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.CallbackResponse{Session: sessionPB(s), RedirectTo: redirectTo}), nil
}
