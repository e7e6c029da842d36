// Package apikeys keeps the hashes of the tenants' API keys that the control
// plane pushes to a region, and authenticates keys against them locally, so
// that keys go on working while the control plane is down.
//
// # Authentication
//
// [Keys.Authenticate] first checks a key's format and checksum (package
// token) without touching the database, then looks its hash up in an
// in-memory cache, and only then in dataplane.api_keys joined with
// dataplane.tenants. The cache holds answers both ways (a known key and an
// unknown one) for at most Config.CacheTTL and Config.CacheSize entries.
//
// # Revocation on every node within a second
//
// A change made through one node ([Keys.Put], [Keys.TenantChanged]) evicts
// the affected entries from that node's cache at once and publishes an
// invalidation on the broker; every node's [Keys.Run] receives it and
// evicts them too, typically within milliseconds. The broker is at most
// once, but its loss is never silent: when a subscription ends, Run flushes
// the cache and does not cache again until it has subscribed anew. While Run
// is not subscribed (not started yet, or the broker is down) nothing is
// cached and every look-up goes to the database, so a node never serves a
// cached answer it could not have been told to drop. CacheTTL bounds
// staleness should all of that still fail.
//
// # Last use
//
// Every successful Authenticate records the key's id and time in memory,
// latest use per key; the registration package drains them into the next
// heartbeat ([Keys.DrainUsage]) so that the control plane can show when a
// key was last used, and puts them back when the heartbeat fails
// ([Keys.RestoreUsage]). Nothing of it touches the database.
package apikeys

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// Kind is a key's kind.
type Kind string

// The kinds of API key.
const (
	// KindPublishable keys (sov_pk_…) are safe to ship in browsers.
	KindPublishable Kind = "publishable"
	// KindSecret keys (sov_sk_…) have full access.
	KindSecret Kind = "secret"
)

// Why a key is refused. The first group says something is wrong with the key
// (Unauthenticated at the edge), the second with its project
// (FailedPrecondition).
var (
	ErrMalformed = errors.New("malformed API key")
	ErrUnknown   = errors.New("unknown API key")
	ErrRevoked   = errors.New("API key revoked")
	ErrExpired   = errors.New("API key expired")

	ErrProjectPaused   = errors.New("project paused")
	ErrProjectDeleting = errors.New("project being deleted")
	ErrProjectNotReady = errors.New("project not ready: it is still being provisioned")
)

// Errors of Put.
var (
	// ErrInvalidRecord: a record is malformed; the message names the field.
	ErrInvalidRecord = errors.New("invalid key record")
	// ErrUnknownTenant: a record's tenant is not provisioned in this region.
	ErrUnknownTenant = errors.New("tenant not provisioned in this region")
	// ErrTooMany: more than MaxRecordsPerPut records in one Put.
	ErrTooMany = fmt.Errorf("keys: at most %d per call", MaxRecordsPerPut)
	// ErrRecordConflict: a record's id is stored with another hash, tenant or
	// kind, or its hash is stored under another id. Those never change.
	ErrRecordConflict = errors.New("key record conflicts with a stored one")
)

// ErrNotAnnounced is wrapped by the error of a change that was saved but
// could not be announced to the region's other nodes. Their caches drop the
// stale answer within Config.CacheTTL anyway; retrying the call announces it
// again.
var ErrNotAnnounced = errors.New("change saved but not announced to the region's other nodes")

// Defaults of Config.
const (
	DefaultChannel    = "dataplane.keys.invalidate"
	DefaultCacheTTL   = 30 * time.Second
	DefaultCacheSize  = 10000
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	// MaxRecordsPerPut is the most records one Put accepts.
	MaxRecordsPerPut = 1000

	maxRecordIDLen = 128
	hashLen        = 64
)

