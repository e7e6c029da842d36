package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// Limits on what the callback brings.
const (
	maxStateLen = 256
	maxCodeLen  = 4096
	// gcBatch bounds how many expired states one AuthorizeURL deletes.
	gcBatch = 100
)

// random returns n random bytes in unpadded base64url.
func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func stateHash(state string) []byte {
	h := sha256.Sum256([]byte(state))
	return h[:]
}

// oauth2Config is the provider's client configuration for tenant ref.
func (s *Service) oauth2Config(p *oidc.Provider, st stored, ref, secret string) (*oauth2.Config, error) {
	ep := p.Endpoint()
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("%w: discovery: %w", ErrProvider, err)
	}
	// client_secret_basic is the default the spec gives when the list is
	// absent; post only when the provider offers it and not basic. A
	// public client sends its id in the body.
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if secret == "" || (meta.AuthMethods != nil && !slices.Contains(meta.AuthMethods, "client_secret_basic") &&
		slices.Contains(meta.AuthMethods, "client_secret_post")) {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID:     st.clientID,
		ClientSecret: secret,
		Endpoint:     ep,
		RedirectURL:  s.callbackURL(ref),
		Scopes:       append(slices.Clone(baseScopes), st.scopes...),
	}, nil
}

// AuthorizeURL starts a sign-in of tenant ref with provider and returns
// the provider's authorization URL to send the browser to: the
// authorization code flow with a PKCE S256 challenge, a random state and
// nonce, and redirect_uri Config.CallbackURL(ref). redirectTo is where the
// browser goes after Exchange; it must equal one of the provider's
// RedirectURLs (ErrBadRedirect), and "" means the first of them. The
// sign-in must complete within Config.StateTTL. Unknown provider:
// ErrUnknownProvider; provider unreachable: ErrProvider.
func (s *Service) AuthorizeURL(ctx context.Context, q tenantdb.Querier, ref, provider, redirectTo string) (string, error) {
	tx, _, err := begin(ctx, q, ref, true)
	if err != nil {
		return "", err
	}
	st, err := tx.provider(provider)
	if err != nil {
		return "", err
	}
	if redirectTo == "" && len(st.redirects) > 0 {
		redirectTo = st.redirects[0]
	}
	if !slices.Contains(st.redirects, redirectTo) {
		return "", fmt.Errorf("%w: %q is not among provider %s's redirect URLs", ErrBadRedirect, redirectTo, provider)
	}
	p, err := s.discover(ctx, st.issuer, false)
	if err != nil {
		return "", err
	}
	conf, err := s.oauth2Config(p, st, ref, "")
	if err != nil {
		return "", err
	}
	state, nonce, verifier := random(32), random(32), oauth2.GenerateVerifier()
	now := s.now()
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM `+tx.states+` WHERE state_hash IN (SELECT state_hash FROM `+tx.states+
		` WHERE expires_at <= $1 LIMIT `+fmt.Sprint(gcBatch)+`)`, now)
	b.Queue(`INSERT INTO `+tx.states+` (state_hash, provider, nonce, verifier, redirect_to, expires_at)
VALUES ($1, $2, $3, $4, $5, $6)`, stateHash(state), provider, nonce, verifier, redirectTo, now.Add(s.stateTTL))
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return "", fmt.Errorf("oauth: store state: %w", err)
	}
	return conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), nil
}

// Exchange completes a sign-in of tenant ref from the callback's code and
// state. The state must be one AuthorizeURL made, unexpired and unused; it
// is consumed (deleted through q) whatever happens next, so commit q's
// transaction even when Exchange fails to make that stick. The code is
// redeemed with the PKCE verifier, and the ID token must carry a valid
// signature from the provider's JWKS, the provider as issuer, the client
// id as audience (and as azp when there are several), an unexpired exp
// and the nonce of this sign-in. It returns the identity and the
// redirectTo given to AuthorizeURL.
//
// Errors: ErrBadState, ErrBadCode, ErrBadIDToken, ErrUnknownProvider (the
// provider was deleted meanwhile), ErrProvider.
func (s *Service) Exchange(ctx context.Context, q tenantdb.Querier, ref, code, state string) (Identity, string, error) {
	if state == "" || len(state) > maxStateLen {
		return Identity{}, "", ErrBadState
	}
	tx, exists, err := begin(ctx, q, ref, false)
	if err != nil {
		return Identity{}, "", err
	}
	if !exists {
		return Identity{}, "", ErrBadState
	}
	var provider, nonce, verifier, redirectTo string
	var expires time.Time
	err = q.QueryRow(ctx, `DELETE FROM `+tx.states+` WHERE state_hash = $1
RETURNING provider, nonce, verifier, redirect_to, expires_at`, stateHash(state)).Scan(&provider, &nonce, &verifier, &redirectTo, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return Identity{}, "", ErrBadState
	}
	if err != nil {
		return Identity{}, "", fmt.Errorf("oauth: consume state: %w", err)
	}
	if !s.now().Before(expires) {
		return Identity{}, "", fmt.Errorf("%w: expired", ErrBadState)
	}
	if code == "" || len(code) > maxCodeLen {
		return Identity{}, "", fmt.Errorf("%w: missing", ErrBadCode)
	}
	st, err := tx.provider(provider)
	if err != nil {
		return Identity{}, "", err
	}
	var secret string
	if st.secret != nil {
		if secret, err = s.sealer.open(st.secret, tx.ref, provider); err != nil {
			return Identity{}, "", err
		}
	}
	p, err := s.discover(ctx, st.issuer, false)
	if err != nil {
		return Identity{}, "", err
	}
	conf, err := s.oauth2Config(p, st, tx.ref, secret)
	if err != nil {
		return Identity{}, "", err
	}
	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, s.client), code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			return Identity{}, "", fmt.Errorf("%w: %w", ErrBadCode, err)
		}
		return Identity{}, "", fmt.Errorf("%w: token request: %w", ErrProvider, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, "", fmt.Errorf("%w: the token response has no ID token", ErrProvider)
	}
	id, err := s.verifyIDToken(ctx, p, st.clientID, raw, nonce, tok.AccessToken)
	if err != nil {
		return Identity{}, "", err
	}
	id.Provider = provider
	return id, redirectTo, nil
}

// verifyIDToken checks raw as Exchange says and reads the identity.
func (s *Service) verifyIDToken(ctx context.Context, p *oidc.Provider, clientID, raw, nonce, accessToken string) (Identity, error) {
	idt, err := p.Verifier(&oidc.Config{ClientID: clientID, Now: s.now}).Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrBadIDToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return Identity{}, fmt.Errorf("%w: nonce does not match this sign-in", ErrBadIDToken)
	}
	var claims struct {
		AuthorizedParty string          `json:"azp"`
		Email           string          `json:"email"`
		EmailVerified   json.RawMessage `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %w", ErrBadIDToken, err)
	}
	// OIDC Core 3.1.3.7: with several audiences, azp names this client.
	if len(idt.Audience) > 1 && claims.AuthorizedParty != clientID {
		return Identity{}, fmt.Errorf("%w: azp is not this client", ErrBadIDToken)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(accessToken); err != nil {
			return Identity{}, fmt.Errorf("%w: %w", ErrBadIDToken, err)
		}
	}
	if idt.Subject == "" {
		return Identity{}, fmt.Errorf("%w: no subject", ErrBadIDToken)
	}
	// Some providers send email_verified as the string "true".
	verified := string(claims.EmailVerified) == "true" || string(claims.EmailVerified) == `"true"`
	return Identity{Subject: idt.Subject, Email: claims.Email, EmailVerified: verified}, nil
}
