package cptest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Methods of the AdminService, as FailNext and Calls name them.
const (
	MethodProvision = "ProvisionTenant"
	MethodSetState  = "SetTenantState"
	MethodPurge     = "PurgeTenant"
	MethodPutKeys   = "PutApiKeys"
)

// FakeTenant is what the fake data plane holds for a tenant.
type FakeTenant struct {
	State  dataplanev1.TenantState
	Limits *dataplanev1.TenantLimits
}

// FakeDataPlane is a region's AdminService as its contract describes it
// (admin.proto), in memory: it checks the region secret, provisions
// idempotently, switches states, purges and keeps key records. Tests make
// it fail or hold calls to see how the control plane copes.
type FakeDataPlane struct {
	// URL is the base URL to register for the region.
	URL string

	secret string

	mu      sync.Mutex
	tenants map[string]*FakeTenant
	keys    map[string]*dataplanev1.ApiKeyRecord
	calls   map[string]int
	fail    map[string]int
	hold    chan struct{} // when set, ProvisionTenant waits for it to close
	held    chan struct{} // closed when a held ProvisionTenant arrives
}

var _ dataplanev1connect.AdminServiceHandler = (*FakeDataPlane)(nil)

// NewFakeDataPlane serves a fake data plane that accepts secret as its
// region secret.
func NewFakeDataPlane(t testing.TB, secret string) *FakeDataPlane {
	t.Helper()
	f := &FakeDataPlane{
		secret:  secret,
		tenants: map[string]*FakeTenant{},
		keys:    map[string]*dataplanev1.ApiKeyRecord{},
		calls:   map[string]int{},
		fail:    map[string]int{},
	}
	mux := http.NewServeMux()
	mux.Handle(dataplanev1connect.NewAdminServiceHandler(f))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		f.mu.Lock()
		if f.hold != nil {
			select {
			case <-f.hold:
			default:
				close(f.hold)
			}
		}
		f.mu.Unlock()
		srv.Close()
	})
	f.URL = srv.URL
	return f
}

// FailNext makes the next n calls of method fail with code.
func (f *FakeDataPlane) FailNext(method string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = n
}

// HoldProvision makes ProvisionTenant wait until release is called; arrived
// is closed when a call is waiting.
func (f *FakeDataPlane) HoldProvision() (arrived <-chan struct{}, release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	hold, held := make(chan struct{}), make(chan struct{})
	f.hold, f.held = hold, held
	var once sync.Once
	return held, func() { once.Do(func() { close(hold) }) }
}

// Calls counts the calls of method that passed authentication.
func (f *FakeDataPlane) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// Tenant returns a copy of the tenant ref.
func (f *FakeDataPlane) Tenant(ref string) (FakeTenant, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tenants[ref]
	if !ok {
		return FakeTenant{}, false
	}
	return FakeTenant{State: t.State, Limits: proto.CloneOf(t.Limits)}, true
}

// Key returns a copy of the key record id.
func (f *FakeDataPlane) Key(id string) (*dataplanev1.ApiKeyRecord, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[id]
	return proto.CloneOf(k), ok
}

// enter authenticates a call, counts it and applies an injected failure.
func (f *FakeDataPlane) enter(h http.Header, method string) error {
	if h.Get("Authorization") != "Bearer "+f.secret {
		return connect.NewError(connect.CodeUnauthenticated, errors.New("region secret required"))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	if f.fail[method] > 0 {
		f.fail[method]--
		return connect.NewError(connect.CodeUnavailable, errors.New("injected failure"))
	}
	return nil
}

func (f *FakeDataPlane) ProvisionTenant(ctx context.Context, req *connect.Request[dataplanev1.ProvisionTenantRequest]) (*connect.Response[dataplanev1.ProvisionTenantResponse], error) {
	if err := f.enter(req.Header(), MethodProvision); err != nil {
		return nil, err
	}
	f.mu.Lock()
	hold, held := f.hold, f.held
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-held:
		default:
			close(held)
		}
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ref := req.Msg.GetRef()
	t, ok := f.tenants[ref]
	if !ok {
		t = &FakeTenant{State: dataplanev1.TenantState_TENANT_STATE_ACTIVE}
		f.tenants[ref] = t
	}
	t.Limits = proto.CloneOf(req.Msg.GetLimits())
	return connect.NewResponse(&dataplanev1.ProvisionTenantResponse{State: t.State, Schema: "t_" + ref}), nil
}

func (f *FakeDataPlane) SetTenantState(_ context.Context, req *connect.Request[dataplanev1.SetTenantStateRequest]) (*connect.Response[dataplanev1.SetTenantStateResponse], error) {
	if err := f.enter(req.Header(), MethodSetState); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tenants[req.Msg.GetRef()]
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such tenant"))
	}
	switch req.Msg.GetState() {
	case dataplanev1.TenantState_TENANT_STATE_ACTIVE, dataplanev1.TenantState_TENANT_STATE_PAUSED, dataplanev1.TenantState_TENANT_STATE_DELETING:
	default:
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("state must be ACTIVE, PAUSED or DELETING"))
	}
	if t.State == dataplanev1.TenantState_TENANT_STATE_DELETED {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("tenant is purged"))
	}
	t.State = req.Msg.GetState()
	return connect.NewResponse(&dataplanev1.SetTenantStateResponse{}), nil
}

func (f *FakeDataPlane) PurgeTenant(_ context.Context, req *connect.Request[dataplanev1.PurgeTenantRequest]) (*connect.Response[dataplanev1.PurgeTenantResponse], error) {
	if err := f.enter(req.Header(), MethodPurge); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ref := req.Msg.GetRef()
	t, ok := f.tenants[ref]
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such tenant"))
	}
	switch t.State {
	case dataplanev1.TenantState_TENANT_STATE_DELETED:
		return connect.NewResponse(&dataplanev1.PurgeTenantResponse{}), nil
	case dataplanev1.TenantState_TENANT_STATE_DELETING:
	default:
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("tenant is not DELETING"))
	}
	t.State = dataplanev1.TenantState_TENANT_STATE_DELETED
	for id, k := range f.keys {
		if k.GetTenantRef() == ref {
			delete(f.keys, id)
		}
	}
	return connect.NewResponse(&dataplanev1.PurgeTenantResponse{}), nil
}

func (f *FakeDataPlane) PutApiKeys(_ context.Context, req *connect.Request[dataplanev1.PutApiKeysRequest]) (*connect.Response[dataplanev1.PutApiKeysResponse], error) {
	if err := f.enter(req.Header(), MethodPutKeys); err != nil {
		return nil, err
	}
	if n := len(req.Msg.GetKeys()); n > 1000 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("keys: at most 1000 per call"))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range req.Msg.GetKeys() {
		if _, ok := f.tenants[k.GetTenantRef()]; !ok {
			return nil, connect.NewError(connect.CodeNotFound, errors.New("no such tenant "+k.GetTenantRef()))
		}
	}
	for _, k := range req.Msg.GetKeys() {
		f.keys[k.GetId()] = proto.CloneOf(k)
	}
	return connect.NewResponse(&dataplanev1.PutApiKeysResponse{}), nil
}
