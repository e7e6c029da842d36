// Package dataplane is one data plane node's application: it reads its
// config, opens its backing services, applies its migrations, and mounts its
// Connect services and operational endpoints on one mux. Nothing else in the
// data plane constructs the world.
package dataplane

import (
	"cmp"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sovereign-backend/sovereign/dataplane/admin"
	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/auth"
	"github.com/sovereign-backend/sovereign/dataplane/auth/mfa"
	"github.com/sovereign-backend/sovereign/dataplane/auth/oauth"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/migrations"
	"github.com/sovereign-backend/sovereign/dataplane/realtime"
	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/registration"
	"github.com/sovereign-backend/sovereign/dataplane/rest"
	"github.com/sovereign-backend/sovereign/dataplane/rules"
	"github.com/sovereign-backend/sovereign/dataplane/rules/rulesrpc"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/schema/schemarpc"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/backends"
	"github.com/sovereign-backend/sovereign/internal/health"
	"github.com/sovereign-backend/sovereign/internal/httpserver"
	"github.com/sovereign-backend/sovereign/internal/idempotency"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/ratelimit"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Schema is the PostgreSQL schema that holds the data plane's own tables
// (tenants, key hashes, limits); tenants' data lives in schemas t_<ref>.
const Schema = "dataplane"

// Config configures a data plane node.
type Config struct {
	// Region this node serves, e.g. "local": lowercase letters, digits and
	// dashes, starting with a letter, at most 32 characters. Default "local".
	Region string
	// DatabaseURL of the region's PostgreSQL database. Required.
	DatabaseURL string
	// DBMaxConns caps the database pool; 0 keeps pgxpool's default.
	DBMaxConns int32
	// ValkeyURL of Valkey or Redis 7, shared by the region's nodes; empty
	// uses an in-process broker (one node only).
	ValkeyURL string
	// KeyPrefix starts every Valkey key and channel of this region's nodes;
	// default "sovereign:".
	KeyPrefix string
	// RegionSecret authenticates this region to the control plane and the
	// control plane to this region's admin service (at least 16
	// characters). Empty: the admin service is not mounted and the node
	// does not register.
	RegionSecret string
	// ControlPlaneURL is where the node registers and sends heartbeats;
	// empty turns registration off.
	ControlPlaneURL string
	// PublicURL is this region's base URL as clients reach it, sent at
	// registration.
	PublicURL string
	// HeartbeatInterval is the time between heartbeats to the control
	// plane, which also carry API key usage. 0 keeps registration's default
	// (10 s).
	HeartbeatInterval time.Duration
	// MaxRecordBytes caps one record's JSON; 0 means 1 MiB.
	MaxRecordBytes int
	// CORSOrigins may call the data plane from browsers; empty means any
	// origin (API keys, not cookies, authenticate).
	CORSOrigins []string
	// DataDir is where the node keeps files on local disk (storage, when
	// StorageS3URL is empty), one directory per tenant. Empty: files are
	// kept in a directory "data" under the working directory.
	DataDir string
	// StorageS3URL stores files in an S3-compatible store instead of
	// DataDir: s3://ACCESS:SECRET@HOST:PORT/BUCKET?region=R&secure=false
	// (path-style requests).
	StorageS3URL string
	// RealtimeRetention is how long record changes are kept for clients
	// to resume from a cursor; 0 means 24 h.
	RealtimeRetention time.Duration
	// Version is the build version reported by GetStatus.
	Version string
	// Logger for everything the node logs. Default slog.Default().
	Logger *slog.Logger
}

var validRegion = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// Plane is a running data plane node, ready to be served.
type Plane struct {
	cfg      Config
	backends *backends.Backends
	mux      *http.ServeMux
	registry *prometheus.Registry
	started  time.Time
	stop     context.CancelFunc
	wg       sync.WaitGroup
	// tenantHooks run when a tenant's state changes (pause, purge), to drop
	// what nodes cache about it; set before serving, read after.
	tenantHooks []func(context.Context, string) error
	closers     []func()
}

// New validates cfg, opens the backing services, applies pending migrations
// and builds the handlers.
func New(ctx context.Context, cfg Config) (*Plane, error) {
	cfg.Region = cmp.Or(cfg.Region, "local")
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.Version = cmp.Or(cfg.Version, "devel")
	if !validRegion.MatchString(cfg.Region) {
		return nil, fmt.Errorf("dataplane: invalid region %q: use lowercase letters, digits and dashes, starting with a letter, at most 32 characters", cfg.Region)
	}
	be, err := backends.Open(ctx, backends.Config{
		DatabaseURL: cfg.DatabaseURL,
		DBMaxConns:  cfg.DBMaxConns,
		ValkeyURL:   cfg.ValkeyURL,
		KeyPrefix:   cfg.KeyPrefix,
		Logger:      cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	p := &Plane{
		cfg:      cfg,
		backends: be,
		mux:      http.NewServeMux(),
		registry: httpserver.NewRegistry(),
		started:  time.Now(),
	}
	if err := p.build(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Plane) build(ctx context.Context) error {
	cfg, be := p.cfg, p.backends
	if _, err := migrate.Up(ctx, be.Pool, migrate.Config{Schema: Schema, FS: migrations.FS, Logger: cfg.Logger}); err != nil {
		return fmt.Errorf("dataplane: migrate: %w", err)
	}
	keys, err := apikeys.New(apikeys.Config{Pool: be.Pool, Broker: be.Broker, Logger: cfg.Logger})
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	db := tenantdb.New(be.Pool)
	collections, err := schema.NewStore(schema.StoreConfig{DB: db, Broker: be.Broker, Logger: cfg.Logger})
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	p.tenantHooks = []func(context.Context, string) error{keys.TenantChanged, collections.TenantChanged}
	store, err := tenants.New(tenants.Config{Pool: be.Pool, Changed: func(ctx context.Context, ref string) error {
		var errs []error
		for _, h := range p.tenantHooks {
			errs = append(errs, h(ctx, ref))
		}
		return errors.Join(errs...)
	}})
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	recordSvc, err := records.New(records.Config{DB: db, Schema: collections, MaxRecordBytes: cfg.MaxRecordBytes})
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	idem := idempotency.New(idempotency.Config{Pool: be.Pool, Table: pgx.Identifier{Schema, "idempotency_keys"}})
	reg, err := registration.New(registration.Config{
		ControlPlaneURL: cfg.ControlPlaneURL, Region: cfg.Region, PublicURL: cfg.PublicURL,
		RegionSecret: cfg.RegionSecret, Logger: cfg.Logger,
		HeartbeatInterval: cfg.HeartbeatInterval, Usage: keys,
	})
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}

	p.mux.Handle("GET /healthz", health.LiveHandler())
	p.mux.Handle("GET /readyz", be.Checker.ReadyHandler())
	// Everything a browser may call goes through CORS; the inner mux still
	// sets each request's route pattern for the metrics.
	api := http.NewServeMux()
	p.mux.Handle("/", rest.CORS(rest.CORSConfig{AllowedOrigins: cfg.CORSOrigins}, api))
	api.Handle(dataplanev1connect.NewStatusServiceHandler(&statusHandler{plane: p}))
	if cfg.RegionSecret != "" {
		ah, err := admin.New(admin.Config{Tenants: store, Keys: keys, RegionSecret: cfg.RegionSecret})
		if err != nil {
			return fmt.Errorf("dataplane: %w", err)
		}
		p.mux.Handle(ah.Route())
	}
	// Tenant-facing services authenticate with the project's API key.
	rulesSvc, err := rules.New(rules.Config{Schema: collections})
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	rulesH := rulesrpc.NewHandler(rulesSvc)
	// End-user auth needs a secret to seal signing keys, TOTP secrets and
	// provider credentials: derived from the region secret, so a node
	// without one serves no end-user auth (as it serves no admin service).
	var authSvc *auth.Service
	interceptors := []connect.Interceptor{keyauth.NewInterceptor(keys)}
	if cfg.RegionSecret != "" {
		if authSvc, err = p.buildAuth(db); err != nil {
			return err
		}
		interceptors = append(interceptors, authSvc.Interceptor())
	}
	keyOpts := connect.WithInterceptors(interceptors...)
	api.Handle(dataplanev1connect.NewProjectServiceHandler(keyauth.NewProjectHandler(cfg.Region), keyOpts))
	collectionsH := idempotentCollections{schemarpc.NewHandler(collections), idem}
	recordsH := records.NewHandler(recordSvc, idem)
	api.Handle(dataplanev1connect.NewCollectionServiceHandler(collectionsH, keyOpts))
	api.Handle(dataplanev1connect.NewRecordServiceHandler(recordsH, keyOpts, connect.WithReadMaxBytes(int(rest.DefaultMaxBatchBytes))))
	restCfg := rest.Config{Collections: collectionsH, Records: recordsH, Keys: keys, MaxRecordBytes: int64(cfg.MaxRecordBytes)}
	if authSvc != nil {
		restCfg.Users = authSvc.AuthenticateUser
	}
	restAPI, err := rest.New(restCfg)
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	api.Handle(dataplanev1connect.NewRulesServiceHandler(rulesH, keyOpts))
	if err := restAPI.AddRules(rulesH); err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	channelRules, err := realtime.NewChannelRules(db)
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	api.Handle(dataplanev1connect.NewRealtimeServiceHandler(channelRules, keyOpts))
	if err := restAPI.AddChannelRules(channelRules); err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	if authSvc != nil {
		authH := auth.NewHandler(authSvc)
		api.Handle(dataplanev1connect.NewAuthServiceHandler(authH, keyOpts))
		api.Handle(dataplanev1connect.NewAuthAdminServiceHandler(auth.NewAdminHandler(authSvc), keyOpts))
		if err := rest.RegisterAuth(api, rest.AuthConfig{Auth: authH, Service: authSvc, Keys: keys}); err != nil {
			return fmt.Errorf("dataplane: %w", err)
		}
	}
	restAPI.Register(api)
	d := &wiring{api: api, keys: keys, db: db, collections: collections, records: recordSvc, auth: authSvc, tenants: store, keyOpts: keyOpts, channelRules: channelRules}
	if err := p.buildRealtime(d); err != nil {
		return err
	}
	if err := p.buildStorage(d); err != nil {
		return err
	}

	// Key-cache invalidation and registration run until Close.
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	p.stop = stop
	p.wg.Go(func() { keys.Run(runCtx) })
	p.wg.Go(func() { collections.Run(runCtx) })
	if authSvc != nil {
		p.wg.Go(func() { authSvc.Run(runCtx) })
		p.tenantHooks = append(p.tenantHooks, authSvc.TenantChanged)
	}
	p.wg.Go(func() { reg.Run(runCtx) })
	p.wg.Go(func() { idempotency.PurgeEvery(runCtx, idem, time.Hour, cfg.Logger) })
	for _, run := range d.runs {
		p.wg.Go(func() { run(runCtx) })
	}
	return nil
}

// wiring is what the realtime and storage builders (realtime.go,
// storage.go) take from build and give back.
type wiring struct {
	api         *http.ServeMux
	keys        *apikeys.Keys
	db          *tenantdb.DB
	collections *schema.Store
	records     *records.Service
	// auth is nil when the node serves no end-user auth.
	auth    *auth.Service
	tenants *tenants.Store
	keyOpts connect.HandlerOption
	// channelRules are the projects' realtime channel rules.
	channelRules *realtime.ChannelRules
	// runs are background loops to start with the node, ended by Close.
	runs []func(context.Context)
}

// OwnBodyLimits are the path prefixes whose handlers enforce body limits of
// their own (the bucket's maximum object size and the project's quota,
// streamed): storage uploads, which may be far larger than the server's
// --max-body-bytes. The servers give them to httpserver.Config.
func (p *Plane) OwnBodyLimits() []string {
	return []string{"/v1/storage/objects/", "/v1/storage/signed/", "/v1/storage/uploads/"}
}

// Mux holds every route of the node; /metrics is added by httpserver.
func (p *Plane) Mux() *http.ServeMux { return p.mux }

// Registry is where the node's metrics are registered.
func (p *Plane) Registry() *prometheus.Registry { return p.registry }

// Close stops the node's background work and releases the backing
// services. Call it after the HTTP server has drained.
func (p *Plane) Close() {
	if p.stop != nil {
		p.stop()
		p.wg.Wait()
	}
	for _, c := range p.closers {
		c()
	}
	p.backends.Close()
}

// idempotentCollections lets CreateCollection honour Idempotency-Key, as the
// records' writes do, so the SDK can retry it safely.
type idempotentCollections struct {
	dataplanev1connect.CollectionServiceHandler
	store *idempotency.Store
}

func (h idempotentCollections) CreateCollection(ctx context.Context, req *connect.Request[dataplanev1.CreateCollectionRequest]) (*connect.Response[dataplanev1.CreateCollectionResponse], error) {
	scope := "anonymous"
	if k, ok := keyauth.FromContext(ctx); ok {
		scope = "tenant:" + k.TenantRef
	}
	return idempotency.Do(ctx, h.store, scope, req, h.CollectionServiceHandler.CreateCollection)
}

// buildAuth makes the end-user auth service: MFA, OAuth, throttles in Valkey
// when there is one, and mails kept in each tenant's _auth_mail table.
func (p *Plane) buildAuth(db *tenantdb.DB) (*auth.Service, error) {
	cfg := p.cfg
	key, err := hkdf.Key(sha256.New, []byte(cfg.RegionSecret), []byte(cfg.Region), "sovereign data plane auth v1", 32)
	if err != nil {
		return nil, fmt.Errorf("dataplane: derive auth key: %w", err)
	}
	m, err := mfa.New(mfa.Config{SecretKey: key})
	if err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	o, err := oauth.New(oauth.Config{SecretKey: key, CallbackURL: func(ref string) string {
		return strings.TrimRight(cfg.PublicURL, "/") + "/v1/auth/callback?ref=" + url.QueryEscape(ref)
	}})
	if err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	ac := auth.Config{DB: db, Broker: p.backends.Broker, KeySecret: key, Logger: cfg.Logger, MFA: auth.MFAFrom(m), OAuth: auth.OAuthFrom(o)}
	if cfg.ValkeyURL != "" {
		lim, err := ratelimit.NewValkey(ratelimit.ValkeyConfig{URL: cfg.ValkeyURL, Prefix: cmp.Or(cfg.KeyPrefix, backends.DefaultKeyPrefix) + "dataplane:ratelimit:"})
		if err != nil {
			return nil, fmt.Errorf("dataplane: %w", err)
		}
		p.closers = append(p.closers, lim.Close)
		ac.Limiter = lim
	}
	svc, err := auth.New(ac)
	if err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	return svc, nil
}
