// Package fakeplatform is an in-memory control plane for the CLI's unit
// tests: just enough of the contract (accounts, sessions with rotating
// refresh tokens, organizations, regions, projects, keys, tokens, dev mail)
// to run the commands and check what they print. It checks credentials but
// none of the platform's rules; the real platform is tested by its own tests
// and by cli/clitest.
package fakeplatform

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	cpv1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// Platform is the fake's state. Its fields may be read and set between
// requests.
type Platform struct {
	controlplanev1connect.UnimplementedAccountServiceHandler
	controlplanev1connect.UnimplementedOrganizationServiceHandler
	controlplanev1connect.UnimplementedRegionServiceHandler
	controlplanev1connect.UnimplementedProjectServiceHandler
	controlplanev1connect.UnimplementedDevMailServiceHandler

	// URL is the fake's base URL.
	URL string
	// Now is the fake's clock; sessions expire by it.
	Now func() time.Time
	// AccessTTL is the lifetime of access tokens.
	AccessTTL time.Duration

	mu        sync.Mutex
	n         int
	passwords map[string]string // email → password
	access    map[string]string // access token → email
	refresh   map[string]string // live refresh token → email
	// Refreshes counts Refresh calls that succeeded.
	Refreshes int
	orgs      []*cpv1.Organization
	projects  []*cpv1.Project
	gets      map[string]int // project id → GetProject calls
	keys      []*cpv1.ApiKey
	tokens    map[string]string // PAT → email
	Mails     []*cpv1.Mail
}

// Start serves a fake platform until the test ends.
func Start(t interface {
	Cleanup(func())
}) *Platform {
	p := &Platform{
		Now: time.Now, AccessTTL: 15 * time.Minute,
		passwords: map[string]string{}, access: map[string]string{}, refresh: map[string]string{},
		gets: map[string]int{}, tokens: map[string]string{},
	}
	mux := http.NewServeMux()
	mux.Handle(controlplanev1connect.NewAccountServiceHandler(p))
	mux.Handle(controlplanev1connect.NewOrganizationServiceHandler(p))
	mux.Handle(controlplanev1connect.NewRegionServiceHandler(p))
	mux.Handle(controlplanev1connect.NewProjectServiceHandler(p))
	mux.Handle(controlplanev1connect.NewDevMailServiceHandler(p))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *Platform) id(prefix string) string {
	p.n++
	return fmt.Sprintf("%s%d", prefix, p.n)
}

func (p *Platform) session(email string) *cpv1.Session {
	at, rt := p.id("sov_at_"), p.id("sov_rt_")
	p.access[at], p.refresh[rt] = email, email
	now := p.Now()
	return &cpv1.Session{
		AccessToken: at, AccessExpiresAt: timestamppb.New(now.Add(p.AccessTTL)),
		RefreshToken: rt, RefreshExpiresAt: timestamppb.New(now.Add(30 * 24 * time.Hour)),
		Account: &cpv1.Account{Id: "acct-" + email, Email: email},
	}
}

func unauthenticated(msg string) error {
	return connect.NewError(connect.CodeUnauthenticated, errors.New(msg))
}

// caller returns the account behind the request's bearer credential.
func (p *Platform) caller(h http.Header) (string, string, error) {
	tok := strings.TrimPrefix(h.Get("Authorization"), "Bearer ")
	if email, ok := p.tokens[tok]; ok {
		return email, "personal_access_token", nil
	}
	email, ok := p.access[tok]
	if !ok {
		return "", "", unauthenticated("missing or unknown credentials")
	}
	return email, "session", nil
}

