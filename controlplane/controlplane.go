// Package controlplane is the control plane's application: it reads its
// config, opens its backing services, applies its migrations, and mounts its
// Connect services and operational endpoints on one mux. Nothing else in the
// control plane constructs the world.
package controlplane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/sovereign-backend/sovereign/controlplane/accounts"
	"github.com/sovereign-backend/sovereign/controlplane/authn"
	"github.com/sovereign-backend/sovereign/controlplane/jobs"
	"github.com/sovereign-backend/sovereign/controlplane/mail"
	"github.com/sovereign-backend/sovereign/controlplane/migrations"
	"github.com/sovereign-backend/sovereign/controlplane/orgs"
	"github.com/sovereign-backend/sovereign/controlplane/projects"
	"github.com/sovereign-backend/sovereign/controlplane/regions"
	"github.com/sovereign-backend/sovereign/internal/backends"
	"github.com/sovereign-backend/sovereign/internal/health"
	"github.com/sovereign-backend/sovereign/internal/httpserver"
	"github.com/sovereign-backend/sovereign/internal/idempotency"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/ratelimit"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

// Schema is the PostgreSQL schema that holds the control plane's own tables.
const Schema = "controlplane"

// DefaultProjectRetention is how long a deleted project's data is kept.
const DefaultProjectRetention = 7 * 24 * time.Hour

// Config configures the control plane.
type Config struct {
	// DatabaseURL of the control plane's PostgreSQL database. Required.
	DatabaseURL string
	// DBMaxConns caps the database pool; 0 keeps pgxpool's default.
	DBMaxConns int32
	// ValkeyURL of Valkey or Redis 7; empty uses an in-process broker and
	// in-process rate limits (one node only).
	ValkeyURL string
	// KeyPrefix starts every Valkey key and channel of this control plane
	// (rate limits, pub/sub); default "sovereign:". Deployments sharing one
	// Valkey use different prefixes.
	KeyPrefix string
	// SignupPerIP overrides the signup throttle per client IP (zero keeps
	// the accounts default of 20 an hour): test platforms, where every
	// signup comes from 127.0.0.1, raise it.
	SignupPerIP ratelimit.Limit
	// RegionSecrets are "region=secret" entries: the secret each region's
	// data planes present, and that the control plane presents to them.
	// Each secret is at least 16 characters.
	RegionSecrets []string
	// ProjectRetention is how long a deleted project's data is kept before
	// it is dropped. Default DefaultProjectRetention (7 days).
	ProjectRetention time.Duration
	// SMTP sends mail when SMTP.Host is set; otherwise mails are kept in the
	// dev mailbox.
	SMTP mail.SMTPConfig
	// DevMailbox mounts DevMailService, which lets anyone who can reach the
	// control plane read the kept mails: for `sovereign dev` only.
	DevMailbox bool
	// AppURL is the web console's base URL, for links in mails; empty sends
	// the bare tokens.
	AppURL string
	// Version is the build version reported by GetStatus.
	Version string
	// Logger for everything the plane logs. Default slog.Default().
	Logger *slog.Logger
}

