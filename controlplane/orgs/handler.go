package orgs

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/controlplane/authn"
	"github.com/sovereign-backend/sovereign/controlplane/fault/faultrpc"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// Handler serves OrganizationService. Every call needs the authn
// interceptor to have put a Principal in the context.
type Handler struct {
	svc *Service
}

var _ controlplanev1connect.OrganizationServiceHandler = (*Handler)(nil)

// NewHandler returns the OrganizationService handler over svc.
func NewHandler(svc *Service) *Handler { return &Handler{svc: svc} }

// CallerFrom returns the signed-in caller, or an Unauthenticated error.
func CallerFrom(ctx context.Context) (Caller, error) {
	p, ok := authn.FromContext(ctx)
	if !ok || p.AccountID == "" {
		return Caller{}, connect.NewError(connect.CodeUnauthenticated, errors.New("sign in first: this call needs an access token or a personal access token"))
	}
	return Caller{AccountID: p.AccountID, Email: p.Email}, nil
}

var roleToProto = map[Role]controlplanev1.Role{
	Owner:     controlplanev1.Role_ROLE_OWNER,
	Admin:     controlplanev1.Role_ROLE_ADMIN,
	Developer: controlplanev1.Role_ROLE_DEVELOPER,
	Viewer:    controlplanev1.Role_ROLE_VIEWER,
}

// RoleToProto converts a Role to the wire enum.
func RoleToProto(r Role) controlplanev1.Role { return roleToProto[r] }

// RoleFromProto converts the wire enum to a Role; ROLE_UNSPECIFIED and
// unknown values give "", which is not Valid.
func RoleFromProto(r controlplanev1.Role) Role {
	for k, v := range roleToProto {
		if v == r {
			return k
		}
	}
	return ""
}

func orgToProto(o Organization) *controlplanev1.Organization {
	return &controlplanev1.Organization{
		Id:        o.ID,
		Name:      o.Name,
		Plan:      o.Plan,
		Role:      RoleToProto(o.Role),
		CreatedAt: timestamppb.New(o.CreatedAt),
	}
}

func memberToProto(m Member) *controlplanev1.Member {
	return &controlplanev1.Member{
		AccountId: m.AccountID,
		Email:     m.Email,
		Role:      RoleToProto(m.Role),
		JoinedAt:  timestamppb.New(m.JoinedAt),
	}
}

func invitationToProto(i Invitation) *controlplanev1.Invitation {
	return &controlplanev1.Invitation{
		Id:        i.ID,
		Email:     i.Email,
		Role:      RoleToProto(i.Role),
		ExpiresAt: timestamppb.New(i.ExpiresAt),
	}
}

func (h *Handler) CreateOrganization(ctx context.Context, req *connect.Request[controlplanev1.CreateOrganizationRequest]) (*connect.Response[controlplanev1.CreateOrganizationResponse], error) {
	c, err := CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	o, err := h.svc.OrganizationCreate(ctx, c, req.Msg.GetName())
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.CreateOrganizationResponse{Organization: orgToProto(o)}), nil
}

func (h *Handler) ListOrganizations(ctx context.Context, _ *connect.Request[controlplanev1.ListOrganizationsRequest]) (*connect.Response[controlplanev1.ListOrganizationsResponse], error) {
	c, err := CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.svc.OrganizationList(ctx, c)
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	out := make([]*controlplanev1.Organization, len(list))
	for i, o := range list {
		out[i] = orgToProto(o)
	}
	return connect.NewResponse(&controlplanev1.ListOrganizationsResponse{Organizations: out}), nil
}

func (h *Handler) GetOrganization(ctx context.Context, req *connect.Request[controlplanev1.GetOrganizationRequest]) (*connect.Response[controlplanev1.GetOrganizationResponse], error) {
	c, err := CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	o, err := h.svc.OrganizationGet(ctx, c, req.Msg.GetId())
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.GetOrganizationResponse{Organization: orgToProto(o)}), nil
}

func (h *Handler) UpdateOrganization(ctx context.Context, req *connect.Request[controlplanev1.UpdateOrganizationRequest]) (*connect.Response[controlplanev1.UpdateOrganizationResponse], error) {
	c, err := CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	o, err := h.svc.OrganizationUpdate(ctx, c, OrganizationUpdateRequest{
		ID: req.Msg.GetId(), Name: req.Msg.GetName(), Plan: req.Msg.GetPlan(),
	})
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.UpdateOrganizationResponse{Organization: orgToProto(o)}), nil
}

func (h *Handler) DeleteOrganization(ctx context.Context, req *connect.Request[controlplanev1.DeleteOrganizationRequest]) (*connect.Response[controlplanev1.DeleteOrganizationResponse], error) {
	c, err := CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.svc.OrganizationDelete(ctx, c, req.Msg.GetId()); err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.DeleteOrganizationResponse{}), nil
}

func (h *Handler) ListMembers(ctx context.Context, req *connect.Request[controlplanev1.ListMembersRequest]) (*connect.Response[controlplanev1.ListMembersResponse], error) {
	c, err := CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	members, invs, err := h.svc.MemberList(ctx, c, req.Msg.GetOrganizationId())
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	resp := &controlplanev1.ListMembersResponse{
		Members:     make([]*controlplanev1.Member, len(members)),
		Invitations: make([]*controlplanev1.Invitation, len(invs)),
	}
	for i, m := range members {
		resp.Members[i] = memberToProto(m)
	}
	for i, inv := range invs {
		resp.Invitations[i] = invitationToProto(inv)
	}
	return connect.NewResponse(resp), nil
}

func (h *Handler) InviteMember(ctx context.Context, req *connect.Request[controlplanev1.InviteMemberRequest]) (*connect.Response[controlplanev1.InviteMemberResponse], error) {
	c, err := CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	inv, tok, err := h.svc.MemberInvite(ctx, c, MemberInviteRequest{
		OrganizationID: req.Msg.GetOrganizationId(),
		Email:          req.Msg.GetEmail(),
		Role:           RoleFromProto(req.Msg.GetRole()),
	})
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.InviteMemberResponse{Invitation: invitationToProto(inv), Token: tok}), nil
}

func (h *Handler) AcceptInvitation(ctx context.Context, req *connect.Request[controlplanev1.AcceptInvitationRequest]) (*connect.Response[controlplanev1.AcceptInvitationResponse], error) {
	c, err := CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	o, err := h.svc.InvitationAccept(ctx, c, req.Msg.GetToken())
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.AcceptInvitationResponse{Organization: orgToProto(o)}), nil
}

func (h *Handler) UpdateMemberRole(ctx context.Context, req *connect.Request[controlplanev1.UpdateMemberRoleRequest]) (*connect.Response[controlplanev1.UpdateMemberRoleResponse], error) {
	c, err := CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	m, err := h.svc.MemberRoleUpdate(ctx, c, MemberRoleUpdateRequest{
		OrganizationID: req.Msg.GetOrganizationId(),
		AccountID:      req.Msg.GetAccountId(),
		Role:           RoleFromProto(req.Msg.GetRole()),
	})
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.UpdateMemberRoleResponse{Member: memberToProto(m)}), nil
}

func (h *Handler) RemoveMember(ctx context.Context, req *connect.Request[controlplanev1.RemoveMemberRequest]) (*connect.Response[controlplanev1.RemoveMemberResponse], error) {
	c, err := CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.svc.MemberRemove(ctx, c, MemberRemoveRequest{
		OrganizationID: req.Msg.GetOrganizationId(),
		AccountID:      req.Msg.GetAccountId(),
	}); err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.RemoveMemberResponse{}), nil
}
