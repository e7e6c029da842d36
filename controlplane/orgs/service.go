package orgs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/controlplane/fault"
	"github.com/sovereign-backend/sovereign/controlplane/mail"
	"github.com/sovereign-backend/sovereign/controlplane/plans"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// DefaultInvitationTTL is how long an invitation can be accepted.
const DefaultInvitationTTL = 7 * 24 * time.Hour

// Config configures a Service.
type Config struct {
	// Pool of the control plane's database. Required.
	Pool *pgxpool.Pool
	// Mailer delivers invitation mails. Required.
	Mailer mail.Mailer
	// InvitationTTL is how long an invitation stays valid. Default
	// DefaultInvitationTTL (7 days).
	InvitationTTL time.Duration
	// PlanChanged, when set, is called inside the transaction that changes an
	// organization's plan, so that the new limits reach the organization's
	// projects (projects.Service.LimitsChangedTx enqueues that work).
	PlanChanged func(ctx context.Context, tx pgx.Tx, orgID string) error
	// Logger for mail failures. Default slog.Default().
	Logger *slog.Logger
}

// Service is the organization domain: every method checks the caller's role
// before it reads or changes anything.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Pool == nil {
		return nil, errors.New("orgs: Config.Pool is required")
	}
	if cfg.Mailer == nil {
		return nil, errors.New("orgs: Config.Mailer is required")
	}
	cfg.InvitationTTL = cmp.Or(cfg.InvitationTTL, DefaultInvitationTTL)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	return &Service{cfg: cfg}, nil
}

// Store returns a Store on the service's pool.
func (s *Service) Store() *Store { return NewStore(s.cfg.Pool) }

// OrganizationCreate creates an organization on the default plan with the
// caller as its only owner.
func (s *Service) OrganizationCreate(ctx context.Context, c Caller, name string) (Organization, error) {
	name, err := CleanName("name", name)
	if err != nil {
		return Organization{}, err
	}
	o := Organization{ID: uuid.Must(uuid.NewV7()).String(), Name: name, Plan: plans.Default, Role: Owner}
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		st := NewStore(tx)
		created, err := st.OrganizationInsert(ctx, OrganizationInsertParams{ID: o.ID, Name: o.Name, Plan: o.Plan})
		if err != nil {
			return err
		}
		o.CreatedAt = created
		_, err = st.MemberInsert(ctx, MemberInsertParams{OrganizationID: o.ID, AccountID: c.AccountID, Role: Owner})
		return err
	})
	if err != nil {
		return Organization{}, err
	}
	return o, nil
}

// OrganizationList lists the organizations the caller is a member of.
func (s *Service) OrganizationList(ctx context.Context, c Caller) ([]Organization, error) {
	return s.Store().OrganizationListByMember(ctx, c.AccountID)
}

// OrganizationGet returns one of the caller's organizations.
func (s *Service) OrganizationGet(ctx context.Context, c Caller, id string) (Organization, error) {
	id, err := ParseID("id", id)
	if err != nil {
		return Organization{}, err
	}
	return s.Store().OrganizationGetForMember(ctx, OrganizationGetForMemberParams{OrganizationID: id, AccountID: c.AccountID})
}

// OrganizationUpdateRequest renames an organization or changes its plan; an
// empty field is left as it is.
type OrganizationUpdateRequest struct {
	ID   string
	Name string
	Plan string
}

