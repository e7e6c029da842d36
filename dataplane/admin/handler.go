// Package admin serves sovereign.dataplane.v1.AdminService: how the control
// plane provisions, pauses, resumes and purges a region's tenants and pushes
// their API key hashes. Every call needs the region secret in
// `Authorization: Bearer`.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Config configures the handler.
type Config struct {
	// Tenants is the region's tenant store. Required.
	Tenants *tenants.Store
	// Keys is the region's key store. Required.
	Keys *apikeys.Keys
	// RegionSecret is the secret the control plane sends as a bearer token;
	// the same secret the region registers with. Required.
	RegionSecret string
}

// Handler implements dataplanev1connect.AdminServiceHandler.
type Handler struct {
	tenants *tenants.Store
	keys    *apikeys.Keys
	secret  string
}

var _ dataplanev1connect.AdminServiceHandler = (*Handler)(nil)

// New returns the AdminService handler. Mount it with Route, which adds the
// region-secret check.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Tenants == nil:
		return nil, errors.New("admin: config has no Tenants")
	case cfg.Keys == nil:
		return nil, errors.New("admin: config has no Keys")
	case cfg.RegionSecret == "":
		return nil, errors.New("admin: config has no RegionSecret")
	}
	return &Handler{tenants: cfg.Tenants, keys: cfg.Keys, secret: cfg.RegionSecret}, nil
}

// Route returns the path and handler to mount on the node's mux, with the
// region-secret interceptor in front of opts' interceptors.
func (h *Handler) Route(opts ...connect.HandlerOption) (string, http.Handler) {
	opts = append([]connect.HandlerOption{connect.WithInterceptors(NewSecretInterceptor(h.secret))}, opts...)
	return dataplanev1connect.NewAdminServiceHandler(h, opts...)
}

// ProvisionTenant implements AdminServiceHandler.
func (h *Handler) ProvisionTenant(ctx context.Context, req *connect.Request[dataplanev1.ProvisionTenantRequest]) (*connect.Response[dataplanev1.ProvisionTenantResponse], error) {
	ref := req.Msg.GetRef()
	if !tenants.ValidRef(ref) {
		return nil, rpcerr.New(connect.CodeInvalidArgument, tenants.ErrInvalidRef.Error())
	}
	l := req.Msg.GetLimits()
	limits := tenants.Limits{
		Plan:                      l.GetPlan(),
		RequestsPerSecond:         l.GetRequestsPerSecond(),
		DatabaseBytes:             l.GetDatabaseBytes(),
		StorageBytes:              l.GetStorageBytes(),
		RealtimeConnections:       l.GetRealtimeConnections(),
		RealtimeSubscriptions:     l.GetRealtimeSubscriptions(),
		RealtimeMessagesPerSecond: l.GetRealtimeMessagesPerSecond(),
		RealtimePayloadBytes:      l.GetRealtimePayloadBytes(),
	}
	if err := limits.Validate(); err != nil {
		return nil, rpcerr.New(connect.CodeInvalidArgument, err.Error())
	}
	t, err := h.tenants.Provision(ctx, tenants.ProvisionParams{Ref: ref, Limits: limits})
	if err != nil {
		return nil, tenantError(ctx, ref, err)
	}
	return connect.NewResponse(&dataplanev1.ProvisionTenantResponse{
		State:  stateToProto(t.State),
		Schema: t.Schema,
	}), nil
}

// SetTenantState implements AdminServiceHandler.
func (h *Handler) SetTenantState(ctx context.Context, req *connect.Request[dataplanev1.SetTenantStateRequest]) (*connect.Response[dataplanev1.SetTenantStateResponse], error) {
	ref := req.Msg.GetRef()
	if !tenants.ValidRef(ref) {
		return nil, rpcerr.New(connect.CodeInvalidArgument, tenants.ErrInvalidRef.Error())
	}
	var state tenants.State
	switch req.Msg.GetState() {
	case dataplanev1.TenantState_TENANT_STATE_ACTIVE:
		state = tenants.StateActive
	case dataplanev1.TenantState_TENANT_STATE_PAUSED:
		state = tenants.StatePaused
	case dataplanev1.TenantState_TENANT_STATE_DELETING:
		state = tenants.StateDeleting
	case dataplanev1.TenantState_TENANT_STATE_DELETED:
		return nil, rpcerr.New(connect.CodeInvalidArgument, "state: DELETED is reached through PurgeTenant; use ACTIVE, PAUSED or DELETING")
	default:
		return nil, rpcerr.New(connect.CodeInvalidArgument, "state: must be ACTIVE, PAUSED or DELETING")
	}
	if _, err := h.tenants.SetState(ctx, tenants.SetStateParams{Ref: ref, State: state}); err != nil {
		return nil, tenantError(ctx, ref, err)
	}
	return connect.NewResponse(&dataplanev1.SetTenantStateResponse{}), nil
}

// PurgeTenant implements AdminServiceHandler.
func (h *Handler) PurgeTenant(ctx context.Context, req *connect.Request[dataplanev1.PurgeTenantRequest]) (*connect.Response[dataplanev1.PurgeTenantResponse], error) {
	ref := req.Msg.GetRef()
	if !tenants.ValidRef(ref) {
		return nil, rpcerr.New(connect.CodeInvalidArgument, tenants.ErrInvalidRef.Error())
	}
	if err := h.tenants.Purge(ctx, ref); err != nil {
		return nil, tenantError(ctx, ref, err)
	}
	return connect.NewResponse(&dataplanev1.PurgeTenantResponse{}), nil
}

