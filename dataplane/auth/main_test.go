package auth_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/auth"
	"github.com/sovereign-backend/sovereign/dataplane/auth/mfa"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/migrations"
	"github.com/sovereign-backend/sovereign/dataplane/rest"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/httpserver"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/passwords"
	"github.com/sovereign-backend/sovereign/internal/ratelimit"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	"github.com/sovereign-backend/sovereign/internal/token"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// clock is the tests' movable clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// project is a provisioned tenant with its two keys.
type project struct {
	ref, pk, sk string
}

// env is a region database with two projects, the auth service (real MFA,
// a scripted OAuth provider) served over Connect and REST, as a node
// mounts them.
type env struct {
	t     *testing.T
	pool  *pgxpool.Pool
	svc   *auth.Service
	clock *clock
	url   string
	a, b  project
	oauth *fakeOAuth
	http  *http.Client

	auth  dataplanev1connect.AuthServiceClient
	admin dataplanev1connect.AuthAdminServiceClient
}

const secret = "0123456789abcdef0123456789abcdef-test-secret"

type envOption func(*auth.Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, clock: newClock(), oauth: newFakeOAuth()}
	var refs []string
	var mu sync.Mutex
	adminURL := testenv.AdminURL(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("drop tenant roles: %v", err)
			return
		}
		defer conn.Close(ctx)
		mu.Lock()
		defer mu.Unlock()
		for _, ref := range refs {
			if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{tenants.SchemaName(ref)}.Sanitize()); err != nil {
				t.Errorf("drop role of %s: %v", ref, err)
			}
		}
	})
	pool, err := pgxpool.New(t.Context(), testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e.pool = pool
	log := slog.New(slog.DiscardHandler)
	if _, err := migrate.Up(t.Context(), pool, migrate.Config{Schema: "dataplane", FS: migrations.FS, Logger: log}); err != nil {
		t.Fatal(err)
	}
	br := broker.NewMemory()
	keys, err := apikeys.New(apikeys.Config{Pool: pool, Broker: br, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mfa.New(mfa.Config{SecretKey: []byte(secret), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := auth.Config{
		DB: tenantdb.New(pool), Broker: br, KeySecret: []byte(secret), Logger: log,
		MFA: auth.MFAFrom(m), OAuth: e.oauth, Now: e.clock.Now,
		Argon2:  passwords.Params{Memory: 64, Time: 1, Threads: 1},
		Limiter: ratelimit.NewMemory(ratelimit.MemoryConfig{}),
		// Generous limits, so that only the throttling test meets them.
		SignInPerIP: ratelimit.Limit{Rate: 10000, Per: time.Minute}, SignInPerEmail: ratelimit.Limit{Rate: 10000, Per: time.Minute},
		SignUpPerIP: ratelimit.Limit{Rate: 10000, Per: time.Minute}, SignUpPerEmail: ratelimit.Limit{Rate: 10000, Per: time.Minute},
		MailPerAddress: ratelimit.Limit{Rate: 10000, Per: time.Minute},
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.svc, err = auth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { keys.Run(ctx) })
	wg.Go(func() { e.svc.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	for deadline := time.Now().Add(10 * time.Second); !keys.Live() || !e.svc.Live(); {
		if time.Now().After(deadline) {
			t.Fatal("the caches never subscribed to invalidations")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ts, err := tenants.New(tenants.Config{Pool: pool, Changed: func(ctx context.Context, ref string) error {
		return errors.Join(keys.TenantChanged(ctx, ref), e.svc.TenantChanged(ctx, ref))
	}})
	if err != nil {
		t.Fatal(err)
	}
	newProject := func() project {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		ref := "t" + hex.EncodeToString(b)
		mu.Lock()
		refs = append(refs, ref)
		mu.Unlock()
		if _, err := ts.Provision(t.Context(), tenants.ProvisionParams{Ref: ref}); err != nil {
			t.Fatal(err)
		}
		p := project{ref: ref, pk: token.New(token.PublishableKey), sk: token.New(token.SecretKey)}
		if err := keys.Put(t.Context(), []apikeys.Record{
			{ID: "pk-" + ref, TenantRef: ref, Kind: apikeys.KindPublishable, Hash: token.Hash(p.pk)},
			{ID: "sk-" + ref, TenantRef: ref, Kind: apikeys.KindSecret, Hash: token.Hash(p.sk)},
		}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	e.a, e.b = newProject(), newProject()

	mux := http.NewServeMux()
	opt := connect.WithInterceptors(keyauth.NewInterceptor(keys), e.svc.Interceptor())
	h := auth.NewHandler(e.svc)
	mux.Handle(dataplanev1connect.NewAuthServiceHandler(h, opt))
	mux.Handle(dataplanev1connect.NewAuthAdminServiceHandler(auth.NewAdminHandler(e.svc), opt))
	if err := rest.RegisterAuth(mux, rest.AuthConfig{Auth: h, Service: e.svc, Keys: keys}); err != nil {
		t.Fatal(err)
	}
	root := http.NewServeMux()
	root.Handle("/", rest.CORS(rest.CORSConfig{}, mux))
	srv := httptest.NewServer(httpserver.Handler(httpserver.Config{Registry: httpserver.NewRegistry(), Logger: log, MaxBodyBytes: 1 << 20}, root))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.http = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	e.auth = dataplanev1connect.NewAuthServiceClient(srv.Client(), srv.URL)
	e.admin = dataplanev1connect.NewAuthAdminServiceClient(srv.Client(), srv.URL)
	return e
}

// req makes a Connect request with the key in apikey and, when bearer is
// not empty, the user's token.
func req[T any](msg *T, key, bearer string) *connect.Request[T] {
	r := connect.NewRequest(msg)
	if key != "" {
		r.Header().Set("apikey", key)
	}
	if bearer != "" {
		r.Header().Set("Authorization", "Bearer "+bearer)
	}
	return r
}

const goodPW = "correct horse battery staple"

// signUp makes a user of p and returns their session.
func (e *env) signUp(p project, email string) *dataplanev1.Session {
	e.t.Helper()
	res, err := e.auth.SignUp(e.t.Context(), req(&dataplanev1.SignUpRequest{Email: email, Password: goodPW}, p.pk, ""))
	if err != nil {
		e.t.Fatalf("sign up %s: %v", email, err)
	}
	return res.Msg.GetSession()
}

func (e *env) refresh(p project, rt string) (*dataplanev1.Session, error) {
	res, err := e.auth.Token(e.t.Context(), req(&dataplanev1.TokenRequest{GrantType: "refresh_token", RefreshToken: rt}, p.pk, ""))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetSession(), nil
}

// whoami is GetUser with an access token.
func (e *env) whoami(p project, at string) (*dataplanev1.User, error) {
	res, err := e.auth.GetUser(e.t.Context(), req(&dataplanev1.GetUserRequest{}, p.pk, at))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetUser(), nil
}

// lastMail returns the newest mail to addr in p's dev mailbox.
func (e *env) lastMail(p project, addr string) (subject, body string) {
	e.t.Helper()
	err := e.pool.QueryRow(e.t.Context(), "SELECT subject, body FROM "+tenantdb.Table(p.ref, "_auth_mail")+" WHERE to_address = $1 ORDER BY id DESC LIMIT 1", addr).Scan(&subject, &body)
	if err != nil {
		e.t.Fatalf("mail to %s: %v", addr, err)
	}
	return subject, body
}

// mailToken is the sov_mt_ token in the newest mail to addr.
func (e *env) mailToken(p project, addr string) string {
	e.t.Helper()
	_, body := e.lastMail(p, addr)
	for f := range strings.FieldsSeq(body) {
		if strings.HasPrefix(f, token.MailToken) {
			return f
		}
	}
	e.t.Fatalf("no token in mail %q", body)
	return ""
}

// code is err's Connect code and message.
func code(err error) (connect.Code, string) {
	if err == nil {
		return 0, ""
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code(), ce.Message()
	}
	return connect.CodeUnknown, err.Error()
}

// fakeOAuth stands in for an OIDC provider (package oauth has its own tests
// against a local one): AuthorizeURL records the redirect, and Exchange
// answers the identity scripted for a code.
type fakeOAuth struct {
	mu         sync.Mutex
	identities map[string]auth.OAuthIdentity
	states     map[string]string // state → redirect_to
	providers  map[string]*dataplanev1.Provider
}

func newFakeOAuth() *fakeOAuth {
	return &fakeOAuth{identities: map[string]auth.OAuthIdentity{}, states: map[string]string{}, providers: map[string]*dataplanev1.Provider{}}
}

func (f *fakeOAuth) script(code string, id auth.OAuthIdentity) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.identities[code] = id
}

func (f *fakeOAuth) AuthorizeURL(_ context.Context, _ tenantdb.Querier, ref, provider, redirectTo string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.providers[ref+"/"+provider]; !ok {
		return "", auth.ErrNotFound
	}
	state := "state-" + ref + "-" + provider
	f.states[state] = redirectTo
	return "https://idp.example/authorize?state=" + state, nil
}

func (f *fakeOAuth) Exchange(_ context.Context, _ tenantdb.Querier, _, code, state string) (auth.OAuthIdentity, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rt, ok := f.states[state]
	id, ok2 := f.identities[code]
	if !ok || !ok2 {
		return auth.OAuthIdentity{}, "", &auth.CredentialError{Reason: "OAuth sign-in failed: invalid state or code"}
	}
	return id, rt, nil
}

func (f *fakeOAuth) ListProviders(_ context.Context, _ tenantdb.Querier, ref string) ([]*dataplanev1.Provider, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*dataplanev1.Provider
	for k, p := range f.providers {
		if strings.HasPrefix(k, ref+"/") {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *fakeOAuth) SetProvider(_ context.Context, _ tenantdb.Querier, ref string, p *dataplanev1.Provider) (*dataplanev1.Provider, error) {
	if p.GetName() == "" {
		return nil, &auth.InputError{Field: "provider.name", Reason: "required"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.providers[ref+"/"+p.GetName()] = &dataplanev1.Provider{Name: p.GetName(), Issuer: p.GetIssuer(), ClientId: p.GetClientId(), RedirectUrls: p.GetRedirectUrls()}
	return f.providers[ref+"/"+p.GetName()], nil
}

func (f *fakeOAuth) DeleteProvider(_ context.Context, _ tenantdb.Querier, ref, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.providers[ref+"/"+name]; !ok {
		return auth.ErrNotFound
	}
	delete(f.providers, ref+"/"+name)
	return nil
}
