package auth

import (
	"context"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/caller"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// AdminHandler serves sovereign.dataplane.v1.AuthAdminService: only the
// service role (a secret key without a user's token) may call it. Mount it
// behind the same interceptors as Handler.
type AdminHandler struct{ svc *Service }

var _ dataplanev1connect.AuthAdminServiceHandler = (*AdminHandler)(nil)

// NewAdminHandler returns the AuthAdminService handler of svc.
func NewAdminHandler(svc *Service) *AdminHandler { return &AdminHandler{svc: svc} }

func admin(ctx context.Context) (string, error) {
	id, err := caller.Service(ctx)
	if err != nil {
		return "", err
	}
	return id.TenantRef, nil
}

func signingKeyPB(k SigningKey) *dataplanev1.SigningKey {
	return &dataplanev1.SigningKey{Kid: k.KID, Alg: k.Alg, CreatedAt: ts(k.CreatedAt), RetiredAt: ts(k.RetiredAt), Current: k.Current}
}

func (h *AdminHandler) ListUsers(ctx context.Context, req *connect.Request[dataplanev1.ListUsersRequest]) (*connect.Response[dataplanev1.ListUsersResponse], error) {
	ref, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	users, next, err := h.svc.UserList(ctx, ref, UserListParams{Limit: int(req.Msg.GetLimit()), Cursor: req.Msg.GetCursor(), EmailPrefix: req.Msg.GetEmailPrefix()})
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	out := &dataplanev1.ListUsersResponse{NextCursor: next}
	for _, u := range users {
		out.Users = append(out.Users, UserPB(u))
	}
	return connect.NewResponse(out), nil
}

func (h *AdminHandler) GetUser(ctx context.Context, req *connect.Request[dataplanev1.AuthAdminServiceGetUserRequest]) (*connect.Response[dataplanev1.AuthAdminServiceGetUserResponse], error) {
	ref, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetId() == "" {
		return nil, rpcerr.New(connect.CodeInvalidArgument, "id: required")
	}
	u, err := h.svc.GetUser(ctx, ref, req.Msg.GetId())
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.AuthAdminServiceGetUserResponse{User: UserPB(u)}), nil
}

func (h *AdminHandler) CreateUser(ctx context.Context, req *connect.Request[dataplanev1.CreateUserRequest]) (*connect.Response[dataplanev1.CreateUserResponse], error) {
	ref, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	u, err := h.svc.UserCreate(ctx, ref, UserCreateParams{Email: m.GetEmail(), Password: m.GetPassword(), EmailVerified: m.GetEmailVerified(), Role: m.GetRole()})
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.CreateUserResponse{User: UserPB(u)}), nil
}

func (h *AdminHandler) DeleteUser(ctx context.Context, req *connect.Request[dataplanev1.DeleteUserRequest]) (*connect.Response[dataplanev1.DeleteUserResponse], error) {
	ref, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetId() == "" {
		return nil, rpcerr.New(connect.CodeInvalidArgument, "id: required")
	}
	if err := h.svc.UserDelete(ctx, ref, req.Msg.GetId()); err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.DeleteUserResponse{}), nil
}

func (h *AdminHandler) UpdateUser(ctx context.Context, req *connect.Request[dataplanev1.AuthAdminServiceUpdateUserRequest]) (*connect.Response[dataplanev1.AuthAdminServiceUpdateUserResponse], error) {
	ref, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.GetId() == "" {
		return nil, rpcerr.New(connect.CodeInvalidArgument, "id: required")
	}
	if m.Disabled == nil && m.Role == nil {
		return nil, rpcerr.New(connect.CodeInvalidArgument, "disabled, role: give at least one to change")
	}
	u, err := h.svc.UserUpdate(ctx, ref, UserUpdateParams{ID: m.GetId(), Disabled: m.Disabled, Role: m.Role})
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.AuthAdminServiceUpdateUserResponse{User: UserPB(u)}), nil
}

func (h *AdminHandler) RevokeSessions(ctx context.Context, req *connect.Request[dataplanev1.RevokeSessionsRequest]) (*connect.Response[dataplanev1.RevokeSessionsResponse], error) {
	ref, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetUserId() == "" {
		return nil, rpcerr.New(connect.CodeInvalidArgument, "user_id: required")
	}
	n, err := h.svc.SessionsRevoke(ctx, ref, req.Msg.GetUserId())
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.RevokeSessionsResponse{Revoked: n}), nil
}

func (h *AdminHandler) ListProviders(ctx context.Context, _ *connect.Request[dataplanev1.ListProvidersRequest]) (*connect.Response[dataplanev1.ListProvidersResponse], error) {
	ref, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	ps, err := h.svc.ProviderList(ctx, ref)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.ListProvidersResponse{Providers: ps}), nil
}

func (h *AdminHandler) SetProvider(ctx context.Context, req *connect.Request[dataplanev1.SetProviderRequest]) (*connect.Response[dataplanev1.SetProviderResponse], error) {
	ref, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	p, err := h.svc.ProviderSet(ctx, ref, req.Msg.GetProvider())
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.SetProviderResponse{Provider: p}), nil
}

func (h *AdminHandler) DeleteProvider(ctx context.Context, req *connect.Request[dataplanev1.DeleteProviderRequest]) (*connect.Response[dataplanev1.DeleteProviderResponse], error) {
	ref, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.svc.ProviderDelete(ctx, ref, req.Msg.GetName()); err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.DeleteProviderResponse{}), nil
}

func (h *AdminHandler) RotateSigningKey(ctx context.Context, _ *connect.Request[dataplanev1.RotateSigningKeyRequest]) (*connect.Response[dataplanev1.RotateSigningKeyResponse], error) {
	ref, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	k, err := h.svc.RotateSigningKey(ctx, ref)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.RotateSigningKeyResponse{Key: signingKeyPB(k)}), nil
}

func (h *AdminHandler) ListSigningKeys(ctx context.Context, _ *connect.Request[dataplanev1.ListSigningKeysRequest]) (*connect.Response[dataplanev1.ListSigningKeysResponse], error) {
	ref, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := h.svc.ListSigningKeys(ctx, ref)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	out := &dataplanev1.ListSigningKeysResponse{}
	for _, k := range keys {
		out.Keys = append(out.Keys, signingKeyPB(k))
	}
	return connect.NewResponse(out), nil
}
