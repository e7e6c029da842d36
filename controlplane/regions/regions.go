// Package regions knows the regions and their data planes. A data plane
// registers its public URL at start and sends heartbeats, authenticated with
// its region's secret; the control plane holds every region's secret in its
// configuration (never in the database) and uses the same secret to call
// the region's AdminService. Heartbeats carry the region's API key usage,
// which becomes the keys' last_used_at.
package regions

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/controlplane/fault"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Defaults.
const (
	// DefaultHealthyWithin is how recent a heartbeat must be for a region to
	// count as healthy.
	DefaultHealthyWithin = 30 * time.Second
	// DefaultAdminTimeout bounds one call to a region's AdminService.
	DefaultAdminTimeout = 30 * time.Second
	// MinSecretLen is the shortest region secret accepted, in bytes.
	MinSecretLen = 16
	// MaxKeyUsagePerHeartbeat is the most key uses one heartbeat may carry;
	// a data plane with more sends several heartbeats.
	MaxKeyUsagePerHeartbeat = 10_000
)

// SecretProcedures are the RegionService procedures that authenticate with
// a region secret instead of an account's credentials. The account
// interceptor must let them through without a Principal; the handler checks
// the secret itself.
var SecretProcedures = []string{
	controlplanev1connect.RegionServiceRegisterRegionProcedure,
	controlplanev1connect.RegionServiceHeartbeatProcedure,
}

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// Config configures Regions.
type Config struct {
	// Pool of the control plane's database. Required.
	Pool *pgxpool.Pool
	// Secrets maps a region name to its secret. A region missing here can
	// neither register nor be called. See ParseSecrets.
	Secrets map[string]string
	// HealthyWithin is how recent a heartbeat must be for ListRegions to
	// call the region healthy. Default DefaultHealthyWithin (30 s).
	HealthyWithin time.Duration
	// HTTPClient calls the regions' AdminService. Default a client whose
	// calls time out after DefaultAdminTimeout (30 s).
	HTTPClient *http.Client
}

// Regions is the registry of regions and the factory of admin clients.
type Regions struct {
	cfg    Config
	hashes map[string][32]byte // region -> SHA-256 of its secret

	mu      sync.Mutex
	clients map[string]adminClient // region -> client for its current URL
}

type adminClient struct {
	url    string
	client dataplanev1connect.AdminServiceClient
}

// New returns Regions.
func New(cfg Config) (*Regions, error) {
	if cfg.Pool == nil {
		return nil, errors.New("regions: Config.Pool is required")
	}
	cfg.HealthyWithin = cmp.Or(cfg.HealthyWithin, DefaultHealthyWithin)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultAdminTimeout}
	}
	hashes := make(map[string][32]byte, len(cfg.Secrets))
	for name, secret := range cfg.Secrets {
		if err := checkSecret(name, secret); err != nil {
			return nil, fmt.Errorf("regions: %w", err)
		}
		hashes[name] = sha256.Sum256([]byte(secret))
	}
	return &Regions{cfg: cfg, hashes: hashes, clients: map[string]adminClient{}}, nil
}

func checkSecret(name, secret string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("region name %q must match %s", name, namePattern)
	}
	if len(secret) < MinSecretLen {
		return fmt.Errorf("the secret of region %s is %d bytes; use at least %d random characters", name, len(secret), MinSecretLen)
	}
	return nil
}

// ParseSecrets reads region secrets given as "name=secret", one per entry or
// several in one entry separated by commas (as in SOVEREIGN_REGION_SECRET).
// A region given twice is an error.
func ParseSecrets(entries []string) (map[string]string, error) {
	out := map[string]string{}
	n := 0
	for _, e := range entries {
		for part := range strings.SplitSeq(e, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			n++
			name, secret, ok := strings.Cut(part, "=")
			if !ok {
				// The entry may be a bare secret: never echo it.
				return nil, fmt.Errorf("region secret #%d: want name=secret", n)
			}
			if err := checkSecret(name, secret); err != nil {
				return nil, err
			}
			if _, dup := out[name]; dup {
				return nil, fmt.Errorf("region %s has more than one secret", name)
			}
			out[name] = secret
		}
	}
	return out, nil
}

