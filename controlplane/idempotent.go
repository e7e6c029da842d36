package controlplane

import (
	"context"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/controlplane/authn"
	"github.com/sovereign-backend/sovereign/internal/idempotency"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// The creates of the control plane honour Idempotency-Key (the SDK sends one
// on each and retries them); these wrappers add that to the handlers.

// scope keeps one caller's keys apart from another's: the account, or
// "anonymous" before signup.
func scope(ctx context.Context) string {
	if p, ok := authn.FromContext(ctx); ok {
		return "account:" + p.AccountID
	}
	return "anonymous"
}

type idempotentAccounts struct {
	controlplanev1connect.AccountServiceHandler
	store *idempotency.Store
}

func (h idempotentAccounts) Signup(ctx context.Context, req *connect.Request[controlplanev1.SignupRequest]) (*connect.Response[controlplanev1.SignupResponse], error) {
	return idempotency.Do(ctx, h.store, scope(ctx), req, h.AccountServiceHandler.Signup)
}

func (h idempotentAccounts) CreateToken(ctx context.Context, req *connect.Request[controlplanev1.CreateTokenRequest]) (*connect.Response[controlplanev1.CreateTokenResponse], error) {
	return idempotency.Do(ctx, h.store, scope(ctx), req, h.AccountServiceHandler.CreateToken)
}

type idempotentOrgs struct {
	controlplanev1connect.OrganizationServiceHandler
	store *idempotency.Store
}

func (h idempotentOrgs) CreateOrganization(ctx context.Context, req *connect.Request[controlplanev1.CreateOrganizationRequest]) (*connect.Response[controlplanev1.CreateOrganizationResponse], error) {
	return idempotency.Do(ctx, h.store, scope(ctx), req, h.OrganizationServiceHandler.CreateOrganization)
}

func (h idempotentOrgs) InviteMember(ctx context.Context, req *connect.Request[controlplanev1.InviteMemberRequest]) (*connect.Response[controlplanev1.InviteMemberResponse], error) {
	return idempotency.Do(ctx, h.store, scope(ctx), req, h.OrganizationServiceHandler.InviteMember)
}

type idempotentProjects struct {
	controlplanev1connect.ProjectServiceHandler
	store *idempotency.Store
}

func (h idempotentProjects) CreateProject(ctx context.Context, req *connect.Request[controlplanev1.CreateProjectRequest]) (*connect.Response[controlplanev1.CreateProjectResponse], error) {
	return idempotency.Do(ctx, h.store, scope(ctx), req, h.ProjectServiceHandler.CreateProject)
}

func (h idempotentProjects) CreateApiKey(ctx context.Context, req *connect.Request[controlplanev1.CreateApiKeyRequest]) (*connect.Response[controlplanev1.CreateApiKeyResponse], error) {
	return idempotency.Do(ctx, h.store, scope(ctx), req, h.ProjectServiceHandler.CreateApiKey)
}
