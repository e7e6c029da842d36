package orgs_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/controlplane/cptest"
	"github.com/sovereign-backend/sovereign/controlplane/orgs"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	"github.com/sovereign-backend/sovereign/internal/token"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// world is one database with the organization service served over HTTP
// and five accounts: an owner, an admin, a developer and a viewer of each
// organization org makes, and an outsider.
type world struct {
	pool  *pgxpool.Pool
	url   string
	box   *cptest.Mailbox
	users map[string]cptest.User // by role name, plus "outsider"
}

func newWorld(t *testing.T) *world {
	t.Helper()
	pool := cptest.DB(t)
	box := &cptest.Mailbox{}
	svc, err := orgs.New(orgs.Config{Pool: pool, Mailer: box})
	if err != nil {
		t.Fatal(err)
	}
	url := cptest.Serve(t, func(mux *http.ServeMux, opts ...connect.HandlerOption) {
		mux.Handle(controlplanev1connect.NewOrganizationServiceHandler(orgs.NewHandler(svc), opts...))
	})
	w := &world{pool: pool, url: url, box: box, users: map[string]cptest.User{}}
	for _, name := range []string{"owner", "admin", "developer", "viewer", "outsider"} {
		w.users[name] = cptest.Account(t, pool, name+"@example.com")
	}
	return w
}

// client calls as the user; "anonymous" calls without credentials.
func (w *world) client(who string) controlplanev1connect.OrganizationServiceClient {
	if who == "anonymous" {
		return controlplanev1connect.NewOrganizationServiceClient(http.DefaultClient, w.url)
	}
	return controlplanev1connect.NewOrganizationServiceClient(http.DefaultClient, w.url, cptest.As(w.users[who]))
}

// clientFor calls as any account.
func (w *world) clientFor(u cptest.User) controlplanev1connect.OrganizationServiceClient {
	return controlplanev1connect.NewOrganizationServiceClient(http.DefaultClient, w.url, cptest.As(u))
}