// truncate keeps a prefix of s short enough not to reveal a secret in an
// error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Authenticate checks that secret is the configured secret of region, in
// time independent of where a wrong secret differs (and of whether the
// region is configured at all). It returns fault.Unauthenticated otherwise.
func (r *Regions) Authenticate(region, secret string) error {
	want, ok := r.hashes[region]
	got := sha256.Sum256([]byte(secret))
	if !ok {
		want = sha256.Sum256([]byte("\x00no region secret\x00" + secret))
	}
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !ok {
		return fault.New(fault.Unauthenticated, "the region secret is not valid for region %q", truncate(region, 32))
	}
	return nil
}

// Region is a registered region.
type Region struct {
	Name            string
	PublicURL       string
	Healthy         bool
	LastHeartbeatAt time.Time // zero when none arrived yet
	RegisteredAt    time.Time
}

// cleanURL checks that s is an absolute http(s) URL with a host and returns
// it without a trailing slash.
func cleanURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fault.New(fault.Invalid, "public_url: %q is not an http or https URL with a host (and no credentials, query or fragment)", truncate(s, 100))
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// RegionRegisterParams register a region's data plane.
type RegionRegisterParams struct {
	Name      string
	PublicURL string
}

// RegionRegister records (or updates) a region's public URL; registering
// counts as a heartbeat. The caller has authenticated the region.
func (r *Regions) RegionRegister(ctx context.Context, p RegionRegisterParams) (Region, error) {
	if !namePattern.MatchString(p.Name) {
		return Region{}, fault.New(fault.Invalid, "name: %q must match %s", truncate(p.Name, 40), namePattern)
	}
	u, err := cleanURL(p.PublicURL)
	if err != nil {
		return Region{}, err
	}
	var reg Region
	err = r.cfg.Pool.QueryRow(ctx, `
INSERT INTO controlplane.regions (name, public_url, last_heartbeat_at) VALUES ($1, $2, now())
ON CONFLICT (name) DO UPDATE SET public_url = EXCLUDED.public_url, last_heartbeat_at = now()
RETURNING name, public_url, created_at, last_heartbeat_at`, p.Name, u).
		Scan(&reg.Name, &reg.PublicURL, &reg.RegisteredAt, &reg.LastHeartbeatAt)
	if err != nil {
		return Region{}, fmt.Errorf("register region: %w", err)
	}
	reg.Healthy = true
	return reg, nil
}

// KeyUsage is an API key's latest use as a region saw it.
type KeyUsage struct {
	// KeyID is the key's id.
	KeyID string
	// LastUsedAt is when the key last authenticated. Required.
	LastUsedAt time.Time
}

// RegionHeartbeatParams are one heartbeat of a region.
type RegionHeartbeatParams struct {
	// Name of the region, which the caller has authenticated.
	Name string
	// KeyUsage is the region's key usage since its previous heartbeat: at
	// most MaxKeyUsagePerHeartbeat entries.
	KeyUsage []KeyUsage
}

