package realtime_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sovereign-backend/sovereign/dataplane/realtime"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
)

func TestUpgradeNeedsAValidKey(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	n := r.node(t, realtime.ServerConfig{})
	p := r.project(t, tenants.Limits{})
	httpURL := "http" + strings.TrimPrefix(n.url, "ws")
	for _, tc := range []struct {
		name, query string
		status      int
	}{
		{"no key", "", http.StatusUnauthorized},
		{"malformed key", "apikey=nope", http.StatusUnauthorized},
		{"bad user token", "apikey=" + p.pk + "&access_token=a.b.c", http.StatusUnauthorized},
	} {
		resp, err := http.Get(httpURL + "?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
}

func TestBadFramesKeepTheConnection(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	n := r.node(t, realtime.ServerConfig{})
	p := r.project(t, tenants.Limits{})
	c := n.dial(t, "apikey="+p.pk)
	for _, tc := range []struct {
		name, frame, code string
	}{
		{"malformed JSON", `{"type":`, "invalid_argument"},
		{"no type", `{}`, "invalid_argument"},
		{"unknown type", `{"type":"dance"}`, "invalid_argument"},
		{"bad subscription id", `{"type":"subscribe","id":"has space","collection":"posts"}`, "invalid_argument"},
		{"cursor with snapshot", `{"type":"subscribe","id":"s1","collection":"posts","cursor":"1","snapshot":true}`, "invalid_argument"},
		{"bad channel", `{"type":"join","channel":"a b"}`, "invalid_argument"},
		{"channel too long", `{"type":"join","channel":"public:` + strings.Repeat("x", 122) + `"}`, "invalid_argument"},
		{"presence not an object", `{"type":"join","channel":"public:a","presence":[1]}`, "invalid_argument"},
		{"presence too large", `{"type":"join","channel":"public:a","presence":{"s":"` + strings.Repeat("x", 1020) + `"}}`, "invalid_argument"},
		{"leave unknown", `{"type":"leave","channel":"public:a"}`, "not_found"},
		{"unsubscribe unknown", `{"type":"unsubscribe","id":"zz"}`, "not_found"},
		{"broadcast before join", `{"type":"broadcast","channel":"public:a","event":"e"}`, "failed_precondition"},
		{"anon on a private channel", `{"type":"join","channel":"room:1"}`, "permission_denied"},
		{"anon on a user channel", `{"type":"join","channel":"user:someone"}`, "permission_denied"},
		{"anon on an authenticated channel", `{"type":"join","channel":"authenticated:x"}`, "permission_denied"},
	} {
		c.sendRaw(tc.frame)
		f := c.expect("error")
		if f.str("code") != tc.code || f.str("message") == "" {
			t.Errorf("%s: error %v, want code %s and a message", tc.name, f, tc.code)
		}
	}
	c.send(map[string]any{"type": "ping", "ref": "still-here"})
	if f := c.expect("pong"); f.str("ref") != "still-here" {
		t.Fatalf("pong %v", f)
	}
	// The 128-character channel name is the longest accepted.
	long := "public:" + strings.Repeat("x", 121)
	c.send(map[string]any{"type": "join", "channel": long})
	if f := c.expect("joined"); f.str("channel") != long {
		t.Fatalf("joined %v", f)
	}
}

// joinAll joins every client to channel with a presence state naming it
// and reads its joined and presence_state.
func join(t *testing.T, c *client, channel string, presence map[string]any) frame {
	t.Helper()
	c.send(map[string]any{"type": "join", "id": "j", "channel": channel, "presence": presence})
	if f := c.expect("joined"); f.str("channel") != channel || f.str("id") != "j" {
		t.Fatalf("joined %v", f)
	}
	return c.expect("presence_state")
}

func memberKeys(v any) []string {
	var keys []string
	list, _ := v.([]any)
	for _, m := range list {
		mm, _ := m.(map[string]any)
		k, _ := mm["key"].(string)
		keys = append(keys, k)
	}
	return keys
}

func TestBroadcastAndPresenceOnOneNode(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	n := r.node(t, realtime.ServerConfig{})
	p := r.project(t, tenants.Limits{})
	ann := n.dial(t, "apikey="+p.pk)
	bob := n.dial(t, "apikey="+p.pk)
	other := r.project(t, tenants.Limits{})
	eve := n.dial(t, "apikey="+other.pk) // same channel name, another tenant

	st := join(t, ann, "public:room", map[string]any{"name": "ann"})
	if keys := memberKeys(st["members"]); len(keys) != 1 || keys[0] != ann.id {
		t.Fatalf("ann's presence_state %v", st)
	}
	join(t, eve, "public:room", map[string]any{"name": "eve"})
	st = join(t, bob, "public:room", map[string]any{"name": "bob"})
	if keys := memberKeys(st["members"]); len(keys) != 2 {
		t.Fatalf("bob's presence_state %v, want ann and bob (not eve)", st)
	}
	d := ann.expect("presence_diff")
	if keys := memberKeys(d["joins"]); len(keys) != 1 || keys[0] != bob.id {
		t.Fatalf("ann's diff %v, want bob joining", d)
	}

	bob.send(map[string]any{"type": "broadcast", "channel": "public:room", "event": "typing", "payload": map[string]any{"n": 1}, "ack": "a1"})
	if f := bob.expect("ack"); f.str("ref") != "a1" {
		t.Fatalf("ack %v", f)
	}
	f := ann.expect("broadcast")
	if f.str("event") != "typing" || f.str("from") != bob.id || f.str("channel") != "public:room" {
		t.Fatalf("broadcast %v", f)
	}
	if pl, _ := f["payload"].(map[string]any); pl["n"] != float64(1) {
		t.Fatalf("payload %v", f["payload"])
	}

	ann.send(map[string]any{"type": "presence", "channel": "public:room", "state": map[string]any{"name": "ann", "typing": true}})
	d = bob.expect("presence_diff")
	if keys := memberKeys(d["joins"]); len(keys) != 1 || keys[0] != ann.id {
		t.Fatalf("bob's diff %v, want ann's new state", d)
	}

	// Bob disconnects: ann sees him leave.
	bob.ws.Close(websocket.StatusNormalClosure, "bye")
	d = ann.expect("presence_diff")
	if keys := memberKeys(d["leaves"]); len(keys) != 1 || keys[0] != bob.id {
		t.Fatalf("ann's diff %v, want bob leaving", d)
	}
	// Eve, in another tenant, heard nothing of it.
	eve.send(map[string]any{"type": "ping", "ref": "e"})
	if f := eve.next(); f.str("type") != "pong" {
		t.Fatalf("eve got %v before her pong", f)
	}
	ann.send(map[string]any{"type": "leave", "channel": "public:room"})
	ann.expect("left")
}

func TestBroadcastAndPresenceAcrossNodes(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	a := r.node(t, realtime.ServerConfig{})
	b := r.node(t, realtime.ServerConfig{})
	p := r.project(t, tenants.Limits{})
	ann := a.dial(t, "apikey="+p.pk)
	bob := b.dial(t, "apikey="+p.sk) // the service role may use any channel

	join(t, ann, "public:lobby", map[string]any{"name": "ann"})
	st := join(t, bob, "public:lobby", map[string]any{"name": "bob"})
	// Bob's node learns of ann from her node's answer to its hello, if
	// not already in the state.
	if keys := memberKeys(st["members"]); len(keys) != 2 {
		d := bob.expect("presence_diff")
		if keys := memberKeys(d["joins"]); len(keys) != 1 || keys[0] != ann.id {
			t.Fatalf("bob's diff %v, want ann joining", d)
		}
	}
	d := ann.expect("presence_diff")
	if keys := memberKeys(d["joins"]); len(keys) != 1 || keys[0] != bob.id {
		t.Fatalf("ann's diff %v, want bob joining", d)
	}
	bob.send(map[string]any{"type": "broadcast", "channel": "public:lobby", "event": "hi", "payload": "from b"})
	if f := ann.expect("broadcast"); f.str("from") != bob.id || f["payload"] != "from b" {
		t.Fatalf("ann got %v", f)
	}
	ann.send(map[string]any{"type": "broadcast", "channel": "public:lobby", "event": "hi", "payload": "from a"})
	if f := bob.expect("broadcast"); f.str("from") != ann.id || f["payload"] != "from a" {
		t.Fatalf("bob got %v", f)
	}
	bob.ws.Close(websocket.StatusNormalClosure, "bye")
	d = ann.expect("presence_diff")
	if keys := memberKeys(d["leaves"]); len(keys) != 1 || keys[0] != bob.id {
		t.Fatalf("ann's diff %v, want bob leaving", d)
	}
}

func TestChannelRulesFollowTheUser(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	n := r.node(t, realtime.ServerConfig{})
	p := r.project(t, tenants.Limits{})
	uid, tok := r.userToken(t, p.ref)
	otherUID, _ := r.userToken(t, p.ref)

	c := n.dial(t, "apikey="+p.pk)
	c.send(map[string]any{"type": "join", "channel": "authenticated:lounge"})
	if f := c.expect("error"); f.str("code") != "permission_denied" {
		t.Fatalf("anon join: %v", f)
	}
	// An auth frame makes the connection the user's.
	c.send(map[string]any{"type": "auth", "access_token": tok})
	if f := c.expect("auth_ok"); f.str("expires_at") == "" {
		t.Fatalf("auth_ok %v", f)
	}
	join(t, c, "authenticated:lounge", nil)
	join(t, c, "user:"+uid, nil)
	c.send(map[string]any{"type": "join", "channel": "user:" + otherUID})
	if f := c.expect("error"); f.str("code") != "permission_denied" {
		t.Fatalf("join another user's channel: %v", f)
	}
	c.send(map[string]any{"type": "auth", "access_token": "not.a.token"})
	if f := c.expect("error"); f.str("code") != "unauthenticated" {
		t.Fatalf("bad auth: %v", f)
	}

	// The token in the query works too, and the secret key may use any
	// channel.
	u := n.dial(t, "apikey="+p.pk+"&access_token="+tok)
	join(t, u, "user:"+uid+":inbox", nil)
	s := n.dial(t, "apikey="+p.sk)
	join(t, s, "user:"+otherUID, nil)
	join(t, s, "room:1", nil)
}

func TestExpiredTokenEndsWhatItAllowed(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	// The server's clock runs ahead so that the 30-minute token expires
	// two seconds after it is read.
	n := r.node(t, realtime.ServerConfig{Now: func() time.Time { return time.Now().Add(30*time.Minute - 2*time.Second) }})
	p := r.project(t, tenants.Limits{})
	_, tok := r.userToken(t, p.ref)
	c := n.dial(t, "apikey="+p.pk+"&access_token="+tok)
	join(t, c, "authenticated:lounge", nil)
	join(t, c, "public:square", nil)
	f := c.expect("closed")
	if f.str("channel") != "authenticated:lounge" || f.str("code") != "unauthenticated" || f.str("message") != "access token expired" {
		t.Fatalf("closed %v", f)
	}
	// The connection stays, as the key alone.
	c.send(map[string]any{"type": "join", "channel": "authenticated:lounge"})
	if f := c.expect("error"); f.str("code") != "permission_denied" {
		t.Fatalf("join after expiry: %v", f)
	}
	c.send(map[string]any{"type": "leave", "channel": "public:square"})
	c.expect("left")
}

func TestConnectionLimitAcrossNodes(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	a := r.node(t, realtime.ServerConfig{})
	b := r.node(t, realtime.ServerConfig{})
	p := r.project(t, tenants.Limits{RealtimeConnections: 3})
	c1 := a.dial(t, "apikey="+p.pk)
	b.dial(t, "apikey="+p.pk)
	a.dial(t, "apikey="+p.pk)
	over := b.dialRaw(t, "apikey="+p.pk)
	code, reason := over.closed()
	if code != realtime.CloseLimitExceeded || reason != "too many connections for this project (limit 3)" {
		t.Fatalf("4th connection closed with %d %q", code, reason)
	}
	// Another project has its own count.
	q := r.project(t, tenants.Limits{RealtimeConnections: 1})
	b.dial(t, "apikey="+q.pk)
	// A connection that ends makes room.
	c1.ws.Close(websocket.StatusNormalClosure, "")
	for {
		c := b.dialRaw(t, "apikey="+p.pk)
		f, err := c.read()
		if err == nil && f.str("type") == "welcome" {
			break
		}
		time.Sleep(50 * time.Millisecond) // the release is asynchronous
	}
}

func TestChannelsPerConnection(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	n := r.node(t, realtime.ServerConfig{MaxChannels: 2})
	p := r.project(t, tenants.Limits{})
	c := n.dial(t, "apikey="+p.pk)
	join(t, c, "public:1", nil)
	join(t, c, "public:2", nil)
	c.send(map[string]any{"type": "join", "channel": "public:3"})
	if f := c.expect("error"); f.str("code") != "resource_exhausted" || f.str("message") != "too many channels joined on this connection (limit 2)" {
		t.Fatalf("third join: %v", f)
	}
}

func TestMessagesPerSecond(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	// A stopped clock: the bucket never refills.
	frozen := time.Now()
	n := r.node(t, realtime.ServerConfig{MessagesPerSecond: 5, Now: func() time.Time { return frozen }})
	p := r.project(t, tenants.Limits{})
	c := n.dial(t, "apikey="+p.pk)
	for i := range 5 {
		c.send(map[string]any{"type": "ping", "ref": fmt.Sprint(i)})
		c.expect("pong")
	}
	for range 5 {
		c.send(map[string]any{"type": "ping"})
		if f := c.expect("error"); f.str("code") != "resource_exhausted" {
			t.Fatalf("frame over the rate: %v", f)
		}
	}
	c.send(map[string]any{"type": "ping"})
	code, reason := c.closed()
	if code != realtime.CloseLimitExceeded || reason != "messages per second over the limit (5)" {
		t.Fatalf("closed with %d %q", code, reason)
	}
}

func TestPayloadLimit(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	n := r.node(t, realtime.ServerConfig{PayloadBytes: 1024})
	p := r.project(t, tenants.Limits{})
	c := n.dial(t, "apikey="+p.pk)
	frame := func(size int) string {
		s := `{"type":"ping","ref":""}`
		return strings.Replace(s, `""`, `"`+strings.Repeat("x", size-len(s))+`"`, 1)
	}
	c.sendRaw(frame(1024))
	c.expect("pong")
	c.sendRaw(frame(1025))
	if code, _ := c.closed(); code != websocket.StatusMessageTooBig {
		t.Fatalf("closed with %d, want 1009", code)
	}
}

func TestSlowConsumerIsCutOffAlone(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	n := r.node(t, realtime.ServerConfig{QueueFrames: 8, MessagesPerSecond: 100000, Heartbeat: 2 * time.Minute})
	p := r.project(t, tenants.Limits{})
	slow := n.dial(t, "apikey="+p.pk)
	fast := n.dial(t, "apikey="+p.pk)
	sender := n.dial(t, "apikey="+p.pk)
	join(t, slow, "public:feed", nil)
	join(t, fast, "public:feed", nil)
	join(t, sender, "public:feed", nil)

	// The slow client reads nothing until the end; the fast one reads
	// everything while the sender sends 60 KB messages, far more than the
	// socket buffers hold. The sender stays at most window messages ahead
	// of the fast client, fewer than its queue holds: a client that keeps
	// up is never cut off, however the scheduler runs the goroutines, and
	// the slow one falls further behind with every message.
	const count, window = 250, 4
	payload := strings.Repeat("x", 60000)
	var wg sync.WaitGroup
	var got atomic.Int64
	progress := make(chan struct{}, 1)
	var readErr error
	wg.Go(func() {
		defer close(progress)
		for got.Load() < count {
			f, err := fast.read()
			if err != nil {
				readErr = err
				return
			}
			if f.str("type") == "broadcast" {
				got.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}
	})
	for i := range count {
		for int64(i)-got.Load() >= window {
			if _, ok := <-progress; !ok {
				break
			}
		}
		sender.send(map[string]any{"type": "broadcast", "channel": "public:feed", "event": fmt.Sprint(i), "payload": payload})
	}
	wg.Wait()
	if readErr != nil || got.Load() != count {
		t.Fatalf("fast client got %d of %d broadcasts (%v)", got.Load(), count, readErr)
	}
	code, reason := slow.closed()
	if code != realtime.CloseSlowConsumer || !strings.HasPrefix(reason, "slow consumer: ") {
		t.Fatalf("slow client closed with %d %q", code, reason)
	}
}
