package sovereign

import (
	"context"
	"iter"

	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// CreateOrganization creates an organization (name: 1 to 64 characters) with
// the caller as its owner.
func (c *ManagementClient) CreateOrganization(ctx context.Context, name string) (*Organization, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.OrganizationServiceCreateOrganizationProcedure, callCreate,
		c.orgs.CreateOrganization, &controlplanev1.CreateOrganizationRequest{Name: name})
	if err != nil {
		return nil, err
	}
	return organizationOf(m.GetOrganization()), nil
}

// Organizations lists the organizations the caller is a member of, each with
// the caller's role in it.
func (c *ManagementClient) Organizations(ctx context.Context) iter.Seq2[*Organization, error] {
	return pages(ctx, func(ctx context.Context, _ string) ([]*Organization, string, error) {
		m, err := unary(ctx, c.c, controlplanev1connect.OrganizationServiceListOrganizationsProcedure, callRead,
			c.orgs.ListOrganizations, &controlplanev1.ListOrganizationsRequest{})
		if err != nil {
			return nil, "", err
		}
		return mapSlice(m.GetOrganizations(), organizationOf), "", nil
	})
}

// GetOrganization returns an organization the caller is a member of;
// others answer [CodeNotFound].
func (c *ManagementClient) GetOrganization(ctx context.Context, id string) (*Organization, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.OrganizationServiceGetOrganizationProcedure, callRead,
		c.orgs.GetOrganization, &controlplanev1.GetOrganizationRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return organizationOf(m.GetOrganization()), nil
}

// UpdateOrganizationParams are the changes [ManagementClient.UpdateOrganization]
// makes. Empty fields are left as they are.
type UpdateOrganizationParams struct {
	// ID of the organization.
	ID string
	// Name is the new name (admin and above).
	Name string
	// Plan is the new plan, "free" or "pro" (owner only).
	Plan string
}

// UpdateOrganization renames an organization or changes its plan.
func (c *ManagementClient) UpdateOrganization(ctx context.Context, p UpdateOrganizationParams) (*Organization, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.OrganizationServiceUpdateOrganizationProcedure, callOnce,
		c.orgs.UpdateOrganization, &controlplanev1.UpdateOrganizationRequest{Id: p.ID, Name: p.Name, Plan: p.Plan})
	if err != nil {
		return nil, err
	}
	return organizationOf(m.GetOrganization()), nil
}

// DeleteOrganization deletes an organization that has no live projects
// ([CodeFailedPrecondition] otherwise). Owner only.
func (c *ManagementClient) DeleteOrganization(ctx context.Context, id string) error {
	_, err := unary(ctx, c.c, controlplanev1connect.OrganizationServiceDeleteOrganizationProcedure, callOnce,
		c.orgs.DeleteOrganization, &controlplanev1.DeleteOrganizationRequest{Id: id})
	return err
}

// Members lists the members of an organization.
func (c *ManagementClient) Members(ctx context.Context, orgID string) iter.Seq2[*Member, error] {
	return pages(ctx, func(ctx context.Context, _ string) ([]*Member, string, error) {
		m, err := c.listMembers(ctx, orgID)
		if err != nil {
			return nil, "", err
		}
		return mapSlice(m.GetMembers(), memberOf), "", nil
	})
}

// Invitations lists an organization's pending invitations.
func (c *ManagementClient) Invitations(ctx context.Context, orgID string) iter.Seq2[*Invitation, error] {
	return pages(ctx, func(ctx context.Context, _ string) ([]*Invitation, string, error) {
		m, err := c.listMembers(ctx, orgID)
		if err != nil {
			return nil, "", err
		}
		return mapSlice(m.GetInvitations(), invitationOf), "", nil
	})
}

func (c *ManagementClient) listMembers(ctx context.Context, orgID string) (*controlplanev1.ListMembersResponse, error) {
	return unary(ctx, c.c, controlplanev1connect.OrganizationServiceListMembersProcedure, callRead,
		c.orgs.ListMembers, &controlplanev1.ListMembersRequest{OrganizationId: orgID})
}

// InviteMember invites email to an organization with role (admin and above;
// only an owner invites an owner). It returns the invitation and its token
// (sov_inv_…), which is also mailed and is shown only this once; the invitee
// redeems it with [ManagementClient.AcceptInvitation].
func (c *ManagementClient) InviteMember(ctx context.Context, orgID, email string, role Role) (*Invitation, string, error) {
	r, err := role.proto()
	if err != nil {
		return nil, "", err
	}
	m, err := unary(ctx, c.c, controlplanev1connect.OrganizationServiceInviteMemberProcedure, callCreate,
		c.orgs.InviteMember, &controlplanev1.InviteMemberRequest{OrganizationId: orgID, Email: email, Role: r})
	if err != nil {
		return nil, "", err
	}
	return invitationOf(m.GetInvitation()), m.GetToken(), nil
}

// AcceptInvitation makes the caller a member of the organization that
// invited them. The caller's email must be the invited one.
func (c *ManagementClient) AcceptInvitation(ctx context.Context, token string) (*Organization, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.OrganizationServiceAcceptInvitationProcedure, callOnce,
		c.orgs.AcceptInvitation, &controlplanev1.AcceptInvitationRequest{Token: token})
	if err != nil {
		return nil, err
	}
	return organizationOf(m.GetOrganization()), nil
}

// UpdateMemberRole changes a member's role (admin and above; only an owner
// grants or takes the owner role).
func (c *ManagementClient) UpdateMemberRole(ctx context.Context, orgID, accountID string, role Role) (*Member, error) {
	r, err := role.proto()
	if err != nil {
		return nil, err
	}
	m, err := unary(ctx, c.c, controlplanev1connect.OrganizationServiceUpdateMemberRoleProcedure, callOnce,
		c.orgs.UpdateMemberRole, &controlplanev1.UpdateMemberRoleRequest{OrganizationId: orgID, AccountId: accountID, Role: r})
	if err != nil {
		return nil, err
	}
	return memberOf(m.GetMember()), nil
}

// RemoveMember removes a member from an organization (admin and above, or
// anyone removing themselves). The last owner cannot be removed.
func (c *ManagementClient) RemoveMember(ctx context.Context, orgID, accountID string) error {
	_, err := unary(ctx, c.c, controlplanev1connect.OrganizationServiceRemoveMemberProcedure, callOnce,
		c.orgs.RemoveMember, &controlplanev1.RemoveMemberRequest{OrganizationId: orgID, AccountId: accountID})
	return err
}
