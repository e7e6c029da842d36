package sovereign

import (
	"context"
	"fmt"
	"iter"
	"time"

	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// CreateProjectParams describe a new project.
type CreateProjectParams struct {
	// OrganizationID is the organization that owns the project.
	OrganizationID string
	// Name is 1 to 64 characters, unique among the organization's live
	// projects.
	Name string
	// Region is where the project's data lives, e.g. "local" for `sovereign
	// dev`; [ManagementClient.Regions] lists them.
	Region string
}

// CreateProject records a project and starts provisioning it in its region.
// The project it returns is usually still [ProjectProvisioning]; wait for it
// with [ManagementClient.WaitProjectActive] before using its keys.
//
// Errors: [CodeNotFound] (the organization or region is unknown),
// [CodeAlreadyExists] (the name is taken in the organization),
// [CodePermissionDenied] (the caller is a viewer).
func (c *ManagementClient) CreateProject(ctx context.Context, p CreateProjectParams) (*Project, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.ProjectServiceCreateProjectProcedure, callCreate,
		c.projects.CreateProject, &controlplanev1.CreateProjectRequest{OrganizationId: p.OrganizationID, Name: p.Name, Region: p.Region})
	if err != nil {
		return nil, err
	}
	return projectOf(m.GetProject()), nil
}

// GetProject returns a project by id or ref.
func (c *ManagementClient) GetProject(ctx context.Context, idOrRef string) (*Project, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.ProjectServiceGetProjectProcedure, callRead,
		c.projects.GetProject, &controlplanev1.GetProjectRequest{Id: idOrRef})
	if err != nil {
		return nil, err
	}
	return projectOf(m.GetProject()), nil
}

// ListProjectsParams select the projects [ManagementClient.Projects] lists.
type ListProjectsParams struct {
	// OrganizationID is the organization whose projects are listed.
	OrganizationID string
	// IncludeDeleted lists deleting and deleted projects too.
	IncludeDeleted bool
	// PageSize is how many projects each request fetches, 1 to 100; 0
	// lets the platform choose (50).
	PageSize int
}

// Projects lists an organization's projects, newest first, fetching pages
// as the loop goes.
func (c *ManagementClient) Projects(ctx context.Context, p ListProjectsParams) iter.Seq2[*Project, error] {
	return pages(ctx, func(ctx context.Context, token string) ([]*Project, string, error) {
		m, err := unary(ctx, c.c, controlplanev1connect.ProjectServiceListProjectsProcedure, callRead,
			c.projects.ListProjects, &controlplanev1.ListProjectsRequest{
				OrganizationId: p.OrganizationID, PageSize: int32(min(max(p.PageSize, 0), 100)),
				PageToken: token, IncludeDeleted: p.IncludeDeleted,
			})
		if err != nil {
			return nil, "", err
		}
		return mapSlice(m.GetProjects(), projectOf), m.GetNextPageToken(), nil
	})
}

// RenameProject renames a project (id or ref).
func (c *ManagementClient) RenameProject(ctx context.Context, idOrRef, name string) (*Project, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.ProjectServiceRenameProjectProcedure, callOnce,
		c.projects.RenameProject, &controlplanev1.RenameProjectRequest{Id: idOrRef, Name: name})
	if err != nil {
		return nil, err
	}
	return projectOf(m.GetProject()), nil
}

// PauseProject stops the data plane from serving a project's keys; its data
// is kept.
func (c *ManagementClient) PauseProject(ctx context.Context, idOrRef string) (*Project, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.ProjectServicePauseProjectProcedure, callOnce,
		c.projects.PauseProject, &controlplanev1.PauseProjectRequest{Id: idOrRef})
	if err != nil {
		return nil, err
	}
	return projectOf(m.GetProject()), nil
}

// ResumeProject serves a paused project again.
func (c *ManagementClient) ResumeProject(ctx context.Context, idOrRef string) (*Project, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.ProjectServiceResumeProjectProcedure, callOnce,
		c.projects.ResumeProject, &controlplanev1.ResumeProjectRequest{Id: idOrRef})
	if err != nil {
		return nil, err
	}
	return projectOf(m.GetProject()), nil
}

// DeleteProject stops serving a project at once. Its data is kept for 7 days
// (state [ProjectDeleting], until PurgeAt), then dropped.
func (c *ManagementClient) DeleteProject(ctx context.Context, idOrRef string) (*Project, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.ProjectServiceDeleteProjectProcedure, callOnce,
		c.projects.DeleteProject, &controlplanev1.DeleteProjectRequest{Id: idOrRef})
	if err != nil {
		return nil, err
	}
	return projectOf(m.GetProject()), nil
}

