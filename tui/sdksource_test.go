package tui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/internal/platformtest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// The SDKSource tests ask the real platform (both planes in process, on a
// database of their own) and check how SDKSource maps its answers and its
// failures.

func TestMain(m *testing.M) { testenv.Main(m) }

const password = "correct-horse-battery-staple"

// account signs a new account up and returns a client signed in as it.
func account(t *testing.T, p *platformtest.Platform) (*sovereign.ManagementClient, string) {
	t.Helper()
	email := fmt.Sprintf("tui-%d@example.com", time.Now().UnixNano())
	sess, err := sovereign.NewManagementClient(p.APIURL).Signup(t.Context(), email, password)
	if err != nil {
		t.Fatalf("signup: %v", err)
	}
	return sovereign.NewManagementClient(p.APIURL, sovereign.WithToken(sess.AccessToken)), sess.AccessToken
}

// project creates a project in region local and waits until it is active.
func project(t *testing.T, mc *sovereign.ManagementClient, orgID, name string) *sovereign.Project {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	pr, err := mc.CreateProject(ctx, sovereign.CreateProjectParams{OrganizationID: orgID, Name: name, Region: "local"})
	if err == nil {
		pr, err = mc.WaitProjectActive(ctx, pr.ID)
	}
	if err != nil {
		t.Fatalf("project %s: %v", name, err)
	}
	return pr
}

func organization(t *testing.T, mc *sovereign.ManagementClient, name string) *sovereign.Organization {
	t.Helper()
	o, err := mc.CreateOrganization(t.Context(), name)
	if err != nil {
		t.Fatalf("organization %s: %v", name, err)
	}
	return o
}

// deadURL is the URL of a server that has gone: nothing listens on its
// port.
func deadURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

func newSource(apiURL, dataURL, token string, opts ...sovereign.Option) *SDKSource {
	opts = append(opts, sovereign.WithRetries(0))
	if token != "" {
		opts = append(opts, sovereign.WithToken(token))
	}
	src := NewSDKSource(sovereign.NewManagementClient(apiURL, opts...), sovereign.NewClient(dataURL, sovereign.WithRetries(0)))
	src.APIURL, src.DataURL = apiURL, dataURL
	return src
}

// afterOrgs passes every request on to the platform, counts the
// ListProjects calls, and runs then once, right after the first
// ListOrganizations has been answered: the platform changes between
// SDKSource's two steps, as it may any time in real life.
type afterOrgs struct {
	then         func()
	once         sync.Once
	listProjects atomic.Int32
}

func (a *afterOrgs) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	switch {
	case strings.HasSuffix(r.URL.Path, "/ListOrganizations"):
		a.once.Do(a.then)
	case strings.HasSuffix(r.URL.Path, "/ListProjects"):
		a.listProjects.Add(1)
	}
	return resp, err
}

func TestSDKSourceLoggedIn(t *testing.T) {
	t.Parallel()
	p := platformtest.Start(t, platformtest.Options{})
	mc, token := account(t, p)
	acme := organization(t, mc, "acme")
	shop := project(t, mc, acme.ID, "shop")
	blog := project(t, mc, acme.ID, "blog")
	side := organization(t, mc, "side")

	// side is deleted once SDKSource has listed it, so that listing its
	// projects fails while acme's succeed.
	hook := &afterOrgs{then: func() {
		if err := mc.DeleteOrganization(context.Background(), side.ID); err != nil {
			t.Errorf("delete organization side: %v", err)
		}
	}}
	src := newSource(p.APIURL, p.DataURL, token, sovereign.WithHTTPClient(&http.Client{Transport: hook}))
	src.PageSize = 1 // acme's two projects come on two pages
	before := time.Now()
	snap, err := src.Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	cp, dp := snap.ControlPlane, snap.DataPlane
	if cp.URL != p.APIURL || !cp.Reachable || !cp.Ready || cp.Version != "devel" || cp.StartedAt.IsZero() || cp.StartedAt.After(before) ||
		cp.Region != "" || cp.Error != "" || !hasCheck(cp.Checks, "postgres") {
		t.Errorf("control plane: %+v", cp)
	}
	if dp.URL != p.DataURL || !dp.Reachable || !dp.Ready || dp.Version != "devel" || dp.Region != "local" || dp.StartedAt.IsZero() ||
		dp.Error != "" || !hasCheck(dp.Checks, "postgres") {
		t.Errorf("data plane: %+v", dp)
	}
	if snap.NotLoggedIn || snap.RegionsError != "" || len(snap.Regions) != 1 {
		t.Fatalf("regions: %+v (%q)", snap.Regions, snap.RegionsError)
	}
	if r := snap.Regions[0]; r.Name != "local" || r.URL != p.DataURL || !r.Healthy || time.Since(r.LastHeartbeat) > time.Minute {
		t.Errorf("region: %+v", r)
	}

	// acme's projects, newest first, from both pages; side's failure named
	// but not fatal.
	want := []Project{
		{ID: blog.ID, Name: "blog", Ref: blog.Ref, OrgID: acme.ID, OrgName: "acme", Region: "local", State: StateActive, CreatedAt: blog.CreatedAt},
		{ID: shop.ID, Name: "shop", Ref: shop.Ref, OrgID: acme.ID, OrgName: "acme", Region: "local", State: StateActive, CreatedAt: shop.CreatedAt},
	}
	if len(snap.Projects) != len(want) {
		t.Fatalf("projects: %+v (%q)", snap.Projects, snap.ProjectsError)
	}
	for i := range want {
		got := snap.Projects[i]
		if !got.CreatedAt.Equal(want[i].CreatedAt) {
			t.Errorf("project %d created %v, want %v", i, got.CreatedAt, want[i].CreatedAt)
		}
		got.CreatedAt = want[i].CreatedAt
		if got != want[i] {
			t.Errorf("project %d: %+v, want %+v", i, got, want[i])
		}
	}
	if n := hook.listProjects.Load(); n != 3 {
		t.Errorf("%d ListProjects calls, want 3 (acme's two pages, side's refusal)", n)
	}
	if !strings.Contains(snap.ProjectsError, "list projects of side") || !strings.Contains(snap.ProjectsError, "not_found") {
		t.Errorf("projects error: %q", snap.ProjectsError)
	}
}

