package projects

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/controlplane/fault/faultrpc"
	"github.com/sovereign-backend/sovereign/controlplane/orgs"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// Handler serves ProjectService. Every call needs the authn interceptor to
// have put a Principal in the context.
type Handler struct {
	svc *Service
}

var _ controlplanev1connect.ProjectServiceHandler = (*Handler)(nil)

// NewHandler returns the ProjectService handler over svc.
func NewHandler(svc *Service) *Handler { return &Handler{svc: svc} }

var stateToProto = map[State]controlplanev1.ProjectState{
	StateProvisioning: controlplanev1.ProjectState_PROJECT_STATE_PROVISIONING,
	StateActive:       controlplanev1.ProjectState_PROJECT_STATE_ACTIVE,
	StatePaused:       controlplanev1.ProjectState_PROJECT_STATE_PAUSED,
	StateDeleting:     controlplanev1.ProjectState_PROJECT_STATE_DELETING,
	StateDeleted:      controlplanev1.ProjectState_PROJECT_STATE_DELETED,
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func projectToProto(p Project) *controlplanev1.Project {
	return &controlplanev1.Project{
		Id:             p.ID,
		Ref:            p.Ref,
		OrganizationId: p.OrganizationID,
		Name:           p.Name,
		Region:         p.Region,
		State:          stateToProto[p.State],
		DataPlaneUrl:   p.DataPlaneURL,
		CreatedAt:      ts(p.CreatedAt),
		PurgeAt:        ts(p.PurgeAt),
		LastError:      p.LastError,
	}
}

func keyToProto(k Key) *controlplanev1.ApiKey {
	kind := controlplanev1.ApiKeyKind_API_KEY_KIND_PUBLISHABLE
	if k.Kind == KindSecret {
		kind = controlplanev1.ApiKeyKind_API_KEY_KIND_SECRET
	}
	return &controlplanev1.ApiKey{
		Id:         k.ID,
		ProjectId:  k.ProjectID,
		Name:       k.Name,
		Kind:       kind,
		Prefix:     k.Prefix,
		CreatedAt:  ts(k.CreatedAt),
		ExpiresAt:  ts(k.ExpiresAt),
		LastUsedAt: ts(k.LastUsedAt),
		RevokedAt:  ts(k.RevokedAt),
	}
}

func (h *Handler) CreateProject(ctx context.Context, req *connect.Request[controlplanev1.CreateProjectRequest]) (*connect.Response[controlplanev1.CreateProjectResponse], error) {
	c, err := orgs.CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	p, err := h.svc.ProjectCreate(ctx, c, ProjectCreateRequest{
		OrganizationID: req.Msg.GetOrganizationId(), Name: req.Msg.GetName(), Region: req.Msg.GetRegion(),
	})
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.CreateProjectResponse{Project: projectToProto(p)}), nil
}

func (h *Handler) GetProject(ctx context.Context, req *connect.Request[controlplanev1.GetProjectRequest]) (*connect.Response[controlplanev1.GetProjectResponse], error) {
	c, err := orgs.CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	p, err := h.svc.ProjectGet(ctx, c, req.Msg.GetId())
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.GetProjectResponse{Project: projectToProto(p)}), nil
}

func (h *Handler) ListProjects(ctx context.Context, req *connect.Request[controlplanev1.ListProjectsRequest]) (*connect.Response[controlplanev1.ListProjectsResponse], error) {
	c, err := orgs.CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	list, next, err := h.svc.ProjectList(ctx, c, ProjectListRequest{
		OrganizationID: req.Msg.GetOrganizationId(),
		PageSize:       int(req.Msg.GetPageSize()),
		PageToken:      req.Msg.GetPageToken(),
		IncludeDeleted: req.Msg.GetIncludeDeleted(),
	})
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	out := make([]*controlplanev1.Project, len(list))
	for i, p := range list {
		out[i] = projectToProto(p)
	}
	return connect.NewResponse(&controlplanev1.ListProjectsResponse{Projects: out, NextPageToken: next}), nil
}