// Polling intervals of WaitProjectActive: the first, the growth factor and
// the longest.
const (
	waitFirst  = 100 * time.Millisecond
	waitGrowth = 1.5
	waitMax    = 2 * time.Second
)

// WaitProjectActive polls a provisioning project until it is
// [ProjectActive] and returns it. Bound the wait with ctx: when ctx ends
// first, the error wraps ctx's error and says why provisioning has not
// finished, if the platform said. A project that leaves provisioning for
// another state (paused, deleting) gives a [CodeFailedPrecondition] error.
func (c *ManagementClient) WaitProjectActive(ctx context.Context, idOrRef string) (*Project, error) {
	wait := waitFirst
	var last *Project
	for {
		p, err := c.GetProject(ctx, idOrRef)
		if err != nil {
			if ctx.Err() != nil {
				return nil, waitErr(idOrRef, last, ctx.Err())
			}
			return nil, err
		}
		last = p
		switch p.State {
		case ProjectActive:
			return p, nil
		case ProjectProvisioning:
		default:
			return nil, &Error{Code: CodeFailedPrecondition,
				Message: fmt.Sprintf("project %s is %s, so it will not become active", p.Ref, p.State)}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, waitErr(idOrRef, last, ctx.Err())
		case <-t.C:
		}
		wait = min(time.Duration(float64(wait)*waitGrowth), waitMax)
	}
}

func waitErr(idOrRef string, last *Project, err error) error {
	if last == nil {
		return fmt.Errorf("sovereign: waiting for project %s: %w", idOrRef, err)
	}
	why := ""
	if last.LastError != "" {
		why = " (last error: " + last.LastError + ")"
	}
	return fmt.Errorf("sovereign: project %s is still provisioning%s: %w", last.Ref, why, err)
}

// CreateAPIKeyParams describe a new API key.
type CreateAPIKeyParams struct {
	// ProjectID is the project's id.
	ProjectID string
	// Name is 1 to 64 characters, to tell keys apart.
	Name string
	// Kind is [KeyPublishable] or [KeySecret].
	Kind KeyKind
	// TTL is the key's lifetime in whole seconds; 0 for a key that does not
	// expire.
	TTL time.Duration
}

// CreateAPIKey makes a project API key and returns its description and the
// key itself, which is shown only this once: the platform keeps only a hash.
// Viewers cannot create keys ([CodePermissionDenied]).
func (c *ManagementClient) CreateAPIKey(ctx context.Context, p CreateAPIKeyParams) (*APIKey, string, error) {
	kind, err := p.Kind.proto()
	if err != nil {
		return nil, "", err
	}
	secs, err := ttlSeconds(p.TTL)
	if err != nil {
		return nil, "", err
	}
	m, err := unary(ctx, c.c, controlplanev1connect.ProjectServiceCreateApiKeyProcedure, callCreate,
		c.projects.CreateApiKey, &controlplanev1.CreateApiKeyRequest{ProjectId: p.ProjectID, Name: p.Name, Kind: kind, TtlSeconds: secs})
	if err != nil {
		return nil, "", err
	}
	return apiKeyOf(m.GetApiKey()), m.GetSecret(), nil
}

// ListAPIKeysParams select the keys [ManagementClient.APIKeys] lists.
type ListAPIKeysParams struct {
	// ProjectID is the project's id.
	ProjectID string
	// IncludeRevoked lists revoked keys too.
	IncludeRevoked bool
}

// APIKeys lists a project's API keys: prefix, name and times, never the
// keys themselves.
func (c *ManagementClient) APIKeys(ctx context.Context, p ListAPIKeysParams) iter.Seq2[*APIKey, error] {
	return pages(ctx, func(ctx context.Context, _ string) ([]*APIKey, string, error) {
		m, err := unary(ctx, c.c, controlplanev1connect.ProjectServiceListApiKeysProcedure, callRead,
			c.projects.ListApiKeys, &controlplanev1.ListApiKeysRequest{ProjectId: p.ProjectID, IncludeRevoked: p.IncludeRevoked})
		if err != nil {
			return nil, "", err
		}
		return mapSlice(m.GetApiKeys(), apiKeyOf), "", nil
	})
}

// RevokeAPIKey revokes an API key by id. The data plane refuses it within a
// second.
func (c *ManagementClient) RevokeAPIKey(ctx context.Context, id string) (*APIKey, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.ProjectServiceRevokeApiKeyProcedure, callOnce,
		c.projects.RevokeApiKey, &controlplanev1.RevokeApiKeyRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return apiKeyOf(m.GetApiKey()), nil
}