// org creates an organization as the owner and adds the admin, developer
// and viewer with their roles.
func (w *world) org(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	res, err := w.client("owner").CreateOrganization(ctx, connect.NewRequest(&controlplanev1.CreateOrganizationRequest{Name: "Acme"}))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Msg.GetOrganization().GetId()
	for _, role := range []string{"admin", "developer", "viewer"} {
		if _, err := w.pool.Exec(ctx, `INSERT INTO controlplane.memberships (organization_id, account_id, role) VALUES ($1, $2, $3)`,
			id, w.users[role].ID, role); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// newUser makes a fresh account.
func (w *world) newUser(t *testing.T, prefix string) cptest.User {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return cptest.Account(t, w.pool, prefix+"-"+hex.EncodeToString(b)+"@example.com")
}

// invite invites email with role as the owner and returns the token.
func (w *world) invite(t *testing.T, org, email string, role controlplanev1.Role) string {
	t.Helper()
	res, err := w.client("owner").InviteMember(context.Background(), connect.NewRequest(&controlplanev1.InviteMemberRequest{
		OrganizationId: org, Email: email, Role: role,
	}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg.GetToken()
}

// roleIn returns the account's role in org, or "" when it is no member.
func (w *world) roleIn(t *testing.T, org, accountID string) string {
	t.Helper()
	var role string
	err := w.pool.QueryRow(context.Background(),
		`SELECT coalesce((SELECT role FROM controlplane.memberships WHERE organization_id = $1 AND account_id = $2), '')`,
		org, accountID).Scan(&role)
	if err != nil {
		t.Fatal(err)
	}
	return role
}

const randomID = "0190f0c4-5a3b-7c2d-8e9f-0a1b2c3d4e5f"

// scenario is one call against a fresh organization: who calls, the call,
// the Connect code it must give (0 = success), and what must hold after.
type scenario struct {
	name  string
	as    string
	call  func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error
	code  connect.Code
	check func(t *testing.T, w *world, org string)
}

func run(t *testing.T, scenarios []scenario) {
	t.Helper()
	w := newWorld(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			org := w.org(t)
			err := sc.call(context.Background(), t, w, w.client(sc.as), org)
			if got := cptest.Code(err); got != sc.code {
				t.Fatalf("code %v, want %v (err %v)", got, sc.code, err)
			}
			if sc.check != nil {
				sc.check(t, w, org)
			}
		})
	}
}

func TestOrganizations(t *testing.T) {
	t.Parallel()
	create := func(name string) func(context.Context, *testing.T, *world, controlplanev1connect.OrganizationServiceClient, string) error {
		return func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, _ string) error {
			res, err := c.CreateOrganization(ctx, connect.NewRequest(&controlplanev1.CreateOrganizationRequest{Name: name}))
			if err == nil {
				o := res.Msg.GetOrganization()
				if o.GetName() != strings.TrimSpace(name) || o.GetPlan() != "free" || o.GetRole() != controlplanev1.Role_ROLE_OWNER || o.GetCreatedAt() == nil {
					t.Errorf("created %v", o)
				}
			}
			return err
		}
	}
	get := func(id string) func(context.Context, *testing.T, *world, controlplanev1connect.OrganizationServiceClient, string) error {
		return func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error {
			if id == "" {
				id = org
			}
			_, err := c.GetOrganization(ctx, connect.NewRequest(&controlplanev1.GetOrganizationRequest{Id: id}))
			return err
		}
	}
	update := func(name, plan string) func(context.Context, *testing.T, *world, controlplanev1connect.OrganizationServiceClient, string) error {
		return func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error {
			res, err := c.UpdateOrganization(ctx, connect.NewRequest(&controlplanev1.UpdateOrganizationRequest{Id: org, Name: name, Plan: plan}))
			if err == nil {
				o := res.Msg.GetOrganization()
				if (name != "" && o.GetName() != name) || (plan != "" && o.GetPlan() != plan) {
					t.Errorf("updated %v", o)
				}
			}
			return err
		}
	}
	del := func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error {
		_, err := c.DeleteOrganization(ctx, connect.NewRequest(&controlplanev1.DeleteOrganizationRequest{Id: org}))
		return err
	}
	gone := func(t *testing.T, w *world, org string) {
		_, err := w.client("owner").GetOrganization(context.Background(), connect.NewRequest(&controlplanev1.GetOrganizationRequest{Id: org}))
		if cptest.Code(err) != connect.CodeNotFound {
			t.Errorf("deleted organization: Get gave %v, want NotFound", err)
		}
	}
	stays := func(t *testing.T, w *world, org string) {
		if _, err := w.client("viewer").GetOrganization(context.Background(), connect.NewRequest(&controlplanev1.GetOrganizationRequest{Id: org})); err != nil {
			t.Errorf("organization should still exist: %v", err)
		}
	}
	run(t, []scenario{
		{name: "create", as: "outsider", call: create("  New Co  ")},
		{name: "create/empty name", as: "owner", call: create("   "), code: connect.CodeInvalidArgument},
		{name: "create/name too long", as: "owner", call: create(strings.Repeat("x", 65)), code: connect.CodeInvalidArgument},
		{name: "create/64 characters", as: "owner", call: create(strings.Repeat("é", 64))},
		{name: "create/control character", as: "owner", call: create("a\nb"), code: connect.CodeInvalidArgument},
		{name: "create/anonymous", as: "anonymous", call: create("x"), code: connect.CodeUnauthenticated},
		{name: "get/viewer", as: "viewer", call: func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error {
			res, err := c.GetOrganization(ctx, connect.NewRequest(&controlplanev1.GetOrganizationRequest{Id: org}))
			if err == nil && res.Msg.GetOrganization().GetRole() != controlplanev1.Role_ROLE_VIEWER {
				t.Errorf("role %v, want viewer", res.Msg.GetOrganization().GetRole())
			}
			return err
		}},
		{name: "get/non-member", as: "outsider", call: get(""), code: connect.CodeNotFound},
		{name: "get/unknown id", as: "owner", call: get(randomID), code: connect.CodeNotFound},
		{name: "get/malformed id", as: "owner", call: get("acme"), code: connect.CodeInvalidArgument},
		{name: "get/anonymous", as: "anonymous", call: get(""), code: connect.CodeUnauthenticated},
		{name: "list/member", as: "developer", call: func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error {
			res, err := c.ListOrganizations(ctx, connect.NewRequest(&controlplanev1.ListOrganizationsRequest{}))
			if err != nil {
				return err
			}
			found := false
			for _, o := range res.Msg.GetOrganizations() {
				found = found || (o.GetId() == org && o.GetRole() == controlplanev1.Role_ROLE_DEVELOPER)
			}
			if !found {
				t.Errorf("organization %s missing from %v", org, res.Msg.GetOrganizations())
			}
			return nil
		}},
		{name: "list/non-member sees nothing of it", as: "outsider", call: func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error {
			res, err := c.ListOrganizations(ctx, connect.NewRequest(&controlplanev1.ListOrganizationsRequest{}))
			if err != nil {
				return err
			}
			for _, o := range res.Msg.GetOrganizations() {
				if o.GetId() == org {
					t.Errorf("outsider lists organization %s", org)
				}
			}
			return nil
		}},
		{name: "rename/admin", as: "admin", call: update("Acme Two", "")},
		{name: "rename/developer", as: "developer", call: update("Nope", ""), code: connect.CodePermissionDenied},
		{name: "rename/viewer", as: "viewer", call: update("Nope", ""), code: connect.CodePermissionDenied},
		{name: "rename/non-member", as: "outsider", call: update("Nope", ""), code: connect.CodeNotFound},
		{name: "rename/bad name", as: "owner", call: update(strings.Repeat("n", 65), ""), code: connect.CodeInvalidArgument},
		{name: "plan/owner", as: "owner", call: update("", "pro")},
		{name: "plan/admin", as: "admin", call: update("", "pro"), code: connect.CodePermissionDenied},
		{name: "plan/unknown plan", as: "owner", call: update("", "gold"), code: connect.CodeInvalidArgument},
		{name: "delete/owner", as: "owner", call: del, check: gone},
		{name: "delete/admin", as: "admin", call: del, code: connect.CodePermissionDenied, check: stays},
		{name: "delete/non-member", as: "outsider", call: del, code: connect.CodeNotFound, check: stays},
		{name: "delete/with a live project", as: "owner", call: func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error {
			if _, err := w.pool.Exec(ctx, `INSERT INTO controlplane.regions (name, public_url) VALUES ('r1', 'http://r1') ON CONFLICT DO NOTHING`); err != nil {
				t.Fatal(err)
			}
			if _, err := w.pool.Exec(ctx, `INSERT INTO controlplane.projects (id, ref, organization_id, name, region)
				VALUES (gen_random_uuid(), substr(md5(random()::text), 1, 12), $1, 'p', 'r1')`, org); err != nil {
				t.Fatal(err)
			}
			return del(ctx, t, w, c, org)
		}, code: connect.CodeFailedPrecondition, check: stays},
	})
}

func TestMembers(t *testing.T) {
	t.Parallel()
	invite := func(email string, role controlplanev1.Role) func(context.Context, *testing.T, *world, controlplanev1connect.OrganizationServiceClient, string) error {
		return func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error {
			if email == "" {
				email = w.newUser(t, "invitee").Email
			}
			res, err := c.InviteMember(ctx, connect.NewRequest(&controlplanev1.InviteMemberRequest{OrganizationId: org, Email: email, Role: role}))
			if err != nil {
				return err
			}
			tok := res.Msg.GetToken()
			if token.Check(tok, token.InvitationToken) != nil {
				t.Errorf("token %q is not an invitation token", tok)
			}
			if inv := res.Msg.GetInvitation(); inv.GetEmail() != strings.ToLower(email) || inv.GetRole() != role || inv.GetExpiresAt() == nil {
				t.Errorf("invitation %v", inv)
			}
			mails := w.box.To(strings.ToLower(email))
			if len(mails) != 1 || !strings.Contains(mails[0].Body, tok) {
				t.Errorf("mails to %s: %v; want one holding the token", email, mails)
			}
			var stored int
			if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM controlplane.invitations WHERE token_hash = $1`, token.Hash(tok)).Scan(&stored); err != nil || stored != 1 {
				t.Errorf("invitation stored by hash: %d (%v)", stored, err)
			}
			return nil
		}
	}
	accept := func(prepare func(t *testing.T, w *world, org string) (cptest.User, string), wantRole string) func(context.Context, *testing.T, *world, controlplanev1connect.OrganizationServiceClient, string) error {
		return func(ctx context.Context, t *testing.T, w *world, _ controlplanev1connect.OrganizationServiceClient, org string) error {
			u, tok := prepare(t, w, org)
			res, err := w.clientFor(u).AcceptInvitation(ctx, connect.NewRequest(&controlplanev1.AcceptInvitationRequest{Token: tok}))
			if err != nil {
				return err
			}
			if res.Msg.GetOrganization().GetId() != org {
				t.Errorf("accepted into %v", res.Msg.GetOrganization())
			}
			if got := w.roleIn(t, org, u.ID); got != wantRole {
				t.Errorf("role after accepting: %q, want %q", got, wantRole)
			}
			return nil
		}
	}
	invited := func(role controlplanev1.Role) func(*testing.T, *world, string) (cptest.User, string) {
		return func(t *testing.T, w *world, org string) (cptest.User, string) {
			u := w.newUser(t, "invitee")
			return u, w.invite(t, org, strings.ToUpper(u.Email), role)
		}
	}
	setRole := func(target string, role controlplanev1.Role) func(context.Context, *testing.T, *world, controlplanev1connect.OrganizationServiceClient, string) error {
		return func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error {
			id := target
			if u, ok := w.users[target]; ok {
				id = u.ID
			}
			res, err := c.UpdateMemberRole(ctx, connect.NewRequest(&controlplanev1.UpdateMemberRoleRequest{OrganizationId: org, AccountId: id, Role: role}))
			if err == nil && res.Msg.GetMember().GetRole() != role {
				t.Errorf("member %v, want role %v", res.Msg.GetMember(), role)
			}
			return err
		}
	}
	remove := func(target string) func(context.Context, *testing.T, *world, controlplanev1connect.OrganizationServiceClient, string) error {
		return func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error {
			id := target
			if u, ok := w.users[target]; ok {
				id = u.ID
			}
			_, err := c.RemoveMember(ctx, connect.NewRequest(&controlplanev1.RemoveMemberRequest{OrganizationId: org, AccountId: id}))
			return err
		}
	}
	roleIs := func(who, want string) func(*testing.T, *world, string) {
		return func(t *testing.T, w *world, org string) {
			if got := w.roleIn(t, org, w.users[who].ID); got != want {
				t.Errorf("%s's role is %q, want %q", who, got, want)
			}
		}
	}
	run(t, []scenario{
		{name: "list/viewer", as: "viewer", call: func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error {
			w.invite(t, org, w.newUser(t, "pending").Email, controlplanev1.Role_ROLE_VIEWER)
			res, err := c.ListMembers(ctx, connect.NewRequest(&controlplanev1.ListMembersRequest{OrganizationId: org}))
			if err != nil {
				return err
			}
			if n := len(res.Msg.GetMembers()); n != 4 {
				t.Errorf("%d members, want 4", n)
			}
			if m := res.Msg.GetMembers()[0]; m.GetRole() != controlplanev1.Role_ROLE_OWNER || m.GetEmail() != "owner@example.com" {
				t.Errorf("first member %v, want the owner", m)
			}
			if n := len(res.Msg.GetInvitations()); n != 1 {
				t.Errorf("%d invitations, want 1", n)
			}
			return nil
		}},
		{name: "list/non-member", as: "outsider", call: func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error {
			_, err := c.ListMembers(ctx, connect.NewRequest(&controlplanev1.ListMembersRequest{OrganizationId: org}))
			return err
		}, code: connect.CodeNotFound},
		{name: "invite/admin invites a developer", as: "admin", call: invite("", controlplanev1.Role_ROLE_DEVELOPER)},
		{name: "invite/owner invites an owner", as: "owner", call: invite("", controlplanev1.Role_ROLE_OWNER)},
		{name: "invite/admin invites an owner", as: "admin", call: invite("", controlplanev1.Role_ROLE_OWNER), code: connect.CodePermissionDenied},
		{name: "invite/developer", as: "developer", call: invite("", controlplanev1.Role_ROLE_VIEWER), code: connect.CodePermissionDenied},
		{name: "invite/non-member", as: "outsider", call: invite("", controlplanev1.Role_ROLE_VIEWER), code: connect.CodeNotFound},
		{name: "invite/bad email", as: "owner", call: invite("not an email", controlplanev1.Role_ROLE_VIEWER), code: connect.CodeInvalidArgument},
		{name: "invite/no role", as: "owner", call: invite("", controlplanev1.Role_ROLE_UNSPECIFIED), code: connect.CodeInvalidArgument},
		{name: "invite/already a member", as: "owner", call: invite("viewer@example.com", controlplanev1.Role_ROLE_ADMIN), code: connect.CodeAlreadyExists},
		{name: "accept", as: "owner", call: accept(invited(controlplanev1.Role_ROLE_DEVELOPER), "developer")},
		{name: "accept/owner role", as: "owner", call: accept(invited(controlplanev1.Role_ROLE_OWNER), "owner")},
		{name: "accept/another email", as: "owner", call: accept(func(t *testing.T, w *world, org string) (cptest.User, string) {
			return w.newUser(t, "intruder"), w.invite(t, org, w.newUser(t, "invitee").Email, controlplanev1.Role_ROLE_ADMIN)
		}, ""), code: connect.CodePermissionDenied},
		{name: "accept/malformed token", as: "owner", call: accept(func(t *testing.T, w *world, org string) (cptest.User, string) {
			return w.newUser(t, "invitee"), "sov_inv_nope"
		}, ""), code: connect.CodeInvalidArgument},
		{name: "accept/unknown token", as: "owner", call: accept(func(t *testing.T, w *world, org string) (cptest.User, string) {
			return w.newUser(t, "invitee"), token.New(token.InvitationToken)
		}, ""), code: connect.CodeNotFound},
		{name: "accept/twice", as: "owner", call: accept(func(t *testing.T, w *world, org string) (cptest.User, string) {
			u, tok := invited(controlplanev1.Role_ROLE_VIEWER)(t, w, org)
			if _, err := w.clientFor(u).AcceptInvitation(context.Background(), connect.NewRequest(&controlplanev1.AcceptInvitationRequest{Token: tok})); err != nil {
				t.Fatal(err)
			}
			return u, tok
		}, "viewer"), code: connect.CodeFailedPrecondition},
		{name: "accept/expired", as: "owner", call: accept(func(t *testing.T, w *world, org string) (cptest.User, string) {
			u, tok := invited(controlplanev1.Role_ROLE_VIEWER)(t, w, org)
			if _, err := w.pool.Exec(context.Background(), `UPDATE controlplane.invitations SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, token.Hash(tok)); err != nil {
				t.Fatal(err)
			}
			return u, tok
		}, ""), code: connect.CodeFailedPrecondition},
		{name: "role/admin demotes developer", as: "admin", call: setRole("developer", controlplanev1.Role_ROLE_VIEWER), check: roleIs("developer", "viewer")},
		{name: "role/developer", as: "developer", call: setRole("viewer", controlplanev1.Role_ROLE_DEVELOPER), code: connect.CodePermissionDenied, check: roleIs("viewer", "viewer")},
		{name: "role/admin grants owner", as: "admin", call: setRole("developer", controlplanev1.Role_ROLE_OWNER), code: connect.CodePermissionDenied, check: roleIs("developer", "developer")},
		{name: "role/admin demotes owner", as: "admin", call: setRole("owner", controlplanev1.Role_ROLE_ADMIN), code: connect.CodePermissionDenied, check: roleIs("owner", "owner")},
		{name: "role/owner grants owner", as: "owner", call: setRole("admin", controlplanev1.Role_ROLE_OWNER), check: roleIs("admin", "owner")},
		{name: "role/last owner demotes self", as: "owner", call: setRole("owner", controlplanev1.Role_ROLE_ADMIN), code: connect.CodeFailedPrecondition, check: roleIs("owner", "owner")},
		{name: "role/no role", as: "owner", call: setRole("viewer", controlplanev1.Role_ROLE_UNSPECIFIED), code: connect.CodeInvalidArgument},
		{name: "role/not a member", as: "owner", call: setRole(randomID, controlplanev1.Role_ROLE_VIEWER), code: connect.CodeNotFound},
		{name: "role/non-member caller", as: "outsider", call: setRole("viewer", controlplanev1.Role_ROLE_ADMIN), code: connect.CodeNotFound},
		{name: "remove/admin removes developer", as: "admin", call: remove("developer"), check: roleIs("developer", "")},
		{name: "remove/developer removes viewer", as: "developer", call: remove("viewer"), code: connect.CodePermissionDenied, check: roleIs("viewer", "viewer")},
		{name: "remove/viewer leaves", as: "viewer", call: remove("viewer"), check: roleIs("viewer", "")},
		{name: "remove/admin removes owner", as: "admin", call: remove("owner"), code: connect.CodePermissionDenied, check: roleIs("owner", "owner")},
		{name: "remove/last owner leaves", as: "owner", call: remove("owner"), code: connect.CodeFailedPrecondition, check: roleIs("owner", "owner")},
		{name: "remove/one of two owners leaves", as: "owner", call: func(ctx context.Context, t *testing.T, w *world, c controlplanev1connect.OrganizationServiceClient, org string) error {
			if err := setRole("admin", controlplanev1.Role_ROLE_OWNER)(ctx, t, w, c, org); err != nil {
				t.Fatal(err)
			}
			return remove("owner")(ctx, t, w, c, org)
		}, check: roleIs("owner", "")},
		{name: "remove/not a member", as: "owner", call: remove(randomID), code: connect.CodeNotFound},
		{name: "remove/non-member caller", as: "outsider", call: remove("viewer"), code: connect.CodeNotFound},
		{name: "remove/malformed id", as: "owner", call: remove("bob"), code: connect.CodeInvalidArgument},
	})
}