// PutApiKeys implements AdminServiceHandler.
func (h *Handler) PutApiKeys(ctx context.Context, req *connect.Request[dataplanev1.PutApiKeysRequest]) (*connect.Response[dataplanev1.PutApiKeysResponse], error) {
	in := req.Msg.GetKeys()
	if len(in) > apikeys.MaxRecordsPerPut {
		return nil, rpcerr.New(connect.CodeInvalidArgument,
			fmt.Sprintf("keys: at most %d per call, got %d; send them in several calls", apikeys.MaxRecordsPerPut, len(in)))
	}
	records := make([]apikeys.Record, len(in))
	for i, k := range in {
		r := apikeys.Record{ID: k.GetId(), TenantRef: k.GetTenantRef(), Kind: apikeys.Kind(k.GetKind()), Hash: k.GetHash()}
		var err error
		if r.ExpiresAt, err = timeOf(k.GetExpiresAt()); err != nil {
			return nil, rpcerr.New(connect.CodeInvalidArgument, fmt.Sprintf("keys[%d].expires_at: %v", i, err))
		}
		if r.RevokedAt, err = timeOf(k.GetRevokedAt()); err != nil {
			return nil, rpcerr.New(connect.CodeInvalidArgument, fmt.Sprintf("keys[%d].revoked_at: %v", i, err))
		}
		records[i] = r
	}
	if err := h.keys.Put(ctx, records); err != nil {
		var pe *apikeys.PutError
		switch {
		case errors.As(err, &pe) && errors.Is(err, apikeys.ErrInvalidRecord):
			return nil, rpcerr.New(connect.CodeInvalidArgument, pe.Error())
		case errors.As(err, &pe) && errors.Is(err, apikeys.ErrUnknownTenant):
			return nil, rpcerr.New(connect.CodeNotFound, pe.Error()+"; provision it first")
		case errors.As(err, &pe) && errors.Is(err, apikeys.ErrRecordConflict):
			return nil, rpcerr.New(connect.CodeAlreadyExists, pe.Error())
		case errors.Is(err, apikeys.ErrNotAnnounced):
			return nil, notAnnounced()
		}
		return nil, rpcerr.Internal(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.PutApiKeysResponse{}), nil
}

// timeOf converts an optional timestamp; nil is the zero time.
func timeOf(ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, errors.New("not a valid timestamp")
	}
	return ts.AsTime(), nil
}

// tenantError maps an error of the tenant store to what the control plane
// sees.
func tenantError(ctx context.Context, ref string, err error) error {
	var te *tenants.TransitionError
	switch {
	case errors.Is(err, tenants.ErrInvalidRef):
		return rpcerr.New(connect.CodeInvalidArgument, tenants.ErrInvalidRef.Error())
	case errors.Is(err, tenants.ErrInvalidLimits):
		return rpcerr.New(connect.CodeInvalidArgument, "limits: invalid")
	case errors.Is(err, tenants.ErrNotFound):
		return rpcerr.New(connect.CodeNotFound, fmt.Sprintf("tenant %s is not provisioned in this region", ref))
	case errors.As(err, &te):
		return rpcerr.New(connect.CodeFailedPrecondition, te.Error())
	case errors.Is(err, tenants.ErrConflict):
		return rpcerr.New(connect.CodeFailedPrecondition,
			fmt.Sprintf("the region's database holds a role or schema %s that this data plane may not adopt; an operator must remove it", tenants.SchemaName(ref)))
	case errors.Is(err, apikeys.ErrNotAnnounced):
		return notAnnounced()
	}
	return rpcerr.Internal(ctx, err)
}

func notAnnounced() error {
	return rpcerr.New(connect.CodeUnavailable,
		"the change is saved, but the region's other nodes could not be told yet; retry the call")
}

func stateToProto(s tenants.State) dataplanev1.TenantState {
	switch s {
	case tenants.StateActive:
		return dataplanev1.TenantState_TENANT_STATE_ACTIVE
	case tenants.StatePaused:
		return dataplanev1.TenantState_TENANT_STATE_PAUSED
	case tenants.StateDeleting:
		return dataplanev1.TenantState_TENANT_STATE_DELETING
	case tenants.StateDeleted:
		return dataplanev1.TenantState_TENANT_STATE_DELETED
	}
	return dataplanev1.TenantState_TENANT_STATE_UNSPECIFIED
}

// SecretInterceptor refuses calls without the region secret in
// `Authorization: Bearer`.
type SecretInterceptor struct{ sum [sha256.Size]byte }

// NewSecretInterceptor returns an interceptor that answers Unauthenticated to
// a call whose bearer token is missing or not secret. The comparison takes
// the same time whatever the token (both sides are hashed first, so not
// even the secret's length leaks).
func NewSecretInterceptor(secret string) *SecretInterceptor {
	return &SecretInterceptor{sum: sha256.Sum256([]byte(secret))}
}

func (i *SecretInterceptor) check(h http.Header) error {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return rpcerr.New(connect.CodeUnauthenticated, "missing region secret: send it in Authorization: Bearer")
	}
	sum := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(sum[:], i.sum[:]) != 1 {
		return rpcerr.New(connect.CodeUnauthenticated, "wrong region secret")
	}
	return nil
}

// WrapUnary implements connect.Interceptor.
func (i *SecretInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !req.Spec().IsClient {
			if err := i.check(req.Header()); err != nil {
				return nil, err
			}
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor; clients pass through.
func (i *SecretInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor.
func (i *SecretInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := i.check(conn.RequestHeader()); err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
