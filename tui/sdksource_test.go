package tui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// The SDKSource tests answer the SDK from the wire contract's own
// handlers, to pin down how SDKSource maps answers and failures; the whole
// path against a running platform is the end-to-end tests' job.

const goodToken = "sov_pat_good"

// authed fails with Unauthenticated unless the request carries goodToken.
func authed(h http.Header) error {
	if h.Get("Authorization") != "Bearer "+goodToken {
		return connect.NewError(connect.CodeUnauthenticated, nil)
	}
	return nil
}

type fakeControlPlane struct {
	controlplanev1connect.UnimplementedStatusServiceHandler
	controlplanev1connect.UnimplementedRegionServiceHandler
	controlplanev1connect.UnimplementedOrganizationServiceHandler
	controlplanev1connect.UnimplementedProjectServiceHandler
}

func (fakeControlPlane) GetStatus(context.Context, *connect.Request[controlplanev1.GetStatusRequest]) (*connect.Response[controlplanev1.GetStatusResponse], error) {
	return connect.NewResponse(&controlplanev1.GetStatusResponse{
		Version: "v1.2.3", Ready: true, StartedAt: timestamppb.New(t0.Add(-time.Hour)),
		Checks: []*controlplanev1.DependencyCheck{{Name: "postgres", Ok: true, LatencyMicros: 1500}},
	}), nil
}

func (fakeControlPlane) ListRegions(_ context.Context, r *connect.Request[controlplanev1.ListRegionsRequest]) (*connect.Response[controlplanev1.ListRegionsResponse], error) {
	if err := authed(r.Header()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&controlplanev1.ListRegionsResponse{Regions: []*controlplanev1.Region{
		{Name: "local", PublicUrl: "http://dp", Healthy: true, LastHeartbeatAt: timestamppb.New(t0.Add(-3 * time.Second))},
	}}), nil
}

func (fakeControlPlane) ListOrganizations(_ context.Context, r *connect.Request[controlplanev1.ListOrganizationsRequest]) (*connect.Response[controlplanev1.ListOrganizationsResponse], error) {
	if err := authed(r.Header()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&controlplanev1.ListOrganizationsResponse{Organizations: []*controlplanev1.Organization{
		{Id: "o1", Name: "acme"}, {Id: "o2", Name: "side"},
	}}), nil
}

// ListProjects lists o1's two projects on two pages and refuses o2's.
func (fakeControlPlane) ListProjects(_ context.Context, r *connect.Request[controlplanev1.ListProjectsRequest]) (*connect.Response[controlplanev1.ListProjectsResponse], error) {
	if err := authed(r.Header()); err != nil {
		return nil, err
	}
	if r.Msg.GetOrganizationId() != "o1" {
		return nil, connect.NewError(connect.CodePermissionDenied, nil)
	}
	if r.Msg.GetPageToken() == "" {
		return connect.NewResponse(&controlplanev1.ListProjectsResponse{NextPageToken: "2", Projects: []*controlplanev1.Project{{
			Id: "p2", Ref: "mnopqrstuvwx", OrganizationId: "o1", Name: "blog", Region: "local",
			State: controlplanev1.ProjectState_PROJECT_STATE_PROVISIONING, CreatedAt: timestamppb.New(t0), LastError: "region down",
		}}}), nil
	}
	return connect.NewResponse(&controlplanev1.ListProjectsResponse{Projects: []*controlplanev1.Project{{
		Id: "p1", Ref: "abcdefghijkl", OrganizationId: "o1", Name: "shop", Region: "local",
		State: controlplanev1.ProjectState_PROJECT_STATE_ACTIVE, CreatedAt: timestamppb.New(t0.Add(-time.Hour)),
	}}}), nil
}

type fakeDataPlane struct {
	dataplanev1connect.UnimplementedStatusServiceHandler
}

func (fakeDataPlane) GetStatus(context.Context, *connect.Request[dataplanev1.GetStatusRequest]) (*connect.Response[dataplanev1.GetStatusResponse], error) {
	return connect.NewResponse(&dataplanev1.GetStatusResponse{
		Version: "v1.2.3", Region: "local", Ready: false, StartedAt: timestamppb.New(t0),
		Checks: []*dataplanev1.DependencyCheck{{Name: "valkey", Ok: false, Reason: "timeout", LatencyMicros: 500000}},
	}), nil
}

