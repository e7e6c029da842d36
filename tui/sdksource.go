package tui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// SDKSource is the [Source] that asks the platform through the Go SDK: the
// status of both planes (no credentials needed), and the regions and the
// projects of every organization of the caller (credentials needed).
type SDKSource struct {
	// APIURL and DataURL label the planes in snapshots; they do not choose
	// where the clients connect.
	APIURL, DataURL string
	// PageSize is how many projects each list request asks for, 1 to 100;
	// 0 means 100.
	PageSize int

	mgmt *sovereign.ManagementClient
	data *sovereign.Client
}

// NewSDKSource returns a Source that asks mgmt (the control plane) and data
// (a data plane). data may be nil: the data plane then shows as
// unreachable. Without credentials on mgmt, snapshots say NotLoggedIn.
func NewSDKSource(mgmt *sovereign.ManagementClient, data *sovereign.Client) *SDKSource {
	return &SDKSource{mgmt: mgmt, data: data}
}

// Fetch asks for everything at once and waits for all of it. It fails only
// when ctx ends or neither plane answers.
func (s *SDKSource) Fetch(ctx context.Context) (Snapshot, error) {
	var (
		snap              Snapshot
		regionsErr        error
		projectsErr       error
		cpErr, dpErr      error
		wg                sync.WaitGroup
		cpStatus, dpStats *sovereign.Status
	)
	wg.Go(func() { cpStatus, cpErr = s.mgmt.Status(ctx) })
	wg.Go(func() {
		if s.data == nil {
			dpErr = errors.New("no data plane configured")
			return
		}
		dpStats, dpErr = s.data.Status(ctx)
	})
	wg.Go(func() { snap.Regions, regionsErr = s.regions(ctx) })
	wg.Go(func() { snap.Projects, projectsErr = s.projects(ctx) })
	wg.Wait()

	if err := ctx.Err(); err != nil {
		return Snapshot{}, err
	}
	snap.ControlPlane = planeOf(s.APIURL, cpStatus, cpErr)
	snap.DataPlane = planeOf(s.DataURL, dpStats, dpErr)
	if cpErr != nil && dpErr != nil {
		return Snapshot{}, fmt.Errorf("neither plane answers: control plane: %w; data plane: %w", cpErr, dpErr)
	}
	if sovereign.IsUnauthenticated(regionsErr) || sovereign.IsUnauthenticated(projectsErr) {
		snap.NotLoggedIn = true
		snap.Regions, snap.Projects = nil, nil
		return snap, nil
	}
	if regionsErr != nil {
		snap.RegionsError = regionsErr.Error()
	}
	if projectsErr != nil {
		snap.ProjectsError = projectsErr.Error()
	}
	return snap, nil
}

func planeOf(url string, st *sovereign.Status, err error) Plane {
	if err != nil {
		return Plane{URL: url, Error: err.Error()}
	}
	p := Plane{URL: url, Reachable: true, Ready: st.Ready, Version: st.Version, Region: st.Region, StartedAt: st.StartedAt}
	for _, c := range st.Checks {
		p.Checks = append(p.Checks, Check{Name: c.Name, OK: c.OK, Reason: c.Reason, Latency: c.Latency})
	}
	return p
}

func (s *SDKSource) regions(ctx context.Context) ([]Region, error) {
	var out []Region
	for r, err := range s.mgmt.Regions(ctx) {
		if err != nil {
			return nil, fmt.Errorf("list regions: %w", err)
		}
		out = append(out, Region{Name: r.Name, URL: r.PublicURL, Healthy: r.Healthy, LastHeartbeat: r.LastHeartbeatAt})
	}
	return out, nil
}

// projects lists the live projects of every organization of the caller. An
// organization whose projects cannot be listed does not hide the others:
// the error names it, and the projects listed are kept.
func (s *SDKSource) projects(ctx context.Context) ([]Project, error) {
	orgs, err := sovereign.Collect(s.mgmt.Organizations(ctx))
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	var (
		out    []Project
		failed []string
		first  error
	)
	for _, org := range orgs {
		for p, err := range s.mgmt.Projects(ctx, sovereign.ListProjectsParams{OrganizationID: org.ID, PageSize: cmp.Or(s.PageSize, 100)}) {
			if err != nil {
				if first == nil {
					first = err
				}
				failed = append(failed, org.Name)
				break
			}
			out = append(out, Project{
				ID: p.ID, Name: p.Name, Ref: p.Ref, OrgID: org.ID, OrgName: org.Name,
				Region: p.Region, State: stateOf(p.State), CreatedAt: p.CreatedAt, LastError: p.LastError,
			})
		}
	}
	if first != nil {
		return out, fmt.Errorf("list projects of %s: %w", strings.Join(failed, ", "), first)
	}
	return out, nil
}

func stateOf(s sovereign.ProjectState) string {
	switch s {
	case sovereign.ProjectProvisioning, sovereign.ProjectActive, sovereign.ProjectPaused,
		sovereign.ProjectDeleting, sovereign.ProjectDeleted:
		return string(s)
	default:
		return StateUnknown
	}
}
