package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// Limits on a provider's settings.
const (
	MaxURLLen          = 2048
	MaxClientIDLen     = 256
	MaxClientSecretLen = 1024
	MaxScopes          = 20
	MaxScopeLen        = 128
	MaxRedirectURLs    = 20
)

// baseScopes are always requested: openid makes it OIDC, email fills
// Identity.Email.
var baseScopes = []string{"openid", "email"}

// Provider is a tenant's OpenID Connect provider.
type Provider struct {
	// Name identifies the provider in the tenant and in sign-in URLs:
	// ^[a-z][a-z0-9_-]{0,31}$.
	Name string
	// Issuer is the provider's issuer URL (https, no query or fragment),
	// exactly as its discovery document at
	// Issuer + "/.well-known/openid-configuration" states it.
	Issuer string
	// ClientID is the client id the provider issued to the tenant's app.
	ClientID string
	// ClientSecret is write-only: SetProvider stores it sealed, and no call
	// returns it. Empty in SetProvider keeps the stored secret of an
	// existing provider, or makes a new one a public client (PKCE only).
	ClientSecret string
	// HasClientSecret reports, on what the Service returns, whether a
	// client secret is stored. SetProvider ignores it.
	HasClientSecret bool
	// Scopes are requested besides "openid" and "email", which always
	// are. At most MaxScopes.
	Scopes []string
	// RedirectURLs are where the browser may be sent after sign-in:
	// AuthorizeURL's redirectTo must equal one of them exactly. Absolute
	// URLs without a fragment (app schemes such as com.example.app:/cb
	// allowed; javascript:, data:, file: and vbscript: not). 1 to
	// MaxRedirectURLs.
	RedirectURLs []string
	// CreatedAt and UpdatedAt are set by the Service.
	CreatedAt, UpdatedAt time.Time
}

var (
	validName  = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	validScope = regexp.MustCompile(`^[\x21\x23-\x5b\x5d-\x7e]+$`) // RFC 6749 scope-token
)

func invalidProvider(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidProvider, fmt.Sprintf(format, args...))
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func httpsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

