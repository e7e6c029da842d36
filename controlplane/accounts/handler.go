package accounts

import (
	"context"
	"errors"
	"net"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/controlplane/authn"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// Handler serves sovereign.controlplane.v1.AccountService. Mount it behind
// authn's Interceptor with PublicProcedures skipped: every other call
// expects a Principal in its context.
type Handler struct {
	svc *Service
}

var _ controlplanev1connect.AccountServiceHandler = (*Handler)(nil)

// NewHandler returns the Connect handler for svc.
func NewHandler(svc *Service) *Handler { return &Handler{svc: svc} }

// toConnect maps the domain's errors to Connect codes; anything else is
// internal and is logged, not shown.
func toConnect(ctx context.Context, err error) error {
	var (
		ie *InputError
		te *ThrottledError
		ce *authn.CredentialError
	)
	switch {
	case errors.As(err, &ie):
		return rpcerr.New(connect.CodeInvalidArgument, ie.Error())
	case errors.As(err, &te):
		return rpcerr.New(connect.CodeResourceExhausted, te.Error())
	case errors.As(err, &ce):
		return rpcerr.New(connect.CodeUnauthenticated, ce.Reason)
	case errors.Is(err, ErrWrongCredentials), errors.Is(err, ErrRefreshReuse):
		return rpcerr.New(connect.CodeUnauthenticated, err.Error())
	case errors.Is(err, ErrEmailTaken), errors.Is(err, ErrTokenNameTaken):
		return rpcerr.New(connect.CodeAlreadyExists, err.Error())
	case errors.Is(err, ErrTokenNotFound):
		return rpcerr.New(connect.CodeNotFound, err.Error())
	case errors.Is(err, ErrAlreadyVerified), errors.Is(err, ErrNotSession):
		return rpcerr.New(connect.CodeFailedPrecondition, err.Error())
	case errors.Is(err, ErrMailNotSent):
		return rpcerr.New(connect.CodeUnavailable, err.Error())
	}
	return rpcerr.Internal(ctx, err)
}

// caller returns the Principal the interceptor put in ctx.
func caller(ctx context.Context) (authn.Principal, error) {
	p, ok := authn.FromContext(ctx)
	if !ok {
		return p, rpcerr.New(connect.CodeUnauthenticated, authn.MissingCredentials)
	}
	return p, nil
}

// clientIP is the host part of the peer address. Behind a reverse proxy it
// is the proxy's; the proxy must then do its own per-client limiting.
func clientIP(peer connect.Peer) string {
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

func accountPB(a Account) *controlplanev1.Account {
	return &controlplanev1.Account{Id: a.ID, Email: a.Email, EmailVerified: a.EmailVerified, CreatedAt: ts(a.CreatedAt)}
}

func sessionPB(s Session) *controlplanev1.Session {
	return &controlplanev1.Session{
		AccessToken: s.AccessToken, AccessExpiresAt: ts(s.AccessExpiresAt),
		RefreshToken: s.RefreshToken, RefreshExpiresAt: ts(s.RefreshExpiresAt),
		Account: accountPB(s.Account),
	}
}

func patPB(t PersonalAccessToken) *controlplanev1.PersonalAccessToken {
	return &controlplanev1.PersonalAccessToken{
		Id: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: ts(t.CreatedAt),
		ExpiresAt: ts(t.ExpiresAt), LastUsedAt: ts(t.LastUsedAt), RevokedAt: ts(t.RevokedAt),
	}
}

func (h *Handler) Signup(ctx context.Context, req *connect.Request[controlplanev1.SignupRequest]) (*connect.Response[controlplanev1.SignupResponse], error) {
	s, err := h.svc.Signup(ctx, SignupParams{Email: req.Msg.GetEmail(), Password: req.Msg.GetPassword(), ClientIP: clientIP(req.Peer())})
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.SignupResponse{Account: accountPB(s.Account), Session: sessionPB(s)}), nil
}

func (h *Handler) Login(ctx context.Context, req *connect.Request[controlplanev1.LoginRequest]) (*connect.Response[controlplanev1.LoginResponse], error) {
	s, err := h.svc.Login(ctx, LoginParams{Email: req.Msg.GetEmail(), Password: req.Msg.GetPassword(), ClientIP: clientIP(req.Peer())})
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.LoginResponse{Session: sessionPB(s)}), nil
}

