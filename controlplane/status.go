package controlplane

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/internal/health"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
)

// statusHandler serves sovereign.controlplane.v1.StatusService.
type statusHandler struct{ plane *Plane }

func (h *statusHandler) GetStatus(ctx context.Context, _ *connect.Request[controlplanev1.GetStatusRequest]) (*connect.Response[controlplanev1.GetStatusResponse], error) {
	results := h.plane.backends.Checker.Run(ctx)
	resp := &controlplanev1.GetStatusResponse{
		Version:   h.plane.cfg.Version,
		StartedAt: timestamppb.New(h.plane.started),
		Ready:     health.Ready(results),
	}
	for _, r := range results {
		resp.Checks = append(resp.Checks, &controlplanev1.DependencyCheck{
			Name: r.Name, Ok: r.OK, Reason: r.Reason, LatencyMicros: r.Latency.Microseconds(),
		})
	}
	return connect.NewResponse(resp), nil
}
