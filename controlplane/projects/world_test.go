package projects_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/sovereign-backend/sovereign/controlplane/cptest"
	"github.com/sovereign-backend/sovereign/controlplane/jobs"
	"github.com/sovereign-backend/sovereign/controlplane/orgs"
	"github.com/sovereign-backend/sovereign/controlplane/projects"
	"github.com/sovereign-backend/sovereign/controlplane/regions"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	region       = "local"
	regionSecret = "local-secret-0123456789abcdef"
	// wait bounds every poll: it guards against hangs, it is no speed
	// requirement.
	wait = 60 * time.Second
)

// world is the control plane's organization, region and project services
// on one fresh database, with River working jobs, and a fake data plane
// registered as region "local".
type world struct {
	pool  *pgxpool.Pool
	url   string
	fake  *cptest.FakeDataPlane
	users map[string]cptest.User
}

type worldConfig struct {
	// retention of deleted projects; default one hour (no purge during a test).
	retention time.Duration
}

func newWorld(t *testing.T, wc worldConfig) *world {
	t.Helper()
	ctx := context.Background()
	pool := cptest.DB(t)
	fake := cptest.NewFakeDataPlane(t, regionSecret)
	logger := slog.New(slog.DiscardHandler)
	reg, err := regions.New(regions.Config{Pool: pool, Secrets: map[string]string{region: regionSecret}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.RegionRegister(ctx, regions.RegionRegisterParams{Name: region, PublicURL: fake.URL}); err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	if err := projects.AddWorkers(workers, projects.WorkerConfig{
		Pool: pool, Admin: reg, RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, Logger: logger,
	}); err != nil {
		t.Fatal(err)
	}
	runner, err := jobs.New(ctx, jobs.Config{
		Pool: pool, Workers: workers, FetchPollInterval: 100 * time.Millisecond, TestOnly: true, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := runner.Stop(ctx); err != nil {
			t.Errorf("stop jobs: %v", err)
		}
	})
	retention := wc.retention
	if retention == 0 {
		retention = time.Hour
	}
	projSvc, err := projects.New(projects.Config{
		Pool: pool, Admin: reg, Jobs: runner.Client(), Retention: retention,
		BackstopDelay: 100 * time.Millisecond, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	orgSvc, err := orgs.New(orgs.Config{Pool: pool, Mailer: &cptest.Mailbox{}, PlanChanged: projSvc.LimitsChangedTx, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	url := cptest.Serve(t, func(mux *http.ServeMux, opts ...connect.HandlerOption) {
		mux.Handle(controlplanev1connect.NewOrganizationServiceHandler(orgs.NewHandler(orgSvc), opts...))
		mux.Handle(controlplanev1connect.NewProjectServiceHandler(projects.NewHandler(projSvc), opts...))
		mux.Handle(controlplanev1connect.NewRegionServiceHandler(regions.NewHandler(reg), opts...))
	})
	w := &world{pool: pool, url: url, fake: fake, users: map[string]cptest.User{}}
	for _, name := range []string{"owner", "admin", "developer", "viewer", "outsider"} {
		w.users[name] = cptest.Account(t, pool, name+"@example.com")
	}
	return w
}

func (w *world) projects(who string) controlplanev1connect.ProjectServiceClient {
	if who == "anonymous" {
		return controlplanev1connect.NewProjectServiceClient(http.DefaultClient, w.url)
	}
	return controlplanev1connect.NewProjectServiceClient(http.DefaultClient, w.url, cptest.As(w.users[who]))
}

func (w *world) orgs(who string) controlplanev1connect.OrganizationServiceClient {
	return controlplanev1connect.NewOrganizationServiceClient(http.DefaultClient, w.url, cptest.As(w.users[who]))
}

// org creates an organization as the owner, with the admin, developer and
// viewer as members.
func (w *world) org(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	res, err := w.orgs("owner").CreateOrganization(ctx, connect.NewRequest(&controlplanev1.CreateOrganizationRequest{Name: "Acme"}))
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

// create creates a project as the developer.
func (w *world) create(t *testing.T, org, name string) *controlplanev1.Project {
	t.Helper()
	res, err := w.projects("developer").CreateProject(context.Background(), connect.NewRequest(&controlplanev1.CreateProjectRequest{
		OrganizationId: org, Name: name, Region: region,
	}))
	if err != nil {
		t.Fatalf("create project %s: %v", name, err)
	}
	return res.Msg.GetProject()
}

// get reads a project as the owner.
func (w *world) get(t *testing.T, id string) *controlplanev1.Project {
	t.Helper()
	res, err := w.projects("owner").GetProject(context.Background(), connect.NewRequest(&controlplanev1.GetProjectRequest{Id: id}))
	if err != nil {
		t.Fatalf("get project %s: %v", id, err)
	}
	return res.Msg.GetProject()
}

// waitState polls the project until it is in state.
func (w *world) waitState(t *testing.T, id string, state controlplanev1.ProjectState) *controlplanev1.Project {
	t.Helper()
	var p *controlplanev1.Project
	cptest.Eventually(t, wait, "project "+id+" never reached "+state.String(), func() bool {
		p = w.get(t, id)
		return p.GetState() == state
	})
	return p
}

// active creates a project and waits until it is active.
func (w *world) active(t *testing.T, org, name string) *controlplanev1.Project {
	t.Helper()
	p := w.create(t, org, name)
	return w.waitState(t, p.GetId(), controlplanev1.ProjectState_PROJECT_STATE_ACTIVE)
}