func (h *Handler) RenameProject(ctx context.Context, req *connect.Request[controlplanev1.RenameProjectRequest]) (*connect.Response[controlplanev1.RenameProjectResponse], error) {
	c, err := orgs.CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	p, err := h.svc.ProjectRename(ctx, c, req.Msg.GetId(), req.Msg.GetName())
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.RenameProjectResponse{Project: projectToProto(p)}), nil
}

func (h *Handler) PauseProject(ctx context.Context, req *connect.Request[controlplanev1.PauseProjectRequest]) (*connect.Response[controlplanev1.PauseProjectResponse], error) {
	c, err := orgs.CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	p, err := h.svc.ProjectPause(ctx, c, req.Msg.GetId())
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.PauseProjectResponse{Project: projectToProto(p)}), nil
}

func (h *Handler) ResumeProject(ctx context.Context, req *connect.Request[controlplanev1.ResumeProjectRequest]) (*connect.Response[controlplanev1.ResumeProjectResponse], error) {
	c, err := orgs.CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	p, err := h.svc.ProjectResume(ctx, c, req.Msg.GetId())
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.ResumeProjectResponse{Project: projectToProto(p)}), nil
}

func (h *Handler) DeleteProject(ctx context.Context, req *connect.Request[controlplanev1.DeleteProjectRequest]) (*connect.Response[controlplanev1.DeleteProjectResponse], error) {
	c, err := orgs.CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	p, err := h.svc.ProjectDelete(ctx, c, req.Msg.GetId())
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.DeleteProjectResponse{Project: projectToProto(p)}), nil
}

func (h *Handler) CreateApiKey(ctx context.Context, req *connect.Request[controlplanev1.CreateApiKeyRequest]) (*connect.Response[controlplanev1.CreateApiKeyResponse], error) {
	c, err := orgs.CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	var kind KeyKind
	switch req.Msg.GetKind() {
	case controlplanev1.ApiKeyKind_API_KEY_KIND_PUBLISHABLE:
		kind = KindPublishable
	case controlplanev1.ApiKeyKind_API_KEY_KIND_SECRET:
		kind = KindSecret
	}
	ttl := req.Msg.GetTtlSeconds()
	d := time.Duration(ttl) * time.Second
	if ttl < 0 || ttl > int64(maxKeyTTL/time.Second) {
		d = -1 // out of range; the service says so
	}
	k, secret, err := h.svc.KeyCreate(ctx, c, KeyCreateRequest{
		ProjectID: req.Msg.GetProjectId(), Name: req.Msg.GetName(), Kind: kind, TTL: d,
	})
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.CreateApiKeyResponse{ApiKey: keyToProto(k), Secret: secret}), nil
}

func (h *Handler) ListApiKeys(ctx context.Context, req *connect.Request[controlplanev1.ListApiKeysRequest]) (*connect.Response[controlplanev1.ListApiKeysResponse], error) {
	c, err := orgs.CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := h.svc.KeyList(ctx, c, KeyListRequest{ProjectID: req.Msg.GetProjectId(), IncludeRevoked: req.Msg.GetIncludeRevoked()})
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	out := make([]*controlplanev1.ApiKey, len(keys))
	for i, k := range keys {
		out[i] = keyToProto(k)
	}
	return connect.NewResponse(&controlplanev1.ListApiKeysResponse{ApiKeys: out}), nil
}

func (h *Handler) RevokeApiKey(ctx context.Context, req *connect.Request[controlplanev1.RevokeApiKeyRequest]) (*connect.Response[controlplanev1.RevokeApiKeyResponse], error) {
	c, err := orgs.CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	k, err := h.svc.KeyRevoke(ctx, c, req.Msg.GetId())
	if err != nil {
		return nil, faultrpc.Error(ctx, err)
	}
	return connect.NewResponse(&controlplanev1.RevokeApiKeyResponse{ApiKey: keyToProto(k)}), nil
}