// Config configures Keys.
type Config struct {
	// Pool is the region database, migrated with dataplane/migrations.
	// Required.
	Pool *pgxpool.Pool
	// Broker carries invalidations between the region's nodes; the
	// in-process broker does for a single node. Required.
	Broker broker.Broker
	// Channel is the broker channel for invalidations. Every node of a
	// region must use the same. Default DefaultChannel.
	Channel string
	// CacheTTL is how long an answer is cached, at most: the bound on
	// staleness should an invalidation be lost. Default 30s; negative
	// disables the cache.
	CacheTTL time.Duration
	// CacheSize is the most answers cached; beyond it an arbitrary entry
	// makes room. Default 10000.
	CacheSize int
	// MinBackoff and MaxBackoff bound the wait before Run subscribes again
	// after the broker failed; it doubles from MinBackoff up to MaxBackoff.
	// Defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// UsageLimit is the most keys whose latest use is held between two
	// drains (see Keys.DrainUsage); past it the oldest uses are dropped.
	// Default DefaultUsageLimit (100,000); it must not be negative.
	UsageLimit int
	// Logger for subscription trouble. Default slog.Default().
	Logger *slog.Logger
}

// Keys stores key records and authenticates keys. It is safe for concurrent
// use. Start Run in a goroutine to enable the cache.
type Keys struct {
	pool    *pgxpool.Pool
	broker  broker.Broker
	channel string
	minBack time.Duration
	maxBack time.Duration
	log     *slog.Logger
	cache   *cache
	usage   *usage
	origin  string // random, to recognise its own invalidations
}

