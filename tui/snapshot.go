// Package tui is `sov monitor`: live monitoring of a customer's platform and
// projects in the terminal, built on Bubble Tea.
//
// The root [Model] routes between pages (Overview, Regions, Projects). Data
// comes from a [Source] as a [Snapshot] of plain values, fetched in a tea.Cmd
// every few seconds; the model itself does no I/O. [NewSDKSource] is the
// Source backed by the Go SDK.
package tui

import (
	"context"
	"time"
)

// Source fetches what the monitor shows.
type Source interface {
	// Fetch returns the platform's current state. Failures of one part (a
	// plane that does not answer, a list the caller may not read) belong in
	// the Snapshot; Fetch returns an error only when it has nothing worth
	// showing, e.g. when neither plane answers or ctx ended.
	Fetch(ctx context.Context) (Snapshot, error)
}

// Snapshot is the platform's state at one moment, in plain types so that
// pages, tests and `--json` output need nothing from the wire contract.
type Snapshot struct {
	// ControlPlane is the control plane's status.
	ControlPlane Plane `json:"control_plane"`
	// DataPlane is the status of the region's data plane the CLI points at.
	DataPlane Plane `json:"data_plane"`
	// NotLoggedIn is true when the control plane refused the listing calls
	// for want of credentials; Regions and Projects are then empty.
	NotLoggedIn bool `json:"not_logged_in"`
	// Regions are the platform's regions, by name.
	Regions []Region `json:"regions"`
	// RegionsError says why Regions could not be listed; empty on success
	// and when NotLoggedIn.
	RegionsError string `json:"regions_error,omitempty"`
	// Projects are the projects of every organization the caller belongs
	// to, in the order the control plane lists them (newest first per
	// organization).
	Projects []Project `json:"projects"`
	// ProjectsError says why Projects could not be listed (completely);
	// empty on success and when NotLoggedIn.
	ProjectsError string `json:"projects_error,omitempty"`
}

// Plane is what one server (control plane or data plane) says of itself.
type Plane struct {
	// URL is the base URL the plane was asked at.
	URL string `json:"url"`
	// Reachable is false when the plane did not answer; Error says why and
	// the remaining fields are zero.
	Reachable bool `json:"reachable"`
	// Error says why the plane could not be reached.
	Error string `json:"error,omitempty"`
	// Ready is true when every dependency of the plane answered.
	Ready bool `json:"ready"`
	// Version of the server build.
	Version string `json:"version,omitempty"`
	// Region the plane serves; empty for the control plane.
	Region string `json:"region,omitempty"`
	// StartedAt is when the server process started.
	StartedAt time.Time `json:"started_at"`
	// Checks are the plane's dependency checks.
	Checks []Check `json:"checks"`
}

// Check is the state of one dependency of a plane.
type Check struct {
	// Name of the dependency, e.g. "postgres" or "valkey".
	Name string `json:"name"`
	// OK is true when the dependency answered in time.
	OK bool `json:"ok"`
	// Reason says why the check failed; empty when OK.
	Reason string `json:"reason,omitempty"`
	// Latency of the probe.
	Latency time.Duration `json:"latency_ns"`
}

// Region is a region and its data plane, as the control plane knows it.
type Region struct {
	// Name of the region, e.g. "local" or "eu-1".
	Name string `json:"name"`
	// URL is the data plane's public base URL.
	URL string `json:"url"`
	// Healthy is true when the data plane's last heartbeat is recent.
	Healthy bool `json:"healthy"`
	// LastHeartbeat is when the data plane last said it was alive; zero
	// when it never did.
	LastHeartbeat time.Time `json:"last_heartbeat_at"`
}

// Project is one project (tenant).
type Project struct {
	// ID is the project's id.
	ID string `json:"id"`
	// Name is the project's display name.
	Name string `json:"name"`
	// Ref is the project's short reference.
	Ref string `json:"ref"`
	// OrgID is the id of the organization that owns the project.
	OrgID string `json:"organization_id"`
	// OrgName is that organization's name.
	OrgName string `json:"organization_name"`
	// Region is the name of the region the project lives in.
	Region string `json:"region"`
	// State is one of "provisioning", "active", "paused", "deleting",
	// "deleted" or "unknown".
	State string `json:"state"`
	// CreatedAt is when the project was created.
	CreatedAt time.Time `json:"created_at"`
	// LastError says why provisioning has not finished yet, when it was
	// retried; empty otherwise.
	LastError string `json:"last_error,omitempty"`
}

// Project states, as in [Project.State].
const (
	StateProvisioning = "provisioning"
	StateActive       = "active"
	StatePaused       = "paused"
	StateDeleting     = "deleting"
	StateDeleted      = "deleted"
	StateUnknown      = "unknown"
)
