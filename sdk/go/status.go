package sovereign

import (
	"context"
	"time"

	"connectrpc.com/connect"

	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Status is what a server says of itself.
type Status struct {
	// Version of the server build.
	Version string
	// Region the server serves; empty for the control plane.
	Region string
	// StartedAt is when the server process started.
	StartedAt time.Time
	// Ready is true when every dependency answered.
	Ready bool
	// Checks lists each dependency's state.
	Checks []Check
}

// ManagementClient calls the control plane: the operator side where accounts,
// organizations, projects and API keys live.
type ManagementClient struct {
	status controlplanev1connect.StatusServiceClient
}

// NewManagementClient returns a client of the control plane at baseURL, e.g.
// "http://127.0.0.1:7070" for `sovereign dev`.
func NewManagementClient(baseURL string, opts ...Option) *ManagementClient {
	o := buildOptions(opts)
	hc, u := o.client(), trimURL(baseURL)
	return &ManagementClient{
		status: controlplanev1connect.NewStatusServiceClient(hc, u),
	}
}

// Status reports the control plane's version and dependency health. It needs
// no credentials.
func (c *ManagementClient) Status(ctx context.Context) (*Status, error) {
	resp, err := c.status.GetStatus(ctx, connect.NewRequest(&controlplanev1.GetStatusRequest{}))
	if err != nil {
		return nil, wrapErr(controlplanev1connect.StatusServiceGetStatusProcedure, err)
	}
	m := resp.Msg
	s := &Status{Version: m.GetVersion(), StartedAt: m.GetStartedAt().AsTime(), Ready: m.GetReady()}
	for _, ch := range m.GetChecks() {
		s.Checks = append(s.Checks, Check{Name: ch.GetName(), OK: ch.GetOk(), Reason: ch.GetReason(), Latency: time.Duration(ch.GetLatencyMicros()) * time.Microsecond})
	}
	return s, nil
}

// Client calls one region's data plane on behalf of a project.
type Client struct {
	status dataplanev1connect.StatusServiceClient
}

// NewClient returns a client of the data plane at baseURL, e.g.
// "http://127.0.0.1:7071" for `sovereign dev`.
func NewClient(baseURL string, opts ...Option) *Client {
	o := buildOptions(opts)
	hc, u := o.client(), trimURL(baseURL)
	return &Client{
		status: dataplanev1connect.NewStatusServiceClient(hc, u),
	}
}

// Status reports the data plane node's version, region and dependency
// health. It needs no credentials.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	resp, err := c.status.GetStatus(ctx, connect.NewRequest(&dataplanev1.GetStatusRequest{}))
	if err != nil {
		return nil, wrapErr(dataplanev1connect.StatusServiceGetStatusProcedure, err)
	}
	m := resp.Msg
	s := &Status{Version: m.GetVersion(), Region: m.GetRegion(), StartedAt: m.GetStartedAt().AsTime(), Ready: m.GetReady()}
	for _, ch := range m.GetChecks() {
		s.Checks = append(s.Checks, Check{Name: ch.GetName(), OK: ch.GetOk(), Reason: ch.GetReason(), Latency: time.Duration(ch.GetLatencyMicros()) * time.Microsecond})
	}
	return s, nil
}