func startControlPlane(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	cp := fakeControlPlane{}
	mux.Handle(controlplanev1connect.NewStatusServiceHandler(cp))
	mux.Handle(controlplanev1connect.NewRegionServiceHandler(cp))
	mux.Handle(controlplanev1connect.NewOrganizationServiceHandler(cp))
	mux.Handle(controlplanev1connect.NewProjectServiceHandler(cp))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func startDataPlane(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(dataplanev1connect.NewStatusServiceHandler(fakeDataPlane{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// deadURL is the URL of a server that has gone.
func deadURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

func newSource(apiURL, dataURL, token string) *SDKSource {
	opts := []sovereign.Option{sovereign.WithRetries(0)}
	if token != "" {
		opts = append(opts, sovereign.WithToken(token))
	}
	src := NewSDKSource(sovereign.NewManagementClient(apiURL, opts...), sovereign.NewClient(dataURL, sovereign.WithRetries(0)))
	src.APIURL, src.DataURL = apiURL, dataURL
	return src
}

func TestSDKSourceLoggedIn(t *testing.T) {
	t.Parallel()
	api, data := startControlPlane(t), startDataPlane(t)
	snap, err := newSource(api, data, goodToken).Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cp, dp := snap.ControlPlane, snap.DataPlane
	if cp.URL != api || !cp.Reachable || !cp.Ready || cp.Version != "v1.2.3" || !cp.StartedAt.Equal(t0.Add(-time.Hour)) ||
		len(cp.Checks) != 1 || cp.Checks[0] != (Check{Name: "postgres", OK: true, Latency: 1500 * time.Microsecond}) {
		t.Errorf("control plane: %+v", cp)
	}
	if dp.URL != data || !dp.Reachable || dp.Ready || dp.Region != "local" ||
		len(dp.Checks) != 1 || dp.Checks[0] != (Check{Name: "valkey", Reason: "timeout", Latency: 500 * time.Millisecond}) {
		t.Errorf("data plane: %+v", dp)
	}
	if snap.NotLoggedIn || snap.RegionsError != "" || len(snap.Regions) != 1 ||
		snap.Regions[0] != (Region{Name: "local", URL: "http://dp", Healthy: true, LastHeartbeat: t0.Add(-3 * time.Second)}) {
		t.Errorf("regions: %+v (%q)", snap.Regions, snap.RegionsError)
	}
	// o1's projects, from both pages; o2's refusal named but not fatal.
	want := []Project{
		{ID: "p2", Name: "blog", Ref: "mnopqrstuvwx", OrgID: "o1", OrgName: "acme", Region: "local", State: StateProvisioning, CreatedAt: t0, LastError: "region down"},
		{ID: "p1", Name: "shop", Ref: "abcdefghijkl", OrgID: "o1", OrgName: "acme", Region: "local", State: StateActive, CreatedAt: t0.Add(-time.Hour)},
	}
	if len(snap.Projects) != len(want) {
		t.Fatalf("projects: %+v", snap.Projects)
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
	if !strings.Contains(snap.ProjectsError, "side") || !strings.Contains(snap.ProjectsError, "permission_denied") {
		t.Errorf("projects error: %q", snap.ProjectsError)
	}
}

func TestSDKSourceNotLoggedIn(t *testing.T) {
	t.Parallel()
	for _, token := range []string{"", "sov_pat_revoked"} {
		snap, err := newSource(startControlPlane(t), startDataPlane(t), token).Fetch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !snap.NotLoggedIn || snap.Regions != nil || snap.Projects != nil || snap.RegionsError != "" || snap.ProjectsError != "" {
			t.Errorf("token %q: %+v", token, snap)
		}
		if !snap.ControlPlane.Ready {
			t.Errorf("token %q: status needs no credentials: %+v", token, snap.ControlPlane)
		}
	}
}

func TestSDKSourcePlaneDown(t *testing.T) {
	t.Parallel()
	dead := deadURL(t)
	snap, err := newSource(startControlPlane(t), dead, goodToken).Fetch(t.Context())
	if err != nil {
		t.Fatalf("one plane down failed the fetch: %v", err)
	}
	if dp := snap.DataPlane; dp.Reachable || dp.URL != dead || !strings.Contains(dp.Error, "unavailable") {
		t.Errorf("data plane: %+v", dp)
	}
	if !snap.ControlPlane.Reachable || len(snap.Regions) != 1 {
		t.Errorf("the control plane's part is missing: %+v", snap)
	}

	if _, err := newSource(deadURL(t), dead, goodToken).Fetch(t.Context()); err == nil ||
		!strings.Contains(err.Error(), "neither plane answers") {
		t.Errorf("both planes down: %v", err)
	}
}
