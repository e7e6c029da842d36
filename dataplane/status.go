package dataplane

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/internal/health"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

// statusHandler serves sovereign.dataplane.v1.StatusService.
type statusHandler struct{ plane *Plane }

func (h *statusHandler) GetStatus(ctx context.Context, _ *connect.Request[dataplanev1.GetStatusRequest]) (*connect.Response[dataplanev1.GetStatusResponse], error) {
	results := h.plane.backends.Checker.Run(ctx)
	resp := &dataplanev1.GetStatusResponse{
		Version:   h.plane.cfg.Version,
		Region:    h.plane.cfg.Region,
		StartedAt: timestamppb.New(h.plane.started),
		Ready:     health.Ready(results),
	}
	for _, r := range results {
		resp.Checks = append(resp.Checks, &dataplanev1.DependencyCheck{
			Name: r.Name, Ok: r.OK, Reason: r.Reason, LatencyMicros: r.Latency.Microseconds(),
		})
	}
	return connect.NewResponse(resp), nil
}
