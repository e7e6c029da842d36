package sovereign

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// flakyFeed is a small in-test realtime server (the SDK cannot import the
// platform's): it serves a collection whose change log holds cursors 1..n,
// sends each subscription the changes after its cursor, and cuts the
// connection after every cut frames, so that the SDK must reconnect and
// resume. It also repeats the last change it sent before each cut, as a
// server may resend a change the client already has.
type flakyFeed struct {
	n, cut int

	mu      sync.Mutex
	conns   int
	cursors []string // the cursor of every subscribe, in order
	keys    []string
}

func (f *flakyFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.conns++
	f.keys = append(f.keys, r.Header.Get("apikey"))
	f.mu.Unlock()
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ctx := r.Context()
	write := func(v any) error {
		b, _ := json.Marshal(v)
		return ws.Write(ctx, websocket.MessageText, b)
	}
	if write(map[string]any{"type": "welcome", "connection_id": "c", "heartbeat_seconds": 25,
		"limits": map[string]any{"subscriptions": 100, "messages_per_second": 100, "payload_bytes": 65536}}) != nil {
		return
	}
	_, b, err := ws.Read(ctx)
	if err != nil {
		return
	}
	var sub struct{ Type, ID, Collection, Cursor string }
	if json.Unmarshal(b, &sub) != nil || sub.Type != "subscribe" {
		return
	}
	f.mu.Lock()
	f.cursors = append(f.cursors, sub.Cursor)
	f.mu.Unlock()
	from, _ := strconv.Atoi(sub.Cursor)
	_ = write(map[string]any{"type": "subscribed", "id": sub.ID})
	_ = write(map[string]any{"type": "ready", "id": sub.ID, "cursor": strconv.Itoa(from)})
	sent := 0
	for c := from + 1; c <= f.n; c++ {
		change := map[string]any{"type": "change", "id": sub.ID, "collection": sub.Collection, "op": "insert",
			"cursor": strconv.Itoa(c), "record": map[string]any{"n": c}, "at": time.Now().Format(time.RFC3339Nano)}
		if write(change) != nil {
			return
		}
		sent++
		if sent == f.cut {
			_ = write(change) // a repeat, which the SDK must drop
			ws.CloseNow()
			return
		}
	}
	for { // until the client closes
		if _, _, err := ws.Read(ctx); err != nil {
			return
		}
	}
}

func TestSubscribeResumesAfterDrops(t *testing.T) {
	feed := &flakyFeed{n: 50, cut: 7}
	srv := httptest.NewServer(feed)
	defer srv.Close()
	c := NewClient(srv.URL, WithAPIKey("sov_sk_test"))
	c.pub.opts.backoffBase, c.pub.opts.backoffMax = time.Millisecond, 5*time.Millisecond

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub := c.Subscribe(ctx, "posts", SubscribeOptions{})
	var got []string
	readies := 0
	for ch, err := range sub.All() {
		if err != nil {
			t.Fatal(err)
		}
		switch ch.Op {
		case OpReady:
			readies++
			continue
		case OpInsert:
		default:
			t.Fatalf("unexpected event %+v", ch)
		}
		var rec struct{ N int }
		if err := ch.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		if strconv.Itoa(rec.N) != ch.Cursor {
			t.Fatalf("record %d with cursor %s", rec.N, ch.Cursor)
		}
		got = append(got, ch.Cursor)
		if len(got) == feed.n {
			break
		}
	}
	for i, cur := range got {
		if cur != strconv.Itoa(i+1) {
			t.Fatalf("change %d has cursor %s; got %v", i, cur, got)
		}
	}
	if len(got) != feed.n {
		t.Fatalf("got %d changes, want %d", len(got), feed.n)
	}
	if readies != 1 {
		t.Errorf("ready shown %d times, want once", readies)
	}
	if sub.Cursor() != strconv.Itoa(feed.n) {
		t.Errorf("Cursor() = %s, want %d", sub.Cursor(), feed.n)
	}
	feed.mu.Lock()
	defer feed.mu.Unlock()
	wantConns := (feed.n + feed.cut - 1) / feed.cut
	if feed.conns < wantConns {
		t.Errorf("%d connections, want at least %d", feed.conns, wantConns)
	}
	// Each resubscription resumes after the last change delivered.
	for i, cur := range feed.cursors {
		want := ""
		if i > 0 {
			want = strconv.Itoa(i * feed.cut)
		}
		if cur != want {
			t.Errorf("subscribe %d had cursor %q, want %q (all: %q)", i, cur, want, feed.cursors)
		}
	}
	for _, k := range feed.keys {
		if k != "sov_sk_test" {
			t.Errorf("apikey header %q", k)
		}
	}
}

// refusingFeed refuses every subscription with an error frame.
func TestSubscribeSurfacesRefusal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"welcome","connection_id":"c","heartbeat_seconds":25}`))
		_, b, err := ws.Read(ctx)
		if err != nil {
			return
		}
		var sub struct{ ID string }
		_ = json.Unmarshal(b, &sub)
		_ = ws.Write(ctx, websocket.MessageText, fmt.Appendf(nil,
			`{"type":"error","id":%q,"code":"not_found","message":"collection nope not found"}`, sub.ID))
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c := NewClient(srv.URL, WithAPIKey("k"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := 0
	for _, err := range c.Subscribe(ctx, "nope", SubscribeOptions{}).All() {
		n++
		if !IsNotFound(err) {
			t.Fatalf("err = %v, want NotFound", err)
		}
	}
	if n != 1 {
		t.Fatalf("%d events, want the one error", n)
	}
}

func TestSubscribeUnauthorizedAtUpgrade(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":"unauthenticated","message":"unknown API key"}`))
	}))
	defer srv.Close()
	c := NewClient(srv.URL, WithAPIKey("bad"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, err := range c.Subscribe(ctx, "posts", SubscribeOptions{}).All() {
		if !IsUnauthenticated(err) || errMessage(err) != "unknown API key" {
			t.Fatalf("err = %v, want the server's unauthenticated answer", err)
		}
		return
	}
	t.Fatal("no error")
}

func TestSubscribeOptionsChecked(t *testing.T) {
	c := NewClient("http://127.0.0.1:1", WithAPIKey("k"))
	ctx := context.Background()
	for name, opts := range map[string]SubscribeOptions{
		"cursor and snapshot": {Cursor: "1", Snapshot: true},
		"bad filter":          {Filter: Where("a.b").Eq(1)},
	} {
		for _, err := range c.Subscribe(ctx, "posts", opts).All() {
			if !IsInvalidArgument(err) {
				t.Errorf("%s: err = %v, want InvalidArgument", name, err)
			}
			break
		}
	}
}

func TestAfter(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"1", "", true}, {"2", "1", true}, {"1", "1", false}, {"9", "10", false}, {"x", "1", true}} {
		if got := after(tc.a, tc.b); got != tc.want {
			t.Errorf("after(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
