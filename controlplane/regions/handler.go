package regions

import (
	"context"
	"errors"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/controlplane/authn"
	"github.com/sovereign-backend/sovereign/controlplane/fault/faultrpc"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// Handler serves RegionService. RegisterRegion and Heartbeat check the
// region secret in `Authorization: Bearer` themselves (see
// SecretProcedures); ListRegions needs a Principal from the authn
// interceptor.
type Handler struct {
	regions *Regions
}

var _ controlplanev1connect.RegionServiceHandler = (*Handler)(nil)

// NewHandler returns the RegionService handler over r.
func NewHandler(r *Regions) *Handler { return &Handler{regions: r} }

// authenticate checks the bearer region secret of a request for region.
func (h *Handler) authenticate(ctx context.Context, header, region string) error {
	scheme, secret, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return connect.NewError(connect.CodeUnauthenticated,
			errors.New("this call needs the region secret in the Authorization header (Bearer)"))
	}
	if err := h.regions.Authenticate(region, strings.TrimSpace(secret)); err != nil {
		return faultrpc.Error(ctx, err)
	}
	return nil
}

func regionToProto(r Region) *controlplanev1.Region {
	out := &controlplanev1.Region{
		Name:         r.Name,
		PublicUrl:    r.PublicURL,
		Healthy:      r.Healthy,
		RegisteredAt: timestamppb.New(r.RegisteredAt),
	}
	if !r.LastHeartbeatAt.IsZero() {
		out.LastHeartbeatAt = timestamppb.New(r.LastHeartbeatAt)
	}
	return out
}

func (h *Handler) RegisterRegion(ctx context.Context, req *connect.Request[controlplanev1.RegisterRegionRequest]) (*connect.Response[controlplanev1.RegisterRegionResponse], error) {
	if err := h.authenticate(ctx, req.Header().Get("Authorization"), req.Msg.GetName()); err != nil {
		return nil, err
	}
	r, err := h.regions.RegionRegister(ctx, RegionRegisterParams{Name: req.Msg.GetName(), PublicURL: req.Msg.GetPublicUrl()})
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.RegisterRegionResponse{Region: regionToProto(r)}), nil
}

func (h *Handler) Heartbeat(ctx context.Context, req *connect.Request[controlplanev1.HeartbeatRequest]) (*connect.Response[controlplanev1.HeartbeatResponse], error) {
	if err := h.authenticate(ctx, req.Header().Get("Authorization"), req.Msg.GetName()); err != nil {
		return nil, err
	}
	usage := make([]KeyUsage, len(req.Msg.GetKeyUsage()))
	for i, u := range req.Msg.GetKeyUsage() {
		usage[i].KeyID = u.GetKeyId()
		if t := u.GetLastUsedAt(); t.IsValid() {
			usage[i].LastUsedAt = t.AsTime()
		}
	}
	if err := h.regions.RegionHeartbeat(ctx, RegionHeartbeatParams{Name: req.Msg.GetName(), KeyUsage: usage}); err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.HeartbeatResponse{}), nil
}

func (h *Handler) ListRegions(ctx context.Context, _ *connect.Request[controlplanev1.ListRegionsRequest]) (*connect.Response[controlplanev1.ListRegionsResponse], error) {
	if p, ok := authn.FromContext(ctx); !ok || p.AccountID == "" {
		return nil, connect.NewError(connect.CodeUnauthenticated,
			errors.New("sign in first: this call needs an access token or a personal access token"))
	}
	list, err := h.regions.RegionList(ctx)
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	out := make([]*controlplanev1.Region, len(list))
	for i, r := range list {
		out[i] = regionToProto(r)
	}
	return connect.NewResponse(&controlplanev1.ListRegionsResponse{Regions: out}), nil
}