func hasCheck(checks []Check, name string) bool {
	for _, c := range checks {
		if c.Name == name {
			return c.OK && c.Latency > 0 && c.Reason == ""
		}
	}
	return false
}

func TestSDKSourceNotLoggedIn(t *testing.T) {
	t.Parallel()
	p := platformtest.Start(t, platformtest.Options{})
	mc, _ := account(t, p)
	pat, secret, err := mc.CreateToken(t.Context(), "monitor", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.RevokeToken(t.Context(), pat.ID); err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{"", secret} {
		snap, err := newSource(p.APIURL, p.DataURL, token).Fetch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !snap.NotLoggedIn || snap.Regions != nil || snap.Projects != nil || snap.RegionsError != "" || snap.ProjectsError != "" {
			t.Errorf("token %q: %+v", token, snap)
		}
		if !snap.ControlPlane.Ready || !snap.DataPlane.Ready {
			t.Errorf("token %q: status needs no credentials: %+v", token, snap)
		}
	}
}

func TestSDKSourcePlaneDown(t *testing.T) {
	t.Parallel()
	p := platformtest.Start(t, platformtest.Options{})
	_, token := account(t, p)

	// The data plane is not where the source looks.
	dead := deadURL(t)
	snap, err := newSource(p.APIURL, dead, token).Fetch(t.Context())
	if err != nil {
		t.Fatalf("one plane down failed the fetch: %v", err)
	}
	if dp := snap.DataPlane; dp.Reachable || dp.URL != dead || !strings.Contains(dp.Error, "unavailable") {
		t.Errorf("data plane: %+v", dp)
	}
	if !snap.ControlPlane.Reachable || len(snap.Regions) != 1 || snap.NotLoggedIn {
		t.Errorf("the control plane's part is missing: %+v", snap)
	}

	// The control plane stops; the data plane keeps serving.
	p.StopControlPlane()
	snap, err = newSource(p.APIURL, p.DataURL, token).Fetch(t.Context())
	if err != nil {
		t.Fatalf("one plane down failed the fetch: %v", err)
	}
	if cp := snap.ControlPlane; cp.Reachable || cp.URL != p.APIURL || !strings.Contains(cp.Error, "unavailable") {
		t.Errorf("control plane: %+v", cp)
	}
	if !snap.DataPlane.Reachable || !snap.DataPlane.Ready || snap.NotLoggedIn || snap.Regions != nil ||
		!strings.Contains(snap.RegionsError, "unavailable") || !strings.Contains(snap.ProjectsError, "unavailable") {
		t.Errorf("with the control plane down: %+v", snap)
	}

	if _, err := newSource(p.APIURL, dead, token).Fetch(t.Context()); err == nil ||
		!strings.Contains(err.Error(), "neither plane answers") {
		t.Errorf("both planes down: %v", err)
	}
}