// Signup implements the contract.
func (p *Platform) Signup(_ context.Context, r *connect.Request[cpv1.SignupRequest]) (*connect.Response[cpv1.SignupResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.passwords[r.Msg.Email]; ok {
		return nil, connect.NewError(connect.CodeAlreadyExists, errors.New("the email has an account"))
	}
	p.passwords[r.Msg.Email] = r.Msg.Password
	s := p.session(r.Msg.Email)
	return connect.NewResponse(&cpv1.SignupResponse{Account: s.Account, Session: s}), nil
}

// Login implements the contract.
func (p *Platform) Login(_ context.Context, r *connect.Request[cpv1.LoginRequest]) (*connect.Response[cpv1.LoginResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pw, ok := p.passwords[r.Msg.Email]; !ok || pw != r.Msg.Password {
		return nil, unauthenticated("wrong email or password")
	}
	return connect.NewResponse(&cpv1.LoginResponse{Session: p.session(r.Msg.Email)}), nil
}

// Refresh implements the contract: each refresh token works once.
func (p *Platform) Refresh(_ context.Context, r *connect.Request[cpv1.RefreshRequest]) (*connect.Response[cpv1.RefreshResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	email, ok := p.refresh[r.Msg.RefreshToken]
	if !ok {
		return nil, unauthenticated("refresh token already used")
	}
	delete(p.refresh, r.Msg.RefreshToken)
	p.Refreshes++
	return connect.NewResponse(&cpv1.RefreshResponse{Session: p.session(email)}), nil
}

// Logout implements the contract.
func (p *Platform) Logout(_ context.Context, r *connect.Request[cpv1.LogoutRequest]) (*connect.Response[cpv1.LogoutResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, _, err := p.caller(r.Header()); err != nil {
		return nil, err
	}
	delete(p.access, strings.TrimPrefix(r.Header().Get("Authorization"), "Bearer "))
	return connect.NewResponse(&cpv1.LogoutResponse{}), nil
}

// WhoAmI implements the contract.
func (p *Platform) WhoAmI(_ context.Context, r *connect.Request[cpv1.WhoAmIRequest]) (*connect.Response[cpv1.WhoAmIResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	email, cred, err := p.caller(r.Header())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&cpv1.WhoAmIResponse{Account: &cpv1.Account{Id: "acct-" + email, Email: email}, Credential: cred}), nil
}

// CreateToken implements the contract.
func (p *Platform) CreateToken(_ context.Context, r *connect.Request[cpv1.CreateTokenRequest]) (*connect.Response[cpv1.CreateTokenResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	email, _, err := p.caller(r.Header())
	if err != nil {
		return nil, err
	}
	secret := p.id("sov_pat_")
	p.tokens[secret] = email
	return connect.NewResponse(&cpv1.CreateTokenResponse{
		Token:  &cpv1.PersonalAccessToken{Id: p.id("tok"), Name: r.Msg.Name, Prefix: secret[:min(len(secret), 12)], CreatedAt: timestamppb.New(p.Now())},
		Secret: secret,
	}), nil
}

// CreateOrganization implements the contract.
func (p *Platform) CreateOrganization(_ context.Context, r *connect.Request[cpv1.CreateOrganizationRequest]) (*connect.Response[cpv1.CreateOrganizationResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, _, err := p.caller(r.Header()); err != nil {
		return nil, err
	}
	o := &cpv1.Organization{Id: p.id("org"), Name: r.Msg.Name, Plan: "free", Role: cpv1.Role_ROLE_OWNER, CreatedAt: timestamppb.New(p.Now())}
	p.orgs = append(p.orgs, o)
	return connect.NewResponse(&cpv1.CreateOrganizationResponse{Organization: o}), nil
}

// ListOrganizations implements the contract.
func (p *Platform) ListOrganizations(_ context.Context, r *connect.Request[cpv1.ListOrganizationsRequest]) (*connect.Response[cpv1.ListOrganizationsResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, _, err := p.caller(r.Header()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&cpv1.ListOrganizationsResponse{Organizations: p.orgs}), nil
}

// ListRegions implements the contract.
func (p *Platform) ListRegions(_ context.Context, r *connect.Request[cpv1.ListRegionsRequest]) (*connect.Response[cpv1.ListRegionsResponse], error) {
	return connect.NewResponse(&cpv1.ListRegionsResponse{Regions: []*cpv1.Region{{
		Name: "local", PublicUrl: "http://127.0.0.1:7071", Healthy: true, LastHeartbeatAt: timestamppb.New(p.Now()),
	}}}), nil
}

// CreateProject implements the contract; the project turns active on its
// second GetProject.
func (p *Platform) CreateProject(_ context.Context, r *connect.Request[cpv1.CreateProjectRequest]) (*connect.Response[cpv1.CreateProjectResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, _, err := p.caller(r.Header()); err != nil {
		return nil, err
	}
	pr := &cpv1.Project{
		Id: p.id("proj"), Ref: fmt.Sprintf("ref%09d", p.n), OrganizationId: r.Msg.OrganizationId, Name: r.Msg.Name,
		Region: r.Msg.Region, State: cpv1.ProjectState_PROJECT_STATE_PROVISIONING,
		DataPlaneUrl: "http://127.0.0.1:7071", CreatedAt: timestamppb.New(p.Now()),
	}
	p.projects = append(p.projects, pr)
	return connect.NewResponse(&cpv1.CreateProjectResponse{Project: pr}), nil
}

func (p *Platform) project(h http.Header, id string) (*cpv1.Project, error) {
	if _, _, err := p.caller(h); err != nil {
		return nil, err
	}
	for _, pr := range p.projects {
		if pr.Id == id || pr.Ref == id {
			return pr, nil
		}
	}
	return nil, connect.NewError(connect.CodeNotFound, errors.New("project not found"))
}

// GetProject implements the contract.
func (p *Platform) GetProject(_ context.Context, r *connect.Request[cpv1.GetProjectRequest]) (*connect.Response[cpv1.GetProjectResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr, err := p.project(r.Header(), r.Msg.Id)
	if err != nil {
		return nil, err
	}
	if p.gets[pr.Id]++; p.gets[pr.Id] >= 2 && pr.State == cpv1.ProjectState_PROJECT_STATE_PROVISIONING {
		pr.State = cpv1.ProjectState_PROJECT_STATE_ACTIVE
	}
	return connect.NewResponse(&cpv1.GetProjectResponse{Project: pr}), nil
}

// ListProjects implements the contract, in one page.
func (p *Platform) ListProjects(_ context.Context, r *connect.Request[cpv1.ListProjectsRequest]) (*connect.Response[cpv1.ListProjectsResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, _, err := p.caller(r.Header()); err != nil {
		return nil, err
	}
	resp := &cpv1.ListProjectsResponse{}
	for i := len(p.projects) - 1; i >= 0; i-- {
		if p.projects[i].OrganizationId == r.Msg.OrganizationId {
			resp.Projects = append(resp.Projects, p.projects[i])
		}
	}
	return connect.NewResponse(resp), nil
}

// CreateApiKey implements the contract.
func (p *Platform) CreateApiKey(_ context.Context, r *connect.Request[cpv1.CreateApiKeyRequest]) (*connect.Response[cpv1.CreateApiKeyResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.project(r.Header(), r.Msg.ProjectId); err != nil {
		return nil, err
	}
	prefix := map[cpv1.ApiKeyKind]string{cpv1.ApiKeyKind_API_KEY_KIND_SECRET: "sov_sk_", cpv1.ApiKeyKind_API_KEY_KIND_PUBLISHABLE: "sov_pk_"}[r.Msg.Kind]
	secret := p.id(prefix + "key")
	k := &cpv1.ApiKey{Id: p.id("key"), ProjectId: r.Msg.ProjectId, Name: r.Msg.Name, Kind: r.Msg.Kind, Prefix: secret[:min(len(secret), 10)], CreatedAt: timestamppb.New(p.Now())}
	p.keys = append(p.keys, k)
	return connect.NewResponse(&cpv1.CreateApiKeyResponse{ApiKey: k, Secret: secret}), nil
}

// ListApiKeys implements the contract.
func (p *Platform) ListApiKeys(_ context.Context, r *connect.Request[cpv1.ListApiKeysRequest]) (*connect.Response[cpv1.ListApiKeysResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, _, err := p.caller(r.Header()); err != nil {
		return nil, err
	}
	resp := &cpv1.ListApiKeysResponse{}
	for _, k := range p.keys {
		if k.ProjectId == r.Msg.ProjectId && (k.RevokedAt == nil || r.Msg.IncludeRevoked) {
			resp.ApiKeys = append(resp.ApiKeys, k)
		}
	}
	return connect.NewResponse(resp), nil
}

// RevokeApiKey implements the contract.
func (p *Platform) RevokeApiKey(_ context.Context, r *connect.Request[cpv1.RevokeApiKeyRequest]) (*connect.Response[cpv1.RevokeApiKeyResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, _, err := p.caller(r.Header()); err != nil {
		return nil, err
	}
	for _, k := range p.keys {
		if k.Id == r.Msg.Id {
			k.RevokedAt = timestamppb.New(p.Now())
			return connect.NewResponse(&cpv1.RevokeApiKeyResponse{ApiKey: k}), nil
		}
	}
	return nil, connect.NewError(connect.CodeNotFound, errors.New("api key not found"))
}

// ListMail implements the contract.
func (p *Platform) ListMail(_ context.Context, r *connect.Request[cpv1.ListMailRequest]) (*connect.Response[cpv1.ListMailResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	resp := &cpv1.ListMailResponse{}
	for _, m := range p.Mails {
		if r.Msg.To == "" || m.To == r.Msg.To {
			resp.Mails = append(resp.Mails, m)
		}
	}
	return connect.NewResponse(resp), nil
}
