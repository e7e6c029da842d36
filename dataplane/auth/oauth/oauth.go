// Package oauth signs end users in with OpenID Connect providers that each
// tenant configures: the authorization code flow with PKCE (S256), a
// random state and nonce per attempt, and a verified ID token.
//
// The flow, as the data plane runs it:
//
//  1. GET /v1/auth/authorize?provider=…&redirect_to=… calls AuthorizeURL
//     and redirects the browser to the URL it returns. The state, nonce and
//     PKCE verifier are kept in the tenant's "_auth_oauth_states" table for
//     Config.StateTTL.
//  2. The provider signs the user in and sends the browser to
//     Config.CallbackURL(ref) with code and state.
//  3. The callback calls Exchange, which consumes the state (single use),
//     redeems the code with the verifier, verifies the ID token (signature
//     by the provider's JWKS, issuer, audience, expiry, nonce) and returns
//     the Identity and the redirect_to of step 1, where the caller sends
//     the browser with a session.
//
// Every call takes a tenantdb.Querier: a transaction that runs as the
// tenant's role with the service identity. Providers live in
// "t_<ref>"."_auth_providers"; client secrets are stored sealed with
// AES-256-GCM under a key derived from Config.SecretKey and are never
// returned. Both tables are created on first use, with row-level security
// enabled and forced and a policy that admits only the service role.
//
// SetProvider, AuthorizeURL and Exchange talk to the provider over HTTP
// while the caller's transaction is open; Config.HTTPClient's timeout
// bounds how long. Discovery documents (and the key sets they name) are
// cached per issuer for Config.DiscoveryTTL.
package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Errors a caller maps to its protocol's codes. Each is returned wrapped
// with detail; test with errors.Is.
var (
	// ErrUnknownProvider: no provider of that name (NotFound).
	ErrUnknownProvider = errors.New("oauth: unknown provider")
	// ErrInvalidProvider: a provider's settings are malformed
	// (InvalidArgument); the message names the field.
	ErrInvalidProvider = errors.New("oauth: invalid provider")
	// ErrBadRedirect: redirect_to is not one of the provider's allowed
	// redirect URLs (InvalidArgument).
	ErrBadRedirect = errors.New("oauth: redirect URL not allowed")
	// ErrBadState: the state is unknown, expired or already used
	// (InvalidArgument, or FailedPrecondition: start the sign-in again).
	ErrBadState = errors.New("oauth: invalid or expired state")
	// ErrBadCode: the authorization code is missing or the provider
	// refused it (expired, used, or not issued to this client)
	// (InvalidArgument).
	ErrBadCode = errors.New("oauth: authorization code refused")
	// ErrBadIDToken: the provider's ID token failed verification: bad
	// signature, issuer, audience, expiry or nonce (Unauthenticated).
	ErrBadIDToken = errors.New("oauth: ID token failed verification")
	// ErrProvider wraps failures to talk to the provider: unreachable,
	// an error status, a malformed or unsuitable discovery document
	// (Unavailable, or FailedPrecondition from SetProvider). Its message
	// may quote the provider; log it, do not send it to end users.
	ErrProvider = errors.New("oauth: provider failed")
)

// Defaults of Config.
const (
	DefaultStateTTL     = 10 * time.Minute
	DefaultDiscoveryTTL = time.Hour
	DefaultHTTPTimeout  = 10 * time.Second
	// DefaultMaxResponse bounds every response read from a provider.
	DefaultMaxResponse = 1 << 20
	// maxCachedIssuers bounds the discovery cache.
	maxCachedIssuers = 10000
)

// Config configures a Service.
type Config struct {
	// SecretKey is the master key from which the key that seals client
	// secrets is derived; at least MinKeyLen (32) random bytes. It may be
	// shared with other packages (each derives its own key). Required.
	SecretKey []byte
	// CallbackURL returns the redirect_uri for tenant ref: the data
	// plane's /v1/auth/callback as the provider must have it registered.
	// Required.
	CallbackURL func(ref string) string
	// HTTPClient makes every request to providers (discovery, JWKS,
	// token). Its responses are limited to DefaultMaxResponse bytes, and a
	// client without a Timeout gets DefaultHTTPTimeout. Default: a client
	// with DefaultHTTPTimeout that connects directly (no proxy) and only
	// to public addresses, so that a tenant cannot point the data plane
	// at loopback, private or link-local hosts. Pass a client to reach
	// providers on a private network.
	HTTPClient *http.Client
	// Now is the clock for state expiry and ID token expiry. Default
	// time.Now.
	Now func() time.Time
	// StateTTL is how long a sign-in may take between AuthorizeURL and
	// Exchange. Default DefaultStateTTL (10 minutes).
	StateTTL time.Duration
	// DiscoveryTTL is how long a provider's discovery document is cached
	// before it is fetched again; SetProvider always fetches it. Default
	// DefaultDiscoveryTTL (1 hour); negative disables the cache.
	DiscoveryTTL time.Duration
}

