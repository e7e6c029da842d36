package sovereign

import (
	"context"
	"time"

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

// Status reports the control plane's version and dependency health. It needs
// no credentials.
func (c *ManagementClient) Status(ctx context.Context) (*Status, error) {
	m, err := unary(ctx, c.c, controlplanev1connect.StatusServiceGetStatusProcedure, callRead,
		c.status.GetStatus, &controlplanev1.GetStatusRequest{})
	if err != nil {
		return nil, err
	}
	s := &Status{Version: m.GetVersion(), StartedAt: m.GetStartedAt().AsTime(), Ready: m.GetReady()}
	for _, ch := range m.GetChecks() {
		s.Checks = append(s.Checks, Check{Name: ch.GetName(), OK: ch.GetOk(), Reason: ch.GetReason(), Latency: time.Duration(ch.GetLatencyMicros()) * time.Microsecond})
	}
	return s, nil
}

// Status reports the data plane node's version, region and dependency
// health. It needs no credentials.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	m, err := unary(ctx, c.c, dataplanev1connect.StatusServiceGetStatusProcedure, callRead,
		c.status.GetStatus, &dataplanev1.GetStatusRequest{})
	if err != nil {
		return nil, err
	}
	s := &Status{Version: m.GetVersion(), Region: m.GetRegion(), StartedAt: m.GetStartedAt().AsTime(), Ready: m.GetReady()}
	for _, ch := range m.GetChecks() {
		s.Checks = append(s.Checks, Check{Name: ch.GetName(), OK: ch.GetOk(), Reason: ch.GetReason(), Latency: time.Duration(ch.GetLatencyMicros()) * time.Microsecond})
	}
	return s, nil
}
