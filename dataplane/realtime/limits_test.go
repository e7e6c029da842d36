package realtime_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/valkey-io/valkey-go"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/realtime"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// pingFrame is a ping frame of exactly size bytes.
func pingFrame(size int) string {
	s := `{"type":"ping","ref":""}`
	return strings.Replace(s, `""`, `"`+strings.Repeat("x", size-len(s))+`"`, 1)
}

// A plan's per-connection limits replace the node's defaults; a plan
// without them (0) gets the defaults.
func TestPerConnectionLimitsFromThePlan(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	n := r.node(t, realtime.ServerConfig{MaxSubscriptions: 2, MaxChannels: 2, MessagesPerSecond: 50, PayloadBytes: 1024})
	plain := r.project(t, tenants.Limits{})
	pro := r.project(t, tenants.Limits{RealtimeSubscriptions: 3, RealtimeMessagesPerSecond: 70, RealtimePayloadBytes: 4096})

	for _, tc := range []struct {
		name               string
		p                  project
		subs, mps, payload float64
		channels           int
		bigFrame           int // accepted at this size, closed with 1009 one byte more
	}{
		{"node defaults", plain, 2, 50, 1024, 2, 1024},
		{"plan limits", pro, 3, 70, 4096, 3, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, n.url+"?apikey="+tc.p.pk, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ws.CloseNow() })
			c := &client{t: t, ws: ws}
			w := c.expect("welcome")
			lim, _ := w["limits"].(map[string]any)
			if lim["subscriptions"] != tc.subs || lim["messages_per_second"] != tc.mps || lim["payload_bytes"] != tc.payload {
				t.Fatalf("welcome limits %v, want subscriptions %v, messages_per_second %v, payload_bytes %v", lim, tc.subs, tc.mps, tc.payload)
			}
			for i := range tc.channels {
				join(t, c, fmt.Sprintf("public:%d", i), nil)
			}
			c.send(map[string]any{"type": "join", "channel": "public:over"})
			want := fmt.Sprintf("too many channels joined on this connection (limit %d)", tc.channels)
			if f := c.expect("error"); f.str("code") != "resource_exhausted" || f.str("message") != want {
				t.Fatalf("join over the limit: %v, want %q", f, want)
			}
			c.sendRaw(pingFrame(tc.bigFrame))
			c.expect("pong")
			c.sendRaw(pingFrame(tc.bigFrame + 1))
			if code, _ := c.closed(); code != websocket.StatusMessageTooBig {
				t.Fatalf("closed with %d, want 1009", code)
			}
		})
	}
}

// A node whose Valkey is down when it starts still serves realtime,
// counting connections on its own, and counts them in Valkey once Valkey
// answers.
func TestValkeyDownAtStart(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	opt, err := valkey.ParseURL(r.valkey)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	var dials atomic.Int32
	var up atomic.Bool
	srv, err := realtime.NewServer(realtime.ServerConfig{
		Keys: r.keys, Broker: broker.NewMemory(), Tenants: r.tenants, KeyPrefix: r.prefix, Logger: quiet,
		ValkeyRetry: time.Nanosecond,
		ValkeyDial: func() (valkey.Client, error) {
			dials.Add(1)
			if !up.Load() {
				return nil, errors.New("dial tcp: connection refused")
			}
			return valkey.NewClient(opt)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(realtime.RouteWebSocket, srv.HandleWebSocket)
	hs := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; hs.Close(); srv.Close() })
	n := &node{srv: srv, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/v1/realtime"}

	p := r.project(t, tenants.Limits{RealtimeConnections: 2})
	a := n.dial(t, "apikey="+p.pk)
	a.alive(t, "down")
	if dials.Load() == 0 {
		t.Fatal("the server never tried to reach Valkey")
	}
	// Valkey is back: the next connection is counted there.
	up.Store(true)
	b := n.dial(t, "apikey="+p.pk)
	b.alive(t, "up")
	vk, err := valkey.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer vk.Close()
	members, err := vk.Do(t.Context(), vk.B().Zrange().Key(r.prefix+"realtime:conns:"+p.ref).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0] != b.id {
		t.Fatalf("connections counted in Valkey %v, want only %s (the one made while it was up)", members, b.id)
	}
	// The limit holds over both counts: the connection counted on the
	// node during the outage and the one in Valkey make the plan's 2.
	c := n.dialRaw(t, "apikey="+p.pk)
	if code, reason := c.closed(); code != realtime.CloseLimitExceeded || reason != "too many connections for this project (limit 2)" {
		t.Fatalf("third connection closed with %d %q, want 4008 naming the limit", code, reason)
	}
}

// A key revoked while its connection is open closes the connection with
// 4001 at the next recheck; another project's connection goes on.
func TestRevokedKeyClosesTheConnection(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	n := r.node(t, realtime.ServerConfig{KeyRecheck: 50 * time.Millisecond})
	p := r.project(t, tenants.Limits{})
	other := r.project(t, tenants.Limits{})
	c := n.dial(t, "apikey="+p.pk)
	o := n.dial(t, "apikey="+other.pk)
	c.alive(t, "before")
	if err := r.keys.Put(t.Context(), []apikeys.Record{{
		ID: "pk-" + p.ref, TenantRef: p.ref, Kind: apikeys.KindPublishable, Hash: token.Hash(p.pk), RevokedAt: time.Now().Add(-time.Second),
	}}); err != nil {
		t.Fatal(err)
	}
	if code, reason := c.closed(); code != realtime.CloseUnauthenticated || reason == "" {
		t.Fatalf("closed with %d %q, want 4001 with a reason", code, reason)
	}
	o.alive(t, "other project")
}

// A node that stops closes its connections with 1001 (going away), so that
// clients reconnect elsewhere.
func TestShutdownSaysGoingAway(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	b := broker.NewMemory()
	srv, err := realtime.NewServer(realtime.ServerConfig{Keys: r.keys, Broker: b, Tenants: r.tenants, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(realtime.RouteWebSocket, srv.HandleWebSocket)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Run(ctx) }()
	n := &node{srv: srv, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/v1/realtime"}
	p := r.project(t, tenants.Limits{})
	c := n.dial(t, "apikey="+p.pk)
	c.alive(t, "up")
	cancel()
	<-done
	if code, _ := c.closed(); code != websocket.StatusGoingAway {
		t.Fatalf("closed with %d, want 1001", code)
	}
	// A connection after the shutdown is turned away the same way.
	late := n.dialRaw(t, "apikey="+p.pk)
	if code, _ := late.closed(); code != websocket.StatusGoingAway {
		t.Fatalf("late connection closed with %d, want 1001", code)
	}
}
