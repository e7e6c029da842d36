package projects_test

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/controlplane/cptest"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

const randomID = "0190f0c4-5a3b-7c2d-8e9f-0a1b2c3d4e5f"

// fixture is what each scenario starts from: an organization with an
// active project "app" holding one key, and a project "pending" that stays
// provisioning (it has no provisioning job).
type fixture struct {
	org     string
	active  *controlplanev1.Project
	key     *controlplanev1.ApiKey
	pending string // id of a project that stays provisioning
}

type call func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error

// scenario is one call as one member: the code it must give (0 = success)
// and, for errors, a fragment of the message.
type scenario struct {
	name string
	as   string
	call call
	code connect.Code
	msg  string
}

func TestProjectService(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldConfig{})
	ctx := context.Background()

	create := func(name, region string, org ...string) call {
		return func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error {
			o := f.org
			if len(org) > 0 {
				o = org[0]
			}
			_, err := c.CreateProject(ctx, connect.NewRequest(&controlplanev1.CreateProjectRequest{OrganizationId: o, Name: name, Region: region}))
			return err
		}
	}
	get := func(id string) call {
		return func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error {
			if id == "" {
				id = f.active.GetId()
			}
			_, err := c.GetProject(ctx, connect.NewRequest(&controlplanev1.GetProjectRequest{Id: id}))
			return err
		}
	}
	list := func(size int32, tok string) call {
		return func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error {
			_, err := c.ListProjects(ctx, connect.NewRequest(&controlplanev1.ListProjectsRequest{OrganizationId: f.org, PageSize: size, PageToken: tok}))
			return err
		}
	}
	rename := func(name string) call {
		return func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error {
			_, err := c.RenameProject(ctx, connect.NewRequest(&controlplanev1.RenameProjectRequest{Id: f.active.GetId(), Name: name}))
			return err
		}
	}
	pause := func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error {
		_, err := c.PauseProject(ctx, connect.NewRequest(&controlplanev1.PauseProjectRequest{Id: f.active.GetId()}))
		return err
	}
	resume := func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error {
		_, err := c.ResumeProject(ctx, connect.NewRequest(&controlplanev1.ResumeProjectRequest{Id: f.active.GetId()}))
		return err
	}
	del := func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error {
		_, err := c.DeleteProject(ctx, connect.NewRequest(&controlplanev1.DeleteProjectRequest{Id: f.active.GetId()}))
		return err
	}
	createKey := func(name string, kind controlplanev1.ApiKeyKind, ttl int64) call {
		return func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error {
			_, err := c.CreateApiKey(ctx, connect.NewRequest(&controlplanev1.CreateApiKeyRequest{ProjectId: f.active.GetId(), Name: name, Kind: kind, TtlSeconds: ttl}))
			return err
		}
	}
	listKeys := func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error {
		_, err := c.ListApiKeys(ctx, connect.NewRequest(&controlplanev1.ListApiKeysRequest{ProjectId: f.active.GetId()}))
		return err
	}
	revoke := func(id string) call {
		return func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error {
			if id == "" {
				id = f.key.GetId()
			}
			_, err := c.RevokeApiKey(ctx, connect.NewRequest(&controlplanev1.RevokeApiKeyRequest{Id: id}))
			return err
		}
	}
	secret := controlplanev1.ApiKeyKind_API_KEY_KIND_SECRET

	scenarios := []scenario{
		{name: "create", as: "developer", call: create("new", region)},
		{name: "create/unknown region", as: "developer", call: create("new", "mars-1"), code: connect.CodeNotFound, msg: "sov regions list"},
		{name: "create/no region", as: "developer", call: create("new", ""), code: connect.CodeInvalidArgument, msg: "region"},
		{name: "create/duplicate name", as: "developer", call: create("app", region), code: connect.CodeAlreadyExists, msg: "app"},
		{name: "create/duplicate name after trimming", as: "admin", call: create("  app ", region), code: connect.CodeAlreadyExists},
		{name: "create/empty name", as: "developer", call: create("  ", region), code: connect.CodeInvalidArgument, msg: "name"},
		{name: "create/name too long", as: "developer", call: create(strings.Repeat("p", 65), region), code: connect.CodeInvalidArgument, msg: "name"},
		{name: "create/control character", as: "developer", call: create("a\tb", region), code: connect.CodeInvalidArgument, msg: "control"},
		{name: "create/viewer", as: "viewer", call: create("new", region), code: connect.CodePermissionDenied, msg: "developer"},
		{name: "create/non-member", as: "outsider", call: create("new", region), code: connect.CodeNotFound},
		{name: "create/unknown organization", as: "owner", call: create("new", region, randomID), code: connect.CodeNotFound},
		{name: "create/malformed organization id", as: "owner", call: create("new", region, "acme"), code: connect.CodeInvalidArgument, msg: "organization_id"},
		{name: "create/anonymous", as: "anonymous", call: create("new", region), code: connect.CodeUnauthenticated},
		{name: "get/viewer", as: "viewer", call: get("")},
		{name: "get/non-member", as: "outsider", call: get(""), code: connect.CodeNotFound},
		{name: "get/unknown id", as: "owner", call: get(randomID), code: connect.CodeNotFound},
		{name: "get/unknown ref", as: "owner", call: get("zzzzzzzzzzzz"), code: connect.CodeNotFound},
		{name: "get/malformed id", as: "owner", call: get("not-a-project"), code: connect.CodeInvalidArgument},
		{name: "get/anonymous", as: "anonymous", call: get(""), code: connect.CodeUnauthenticated},
		{name: "list/viewer", as: "viewer", call: list(0, "")},
		{name: "list/non-member", as: "outsider", call: list(0, ""), code: connect.CodeNotFound},
		{name: "list/page size too big", as: "viewer", call: list(101, ""), code: connect.CodeInvalidArgument, msg: "page_size"},
		{name: "list/negative page size", as: "viewer", call: list(-1, ""), code: connect.CodeInvalidArgument, msg: "page_size"},
		{name: "list/garbage page token", as: "viewer", call: list(0, "garbage!"), code: connect.CodeInvalidArgument, msg: "page_token"},
		{name: "rename/developer", as: "developer", call: rename("renamed")},
		{name: "rename/same name", as: "developer", call: rename("app")},
		{name: "rename/to a taken name", as: "developer", call: rename("pending"), code: connect.CodeAlreadyExists},
		{name: "rename/bad name", as: "developer", call: rename(""), code: connect.CodeInvalidArgument},
		{name: "rename/viewer", as: "viewer", call: rename("x"), code: connect.CodePermissionDenied},
		{name: "rename/non-member", as: "outsider", call: rename("x"), code: connect.CodeNotFound},
		{name: "pause/developer", as: "developer", call: pause},
		{name: "pause/viewer", as: "viewer", call: pause, code: connect.CodePermissionDenied},
		{name: "pause/non-member", as: "outsider", call: pause, code: connect.CodeNotFound},
		{name: "pause/provisioning", as: "developer", call: func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error {
			_, err := c.PauseProject(ctx, connect.NewRequest(&controlplanev1.PauseProjectRequest{Id: f.pending}))
			return err
		}, code: connect.CodeFailedPrecondition, msg: "provisioning"},
		{name: "resume/provisioning", as: "developer", call: func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error {
			_, err := c.ResumeProject(ctx, connect.NewRequest(&controlplanev1.ResumeProjectRequest{Id: f.pending}))
			return err
		}, code: connect.CodeFailedPrecondition, msg: "provisioning"},
		{name: "delete/provisioning", as: "owner", call: func(ctx context.Context, c controlplanev1connect.ProjectServiceClient, f fixture) error {
			_, err := c.DeleteProject(ctx, connect.NewRequest(&controlplanev1.DeleteProjectRequest{Id: f.pending}))
			return err
		}},
		{name: "resume/active is a no-op", as: "developer", call: resume},
		{name: "resume/viewer", as: "viewer", call: resume, code: connect.CodePermissionDenied},
		{name: "delete/admin", as: "admin", call: del},
		{name: "delete/developer", as: "developer", call: del, code: connect.CodePermissionDenied, msg: "admin"},
		{name: "delete/viewer", as: "viewer", call: del, code: connect.CodePermissionDenied},
		{name: "delete/non-member", as: "outsider", call: del, code: connect.CodeNotFound},
		{name: "key/create as developer", as: "developer", call: createKey("ci", secret, 0)},
		{name: "key/create as viewer", as: "viewer", call: createKey("ci", secret, 0), code: connect.CodePermissionDenied},
		{name: "key/create as non-member", as: "outsider", call: createKey("ci", secret, 0), code: connect.CodeNotFound},
		{name: "key/no kind", as: "developer", call: createKey("ci", controlplanev1.ApiKeyKind_API_KEY_KIND_UNSPECIFIED, 0), code: connect.CodeInvalidArgument, msg: "kind"},
		{name: "key/negative ttl", as: "developer", call: createKey("ci", secret, -1), code: connect.CodeInvalidArgument, msg: "ttl_seconds"},
		{name: "key/huge ttl", as: "developer", call: createKey("ci", secret, 1<<40), code: connect.CodeInvalidArgument, msg: "ttl_seconds"},
		{name: "key/empty name", as: "developer", call: createKey("", secret, 0), code: connect.CodeInvalidArgument, msg: "name"},
		{name: "key/name too long", as: "developer", call: createKey(strings.Repeat("k", 65), secret, 0), code: connect.CodeInvalidArgument, msg: "name"},
		{name: "key/list as viewer", as: "viewer", call: listKeys},
		{name: "key/list as non-member", as: "outsider", call: listKeys, code: connect.CodeNotFound},
		{name: "key/revoke as developer", as: "developer", call: revoke("")},
		{name: "key/revoke as viewer", as: "viewer", call: revoke(""), code: connect.CodePermissionDenied},
		{name: "key/revoke as non-member", as: "outsider", call: revoke(""), code: connect.CodeNotFound},
		{name: "key/revoke unknown", as: "owner", call: revoke(randomID), code: connect.CodeNotFound},
		{name: "key/revoke malformed id", as: "owner", call: revoke("sov_sk_x"), code: connect.CodeInvalidArgument},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			f := fixture{org: w.org(t)}
			f.active = w.active(t, f.org, "app")
			res, err := w.projects("developer").CreateApiKey(ctx, connect.NewRequest(&controlplanev1.CreateApiKeyRequest{
				ProjectId: f.active.GetId(), Name: "k", Kind: secret,
			}))
			if err != nil {
				t.Fatal(err)
			}
			f.key = res.Msg.GetApiKey()
			if err := w.pool.QueryRow(ctx, `INSERT INTO controlplane.projects (id, ref, organization_id, name, region)
				VALUES (gen_random_uuid(), substr(md5(random()::text), 1, 12), $1, 'pending', $2) RETURNING id::text`,
				f.org, region).Scan(&f.pending); err != nil {
				t.Fatal(err)
			}
			err = sc.call(ctx, w.projects(sc.as), f)
			if got := cptest.Code(err); got != sc.code {
				t.Fatalf("code %v, want %v (err %v)", got, sc.code, err)
			}
			if err != nil && !strings.Contains(err.Error(), sc.msg) {
				t.Errorf("message %q does not mention %q", err.Error(), sc.msg)
			}
		})
	}
}