// RegionHeartbeat records a heartbeat and the key usage it carries, all or
// nothing. A key's last_used_at only moves forward, and never past the
// control plane's clock; usage of keys that are unknown, or whose project
// is in another region, is ignored, so that a region can touch only its own
// keys. A region that never registered is fault.FailedPrecondition; more
// than MaxKeyUsagePerHeartbeat entries, or one without a time, is
// fault.Invalid.
func (r *Regions) RegionHeartbeat(ctx context.Context, p RegionHeartbeatParams) error {
	if n := len(p.KeyUsage); n > MaxKeyUsagePerHeartbeat {
		return fault.New(fault.Invalid, "key_usage: %d entries; a heartbeat carries at most %d, send the rest in further heartbeats", n, MaxKeyUsagePerHeartbeat)
	}
	ids := make([]string, 0, len(p.KeyUsage))
	times := make([]time.Time, 0, len(p.KeyUsage))
	for i, u := range p.KeyUsage {
		if u.LastUsedAt.IsZero() {
			return fault.New(fault.Invalid, "key_usage[%d].last_used_at: required", i)
		}
		id, err := uuid.Parse(u.KeyID)
		if err != nil {
			continue // no such key: ignored like any unknown id
		}
		ids = append(ids, id.String())
		times = append(times, u.LastUsedAt)
	}
	err := pgx.BeginFunc(ctx, r.cfg.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE controlplane.regions SET last_heartbeat_at = now() WHERE name = $1`, p.Name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fault.New(fault.FailedPrecondition, "region %s is not registered; call RegisterRegion first", p.Name)
		}
		if len(ids) == 0 {
			return nil
		}
		// Rows are locked in key order, so that heartbeats of a region's
		// several nodes naming the same keys cannot deadlock.
		_, err = tx.Exec(ctx, `
WITH usage AS (
    SELECT id, least(max(at), now()) AS at
    FROM unnest($2::uuid[], $3::timestamptz[]) AS u (id, at)
    GROUP BY id
), mine AS (
    SELECT k.id, usage.at
    FROM controlplane.api_keys AS k
    JOIN usage ON usage.id = k.id
    JOIN controlplane.projects AS p ON p.id = k.project_id
    WHERE p.region = $1 AND (k.last_used_at IS NULL OR k.last_used_at < usage.at)
    ORDER BY k.id
    FOR NO KEY UPDATE OF k
)
UPDATE controlplane.api_keys AS k SET last_used_at = greatest(k.last_used_at, mine.at)
FROM mine WHERE k.id = mine.id`, p.Name, ids, times)
		return err
	})
	if err != nil {
		if _, ok := fault.KindOf(err); ok {
			return err
		}
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// RegionList lists the registered regions by name.
func (r *Regions) RegionList(ctx context.Context) ([]Region, error) {
	rows, err := r.cfg.Pool.Query(ctx, `
SELECT name, public_url, created_at, last_heartbeat_at,
       coalesce(last_heartbeat_at > now() - make_interval(secs => $1), false)
FROM controlplane.regions ORDER BY name`, r.cfg.HealthyWithin.Seconds())
	if err != nil {
		return nil, fmt.Errorf("list regions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Region, error) {
		var reg Region
		var hb *time.Time
		err := row.Scan(&reg.Name, &reg.PublicURL, &reg.RegisteredAt, &hb, &reg.Healthy)
		if hb != nil {
			reg.LastHeartbeatAt = *hb
		}
		return reg, err
	})
	if err != nil {
		return nil, fmt.Errorf("list regions: %w", err)
	}
	return out, nil
}

// AdminClient returns a client of the AdminService of region's data plane,
// at its registered public URL, that sends the region secret as a bearer
// token. It fails when the region has no secret configured or has not
// registered.
func (r *Regions) AdminClient(ctx context.Context, region string) (dataplanev1connect.AdminServiceClient, error) {
	secret, ok := r.cfg.Secrets[region]
	if !ok {
		return nil, fmt.Errorf("no secret is configured for region %s", region)
	}
	var u string
	err := r.cfg.Pool.QueryRow(ctx, `SELECT public_url FROM controlplane.regions WHERE name = $1`, region).Scan(&u)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("region %s has not registered a data plane", region)
	}
	if err != nil {
		return nil, fmt.Errorf("look up region %s: %w", region, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[region]; ok && c.url == u {
		return c.client, nil
	}
	c := dataplanev1connect.NewAdminServiceClient(r.cfg.HTTPClient, u,
		connect.WithInterceptors(bearer{header: "Bearer " + secret}))
	r.clients[region] = adminClient{url: u, client: c}
	return c, nil
}

// bearer sets the Authorization header on every call. The header is kept
// in an unexported field so that printing the interceptor shows no secret.
type bearer struct{ header string }

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", b.header)
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", b.header)
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
