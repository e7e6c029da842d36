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
// Once an end user signs in through [Client.Auth], the client also sends
// the user's access token, and keeps it fresh.
type Client struct {
	// c sends the signed-in user's access token; pub sends the API key
	// alone, for signing in and for the calls of the service role (auth
	// administration, rules, channel rules), which a user's token would
	// demote.
	c           *caller
	pub         *caller
	session     *sessionState
	baseURL     string
	status      dataplanev1connect.StatusServiceClient
	project     dataplanev1connect.ProjectServiceClient
	collections dataplanev1connect.CollectionServiceClient
	records     dataplanev1connect.RecordServiceClient
	auth        dataplanev1connect.AuthServiceClient
	authAdmin   dataplanev1connect.AuthAdminServiceClient
	rules       dataplanev1connect.RulesServiceClient
	storage     dataplanev1connect.StorageServiceClient
	realtime    dataplanev1connect.RealtimeServiceClient
}

// NewClient returns a client of the data plane at baseURL: a project's
// [Project].DataPlaneURL, e.g. "http://127.0.0.1:7071" for `sovereign dev`.
func NewClient(baseURL string, opts ...Option) *Client {
	o := buildOptions(opts)
	hc, u := o.client(), trimURL(baseURL)
	c := &Client{
		pub:         &caller{opts: o},
		baseURL:     u,
		status:      dataplanev1connect.NewStatusServiceClient(hc, u),
		project:     dataplanev1connect.NewProjectServiceClient(hc, u),
		collections: dataplanev1connect.NewCollectionServiceClient(hc, u),
		records:     dataplanev1connect.NewRecordServiceClient(hc, u),
		auth:        dataplanev1connect.NewAuthServiceClient(hc, u),
		authAdmin:   dataplanev1connect.NewAuthAdminServiceClient(hc, u),
		rules:       dataplanev1connect.NewRulesServiceClient(hc, u),
		storage:     dataplanev1connect.NewStorageServiceClient(hc, u),
		realtime:    dataplanev1connect.NewRealtimeServiceClient(hc, u),
	}
	c.session = newSessionState(c.pub, c.auth.Token)
	c.c = &caller{opts: o, session: c.session}
	return c
}