// normalise checks p and returns it with its scopes deduplicated, without
// the base scopes, and never nil.
func (p Provider) normalise() (Provider, error) {
	if !validName.MatchString(p.Name) {
		return p, invalidProvider("name must match ^[a-z][a-z0-9_-]{0,31}$")
	}
	u, err := url.Parse(p.Issuer)
	if err != nil || len(p.Issuer) > MaxURLLen || u.Scheme != "https" || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || strings.Contains(p.Issuer, "#") || !printable(p.Issuer) {
		return p, invalidProvider("issuer must be an https URL of at most %d bytes without query or fragment", MaxURLLen)
	}
	if p.ClientID == "" || len(p.ClientID) > MaxClientIDLen || !printable(p.ClientID) {
		return p, invalidProvider("client id must be 1 to %d printable bytes", MaxClientIDLen)
	}
	if len(p.ClientSecret) > MaxClientSecretLen || !printable(p.ClientSecret) {
		return p, invalidProvider("client secret must be at most %d printable bytes", MaxClientSecretLen)
	}
	scopes := []string{}
	for _, s := range p.Scopes {
		if len(s) > MaxScopeLen || !validScope.MatchString(s) {
			return p, invalidProvider("scope %q: must be 1 to %d characters without spaces, quotes or backslashes", s, MaxScopeLen)
		}
		if !slices.Contains(baseScopes, s) && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	if len(scopes) > MaxScopes {
		return p, invalidProvider("at most %d scopes", MaxScopes)
	}
	p.Scopes = scopes
	if len(p.RedirectURLs) == 0 || len(p.RedirectURLs) > MaxRedirectURLs {
		return p, invalidProvider("1 to %d redirect URLs", MaxRedirectURLs)
	}
	redirects := []string{}
	for _, r := range p.RedirectURLs {
		if err := checkRedirect(r); err != nil {
			return p, err
		}
		if !slices.Contains(redirects, r) {
			redirects = append(redirects, r)
		}
	}
	p.RedirectURLs = redirects
	p.HasClientSecret, p.CreatedAt, p.UpdatedAt = false, time.Time{}, time.Time{}
	return p, nil
}

func checkRedirect(r string) error {
	u, err := url.Parse(r)
	bad := err != nil || len(r) > MaxURLLen || !printable(r) || u.Scheme == "" || u.User != nil ||
		strings.Contains(r, "#")
	if !bad {
		switch strings.ToLower(u.Scheme) {
		case "javascript", "data", "file", "vbscript":
			bad = true
		case "http", "https":
			bad = u.Host == ""
		}
	}
	if bad {
		return invalidProvider("redirect URL %q: must be an absolute URL of at most %d bytes without fragment or user info", r, MaxURLLen)
	}
	return nil
}

const providerColumns = `name, issuer, client_id, client_secret IS NOT NULL, scopes, redirect_urls, created_at, updated_at`

func scanProvider(row pgx.Row) (Provider, error) {
	var p Provider
	err := row.Scan(&p.Name, &p.Issuer, &p.ClientID, &p.HasClientSecret, &p.Scopes, &p.RedirectURLs, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

// SetProvider creates or replaces the provider p.Name and returns it as
// stored (without the client secret). It first fetches the issuer's
// discovery document and checks it (the issuer it states equals
// p.Issuer; authorization and token endpoints are https; S256 PKCE is
// not ruled out), so a typo fails here with ErrProvider rather than at a
// user's sign-in. Malformed settings are ErrInvalidProvider.
func (s *Service) SetProvider(ctx context.Context, q tenantdb.Querier, p Provider) (Provider, error) {
	p, err := p.normalise()
	if err != nil {
		return Provider{}, err
	}
	tx, _, err := begin(ctx, q, "", true)
	if err != nil {
		return Provider{}, err
	}
	if _, err := s.discover(ctx, p.Issuer, true); err != nil {
		return Provider{}, err
	}
	var secret []byte
	if p.ClientSecret != "" {
		secret = s.sealer.seal(p.ClientSecret, tx.ref, p.Name)
	}
	out, err := scanProvider(q.QueryRow(ctx, `INSERT INTO `+tx.providers+` AS p
    (name, issuer, client_id, client_secret, scopes, redirect_urls, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
ON CONFLICT (name) DO UPDATE SET issuer = excluded.issuer, client_id = excluded.client_id,
    client_secret = coalesce(excluded.client_secret, p.client_secret), scopes = excluded.scopes,
    redirect_urls = excluded.redirect_urls, updated_at = excluded.updated_at
RETURNING `+providerColumns, p.Name, p.Issuer, p.ClientID, secret, p.Scopes, p.RedirectURLs, s.now()))
	if err != nil {
		return Provider{}, fmt.Errorf("oauth: store provider: %w", err)
	}
	return out, nil
}

// ListProviders returns the tenant's providers by name, without client
// secrets. It writes nothing and works in a read-only transaction.
func (s *Service) ListProviders(ctx context.Context, q tenantdb.Querier) ([]Provider, error) {
	tx, exists, err := begin(ctx, q, "", false)
	if err != nil || !exists {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT `+providerColumns+` FROM `+tx.providers+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("oauth: list providers: %w", err)
	}
	defer rows.Close()
	var out []Provider
	for rows.Next() {
		p, err := scanProvider(rows)
		if err != nil {
			return nil, fmt.Errorf("oauth: list providers: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("oauth: list providers: %w", err)
	}
	return out, nil
}

// DeleteProvider removes the provider name and its sign-ins in progress;
// ErrUnknownProvider when there is none. Accounts linked to it are the
// caller's to keep or remove.
func (s *Service) DeleteProvider(ctx context.Context, q tenantdb.Querier, name string) error {
	tx, exists, err := begin(ctx, q, "", false)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("%w: %q", ErrUnknownProvider, name)
	}
	tag, err := q.Exec(ctx, `DELETE FROM `+tx.providers+` WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("oauth: delete provider: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q", ErrUnknownProvider, name)
	}
	return nil
}

// stored is a provider's row as the flow needs it.
type stored struct {
	issuer, clientID string
	secret           []byte
	scopes           []string
	redirects        []string
}

func (tx *tenantTx) provider(name string) (stored, error) {
	var p stored
	err := tx.q.QueryRow(tx.ctx, `SELECT issuer, client_id, client_secret, scopes, redirect_urls FROM `+tx.providers+
		` WHERE name = $1`, name).Scan(&p.issuer, &p.clientID, &p.secret, &p.scopes, &p.redirects)
	if errors.Is(err, pgx.ErrNoRows) {
		return stored{}, fmt.Errorf("%w: %q", ErrUnknownProvider, name)
	}
	if err != nil {
		return stored{}, fmt.Errorf("oauth: read provider: %w", err)
	}
	return p, nil
}