// Pages are newest first, disjoint and complete; deleted projects appear
// only on request; a token works only for its own listing.
func TestListProjects(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldConfig{})
	ctx := context.Background()
	org, other := w.org(t), w.org(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, w.create(t, org, "p"+string(rune('a'+i))).GetId())
	}
	w.create(t, other, "elsewhere")
	deleted := w.active(t, org, "deleted")
	if _, err := w.projects("owner").DeleteProject(ctx, connect.NewRequest(&controlplanev1.DeleteProjectRequest{Id: deleted.GetId()})); err != nil {
		t.Fatal(err)
	}
	c := w.projects("viewer")
	page := func(size int32, tok string, includeDeleted bool) ([]string, string) {
		t.Helper()
		res, err := c.ListProjects(ctx, connect.NewRequest(&controlplanev1.ListProjectsRequest{
			OrganizationId: org, PageSize: size, PageToken: tok, IncludeDeleted: includeDeleted,
		}))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range res.Msg.GetProjects() {
			got = append(got, p.GetId())
		}
		return got, res.Msg.GetNextPageToken()
	}
	var all []string
	tok, pages := "", 0
	for {
		got, next := page(2, tok, false)
		all = append(all, got...)
		pages++
		if next == "" {
			break
		}
		tok = next
	}
	if pages != 3 || len(all) != 5 {
		t.Fatalf("%d pages, %d projects, want 3 and 5", pages, len(all))
	}
	for i, id := range all {
		if id != ids[len(ids)-1-i] {
			t.Fatalf("listed %v, want newest first %v", all, ids)
		}
	}
	if got, next := page(0, "", true); len(got) != 6 || got[0] != deleted.GetId() || next != "" {
		t.Errorf("with deleted: %v (next %q)", got, next)
	}
	_, next := page(2, "", false)
	for name, req := range map[string]*controlplanev1.ListProjectsRequest{
		"other organization": {OrganizationId: other, PageToken: next},
		"include_deleted":    {OrganizationId: org, PageToken: next, IncludeDeleted: true},
	} {
		if _, err := w.projects("owner").ListProjects(ctx, connect.NewRequest(req)); cptest.Code(err) != connect.CodeInvalidArgument {
			t.Errorf("token reused with %s: %v, want InvalidArgument", name, err)
		}
	}
}

// A refused create leaves nothing behind: no project and no job.
func TestCreateLeavesNothingOnError(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldConfig{})
	ctx := context.Background()
	org := w.org(t)
	w.create(t, org, "one")
	for _, req := range []*controlplanev1.CreateProjectRequest{
		{OrganizationId: org, Name: "one", Region: region},
		{OrganizationId: org, Name: "two", Region: "nowhere"},
	} {
		if _, err := w.projects("developer").CreateProject(ctx, connect.NewRequest(req)); err == nil {
			t.Fatalf("create %v succeeded", req)
		}
	}
	var projects, jobs int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM controlplane.projects`).Scan(&projects); err != nil {
		t.Fatal(err)
	}
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM controlplane_river.river_job WHERE kind = 'provision_project'`).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if projects != 1 || jobs != 1 {
		t.Errorf("%d projects and %d provisioning jobs, want 1 and 1", projects, jobs)
	}
}