// OrganizationUpdate renames (admin) or changes the plan (owner).
func (s *Service) OrganizationUpdate(ctx context.Context, c Caller, r OrganizationUpdateRequest) (Organization, error) {
	id, err := ParseID("id", r.ID)
	if err != nil {
		return Organization{}, err
	}
	var p OrganizationUpdateParams
	p.ID = id
	if r.Name != "" {
		name, err := CleanName("name", r.Name)
		if err != nil {
			return Organization{}, err
		}
		p.Name = &name
	}
	if r.Plan != "" {
		if _, ok := plans.Lookup(r.Plan); !ok {
			return Organization{}, fault.New(fault.Invalid, "plan: %q is not a plan; choose one of %s",
				truncate(r.Plan, 32), strings.Join(plans.Names(), ", "))
		}
		p.Plan = &r.Plan
	}
	var o Organization
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		st := NewStore(tx)
		var err error
		o, err = st.OrganizationGetForMember(ctx, OrganizationGetForMemberParams{OrganizationID: id, AccountID: c.AccountID, Lock: LockUpdate})
		if err != nil {
			return err
		}
		if p.Name != nil {
			if err := o.Role.Require(Admin, "renaming the organization"); err != nil {
				return err
			}
		}
		planChanged := p.Plan != nil && *p.Plan != o.Plan
		if p.Plan != nil {
			if err := o.Role.Require(Owner, "changing the plan"); err != nil {
				return err
			}
		}
		if p.Name == nil && p.Plan == nil {
			return nil
		}
		if err := st.OrganizationUpdate(ctx, p); err != nil {
			return err
		}
		if planChanged && s.cfg.PlanChanged != nil {
			if err := s.cfg.PlanChanged(ctx, tx, id); err != nil {
				return fmt.Errorf("plan changed: %w", err)
			}
		}
		if p.Name != nil {
			o.Name = *p.Name
		}
		if p.Plan != nil {
			o.Plan = *p.Plan
		}
		return nil
	})
	if err != nil {
		return Organization{}, err
	}
	return o, nil
}

// OrganizationDelete (owner) deletes an organization that has no live
// projects.
func (s *Service) OrganizationDelete(ctx context.Context, c Caller, id string) error {
	id, err := ParseID("id", id)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		st := NewStore(tx)
		o, err := st.OrganizationGetForMember(ctx, OrganizationGetForMemberParams{OrganizationID: id, AccountID: c.AccountID, Lock: LockUpdate})
		if err != nil {
			return err
		}
		if err := o.Role.Require(Owner, "deleting the organization"); err != nil {
			return err
		}
		n, err := st.ProjectCountLive(ctx, id)
		if err != nil {
			return err
		}
		if n > 0 {
			return fault.New(fault.FailedPrecondition,
				"organization %s still has %d project(s); delete them first", id, n)
		}
		return st.OrganizationDelete(ctx, id)
	})
}

// MemberList lists an organization's members and pending invitations.
func (s *Service) MemberList(ctx context.Context, c Caller, orgID string) ([]Member, []Invitation, error) {
	orgID, err := ParseID("organization_id", orgID)
	if err != nil {
		return nil, nil, err
	}
	st := s.Store()
	if _, err := st.RoleOf(ctx, c.AccountID, orgID); err != nil {
		return nil, nil, err
	}
	members, err := st.MemberList(ctx, orgID)
	if err != nil {
		return nil, nil, err
	}
	invs, err := st.InvitationListPending(ctx, orgID)
	if err != nil {
		return nil, nil, err
	}
	return members, invs, nil
}

// MemberInviteRequest invites an email address with a role.
type MemberInviteRequest struct {
	OrganizationID string
	Email          string
	Role           Role
}