// Plane is a running control plane, ready to be served.
type Plane struct {
	cfg      Config
	backends *backends.Backends
	accounts *accounts.Service
	runner   *jobs.Runner
	limiter  *ratelimit.Valkey
	mux      *http.ServeMux
	registry *prometheus.Registry
	started  time.Time
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// New opens the backing services, applies pending migrations, builds the
// services and starts the job runner.
func New(ctx context.Context, cfg Config) (_ *Plane, err error) {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.Version = cmp.Or(cfg.Version, "devel")
	cfg.ProjectRetention = cmp.Or(cfg.ProjectRetention, DefaultProjectRetention)
	secrets, err := regions.ParseSecrets(cfg.RegionSecrets)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	be, err := backends.Open(ctx, backends.Config{
		DatabaseURL: cfg.DatabaseURL,
		DBMaxConns:  cfg.DBMaxConns,
		ValkeyURL:   cfg.ValkeyURL,
		KeyPrefix:   cfg.KeyPrefix,
		Logger:      cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	p := &Plane{
		cfg:      cfg,
		backends: be,
		mux:      http.NewServeMux(),
		registry: httpserver.NewRegistry(),
		started:  time.Now(),
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if _, err := migrate.Up(ctx, be.Pool, migrate.Config{Schema: Schema, FS: migrations.FS, Logger: cfg.Logger}); err != nil {
		return nil, fmt.Errorf("controlplane: migrate: %w", err)
	}

	var mailer mail.Mailer
	var devBox *mail.DevMailbox
	if cfg.SMTP.Host != "" {
		if mailer, err = mail.NewSMTP(cfg.SMTP); err != nil {
			return nil, fmt.Errorf("controlplane: %w", err)
		}
	} else {
		if devBox, err = mail.NewDevMailbox(mail.DevMailboxConfig{Pool: be.Pool, Logger: cfg.Logger}); err != nil {
			return nil, fmt.Errorf("controlplane: %w", err)
		}
		mailer = devBox
	}
	var limiter ratelimit.Limiter = ratelimit.NewMemory(ratelimit.MemoryConfig{})
	if cfg.ValkeyURL != "" {
		if p.limiter, err = ratelimit.NewValkey(ratelimit.ValkeyConfig{URL: cfg.ValkeyURL, Prefix: cmp.Or(cfg.KeyPrefix, backends.DefaultKeyPrefix) + "controlplane:ratelimit:"}); err != nil {
			return nil, fmt.Errorf("controlplane: %w", err)
		}
		limiter = p.limiter
	}

	if p.accounts, err = accounts.New(accounts.Config{Pool: be.Pool, Mailer: mailer, Limiter: limiter, Logger: cfg.Logger, AppURL: cfg.AppURL, SignupPerIP: cfg.SignupPerIP}); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	reg, err := regions.New(regions.Config{Pool: be.Pool, Secrets: secrets})
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	workers := river.NewWorkers()
	if err := projects.AddWorkers(workers, projects.WorkerConfig{Pool: be.Pool, Admin: reg, Logger: cfg.Logger}); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	if p.runner, err = jobs.New(ctx, jobs.Config{Pool: be.Pool, Workers: workers, Logger: cfg.Logger}); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	projSvc, err := projects.New(projects.Config{Pool: be.Pool, Admin: reg, Jobs: p.runner.Client(), Retention: cfg.ProjectRetention, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	orgSvc, err := orgs.New(orgs.Config{Pool: be.Pool, Mailer: mailer, PlanChanged: projSvc.LimitsChangedTx, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}

	skip := append(authn.PublicProcedures(), regions.SecretProcedures...)
	if cfg.DevMailbox && devBox != nil {
		// Public, so that a developer locked out of their account can read
		// the reset mail; mounted only on a dev platform.
		skip = append(skip, "/"+controlplanev1connect.DevMailServiceName+"/")
	}
	icpt, err := authn.NewInterceptor(authn.InterceptorConfig{Authenticator: p.accounts, Skip: skip})
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	opts := connect.WithInterceptors(icpt)
	idem := idempotency.New(idempotency.Config{Pool: be.Pool, Table: pgx.Identifier{Schema, "idempotency_keys"}})

	p.mux.Handle("GET /healthz", health.LiveHandler())
	p.mux.Handle("GET /readyz", be.Checker.ReadyHandler())
	p.mux.Handle(controlplanev1connect.NewStatusServiceHandler(&statusHandler{plane: p}))
	p.mux.Handle(controlplanev1connect.NewAccountServiceHandler(idempotentAccounts{accounts.NewHandler(p.accounts), idem}, opts))
	p.mux.Handle(controlplanev1connect.NewOrganizationServiceHandler(idempotentOrgs{orgs.NewHandler(orgSvc), idem}, opts))
	p.mux.Handle(controlplanev1connect.NewProjectServiceHandler(idempotentProjects{projects.NewHandler(projSvc), idem}, opts))
	p.mux.Handle(controlplanev1connect.NewRegionServiceHandler(regions.NewHandler(reg), opts))
	if cfg.DevMailbox && devBox != nil {
		p.mux.Handle(controlplanev1connect.NewDevMailServiceHandler(mail.NewDevMailHandler(devBox), opts))
	}

	// River and housekeeping run until Close; cancelling Start's context
	// would hard-stop River, so they get their own.
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	p.stop = stop
	if err := p.runner.Start(runCtx); err != nil {
		return nil, fmt.Errorf("controlplane: start jobs: %w", err)
	}
	p.wg.Go(func() { idempotency.PurgeEvery(runCtx, idem, time.Hour, cfg.Logger) })
	return p, nil
}

// Mux holds every route of the plane; /metrics is added by httpserver.
func (p *Plane) Mux() *http.ServeMux { return p.mux }

// Pool is the control plane's database pool.
func (p *Plane) Pool() *pgxpool.Pool { return p.backends.Pool }

// Registry is where the plane's metrics are registered.
func (p *Plane) Registry() *prometheus.Registry { return p.registry }

// Close stops the job runner and releases the backing services. Call it
// after the HTTP server has drained.
func (p *Plane) Close() {
	if p.stop != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := p.runner.Stop(sctx); err != nil && !errors.Is(err, context.Canceled) {
			p.cfg.Logger.Warn("stop jobs", "err", err.Error())
		}
		cancel()
		p.stop()
		p.wg.Wait()
	}
	if p.limiter != nil {
		p.limiter.Close()
	}
	p.backends.Close()
}