// New returns Keys configured by cfg.
func New(cfg Config) (*Keys, error) {
	if cfg.Pool == nil {
		return nil, errors.New("apikeys: config has no Pool")
	}
	if cfg.Broker == nil {
		return nil, errors.New("apikeys: config has no Broker")
	}
	cfg.Channel = cmp.Or(cfg.Channel, DefaultChannel)
	cfg.CacheTTL = cmp.Or(cfg.CacheTTL, DefaultCacheTTL)
	cfg.CacheSize = cmp.Or(cfg.CacheSize, DefaultCacheSize)
	cfg.MinBackoff = cmp.Or(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = max(cmp.Or(cfg.MaxBackoff, DefaultMaxBackoff), cfg.MinBackoff)
	cfg.UsageLimit = cmp.Or(cfg.UsageLimit, DefaultUsageLimit)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.CacheSize < 0 {
		return nil, fmt.Errorf("apikeys: CacheSize %d is negative", cfg.CacheSize)
	}
	if cfg.UsageLimit < 0 {
		return nil, fmt.Errorf("apikeys: UsageLimit %d is negative", cfg.UsageLimit)
	}
	return &Keys{
		pool:    cfg.Pool,
		broker:  cfg.Broker,
		channel: cfg.Channel,
		minBack: cfg.MinBackoff,
		maxBack: cfg.MaxBackoff,
		log:     cfg.Logger,
		cache:   newCache(cfg.CacheTTL, cfg.CacheSize),
		usage:   newUsage(cfg.UsageLimit),
		origin:  rand.Text(),
	}, nil
}

// Identity is who a valid key speaks for.
type Identity struct {
	TenantRef string
	// KeyID is the control plane's id of the key.
	KeyID string
	Kind  Kind
}

// Authenticate returns the identity of key, or why it is refused: one of
// ErrMalformed, ErrUnknown, ErrRevoked, ErrExpired (the key's fault),
// ErrProjectPaused, ErrProjectDeleting, ErrProjectNotReady (its project's),
// or another error when the database fails. A malformed key is refused
// without a database look-up. A key that authenticates is recorded as used
// now (see DrainUsage).
func (k *Keys) Authenticate(ctx context.Context, key string) (Identity, error) {
	prefix := token.KindOf(key, token.PublishableKey, token.SecretKey)
	if prefix == "" || token.Check(key, prefix) != nil {
		return Identity{}, ErrMalformed
	}
	kind := KindPublishable
	if prefix == token.SecretKey {
		kind = KindSecret
	}
	hash := token.Hash(key)
	now := time.Now()
	e, ok := k.cache.Get(hash, now)
	if !ok {
		gen := k.cache.Generation()
		var err error
		if e, err = k.lookup(ctx, hash, kind); err != nil {
			return Identity{}, fmt.Errorf("authenticate API key: %w", err)
		}
		k.cache.Put(hash, e, gen, now)
	}
	id, err := e.verdict(now)
	if err == nil {
		k.usage.record(id.KeyID, now)
	}
	return id, err
}

// lookup reads what the database says about hash.
func (k *Keys) lookup(ctx context.Context, hash string, kind Kind) (entry, error) {
	var (
		e                   entry
		storedKind, state   string
		expiresAt, revokeAt *time.Time
	)
	err := k.pool.QueryRow(ctx, `
SELECT k.id, k.tenant_ref, k.kind, k.expires_at, k.revoked_at, t.state
FROM dataplane.api_keys AS k JOIN dataplane.tenants AS t ON t.ref = k.tenant_ref
WHERE k.hash = $1`, hash).Scan(&e.id.KeyID, &e.id.TenantRef, &storedKind, &expiresAt, &revokeAt, &state)
	if errors.Is(err, pgx.ErrNoRows) {
		return entry{}, nil
	}
	if err != nil {
		return entry{}, err
	}
	if Kind(storedKind) != kind {
		// The prefix is part of the hashed key, so this cannot happen for a
		// record the control plane made; refuse rather than guess.
		return entry{}, nil
	}
	e.found = true
	e.id.Kind = kind
	e.state = tenants.State(state)
	if expiresAt != nil {
		e.expiresAt = *expiresAt
	}
	if revokeAt != nil {
		e.revokedAt = *revokeAt
	}
	return e, nil
}

// Record is a key as the control plane describes it.
type Record struct {
	// ID is the control plane's key id: 1 to 128 bytes.
	ID        string
	TenantRef string
	Kind      Kind
	// Hash is token.Hash of the whole key: 64 lowercase hex characters.
	Hash string
	// ExpiresAt is when the key stops working; zero means never.
	ExpiresAt time.Time
	// RevokedAt is when the key was (or will be) revoked; zero means not
	// revoked. Revocation is final: a later Put without it, or with a later
	// time, does not undo or postpone it, so that a stale retry cannot
	// bring a revoked key back.
	RevokedAt time.Time
}

// Validate returns nil, or an error naming the field at fault ("kind: …")
// that matches ErrInvalidRecord with errors.Is.
func (r Record) Validate() error {
	if field, problem := r.check(); field != "" {
		return &PutError{Index: -1, Field: field, Problem: problem, Err: ErrInvalidRecord}
	}
	return nil
}

func (r Record) check() (field, problem string) {
	switch {
	case r.ID == "" || len(r.ID) > maxRecordIDLen:
		return "id", fmt.Sprintf("must be 1 to %d bytes", maxRecordIDLen)
	case !tenants.ValidRef(r.TenantRef):
		return "tenant_ref", "must be 4 to 32 lowercase letters and digits"
	case r.Kind != KindPublishable && r.Kind != KindSecret:
		return "kind", fmt.Sprintf("must be %q or %q", KindPublishable, KindSecret)
	case !validHash(r.Hash):
		return "hash", fmt.Sprintf("must be the SHA-256 of the key as %d lowercase hex characters", hashLen)
	}
	return "", ""
}

func validHash(h string) bool {
	if len(h) != hashLen {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// PutError says which record of a Put failed, at which field, and why.
type PutError struct {
	// Index of the record in the Put call; -1 from Record.Validate.
	Index int
	// Field is the record's field at fault: id, tenant_ref, kind or hash.
	Field string
	// Problem says what is wrong, for a person.
	Problem string
	// Err is ErrInvalidRecord, ErrUnknownTenant or ErrRecordConflict.
	Err error
}

func (e *PutError) Error() string {
	if e.Index < 0 {
		return e.Field + ": " + e.Problem
	}
	return fmt.Sprintf("keys[%d].%s: %s", e.Index, e.Field, e.Problem)
}

// Unwrap returns e.Err.
func (e *PutError) Unwrap() error { return e.Err }

// Put stores records, all or none, inserting new keys and updating the
// expiry and revocation of known ones (see Record.RevokedAt), and then drops
// every record's cached answer on every node. At most MaxRecordsPerPut
// records per call (more is ErrTooMany). A failing record's error is a
// *PutError wrapping ErrInvalidRecord, ErrUnknownTenant or
// ErrRecordConflict. When the
// announcement fails the records are stored and the error wraps
// ErrNotAnnounced.
func (k *Keys) Put(ctx context.Context, records []Record) error {
	if len(records) > MaxRecordsPerPut {
		return fmt.Errorf("%w: got %d", ErrTooMany, len(records))
	}
	for i, r := range records {
		if field, problem := r.check(); field != "" {
			return &PutError{Index: i, Field: field, Problem: problem, Err: ErrInvalidRecord}
		}
	}
	if len(records) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, k.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, r := range records {
			b.Queue(`
INSERT INTO dataplane.api_keys AS k (id, tenant_ref, kind, hash, expires_at, revoked_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET
    expires_at = excluded.expires_at,
    revoked_at = LEAST(k.revoked_at, excluded.revoked_at),
    updated_at = now()
WHERE k.tenant_ref = excluded.tenant_ref AND k.kind = excluded.kind AND k.hash = excluded.hash
RETURNING k.id`, r.ID, r.TenantRef, string(r.Kind), r.Hash, nullTime(r.ExpiresAt), nullTime(r.RevokedAt))
		}
		results := tx.SendBatch(ctx, b)
		for i, r := range records {
			var id string
			err := results.QueryRow().Scan(&id)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				_ = results.Close()
				return &PutError{Index: i, Field: "id", Problem: "this key id is stored with another hash, tenant or kind, which never change", Err: ErrRecordConflict}
			case isCode(err, "23503"): // foreign_key_violation
				_ = results.Close()
				return &PutError{Index: i, Field: "tenant_ref", Problem: "tenant " + r.TenantRef + " is not provisioned in this region", Err: ErrUnknownTenant}
			case isCode(err, "23505"): // unique_violation on hash
				_ = results.Close()
				return &PutError{Index: i, Field: "hash", Problem: "this hash is stored under another key id", Err: ErrRecordConflict}
			case err != nil:
				_ = results.Close()
				return err
			}
		}
		return results.Close()
	})
	if err != nil {
		return fmt.Errorf("put API keys: %w", err)
	}
	hashes := make([]string, len(records))
	for i, r := range records {
		hashes[i] = r.Hash
	}
	return k.announce(ctx, invalidation{Hashes: hashes})
}