// Two owners demoting each other at once must not leave the organization
// without an owner: membership changes serialize on the organization.
func TestLastOwnerUnderConcurrency(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for range 5 {
		org := w.org(t)
		ctx := context.Background()
		if _, err := w.client("owner").UpdateMemberRole(ctx, connect.NewRequest(&controlplanev1.UpdateMemberRoleRequest{
			OrganizationId: org, AccountId: w.users["admin"].ID, Role: controlplanev1.Role_ROLE_OWNER,
		})); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 2)
		for _, pair := range [][2]string{{"owner", "admin"}, {"admin", "owner"}} {
			go func() {
				_, err := w.client(pair[0]).UpdateMemberRole(ctx, connect.NewRequest(&controlplanev1.UpdateMemberRoleRequest{
					OrganizationId: org, AccountId: w.users[pair[1]].ID, Role: controlplanev1.Role_ROLE_VIEWER,
				}))
				errs <- err
			}()
		}
		e1, e2 := <-errs, <-errs
		var owners int
		if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM controlplane.memberships WHERE organization_id = $1 AND role = 'owner'`, org).Scan(&owners); err != nil {
			t.Fatal(err)
		}
		if owners != 1 {
			t.Fatalf("%d owners left (errors %v, %v), want 1", owners, e1, e2)
		}
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	order := []orgs.Role{orgs.Viewer, orgs.Developer, orgs.Admin, orgs.Owner}
	for i, r := range order {
		for j, min := range order {
			if got := r.AtLeast(min); got != (i >= j) {
				t.Errorf("%s.AtLeast(%s) = %v", r, min, got)
			}
		}
		if r.Require(orgs.Owner, "x") == nil && r != orgs.Owner {
			t.Errorf("%s passes an owner requirement", r)
		}
	}
	if orgs.Role("root").AtLeast(orgs.Viewer) || orgs.Role("").Valid() {
		t.Error("an unknown role counts as a role")
	}
}

// An invitation whose mail fails still exists, and the inviter holds its
// token.
func TestInviteWhenMailFails(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	org := w.org(t)
	w.box.Fail = context.DeadlineExceeded
	u := w.newUser(t, "unmailed")
	tok := w.invite(t, org, u.Email, controlplanev1.Role_ROLE_DEVELOPER)
	if _, err := w.clientFor(u).AcceptInvitation(context.Background(), connect.NewRequest(&controlplanev1.AcceptInvitationRequest{Token: tok})); err != nil {
		t.Fatal(err)
	}
	if got := w.roleIn(t, org, u.ID); got != "developer" {
		t.Errorf("role %q, want developer", got)
	}
}
