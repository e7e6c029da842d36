package orgs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sovereign-backend/sovereign/controlplane/fault"
)

// DB is what a Store runs its statements on: a pool, a connection or a
// transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store reads and writes organizations, memberships and invitations. It
// checks nothing about who may do what; Service does.
type Store struct{ db DB }

// NewStore returns a Store running on db. Pass a transaction to make several
// calls atomic.
func NewStore(db DB) *Store { return &Store{db: db} }

// Lock says how OrganizationGetForMember locks the organization's row until
// the end of the transaction.
type Lock uint8

// Lock modes.
const (
	// LockNone takes no lock.
	LockNone Lock = iota
	// LockShare keeps the organization from being deleted or changed while
	// the transaction adds to it (a project, say).
	LockShare
	// LockUpdate serializes changes to the organization and its members;
	// every change to memberships takes it first, so the last-owner rule
	// holds under concurrent calls.
	LockUpdate
)

func (l Lock) clause() string {
	switch l {
	case LockShare:
		return " FOR SHARE OF o"
	case LockUpdate:
		return " FOR UPDATE OF o"
	}
	return ""
}

// OrganizationGetForMemberParams names an organization and the member
// looking at it.
type OrganizationGetForMemberParams struct {
	OrganizationID string // canonical UUID
	AccountID      string
	Lock           Lock
}

// OrganizationGetForMember returns the organization with the member's role.
// A deleted organization, or one the account is not a member of, is
// fault.NotFound.
func (s *Store) OrganizationGetForMember(ctx context.Context, p OrganizationGetForMemberParams) (Organization, error) {
	var o Organization
	err := s.db.QueryRow(ctx, `
SELECT o.id::text, o.name, o.plan, o.created_at, m.role
FROM controlplane.organizations o
JOIN controlplane.memberships m ON m.organization_id = o.id AND m.account_id = $2
WHERE o.id = $1 AND o.deleted_at IS NULL`+p.Lock.clause(),
		p.OrganizationID, p.AccountID).Scan(&o.ID, &o.Name, &o.Plan, &o.CreatedAt, &o.Role)
	if errors.Is(err, pgx.ErrNoRows) {
		return Organization{}, errOrgNotFound(p.OrganizationID)
	}
	if err != nil {
		return Organization{}, fmt.Errorf("get organization: %w", err)
	}
	return o, nil
}

// RoleOf returns accountID's role in the organization orgID, or
// fault.NotFound when the account is not a member or the organization does
// not exist (or was deleted). orgID must be a canonical UUID (see ParseID).
func (s *Store) RoleOf(ctx context.Context, accountID, orgID string) (Role, error) {
	o, err := s.OrganizationGetForMember(ctx, OrganizationGetForMemberParams{OrganizationID: orgID, AccountID: accountID})
	return o.Role, err
}

func errOrgNotFound(id string) error {
	return fault.New(fault.NotFound, "organization %s not found", id)
}

// OrganizationInsertParams describe a new organization.
type OrganizationInsertParams struct {
	ID   string
	Name string
	Plan string
}

// OrganizationInsert inserts an organization and returns its creation time.
func (s *Store) OrganizationInsert(ctx context.Context, p OrganizationInsertParams) (time.Time, error) {
	var created time.Time
	err := s.db.QueryRow(ctx,
		`INSERT INTO controlplane.organizations (id, name, plan) VALUES ($1, $2, $3) RETURNING created_at`,
		p.ID, p.Name, p.Plan).Scan(&created)
	if err != nil {
		return time.Time{}, fmt.Errorf("insert organization: %w", err)
	}
	return created, nil
}

