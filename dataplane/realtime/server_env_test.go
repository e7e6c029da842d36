package realtime_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/valkey-io/valkey-go"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/auth"
	"github.com/sovereign-backend/sovereign/dataplane/migrations"
	"github.com/sovereign-backend/sovereign/dataplane/realtime"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	"github.com/sovereign-backend/sovereign/internal/token"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// region is a migrated data plane database with its key store, tenant
// store and end-user auth, and a Valkey prefix of the test's own.
type region struct {
	pool    *pgxpool.Pool
	keys    *apikeys.Keys
	tenants *tenants.Store
	auth    *auth.Service
	valkey  string
	prefix  string

	mu   sync.Mutex
	refs []string
}

func newRegion(t *testing.T) *region {
	t.Helper()
	r := &region{valkey: testenv.ValkeyURL(t), prefix: testenv.KeyPrefix(t)}
	adminURL := testenv.AdminURL(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("drop tenant roles: %v", err)
			return
		}
		defer conn.Close(ctx)
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, ref := range r.refs {
			if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{tenants.SchemaName(ref)}.Sanitize()); err != nil {
				t.Errorf("drop role of %s: %v", ref, err)
			}
		}
	})
	pool, err := pgxpool.New(t.Context(), testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	r.pool = pool
	if _, err := migrate.Up(t.Context(), pool, migrate.Config{Schema: "dataplane", FS: migrations.FS, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	b := broker.NewMemory()
	r.keys, err = apikeys.New(apikeys.Config{Pool: pool, Broker: b, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	r.auth, err = auth.New(auth.Config{DB: tenantdb.New(pool), Broker: b, KeySecret: secret, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.keys.Run(ctx) })
	wg.Go(func() { r.auth.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	for deadline := time.Now().Add(10 * time.Second); !r.keys.Live() || !r.auth.Live(); {
		if time.Now().After(deadline) {
			t.Fatal("the caches never subscribed to invalidations")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.tenants, err = tenants.New(tenants.Config{Pool: pool, Changed: func(ctx context.Context, ref string) error {
		return errors.Join(r.keys.TenantChanged(ctx, ref), r.auth.TenantChanged(ctx, ref))
	}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// project is a provisioned tenant with a publishable and a secret key.
type project struct {
	ref, pk, sk string
}

func (r *region) project(t *testing.T, limits tenants.Limits) project {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	ref := "t" + hex.EncodeToString(b)
	r.mu.Lock()
	r.refs = append(r.refs, ref)
	r.mu.Unlock()
	if _, err := r.tenants.Provision(t.Context(), tenants.ProvisionParams{Ref: ref, Limits: limits}); err != nil {
		t.Fatal(err)
	}
	p := project{ref: ref, pk: token.New(token.PublishableKey), sk: token.New(token.SecretKey)}
	if err := r.keys.Put(t.Context(), []apikeys.Record{
		{ID: "pk-" + ref, TenantRef: ref, Kind: apikeys.KindPublishable, Hash: token.Hash(p.pk)},
		{ID: "sk-" + ref, TenantRef: ref, Kind: apikeys.KindSecret, Hash: token.Hash(p.sk)},
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

// userToken signs an anonymous user in and returns the user's id and
// access token.
func (r *region) userToken(t *testing.T, ref string) (string, string) {
	t.Helper()
	s, err := r.auth.SignInAnonymous(t.Context(), ref, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return s.User.ID, s.AccessToken
}

// node is one realtime server over the region, with a broker of its own
// on the test Valkey (as a data plane node has), served over HTTP.
type node struct {
	srv *realtime.Server
	url string // ws://…
}

func (r *region) node(t *testing.T, cfg realtime.ServerConfig) *node {
	t.Helper()
	b, err := broker.NewValkey(t.Context(), broker.ValkeyConfig{URL: r.valkey, Prefix: r.prefix, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	opt, err := valkey.ParseURL(r.valkey)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	client, err := valkey.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	cfg.Keys, cfg.Broker, cfg.Tenants, cfg.Valkey, cfg.KeyPrefix = r.keys, b, r.tenants, client, r.prefix
	cfg.Users = r.auth.AuthenticateUser
	cfg.Logger = quiet
	srv, err := realtime.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(realtime.RouteWebSocket, srv.HandleWebSocket)
	mux.HandleFunc(realtime.RouteSSE, srv.HandleSSE)
	hs := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; hs.Close() })
	return &node{srv: srv, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/v1/realtime"}
}

// client is a test's WebSocket connection.
type client struct {
	t  *testing.T
	ws *websocket.Conn
	id string // connection id from welcome
}

type frame map[string]any

func (f frame) str(k string) string { s, _ := f[k].(string); return s }

// dial connects with query (e.g. "apikey=…") and reads the welcome.
func (n *node) dial(t *testing.T, query string) *client {
	t.Helper()
	c := n.dialRaw(t, query)
	w := c.next()
	if w.str("type") != "welcome" {
		t.Fatalf("first frame %v, want welcome", w)
	}
	c.id = w.str("connection_id")
	return c
}

func (n *node) dialRaw(t *testing.T, query string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, n.url+"?"+query, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(1 << 22)
	t.Cleanup(func() { ws.CloseNow() })
	return &client{t: t, ws: ws}
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next frame, or the error that ended the connection.
func (c *client) read() (frame, error) {
	ctx, cancel := context.WithTimeout(c.t.Context(), 20*time.Second)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("frame %s: %v", b, err)
	}
	return f, nil
}

func (c *client) next() frame {
	c.t.Helper()
	f, err := c.read()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// expect reads the next frame and checks its type.
func (c *client) expect(typ string) frame {
	c.t.Helper()
	f := c.next()
	if f.str("type") != typ {
		c.t.Fatalf("frame %v, want type %s", f, typ)
	}
	return f
}

// closed reads until the connection ends and returns its close status and
// reason.
func (c *client) closed() (websocket.StatusCode, string) {
	c.t.Helper()
	for {
		_, err := c.read()
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce.Code, ce.Reason
	}
}
