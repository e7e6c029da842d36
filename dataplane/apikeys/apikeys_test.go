package apikeys_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/migrations"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	"github.com/sovereign-backend/sovereign/internal/token"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// waitFor bounds waiting for something that must happen; reaching it fails
// the test. It asserts nothing about speed.
const waitFor = 10 * time.Second

type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

type fixture struct {
	pool    *pgxpool.Pool
	queries *queryCounter
	tenants *tenants.Store
	ref     string
}

// newFixture gives a migrated database with one active tenant.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	f := &fixture{ref: string(b), queries: &queryCounter{}}
	adminURL := testenv.AdminURL(t)
	// Runs after the database is dropped: the tenant role is cluster-wide.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("drop tenant role: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{tenants.SchemaName(f.ref)}.Sanitize()); err != nil {
			t.Errorf("drop tenant role: %v", err)
		}
	})
	cfg, err := pgxpool.ParseConfig(testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = f.queries
	f.pool, err = pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.pool.Close)
	if _, err := migrate.Up(t.Context(), f.pool, migrate.Config{Schema: "dataplane", FS: migrations.FS, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	f.tenants, err = tenants.New(tenants.Config{Pool: f.pool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.tenants.Provision(t.Context(), tenants.ProvisionParams{Ref: f.ref}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) keys(t *testing.T, cfg apikeys.Config) *apikeys.Keys {
	t.Helper()
	cfg.Pool = f.pool
	if cfg.Broker == nil {
		cfg.Broker = broker.NewMemory()
		t.Cleanup(func() { cfg.Broker.Close() })
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	k, err := apikeys.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// run starts k.Run until the test ends and waits for its subscription.
func run(t *testing.T, k *apikeys.Keys) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); k.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, "the cache is live", k.Live)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (f *fixture) newKey(t *testing.T, k *apikeys.Keys, prefix string) (string, apikeys.Record) {
	t.Helper()
	key := token.New(prefix)
	kind := apikeys.KindSecret
	if prefix == token.PublishableKey {
		kind = apikeys.KindPublishable
	}
	rec := apikeys.Record{ID: token.Display(key, prefix) + key[20:30], TenantRef: f.ref, Kind: kind, Hash: token.Hash(key)}
	if err := k.Put(t.Context(), []apikeys.Record{rec}); err != nil {
		t.Fatal(err)
	}
	return key, rec
}

// authCounting authenticates and says how many queries it took.
func (f *fixture) authCounting(t *testing.T, k *apikeys.Keys, key string) (apikeys.Identity, int64, error) {
	t.Helper()
	before := f.queries.n.Load()
	id, err := k.Authenticate(t.Context(), key)
	return id, f.queries.n.Load() - before, err
}

// Answers both ways are cached, and a change through Put drops them at once
// on the node that made it.
func TestCacheAndLocalInvalidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k := f.keys(t, apikeys.Config{})
	run(t, k)
	key, rec := f.newKey(t, k, token.SecretKey)

	id, q, err := f.authCounting(t, k, key)
	if err != nil || id != (apikeys.Identity{TenantRef: f.ref, KeyID: rec.ID, Kind: apikeys.KindSecret}) || q != 1 {
		t.Fatalf("first: %+v, %v, %d queries", id, err, q)
	}
	if _, q, err := f.authCounting(t, k, key); err != nil || q != 0 {
		t.Fatalf("second: %v, %d queries; want it cached", err, q)
	}
	rec.RevokedAt = time.Now()
	if err := k.Put(t.Context(), []apikeys.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.authCounting(t, k, key); !errors.Is(err, apikeys.ErrRevoked) {
		t.Fatalf("after revocation: %v, want ErrRevoked at once", err)
	}

	unknown := token.New(token.PublishableKey)
	for want := range []int64{1, 0} {
		if _, q, err := f.authCounting(t, k, unknown); !errors.Is(err, apikeys.ErrUnknown) || q != int64(1-want) {
			t.Fatalf("unknown key: %v, %d queries", err, q)
		}
	}
	if err := k.Put(t.Context(), []apikeys.Record{{ID: "late", TenantRef: f.ref, Kind: apikeys.KindPublishable, Hash: token.Hash(unknown)}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.authCounting(t, k, unknown); err != nil {
		t.Fatalf("key pushed after an unknown answer: %v, want it accepted at once", err)
	}
}

// Without a live subscription nothing is cached: the node could not be told
// to drop it.
func TestNoCacheWithoutSubscription(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k := f.keys(t, apikeys.Config{})
	key, _ := f.newKey(t, k, token.PublishableKey)
	for range 3 {
		if _, q, err := f.authCounting(t, k, key); err != nil || q != 1 {
			t.Fatalf("%v, %d queries; want a look-up every time", err, q)
		}
	}
	if k.Live() {
		t.Fatal("Live without Run")
	}
}

// killable wraps a broker so that the test can end its subscriptions, as a
// lost Valkey connection or a slow consumer would.
type killable struct {
	broker.Broker
	mu   sync.Mutex
	subs []broker.Subscription
}

func (b *killable) Subscribe(ctx context.Context, channels ...string) (broker.Subscription, error) {
	s, err := b.Broker.Subscribe(ctx, channels...)
	if err == nil {
		b.mu.Lock()
		b.subs = append(b.subs, s)
		b.mu.Unlock()
	}
	return s, err
}

func (b *killable) kill() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.subs {
		s.Close()
	}
	n := len(b.subs)
	b.subs = nil
	return n
}

func (b *killable) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// When the subscription ends, whatever was cached is forgotten (a change
// may have been missed), and Run subscribes again.
func TestLostSubscriptionFlushesAndResubscribes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	mem := broker.NewMemory()
	t.Cleanup(func() { mem.Close() })
	b := &killable{Broker: mem}
	k := f.keys(t, apikeys.Config{Broker: b, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	run(t, k)
	key, _ := f.newKey(t, k, token.SecretKey)
	for range 2 {
		if _, err := k.Authenticate(t.Context(), key); err != nil {
			t.Fatal(err)
		}
	}
	// A revocation that reaches the database but whose announcement is
	// lost along with the subscription.
	if _, err := f.pool.Exec(t.Context(), "UPDATE dataplane.api_keys SET revoked_at = now()"); err != nil {
		t.Fatal(err)
	}
	if b.kill() != 1 {
		t.Fatal("Run did not hold exactly one subscription")
	}
	eventually(t, "the revocation is seen", func() bool {
		_, err := k.Authenticate(t.Context(), key)
		return errors.Is(err, apikeys.ErrRevoked)
	})
	eventually(t, "Run subscribes again", func() bool { return b.count() == 1 && k.Live() })
	// Caching works again, and so does invalidation.
	key2, rec2 := f.newKey(t, k, token.PublishableKey)
	for range 2 {
		if _, err := k.Authenticate(t.Context(), key2); err != nil {
			t.Fatal(err)
		}
	}
	if _, q, err := f.authCounting(t, k, key2); err != nil || q != 0 {
		t.Fatalf("after resubscribing: %v, %d queries; want cached", err, q)
	}
	rec2.RevokedAt = time.Now()
	if err := k.Put(t.Context(), []apikeys.Record{rec2}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Authenticate(t.Context(), key2); !errors.Is(err, apikeys.ErrRevoked) {
		t.Fatalf("got %v, want ErrRevoked", err)
	}
}

// A message on the channel that cannot be read flushes the cache rather
// than being ignored.
func TestUnreadableInvalidationFlushes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	mem := broker.NewMemory()
	t.Cleanup(func() { mem.Close() })
	k := f.keys(t, apikeys.Config{Broker: mem, Channel: "test.keys"})
	run(t, k)
	key, _ := f.newKey(t, k, token.SecretKey)
	if _, err := k.Authenticate(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(t.Context(), "UPDATE dataplane.api_keys SET revoked_at = now()"); err != nil {
		t.Fatal(err)
	}
	if err := mem.Publish(t.Context(), "test.keys", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the revocation is seen", func() bool {
		_, err := k.Authenticate(t.Context(), key)
		return errors.Is(err, apikeys.ErrRevoked)
	})
}

// CacheTTL bounds staleness when every invalidation is lost.
func TestCacheTTLBoundsStaleness(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k := f.keys(t, apikeys.Config{CacheTTL: 100 * time.Millisecond})
	run(t, k)
	key, _ := f.newKey(t, k, token.SecretKey)
	if _, err := k.Authenticate(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(t.Context(), "UPDATE dataplane.api_keys SET revoked_at = now()"); err != nil {
		t.Fatal(err)
	}
	if _, q, err := f.authCounting(t, k, key); err != nil || q != 0 {
		t.Fatalf("right after the unannounced change: %v, %d queries; want the cached answer", err, q)
	}
	eventually(t, "the revocation is seen", func() bool {
		_, err := k.Authenticate(t.Context(), key)
		return errors.Is(err, apikeys.ErrRevoked)
	})
}

// A cached key stops working the moment it expires, with no look-up.
func TestExpiryWhileCached(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k := f.keys(t, apikeys.Config{})
	run(t, k)
	key := token.New(token.SecretKey)
	expires := time.Now().Add(300 * time.Millisecond)
	if err := k.Put(t.Context(), []apikeys.Record{{ID: "exp", TenantRef: f.ref, Kind: apikeys.KindSecret, Hash: token.Hash(key), ExpiresAt: expires}}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Authenticate(t.Context(), key); err != nil {
		if time.Now().Before(expires) {
			t.Fatal(err)
		}
		t.Fatalf("the machine is too slow for this test: the key expired before its first use (%v)", err)
	}
	time.Sleep(time.Until(expires) + 10*time.Millisecond)
	if _, q, err := f.authCounting(t, k, key); !errors.Is(err, apikeys.ErrExpired) || q != 0 {
		t.Fatalf("after expiry: %v, %d queries; want ErrExpired from the cache", err, q)
	}
}

// Tenant changes reach cached keys, through TenantChanged as wired by
// tenants.Config.Changed.
func TestTenantChanged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k := f.keys(t, apikeys.Config{})
	run(t, k)
	store, err := tenants.New(tenants.Config{Pool: f.pool, Changed: k.TenantChanged})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := f.newKey(t, k, token.SecretKey)
	ctx := t.Context()
	var before error // what the key gets before each step
	for _, s := range []struct {
		state tenants.State
		want  error
	}{
		{tenants.StatePaused, apikeys.ErrProjectPaused},
		{tenants.StateActive, nil},
		{tenants.StateDeleting, apikeys.ErrProjectDeleting},
	} {
		for range 2 { // the second answer from the cache
			if _, err := k.Authenticate(ctx, key); !errors.Is(err, before) {
				t.Fatalf("before %s: got %v, want %v", s.state, err, before)
			}
		}
		if _, err := store.SetState(ctx, tenants.SetStateParams{Ref: f.ref, State: s.state}); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Authenticate(ctx, key); !errors.Is(err, s.want) {
			t.Fatalf("after %s: got %v, want %v", s.state, err, s.want)
		}
		before = s.want
	}
	if err := store.Purge(ctx, f.ref); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Authenticate(ctx, key); !errors.Is(err, apikeys.ErrUnknown) {
		t.Fatalf("after purge: got %v, want ErrUnknown", err)
	}
}

// A change whose announcement fails is saved and says so.
func TestAnnouncementFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	mem := broker.NewMemory()
	k := f.keys(t, apikeys.Config{Broker: mem})
	mem.Close()
	key, rec := token.New(token.SecretKey), apikeys.Record{ID: "k", TenantRef: f.ref, Kind: apikeys.KindSecret}
	rec.Hash = token.Hash(key)
	if err := k.Put(t.Context(), []apikeys.Record{rec}); !errors.Is(err, apikeys.ErrNotAnnounced) {
		t.Fatalf("got %v, want ErrNotAnnounced", err)
	}
	if _, err := k.Authenticate(t.Context(), key); err != nil {
		t.Fatalf("the key was not saved: %v", err)
	}
	if err := k.TenantChanged(t.Context(), f.ref); !errors.Is(err, apikeys.ErrNotAnnounced) {
		t.Fatalf("got %v, want ErrNotAnnounced", err)
	}
}

func TestPutRefusesBadRecords(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k := f.keys(t, apikeys.Config{})
	good := apikeys.Record{ID: "k", TenantRef: f.ref, Kind: apikeys.KindSecret, Hash: token.Hash(token.New(token.SecretKey))}
	for _, c := range []struct {
		name  string
		edit  func(*apikeys.Record)
		want  error
		field string
	}{
		{"id", func(r *apikeys.Record) { r.ID = "" }, apikeys.ErrInvalidRecord, "id"},
		{"long id", func(r *apikeys.Record) { r.ID = string(make([]byte, 129)) }, apikeys.ErrInvalidRecord, "id"},
		{"tenant", func(r *apikeys.Record) { r.TenantRef = "x" }, apikeys.ErrInvalidRecord, "tenant_ref"},
		{"kind", func(r *apikeys.Record) { r.Kind = "root" }, apikeys.ErrInvalidRecord, "kind"},
		{"hash", func(r *apikeys.Record) { r.Hash = "g" + r.Hash[1:] }, apikeys.ErrInvalidRecord, "hash"},
		{"unknown tenant", func(r *apikeys.Record) {
			r.ID, r.TenantRef, r.Hash = "k2", "zzzzzzzzzzzz", token.Hash(token.New(token.SecretKey))
		}, apikeys.ErrUnknownTenant, "tenant_ref"},
		{"id with another hash", func(r *apikeys.Record) { r.Hash = token.Hash(token.New(token.SecretKey)) }, apikeys.ErrRecordConflict, "id"},
		{"hash under another id", func(r *apikeys.Record) { r.ID = "k2" }, apikeys.ErrRecordConflict, "hash"},
	} {
		r := good
		c.edit(&r)
		err := k.Put(t.Context(), []apikeys.Record{good, r})
		var pe *apikeys.PutError
		if !errors.Is(err, c.want) || !errors.As(err, &pe) || pe.Index != 1 || pe.Field != c.field {
			t.Errorf("%s: got %v, want %v at keys[1].%s", c.name, err, c.want, c.field)
		}
	}
	var n int
	if err := f.pool.QueryRow(t.Context(), "SELECT count(*) FROM dataplane.api_keys").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d keys stored (%v), want none", n, err)
	}
	if err := k.Put(t.Context(), make([]apikeys.Record, apikeys.MaxRecordsPerPut+1)); !errors.Is(err, apikeys.ErrTooMany) {
		t.Fatalf("got %v, want ErrTooMany", err)
	}
}

func FuzzAuthenticateMalformed(f *testing.F) {
	f.Add("sov_sk_")
	f.Add(token.New(token.SecretKey)[:40])
	f.Add("sov_pk_" + string(make([]byte, 38)))
	f.Fuzz(func(t *testing.T, key string) {
		if token.Check(key, token.SecretKey) == nil || token.Check(key, token.PublishableKey) == nil {
			return // well-formed: would need the database
		}
		// No pool: a look-up would panic, so this proves none is made.
		mem := broker.NewMemory()
		defer mem.Close()
		k, err := apikeys.New(apikeys.Config{Pool: &pgxpool.Pool{}, Broker: mem})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Authenticate(context.Background(), key); !errors.Is(err, apikeys.ErrMalformed) {
			t.Fatalf("Authenticate(%q) = %v, want ErrMalformed", key, err)
		}
	})
}