// Identity is who the provider says signed in.
type Identity struct {
	// Provider is the provider's name in the tenant.
	Provider string
	// Subject is the provider's stable id of the user ("sub"); with
	// Provider, the key to link an account by.
	Subject string
	// Email is the user's email address as the provider knows it, or "".
	Email string
	// EmailVerified is the provider's claim that the user controls Email.
	// Link to an existing account by email only when it is true.
	EmailVerified bool
}

// Service runs tenants' OIDC sign-ins. It is safe for concurrent use.
type Service struct {
	sealer       *sealer
	callbackURL  func(string) string
	client       *http.Client
	now          func() time.Time
	stateTTL     time.Duration
	discoveryTTL time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	p       *oidc.Provider
	fetched time.Time
}

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	s, err := newSealer(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	if cfg.CallbackURL == nil {
		return nil, errors.New("oauth: CallbackURL is required")
	}
	if cfg.StateTTL < 0 {
		return nil, errors.New("oauth: StateTTL must not be negative")
	}
	svc := &Service{
		sealer:       s,
		callbackURL:  cfg.CallbackURL,
		client:       limitClient(cfg.HTTPClient),
		now:          cfg.Now,
		stateTTL:     cfg.StateTTL,
		discoveryTTL: cfg.DiscoveryTTL,
		cache:        make(map[string]cached),
	}
	if svc.now == nil {
		svc.now = time.Now
	}
	if svc.stateTTL == 0 {
		svc.stateTTL = DefaultStateTTL
	}
	if svc.discoveryTTL == 0 {
		svc.discoveryTTL = DefaultDiscoveryTTL
	}
	return svc, nil
}

// discover returns the provider at issuer, from the cache unless fresh is
// set or the entry is older than DiscoveryTTL.
func (s *Service) discover(ctx context.Context, issuer string, fresh bool) (*oidc.Provider, error) {
	now := s.now()
	if !fresh && s.discoveryTTL > 0 {
		s.mu.Lock()
		c, ok := s.cache[issuer]
		s.mu.Unlock()
		if ok && now.Sub(c.fetched) < s.discoveryTTL {
			return c.p, nil
		}
	}
	// go-oidc keeps this client (not ctx's deadline) for the key set it
	// fetches later, so the cached provider outlives the request.
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, s.client), issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery at %s: %w", ErrProvider, issuer, err)
	}
	var meta struct {
		PKCEMethods []string `json:"code_challenge_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("%w: discovery at %s: %w", ErrProvider, issuer, err)
	}
	ep := p.Endpoint()
	switch {
	case ep.AuthURL == "" || ep.TokenURL == "":
		return nil, fmt.Errorf("%w: discovery at %s names no authorization or token endpoint", ErrProvider, issuer)
	case !httpsURL(ep.AuthURL) || !httpsURL(ep.TokenURL):
		return nil, fmt.Errorf("%w: discovery at %s: endpoints must be https", ErrProvider, issuer)
	case meta.PKCEMethods != nil && !slices.Contains(meta.PKCEMethods, "S256"):
		// Absent means unknown: many providers support PKCE without
		// saying so. Present without S256 means a downgrade.
		return nil, fmt.Errorf("%w: %s does not support PKCE with S256", ErrProvider, issuer)
	}
	if s.discoveryTTL > 0 {
		s.mu.Lock()
		if len(s.cache) >= maxCachedIssuers {
			for k, c := range s.cache {
				if now.Sub(c.fetched) >= s.discoveryTTL || len(s.cache) >= maxCachedIssuers {
					delete(s.cache, k)
				}
			}
		}
		s.cache[issuer] = cached{p: p, fetched: now}
		s.mu.Unlock()
	}
	return p, nil
}

// limitClient returns a copy of c (or the default client) whose responses
// are limited to DefaultMaxResponse bytes and that has a timeout.
func limitClient(c *http.Client) *http.Client {
	if c == nil {
		d := &net.Dialer{Timeout: 5 * time.Second, Control: publicOnly}
		c = &http.Client{Transport: &http.Transport{
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: DefaultHTTPTimeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		}}
	}
	cp := *c
	if cp.Timeout == 0 {
		cp.Timeout = DefaultHTTPTimeout
	}
	base := cp.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cp.Transport = limitTransport{base: base, max: DefaultMaxResponse}
	return &cp
}

// errNotPublic refuses connections to addresses a tenant must not reach.
var errNotPublic = errors.New("oauth: refusing to connect to a non-public address")

// cgnat is the shared address space of RFC 6598, not routable publicly.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// publicOnly is the default dialer's Control: it runs after name
// resolution, on the address actually dialled, so DNS cannot smuggle a
// private address past it.
func publicOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return errNotPublic
	}
	a := ap.Addr().Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || cgnat.Contains(a) {
		return fmt.Errorf("%w: %s", errNotPublic, a)
	}
	return nil
}

// limitTransport fails reading a response body past max bytes.
type limitTransport struct {
	base http.RoundTripper
	max  int64
}

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

var errTooLarge = errors.New("oauth: provider response too large")

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly max bytes from a longer
		// one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