// MemberInvite (admin; owner to invite an owner) creates an invitation,
// mails its token and returns it. The token is returned once and only its
// hash is kept. A failed mail is logged, not returned: the invitation
// exists and the inviter holds its token.
func (s *Service) MemberInvite(ctx context.Context, c Caller, r MemberInviteRequest) (Invitation, string, error) {
	orgID, err := ParseID("organization_id", r.OrganizationID)
	if err != nil {
		return Invitation{}, "", err
	}
	email, err := cleanEmail(r.Email)
	if err != nil {
		return Invitation{}, "", err
	}
	if !r.Role.Valid() {
		return Invitation{}, "", fault.New(fault.Invalid, "role: give one of owner, admin, developer, viewer")
	}
	inv := Invitation{ID: uuid.Must(uuid.NewV7()).String(), OrganizationID: orgID, Email: email, Role: r.Role}
	tok := token.New(token.InvitationToken)
	var orgName string
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		st := NewStore(tx)
		o, err := st.OrganizationGetForMember(ctx, OrganizationGetForMemberParams{OrganizationID: orgID, AccountID: c.AccountID, Lock: LockUpdate})
		if err != nil {
			return err
		}
		orgName = o.Name
		if err := o.Role.Require(Admin, "inviting members"); err != nil {
			return err
		}
		if r.Role == Owner {
			if err := o.Role.Require(Owner, "inviting an owner"); err != nil {
				return err
			}
		}
		member, err := st.MemberExistsByEmail(ctx, orgID, email)
		if err != nil {
			return err
		}
		if member {
			return fault.New(fault.AlreadyExists, "%s is already a member of the organization", email)
		}
		inv.ExpiresAt, err = st.InvitationInsert(ctx, InvitationInsertParams{
			ID: inv.ID, OrganizationID: orgID, Email: email, Role: r.Role,
			TokenHash: token.Hash(tok), InvitedBy: c.AccountID, TTL: s.cfg.InvitationTTL,
		})
		return err
	})
	if err != nil {
		return Invitation{}, "", err
	}
	msg := mail.Message{
		To:      email,
		Subject: fmt.Sprintf("You are invited to %s on Sovereign", orgName),
		Body: fmt.Sprintf("%s invited you to join the organization %q as %s.\n\n"+
			"Sign in as %s and accept the invitation with this token:\n\n    %s\n\n"+
			"It expires at %s. If you did not expect it, ignore this mail.\n",
			c.Email, orgName, r.Role, email, tok, inv.ExpiresAt.UTC().Format(time.RFC1123)),
	}
	if err := s.cfg.Mailer.Send(ctx, msg); err != nil {
		s.cfg.Logger.WarnContext(ctx, "invitation mail not sent", "invitation_id", inv.ID, "err", err.Error())
	}
	return inv, tok, nil
}

