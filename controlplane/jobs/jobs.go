// Package jobs runs the control plane's background jobs on River, whose
// queue lives in the control plane's own PostgreSQL database. Work is
// enqueued with Client().InsertTx in the same transaction as the write that
// caused it, so a committed write always has its follow-up work queued, and a
// rolled-back one never does.
//
// River's tables live in their own schema, DefaultSchema
// ("controlplane_river"), not in "controlplane": River versions and migrates
// them itself (rivermigrate, applied by New), with its own bookkeeping
// table, so they are kept apart from the control plane's immutable,
// hand-written migrations, and upgrading River never touches them. Both
// schemas are in one database, so one transaction spans a domain write and
// its job.
package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// Defaults.
const (
	// DefaultSchema holds River's tables.
	DefaultSchema = "controlplane_river"
	// DefaultMaxWorkers is how many jobs one node works at once.
	DefaultMaxWorkers = 20
	// DefaultSoftStopTimeout is how long Stop lets running jobs finish before
	// cancelling their contexts.
	DefaultSoftStopTimeout = 10 * time.Second
)

var schemaPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,40}$`)

// Config configures a Runner.
type Config struct {
	// Pool of the control plane's database. Required.
	Pool *pgxpool.Pool
	// Schema holds River's tables; created when missing. It must match
	// ^[a-z_][a-z0-9_]{0,40}$. Default DefaultSchema.
	Schema string
	// Workers are the registered job workers; at least one. Required.
	Workers *river.Workers
	// MaxWorkers is how many jobs this node works at once. Default
	// DefaultMaxWorkers (20).
	MaxWorkers int
	// FetchPollInterval is how often the queue is polled for jobs besides
	// LISTEN/NOTIFY. Default River's (1 s).
	FetchPollInterval time.Duration
	// SoftStopTimeout is how long Stop lets running jobs finish before it
	// cancels them. Default DefaultSoftStopTimeout (10 s).
	SoftStopTimeout time.Duration
	// TestOnly starts River's maintenance services (which move scheduled
	// jobs to the queue) without their jittered delay. For tests only.
	TestOnly bool
	// Logger for River's own logs. Default slog.Default().
	Logger *slog.Logger
}

// Runner is the control plane's River client.
type Runner struct {
	client *river.Client[pgx.Tx]
}

// New applies River's migrations to cfg.Schema (serialized across nodes
// starting at once) and builds the client. Call Start to work jobs.
func New(ctx context.Context, cfg Config) (*Runner, error) {
	if cfg.Pool == nil {
		return nil, errors.New("jobs: Config.Pool is required")
	}
	if cfg.Workers == nil {
		return nil, errors.New("jobs: Config.Workers is required")
	}
	cfg.Schema = cmp.Or(cfg.Schema, DefaultSchema)
	if !schemaPattern.MatchString(cfg.Schema) {
		return nil, fmt.Errorf("jobs: schema %q must match %s", cfg.Schema, schemaPattern)
	}
	cfg.MaxWorkers = cmp.Or(cfg.MaxWorkers, DefaultMaxWorkers)
	cfg.SoftStopTimeout = cmp.Or(cfg.SoftStopTimeout, DefaultSoftStopTimeout)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())

	if err := migrateRiver(ctx, cfg); err != nil {
		return nil, err
	}
	client, err := river.NewClient(riverpgxv5.New(cfg.Pool), &river.Config{
		Schema:            cfg.Schema,
		Workers:           cfg.Workers,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.MaxWorkers}},
		FetchPollInterval: cfg.FetchPollInterval,
		SoftStopTimeout:   cfg.SoftStopTimeout,
		TestOnly:          cfg.TestOnly,
		Logger:            cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	return &Runner{client: client}, nil
}

// migrateRiver creates the schema and applies River's migrations under a
// session advisory lock, since rivermigrate does not serialize concurrent
// runs itself.
func migrateRiver(ctx context.Context, cfg Config) error {
	conn, err := cfg.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("jobs: acquire connection: %w", err)
	}
	// Closing the hijacked connection ends the session and so its lock.
	c := conn.Hijack()
	defer c.Close(context.WithoutCancel(ctx))
	h := fnv.New64a()
	h.Write([]byte("sovereign.jobs.migrate." + cfg.Schema))
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(h.Sum64())); err != nil {
		return fmt.Errorf("jobs: lock migrations: %w", err)
	}
	if _, err := c.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{cfg.Schema}.Sanitize()); err != nil {
		return fmt.Errorf("jobs: create schema %s: %w", cfg.Schema, err)
	}
	m, err := rivermigrate.New(riverpgxv5.New(cfg.Pool), &rivermigrate.Config{Schema: cfg.Schema, Logger: cfg.Logger})
	if err != nil {
		return fmt.Errorf("jobs: river migrator: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("jobs: river migrations: %w", err)
	}
	for _, v := range res.Versions {
		cfg.Logger.InfoContext(ctx, "river migration applied", "schema", cfg.Schema, "version", v.Version, "duration", v.Duration)
	}
	return nil
}

// Client is the River client; use its InsertTx to enqueue a job in the
// transaction of the write that caused it.
func (r *Runner) Client() *river.Client[pgx.Tx] { return r.client }

// Start starts working jobs. Cancelling ctx stops the runner hard
// (cancelling running jobs); prefer Stop.
func (r *Runner) Start(ctx context.Context) error {
	if err := r.client.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	return nil
}

// Stop stops fetching jobs and waits for running ones, cancelling them after
// SoftStopTimeout; it returns early with ctx's error when ctx ends first.
func (r *Runner) Stop(ctx context.Context) error {
	if err := r.client.Stop(ctx); err != nil {
		return fmt.Errorf("jobs: stop: %w", err)
	}
	return nil
}
