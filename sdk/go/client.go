package sovereign

import (
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// ManagementClient calls the control plane: the operator side where accounts,
// organizations, projects and API keys live. It is safe for concurrent use.
//
// Most calls need credentials: give [WithToken] (an access token from a
// [Session] or a personal access token) or [WithTokenFunc]. Signup, Login,
// Refresh and the email verification and password reset calls need none.
type ManagementClient struct {
	c        *caller
	status   controlplanev1connect.StatusServiceClient
	accounts controlplanev1connect.AccountServiceClient
	orgs     controlplanev1connect.OrganizationServiceClient
	regions  controlplanev1connect.RegionServiceClient
	projects controlplanev1connect.ProjectServiceClient
	devMail  controlplanev1connect.DevMailServiceClient
}

// NewManagementClient returns a client of the control plane at baseURL, e.g.
// "http://127.0.0.1:7070" for `sovereign dev`.
func NewManagementClient(baseURL string, opts ...Option) *ManagementClient {
	o := buildOptions(opts)
	hc, u := o.client(), trimURL(baseURL)
	return &ManagementClient{
		c:        &caller{opts: o},
		status:   controlplanev1connect.NewStatusServiceClient(hc, u),
		accounts: controlplanev1connect.NewAccountServiceClient(hc, u),
		orgs:     controlplanev1connect.NewOrganizationServiceClient(hc, u),
		regions:  controlplanev1connect.NewRegionServiceClient(hc, u),
		projects: controlplanev1connect.NewProjectServiceClient(hc, u),
		devMail:  controlplanev1connect.NewDevMailServiceClient(hc, u),
	}
}

// Client calls one region's data plane on behalf of a project. It is safe for
// concurrent use.
//
// Calls other than Status need the project's API key: give [WithAPIKey].
type Client struct {
	c           *caller
	status      dataplanev1connect.StatusServiceClient
	project     dataplanev1connect.ProjectServiceClient
	collections dataplanev1connect.CollectionServiceClient
	records     dataplanev1connect.RecordServiceClient
}

// NewClient returns a client of the data plane at baseURL: a project's
// [Project].DataPlaneURL, e.g. "http://127.0.0.1:7071" for `sovereign dev`.
func NewClient(baseURL string, opts ...Option) *Client {
	o := buildOptions(opts)
	hc, u := o.client(), trimURL(baseURL)
	return &Client{
		c:           &caller{opts: o},
		status:      dataplanev1connect.NewStatusServiceClient(hc, u),
		project:     dataplanev1connect.NewProjectServiceClient(hc, u),
		collections: dataplanev1connect.NewCollectionServiceClient(hc, u),
		records:     dataplanev1connect.NewRecordServiceClient(hc, u),
	}
}