// OrganizationListByMember lists the live organizations accountID is a
// member of, oldest first, with its role in each.
func (s *Store) OrganizationListByMember(ctx context.Context, accountID string) ([]Organization, error) {
	rows, err := s.db.Query(ctx, `
SELECT o.id::text, o.name, o.plan, o.created_at, m.role
FROM controlplane.memberships m
JOIN controlplane.organizations o ON o.id = m.organization_id
WHERE m.account_id = $1 AND o.deleted_at IS NULL
ORDER BY o.created_at, o.id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Organization, error) {
		var o Organization
		err := r.Scan(&o.ID, &o.Name, &o.Plan, &o.CreatedAt, &o.Role)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	return out, nil
}

// OrganizationUpdateParams change an organization; a nil field is left.
type OrganizationUpdateParams struct {
	ID   string
	Name *string
	Plan *string
}

// OrganizationUpdate applies p.
func (s *Store) OrganizationUpdate(ctx context.Context, p OrganizationUpdateParams) error {
	_, err := s.db.Exec(ctx, `
UPDATE controlplane.organizations
SET name = coalesce($2, name), plan = coalesce($3, plan)
WHERE id = $1 AND deleted_at IS NULL`, p.ID, p.Name, p.Plan)
	if err != nil {
		return fmt.Errorf("update organization: %w", err)
	}
	return nil
}

// OrganizationDelete marks an organization deleted and drops its pending
// invitations.
func (s *Store) OrganizationDelete(ctx context.Context, id string) error {
	if _, err := s.db.Exec(ctx,
		`UPDATE controlplane.organizations SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL`, id); err != nil {
		return fmt.Errorf("delete organization: %w", err)
	}
	if _, err := s.db.Exec(ctx,
		`DELETE FROM controlplane.invitations WHERE organization_id = $1 AND accepted_at IS NULL`, id); err != nil {
		return fmt.Errorf("delete invitations: %w", err)
	}
	return nil
}

// ProjectCountLive counts an organization's projects that are not being
// deleted.
func (s *Store) ProjectCountLive(ctx context.Context, orgID string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `
SELECT count(*) FROM controlplane.projects
WHERE organization_id = $1 AND state NOT IN ('deleting', 'deleted')`, orgID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count projects: %w", err)
	}
	return n, nil
}

// MemberInsertParams make an account a member.
type MemberInsertParams struct {
	OrganizationID string
	AccountID      string
	Role           Role
}

// MemberInsert adds a member and returns when it joined. An account that is
// already a member is fault.AlreadyExists.
func (s *Store) MemberInsert(ctx context.Context, p MemberInsertParams) (time.Time, error) {
	var joined time.Time
	err := s.db.QueryRow(ctx, `
INSERT INTO controlplane.memberships (organization_id, account_id, role) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
RETURNING joined_at`, p.OrganizationID, p.AccountID, string(p.Role)).Scan(&joined)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, fault.New(fault.AlreadyExists, "you are already a member of organization %s", p.OrganizationID)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("insert member: %w", err)
	}
	return joined, nil
}

// MemberList lists an organization's members, owners first, then by email.
func (s *Store) MemberList(ctx context.Context, orgID string) ([]Member, error) {
	rows, err := s.db.Query(ctx, `
SELECT m.account_id::text, a.email, m.role, m.joined_at
FROM controlplane.memberships m
JOIN controlplane.accounts a ON a.id = m.account_id
WHERE m.organization_id = $1
ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'developer' THEN 2 ELSE 3 END, a.email`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanMember)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return out, nil
}

func scanMember(r pgx.CollectableRow) (Member, error) {
	var m Member
	err := r.Scan(&m.AccountID, &m.Email, &m.Role, &m.JoinedAt)
	return m, err
}

// MemberGetParams name one member.
type MemberGetParams struct {
	OrganizationID string
	AccountID      string
}

// MemberGet returns one member, or fault.NotFound.
func (s *Store) MemberGet(ctx context.Context, p MemberGetParams) (Member, error) {
	rows, err := s.db.Query(ctx, `
SELECT m.account_id::text, a.email, m.role, m.joined_at
FROM controlplane.memberships m
JOIN controlplane.accounts a ON a.id = m.account_id
WHERE m.organization_id = $1 AND m.account_id = $2`, p.OrganizationID, p.AccountID)
	if err != nil {
		return Member{}, fmt.Errorf("get member: %w", err)
	}
	m, err := pgx.CollectExactlyOneRow(rows, scanMember)
	if errors.Is(err, pgx.ErrNoRows) {
		return Member{}, fault.New(fault.NotFound, "account %s is not a member of organization %s", p.AccountID, p.OrganizationID)
	}
	if err != nil {
		return Member{}, fmt.Errorf("get member: %w", err)
	}
	return m, nil
}

// MemberRoleUpdateParams change a member's role.
type MemberRoleUpdateParams struct {
	OrganizationID string
	AccountID      string
	Role           Role
}

// MemberRoleUpdate sets a member's role.
func (s *Store) MemberRoleUpdate(ctx context.Context, p MemberRoleUpdateParams) error {
	_, err := s.db.Exec(ctx,
		`UPDATE controlplane.memberships SET role = $3 WHERE organization_id = $1 AND account_id = $2`,
		p.OrganizationID, p.AccountID, string(p.Role))
	if err != nil {
		return fmt.Errorf("update member role: %w", err)
	}
	return nil
}

// MemberDelete removes a member.
func (s *Store) MemberDelete(ctx context.Context, p MemberGetParams) error {
	_, err := s.db.Exec(ctx,
		`DELETE FROM controlplane.memberships WHERE organization_id = $1 AND account_id = $2`,
		p.OrganizationID, p.AccountID)
	if err != nil {
		return fmt.Errorf("delete member: %w", err)
	}
	return nil
}

// OwnerCount counts an organization's owners.
func (s *Store) OwnerCount(ctx context.Context, orgID string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx,
		`SELECT count(*) FROM controlplane.memberships WHERE organization_id = $1 AND role = 'owner'`, orgID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count owners: %w", err)
	}
	return n, nil
}

// MemberExistsByEmail reports whether an account with email is a member.
func (s *Store) MemberExistsByEmail(ctx context.Context, orgID, email string) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `
SELECT EXISTS (
	SELECT 1 FROM controlplane.memberships m
	JOIN controlplane.accounts a ON a.id = m.account_id
	WHERE m.organization_id = $1 AND lower(a.email) = $2)`, orgID, email).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("find member by email: %w", err)
	}
	return ok, nil
}

// InvitationInsertParams describe a new invitation.
type InvitationInsertParams struct {
	ID             string
	OrganizationID string
	Email          string // lowercased
	Role           Role
	TokenHash      string
	InvitedBy      string
	TTL            time.Duration
}

// InvitationInsert replaces any pending invitation of the same address to
// the organization with a new one, and returns when it expires.
func (s *Store) InvitationInsert(ctx context.Context, p InvitationInsertParams) (time.Time, error) {
	if _, err := s.db.Exec(ctx, `
DELETE FROM controlplane.invitations
WHERE organization_id = $1 AND email = $2 AND accepted_at IS NULL`, p.OrganizationID, p.Email); err != nil {
		return time.Time{}, fmt.Errorf("replace invitation: %w", err)
	}
	var expires time.Time
	err := s.db.QueryRow(ctx, `
INSERT INTO controlplane.invitations (id, organization_id, email, role, token_hash, invited_by, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
RETURNING expires_at`,
		p.ID, p.OrganizationID, p.Email, string(p.Role), p.TokenHash, p.InvitedBy, p.TTL.Seconds()).Scan(&expires)
	if err != nil {
		return time.Time{}, fmt.Errorf("insert invitation: %w", err)
	}
	return expires, nil
}

// InvitationListPending lists an organization's invitations that are
// neither accepted nor expired, newest first.
func (s *Store) InvitationListPending(ctx context.Context, orgID string) ([]Invitation, error) {
	rows, err := s.db.Query(ctx, `
SELECT id::text, organization_id::text, email, role, expires_at
FROM controlplane.invitations
WHERE organization_id = $1 AND accepted_at IS NULL AND expires_at > now()
ORDER BY created_at DESC, id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Invitation, error) {
		var inv Invitation
		err := r.Scan(&inv.ID, &inv.OrganizationID, &inv.Email, &inv.Role, &inv.ExpiresAt)
		return inv, err
	})
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	return out, nil
}

