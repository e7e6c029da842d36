// Package backends opens the services a plane stands on, PostgreSQL and
// Valkey, and describes their health. Both planes use it; neither plane
// imports the other.
package backends

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/health"
)

// Config says where the backing services are.
type Config struct {
	// DatabaseURL is a PostgreSQL connection URL or DSN. Required.
	DatabaseURL string
	// DBMaxConns caps the pool's connections; 0 keeps pgxpool's default
	// (the greater of 4 and the number of CPUs).
	DBMaxConns int32
	// ValkeyURL is a redis:// or rediss:// URL of Valkey (or Redis 7). Empty
	// means one node on its own: an in-process broker stands in, and
	// cross-node fan-out is off.
	ValkeyURL string
	// KeyPrefix starts every Valkey key and channel of this deployment, so
	// several deployments (or test platforms) can share one Valkey. Default
	// "sovereign:".
	KeyPrefix string
	// Logger receives startup messages. Default slog.Default().
	Logger *slog.Logger
}

// DefaultKeyPrefix starts Valkey keys and channels unless configured.
const DefaultKeyPrefix = "sovereign:"

// Backends holds the open pool and broker.
type Backends struct {
	Pool   *pgxpool.Pool
	Broker broker.Broker
	// InProcess is true when Broker is the in-process stand-in for Valkey.
	InProcess bool
	Checker   *health.Checker
}

// Open connects to PostgreSQL and Valkey. It fails when PostgreSQL cannot be
// reached, since nothing works without it; a Valkey that is down at start is
// an error too, so that a misconfigured URL is found at once rather than at
// the first fan-out.
func Open(ctx context.Context, cfg Config) (*Backends, error) {
	log := cmp.Or(cfg.Logger, slog.Default())
	if cfg.DatabaseURL == "" {
		return nil, fmt.Errorf("no database URL: set --database-url or SOVEREIGN_DATABASE_URL")
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	if cfg.DBMaxConns > 0 {
		pcfg.MaxConns = cfg.DBMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("reach PostgreSQL at %s:%d: %w", pcfg.ConnConfig.Host, pcfg.ConnConfig.Port, err)
	}
	b := &Backends{Pool: pool}
	if cfg.ValkeyURL == "" {
		b.Broker, b.InProcess = broker.NewMemory(), true
		log.Info("no Valkey configured: using the in-process broker (one node only)")
	} else {
		b.Broker, err = broker.NewValkey(ctx, broker.ValkeyConfig{URL: cfg.ValkeyURL, Prefix: cmp.Or(cfg.KeyPrefix, DefaultKeyPrefix)})
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("connect to Valkey at %s: %w", redactURL(cfg.ValkeyURL), err)
		}
	}
	b.Checker = health.NewChecker(0,
		health.Check{Name: "postgres", Probe: func(ctx context.Context) error {
			var one int
			return pool.QueryRow(ctx, "SELECT 1").Scan(&one)
		}},
		health.Check{Name: "valkey", Probe: b.Broker.Ping},
	)
	return b, nil
}

// Close releases the pool and the broker.
func (b *Backends) Close() {
	_ = b.Broker.Close()
	b.Pool.Close()
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