// InvitationAccept makes the caller a member with the invited role. The
// caller's email must be the invited one.
func (s *Service) InvitationAccept(ctx context.Context, c Caller, tok string) (Organization, error) {
	if err := token.Check(tok, token.InvitationToken); err != nil {
		return Organization{}, fault.New(fault.Invalid, "token: not an invitation token (sov_inv_…); copy it again from the mail")
	}
	var o Organization
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		st := NewStore(tx)
		inv, err := st.InvitationGetByTokenHash(ctx, token.Hash(tok))
		if err != nil {
			return err
		}
		switch {
		case inv.Accepted:
			return fault.New(fault.FailedPrecondition, "the invitation was already accepted")
		case inv.Expired:
			return fault.New(fault.FailedPrecondition, "the invitation expired at %s; ask for a new one",
				inv.ExpiresAt.UTC().Format(time.RFC3339))
		case !strings.EqualFold(inv.Email, c.Email):
			return fault.New(fault.PermissionDenied, "the invitation was sent to another email address; sign in with that address to accept it")
		}
		// Lock the organization as every membership change does; a deleted
		// organization's invitation leads nowhere.
		var name, plan string
		var created time.Time
		err = tx.QueryRow(ctx, `
SELECT name, plan, created_at FROM controlplane.organizations
WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, inv.OrganizationID).Scan(&name, &plan, &created)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.New(fault.NotFound, "invitation not found; ask for a new one")
		}
		if err != nil {
			return fmt.Errorf("lock organization: %w", err)
		}
		if _, err := st.MemberInsert(ctx, MemberInsertParams{OrganizationID: inv.OrganizationID, AccountID: c.AccountID, Role: inv.Role}); err != nil {
			return err
		}
		if err := st.InvitationAccept(ctx, InvitationAcceptParams{ID: inv.ID, AccountID: c.AccountID}); err != nil {
			return err
		}
		o = Organization{ID: inv.OrganizationID, Name: name, Plan: plan, Role: inv.Role, CreatedAt: created}
		return nil
	})
	if err != nil {
		return Organization{}, err
	}
	return o, nil
}

// MemberRoleUpdateRequest changes a member's role.
type MemberRoleUpdateRequest struct {
	OrganizationID string
	AccountID      string
	Role           Role
}

// MemberRoleUpdate (admin; owner to grant or take owner) changes a member's
// role. The last owner cannot be demoted.
func (s *Service) MemberRoleUpdate(ctx context.Context, c Caller, r MemberRoleUpdateRequest) (Member, error) {
	orgID, err := ParseID("organization_id", r.OrganizationID)
	if err != nil {
		return Member{}, err
	}
	accountID, err := ParseID("account_id", r.AccountID)
	if err != nil {
		return Member{}, err
	}
	if !r.Role.Valid() {
		return Member{}, fault.New(fault.Invalid, "role: give one of owner, admin, developer, viewer")
	}
	var m Member
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		st := NewStore(tx)
		o, err := st.OrganizationGetForMember(ctx, OrganizationGetForMemberParams{OrganizationID: orgID, AccountID: c.AccountID, Lock: LockUpdate})
		if err != nil {
			return err
		}
		if err := o.Role.Require(Admin, "changing roles"); err != nil {
			return err
		}
		m, err = st.MemberGet(ctx, MemberGetParams{OrganizationID: orgID, AccountID: accountID})
		if err != nil {
			return err
		}
		if m.Role == r.Role {
			return nil
		}
		if m.Role == Owner || r.Role == Owner {
			if err := o.Role.Require(Owner, "granting or taking the owner role"); err != nil {
				return err
			}
		}
		if m.Role == Owner {
			if err := lastOwnerGuard(ctx, st, orgID, "demoted"); err != nil {
				return err
			}
		}
		if err := st.MemberRoleUpdate(ctx, MemberRoleUpdateParams{OrganizationID: orgID, AccountID: accountID, Role: r.Role}); err != nil {
			return err
		}
		m.Role = r.Role
		return nil
	})
	if err != nil {
		return Member{}, err
	}
	return m, nil
}

// MemberRemoveRequest removes a member.
type MemberRemoveRequest struct {
	OrganizationID string
	AccountID      string
}

// MemberRemove (admin, or anyone removing themselves; owner to remove an
// owner) removes a member. The last owner cannot be removed.
func (s *Service) MemberRemove(ctx context.Context, c Caller, r MemberRemoveRequest) error {
	orgID, err := ParseID("organization_id", r.OrganizationID)
	if err != nil {
		return err
	}
	accountID, err := ParseID("account_id", r.AccountID)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		st := NewStore(tx)
		o, err := st.OrganizationGetForMember(ctx, OrganizationGetForMemberParams{OrganizationID: orgID, AccountID: c.AccountID, Lock: LockUpdate})
		if err != nil {
			return err
		}
		self := accountID == c.AccountID
		if !self {
			if err := o.Role.Require(Admin, "removing members"); err != nil {
				return err
			}
		}
		m, err := st.MemberGet(ctx, MemberGetParams{OrganizationID: orgID, AccountID: accountID})
		if err != nil {
			return err
		}
		if m.Role == Owner {
			if !self {
				if err := o.Role.Require(Owner, "removing an owner"); err != nil {
					return err
				}
			}
			if err := lastOwnerGuard(ctx, st, orgID, "removed"); err != nil {
				return err
			}
		}
		return st.MemberDelete(ctx, MemberGetParams{OrganizationID: orgID, AccountID: accountID})
	})
}

// lastOwnerGuard refuses to take the owner role from the organization's
// only owner. The caller holds the organization's row lock.
func lastOwnerGuard(ctx context.Context, st *Store, orgID, what string) error {
	n, err := st.OwnerCount(ctx, orgID)
	if err != nil {
		return err
	}
	if n <= 1 {
		return fault.New(fault.FailedPrecondition,
			"the last owner cannot be %s; make another member owner first, or delete the organization", what)
	}
	return nil
}

// cleanEmail lowercases and checks an email address.
func cleanEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := netmail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", fault.New(fault.Invalid, "email: %q is not an email address", truncate(s, 64))
	}
	return s, nil
}