// InvitationRecord is an invitation with its state, as AcceptInvitation
// needs it.
type InvitationRecord struct {
	Invitation
	Accepted bool
	Expired  bool // by the database's clock
}

// InvitationGetByTokenHash returns the invitation with the token hash and
// locks it for update, or fault.NotFound.
func (s *Store) InvitationGetByTokenHash(ctx context.Context, hash string) (InvitationRecord, error) {
	var r InvitationRecord
	err := s.db.QueryRow(ctx, `
SELECT id::text, organization_id::text, email, role, expires_at, accepted_at IS NOT NULL, expires_at <= now()
FROM controlplane.invitations WHERE token_hash = $1
FOR UPDATE`, hash).Scan(&r.ID, &r.OrganizationID, &r.Email, &r.Role, &r.ExpiresAt, &r.Accepted, &r.Expired)
	if errors.Is(err, pgx.ErrNoRows) {
		return InvitationRecord{}, fault.New(fault.NotFound, "invitation not found; ask for a new one")
	}
	if err != nil {
		return InvitationRecord{}, fmt.Errorf("get invitation: %w", err)
	}
	return r, nil
}

// InvitationAcceptParams record who accepted an invitation.
type InvitationAcceptParams struct {
	ID        string
	AccountID string
}

// InvitationAccept marks an invitation accepted.
func (s *Store) InvitationAccept(ctx context.Context, p InvitationAcceptParams) error {
	_, err := s.db.Exec(ctx,
		`UPDATE controlplane.invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1`, p.ID, p.AccountID)
	if err != nil {
		return fmt.Errorf("accept invitation: %w", err)
	}
	return nil
}