// TenantChanged drops the cached answers for every key of tenant ref on every
// node. Call it after the tenant's state changed (tenants.Config.Changed).
// When the announcement fails, the error wraps ErrNotAnnounced.
func (k *Keys) TenantChanged(ctx context.Context, ref string) error {
	return k.announce(ctx, invalidation{Tenant: ref})
}

// invalidation is the message on Config.Channel: the hashes of changed keys,
// or the ref of a changed tenant. A message that does not parse flushes the
// whole cache.
type invalidation struct {
	// Origin is the announcing Keys' random id: it applied the message
	// before publishing it and skips it when it comes back.
	Origin string   `json:"origin,omitempty"`
	Hashes []string `json:"hashes,omitempty"`
	Tenant string   `json:"tenant,omitempty"`
}

// announce applies inv to this node's cache and publishes it to the others.
// Applying it here first is what lets Run skip the echo: every answer cached
// after this was read after the change was committed.
func (k *Keys) announce(ctx context.Context, inv invalidation) error {
	invalidateKeys(k.cache, inv)
	inv.Origin = k.origin
	payload, err := json.Marshal(inv)
	if err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	if err := k.broker.Publish(ctx, k.channel, payload); err != nil {
		return fmt.Errorf("announce: %w: %w", ErrNotAnnounced, err)
	}
	return nil
}

// Live reports whether the cache is on: Run is subscribed to invalidations.
// While it is off every Authenticate reads the database.
func (k *Keys) Live() bool { return k.cache.Live() }

// Run receives invalidations from the region's nodes and applies them to the
// cache, until ctx ends. It enables the cache while its subscription is
// active; when the subscription ends it flushes the cache and subscribes
// again with backoff. Call it once, in its own goroutine.
func (k *Keys) Run(ctx context.Context) {
	broker.Follow(ctx, k.broker, k.channel, broker.Follower{
		Name:       "API key invalidations",
		Meanwhile:  "keys are looked up in the database meanwhile",
		Ended:      "cache flushed, subscribing again",
		Up:         func() { k.cache.SetLive(true) },
		Down:       func() { k.cache.SetLive(false) },
		MinBackoff: k.minBack, MaxBackoff: k.maxBack, Logger: k.log,
		Message: func(m broker.Message) {
			var inv invalidation
			if err := json.Unmarshal(m.Payload, &inv); err != nil || (inv.Tenant == "" && inv.Hashes == nil) {
				k.log.WarnContext(ctx, "API key invalidations: unreadable message; flushing the cache", "error", err)
				k.cache.Flush()
				return
			}
			if inv.Origin != k.origin {
				invalidateKeys(k.cache, inv)
			}
		},
	})
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}