func (h *Handler) Refresh(ctx context.Context, req *connect.Request[controlplanev1.RefreshRequest]) (*connect.Response[controlplanev1.RefreshResponse], error) {
	s, err := h.svc.Refresh(ctx, req.Msg.GetRefreshToken())
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.RefreshResponse{Session: sessionPB(s)}), nil
}

func (h *Handler) Logout(ctx context.Context, _ *connect.Request[controlplanev1.LogoutRequest]) (*connect.Response[controlplanev1.LogoutResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.svc.Logout(ctx, p); err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.LogoutResponse{}), nil
}

func (h *Handler) WhoAmI(ctx context.Context, _ *connect.Request[controlplanev1.WhoAmIRequest]) (*connect.Response[controlplanev1.WhoAmIResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	a, err := h.svc.WhoAmI(ctx, p)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.WhoAmIResponse{Account: accountPB(a), Credential: p.Credential}), nil
}

func (h *Handler) RequestEmailVerification(ctx context.Context, _ *connect.Request[controlplanev1.RequestEmailVerificationRequest]) (*connect.Response[controlplanev1.RequestEmailVerificationResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.svc.RequestEmailVerification(ctx, p); err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.RequestEmailVerificationResponse{}), nil
}

func (h *Handler) VerifyEmail(ctx context.Context, req *connect.Request[controlplanev1.VerifyEmailRequest]) (*connect.Response[controlplanev1.VerifyEmailResponse], error) {
	a, err := h.svc.VerifyEmail(ctx, req.Msg.GetToken())
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.VerifyEmailResponse{Account: accountPB(a)}), nil
}

func (h *Handler) RequestPasswordReset(ctx context.Context, req *connect.Request[controlplanev1.RequestPasswordResetRequest]) (*connect.Response[controlplanev1.RequestPasswordResetResponse], error) {
	err := h.svc.RequestPasswordReset(ctx, RequestPasswordResetParams{Email: req.Msg.GetEmail(), ClientIP: clientIP(req.Peer())})
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.RequestPasswordResetResponse{}), nil
}

func (h *Handler) ResetPassword(ctx context.Context, req *connect.Request[controlplanev1.ResetPasswordRequest]) (*connect.Response[controlplanev1.ResetPasswordResponse], error) {
	if err := h.svc.ResetPassword(ctx, req.Msg.GetToken(), req.Msg.GetNewPassword()); err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.ResetPasswordResponse{}), nil
}

func (h *Handler) CreateToken(ctx context.Context, req *connect.Request[controlplanev1.CreateTokenRequest]) (*connect.Response[controlplanev1.CreateTokenResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	ttl := req.Msg.GetTtlSeconds()
	if ttl > int64(maxTTLSeconds) { // keeps the Duration below from overflowing
		ttl = int64(maxTTLSeconds)
	}
	t, secret, err := h.svc.CreateToken(ctx, p, CreateTokenParams{Name: req.Msg.GetName(), TTL: time.Duration(ttl) * time.Second})
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.CreateTokenResponse{Token: patPB(t), Secret: secret}), nil
}

// maxTTLSeconds is far above any MaxTokenTTL and far below overflow.
const maxTTLSeconds = 100 * 365 * 24 * 3600

func (h *Handler) ListTokens(ctx context.Context, _ *connect.Request[controlplanev1.ListTokensRequest]) (*connect.Response[controlplanev1.ListTokensResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.svc.ListTokens(ctx, p)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	resp := &controlplanev1.ListTokensResponse{Tokens: make([]*controlplanev1.PersonalAccessToken, 0, len(list))}
	for _, t := range list {
		resp.Tokens = append(resp.Tokens, patPB(t))
	}
	return connect.NewResponse(resp), nil
}

func (h *Handler) RevokeToken(ctx context.Context, req *connect.Request[controlplanev1.RevokeTokenRequest]) (*connect.Response[controlplanev1.RevokeTokenResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.svc.RevokeToken(ctx, p, req.Msg.GetId()); err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.RevokeTokenResponse{}), nil
}
