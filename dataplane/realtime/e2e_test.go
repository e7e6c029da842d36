package realtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/internal/platformtest"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// live is a whole platform (control plane and data plane, as
// platformtest runs them) with one project and its keys: the realtime
// endpoints as a customer's app reaches them.
type live struct {
	p        *platformtest.Platform
	ref      string
	sk, pk   string
	node     *node // the data plane's WebSocket endpoint
	sseURL   string
	httpc    *http.Client
	emailSeq int
	mu       sync.Mutex
}

// startLive starts a platform, signs an account up and makes a project in
// region local with a secret and a publishable key. Before the project's
// first realtime connection, subscriptions (when above 0) is written into
// the project's plan limits in the data plane, as an operator would.
func startLive(t *testing.T, subscriptions int) *live {
	t.Helper()
	ctx := t.Context()
	p := platformtest.Start(t, platformtest.Options{})
	anon := sovereign.NewManagementClient(p.APIURL)
	sess, err := anon.Signup(ctx, fmt.Sprintf("rt-%d@example.com", time.Now().UnixNano()), "correct-horse-battery-9")
	if err != nil {
		t.Fatalf("signup: %v", err)
	}
	mc := sovereign.NewManagementClient(p.APIURL, sovereign.WithToken(sess.AccessToken))
	org, err := mc.CreateOrganization(ctx, "rt")
	if err != nil {
		t.Fatalf("create organization: %v", err)
	}
	pr, err := mc.CreateProject(ctx, sovereign.CreateProjectParams{OrganizationID: org.ID, Name: "live", Region: "local"})
	if err != nil {
		t.Fatalf("create project: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if pr, err = mc.WaitProjectActive(wctx, pr.ID); err != nil {
		t.Fatalf("wait for the project: %v", err)
	}
	l := &live{p: p, ref: pr.Ref, httpc: &http.Client{Timeout: 30 * time.Second}}
	for kind, dst := range map[sovereign.KeyKind]*string{sovereign.KeySecret: &l.sk, sovereign.KeyPublishable: &l.pk} {
		_, key, err := mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{ProjectID: pr.ID, Name: string(kind), Kind: kind})
		if err != nil {
			t.Fatalf("create %s key: %v", kind, err)
		}
		*dst = key
	}
	if subscriptions > 0 {
		conn, err := pgx.Connect(ctx, p.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		tag, err := conn.Exec(ctx, `UPDATE dataplane.tenants SET limits = limits || jsonb_build_object('realtime_subscriptions', $2::int) WHERE ref = $1`, l.ref, subscriptions)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("set the project's realtime_subscriptions: %v (%d rows)", err, tag.RowsAffected())
		}
	}
	l.node = &node{url: "ws" + strings.TrimPrefix(p.DataURL, "http") + "/v1/realtime"}
	l.sseURL = p.DataURL + "/v1/realtime/sse"
	return l
}

// call calls the REST API with key (and an end user's token when not "")
// and decodes the JSON answer into a map; it returns the status.
func (l *live) call(ctx context.Context, method, path, key, token string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.p.DataURL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("apikey", key)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.httpc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return 0, nil, fmt.Errorf("%s %s: answer %q: %w", method, path, raw, err)
		}
	}
	return resp.StatusCode, out, nil
}

// do is call that fails the test on a transport error.
func (l *live) do(t *testing.T, method, path, key, token string, body any) (int, map[string]any) {
	t.Helper()
	status, out, err := l.call(t.Context(), method, path, key, token, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, out
}

// must is do that wants a 2xx answer.
func (l *live) must(t *testing.T, method, path, key, token string, body any) map[string]any {
	t.Helper()
	status, out := l.do(t, method, path, key, token, body)
	if status < 200 || status > 299 {
		t.Fatalf("%s %s: HTTP %d %v", method, path, status, out)
	}
	return out
}

// collection makes a collection with a text field title, a text field
// owner and an integer n.
func (l *live) collection(t *testing.T, name string) {
	t.Helper()
	l.must(t, "POST", "/v1/collections", l.sk, "", map[string]any{"name": name, "fields": []map[string]any{
		{"name": "title", "type": "text"}, {"name": "owner", "type": "text"}, {"name": "n", "type": "integer"},
	}})
}

// insert creates a record with the secret key and returns its id.
func (l *live) insert(t *testing.T, coll string, rec map[string]any) string {
	t.Helper()
	out := l.must(t, "POST", "/v1/collections/"+coll+"/records", l.sk, "", rec)
	id, _ := out["id"].(string)
	if id == "" {
		t.Fatalf("created record has no id: %v", out)
	}
	return id
}

// user signs an end user up and returns the user's id and access token.
func (l *live) user(t *testing.T) (string, string) {
	t.Helper()
	l.mu.Lock()
	l.emailSeq++
	email := fmt.Sprintf("u%d-%d@example.com", l.emailSeq, time.Now().UnixNano())
	l.mu.Unlock()
	out := l.must(t, "POST", "/v1/auth/signup", l.pk, "", map[string]any{"email": email, "password": "a-long-passphrase-42"})
	s, _ := out["session"].(map[string]any)
	tok, _ := s["access_token"].(string)
	uid := ""
	switch u := s["user"].(type) {
	case string:
		uid = u
	case map[string]any:
		uid, _ = u["id"].(string)
	}
	if tok == "" || uid == "" {
		t.Fatalf("signup answer without a token or user id: %v", out)
	}
	return uid, tok
}

// rec returns a change frame's record.
func (f frame) rec() map[string]any { m, _ := f["record"].(map[string]any); return m }

// cursor parses a frame's cursor.
func (f frame) cursor(t *testing.T) int64 {
	t.Helper()
	n, err := strconv.ParseInt(f.str("cursor"), 10, 64)
	if err != nil {
		t.Fatalf("frame %v: cursor: %v", f, err)
	}
	return n
}

// subscribe sends a subscribe frame and reads subscribed and ready; it
// returns ready's cursor.
func (c *client) subscribe(t *testing.T, sub map[string]any) int64 {
	t.Helper()
	sub["type"] = "subscribe"
	c.send(sub)
	if f := c.expect("subscribed"); f.str("id") != sub["id"] {
		t.Fatalf("subscribed %v, want id %v", f, sub["id"])
	}
	f := c.expect("ready")
	if f.str("id") != sub["id"] {
		t.Fatalf("ready %v, want id %v", f, sub["id"])
	}
	return f.cursor(t)
}

// change reads the next frame, wants a change of subscription id with op,
// and returns it.
func (c *client) change(t *testing.T, id, op string) frame {
	t.Helper()
	f := c.expect("change")
	if f.str("id") != id || f.str("op") != op {
		t.Fatalf("change %v, want subscription %s op %s", f, id, op)
	}
	return f
}

// alive proves the connection still serves: a ping gets its pong.
func (c *client) alive(t *testing.T, ref string) {
	t.Helper()
	c.send(map[string]any{"type": "ping", "ref": ref})
	if f := c.expect("pong"); f.str("ref") != ref {
		t.Fatalf("pong %v, want ref %s", f, ref)
	}
}

func TestWebSocketEndToEnd(t *testing.T) {
	t.Parallel()
	l := startLive(t, 3)

	t.Run("insert update delete", func(t *testing.T) {
		t.Parallel()
		l.collection(t, "posts")
		c := l.node.dial(t, "apikey="+l.sk)
		head := c.subscribe(t, map[string]any{"id": "s1", "collection": "posts"})

		id := l.insert(t, "posts", map[string]any{"title": "hello", "n": 1})
		f := c.change(t, "s1", "insert")
		if f.cursor(t) != head+1 || f.str("collection") != "posts" || f.rec()["id"] != id || f.rec()["title"] != "hello" || f["old"] != nil {
			t.Fatalf("insert change %v, want cursor %d and the record %s", f, head+1, id)
		}
		if _, err := time.Parse(time.RFC3339, f.str("at")); err != nil {
			t.Errorf("insert change at %q: %v", f.str("at"), err)
		}
		l.must(t, "PATCH", "/v1/collections/posts/records/"+id, l.sk, "", map[string]any{"title": "hello again"})
		f = c.change(t, "s1", "update")
		old, _ := f["old"].(map[string]any)
		if f.cursor(t) != head+2 || f.rec()["title"] != "hello again" || old["title"] != "hello" {
			t.Fatalf("update change %v, want cursor %d, the new title and the old one", f, head+2)
		}
		l.must(t, "DELETE", "/v1/collections/posts/records/"+id, l.sk, "", nil)
		f = c.change(t, "s1", "delete")
		if f.cursor(t) != head+3 || f.rec()["id"] != id || f.rec()["title"] != "hello again" {
			t.Fatalf("delete change %v, want cursor %d and the record as it was", f, head+3)
		}
	})

	t.Run("filter", func(t *testing.T) {
		t.Parallel()
		l.collection(t, "scores")
		c := l.node.dial(t, "apikey="+l.sk)
		c.subscribe(t, map[string]any{"id": "big", "collection": "scores", "filter": "n > 5"})
		l.insert(t, "scores", map[string]any{"title": "small", "n": 1})
		big := l.insert(t, "scores", map[string]any{"title": "big", "n": 10})
		// In commit order, the first change delivered is the second insert:
		// the first never matched.
		if f := c.change(t, "big", "insert"); f.rec()["id"] != big {
			t.Fatalf("first filtered change %v, want the record with n = 10", f)
		}
		// An update out of the filter is sent (the old record matched),
		// with the new record, so the client drops it.
		l.must(t, "PATCH", "/v1/collections/scores/records/"+big, l.sk, "", map[string]any{"n": 2})
		if f := c.change(t, "big", "update"); f.rec()["n"] != float64(2) {
			t.Fatalf("update out of the filter %v, want n = 2", f)
		}
		// Neither matches now: nothing; the next insert that matches is next.
		l.must(t, "PATCH", "/v1/collections/scores/records/"+big, l.sk, "", map[string]any{"n": 3})
		last := l.insert(t, "scores", map[string]any{"title": "last", "n": 7})
		if f := c.change(t, "big", "insert"); f.rec()["id"] != last {
			t.Fatalf("change %v, want the insert of n = 7", f)
		}
	})

	t.Run("snapshot then changes", func(t *testing.T) {
		t.Parallel()
		l.collection(t, "snaps")
		want := map[string]bool{}
		for i := range 3 {
			want[l.insert(t, "snaps", map[string]any{"title": "before", "n": i})] = true
		}
		// Writes racing the subscription's start: each record must arrive
		// once, in the snapshot or as a change.
		var wg sync.WaitGroup
		var mu sync.Mutex
		var writeErr error
		wg.Go(func() {
			for i := range 20 {
				status, out, err := l.call(t.Context(), "POST", "/v1/collections/snaps/records", l.sk, "", map[string]any{"title": "racing", "n": 100 + i})
				id, _ := out["id"].(string)
				if err == nil && (status != http.StatusOK && status != http.StatusCreated || id == "") {
					err = fmt.Errorf("racing insert: HTTP %d %v", status, out)
				}
				if err != nil {
					mu.Lock()
					writeErr = err
					mu.Unlock()
					return
				}
				mu.Lock()
				want[id] = true
				mu.Unlock()
			}
		})
		c := l.node.dial(t, "apikey="+l.sk)
		c.send(map[string]any{"type": "subscribe", "id": "s", "collection": "snaps", "snapshot": true})
		c.expect("subscribed")
		seen := map[string]int{}
		pages := 0
		var ready int64
		for ready == 0 {
			f := c.next()
			switch f.str("type") {
			case "snapshot":
				pages++
				recs, _ := f["records"].([]any)
				for _, r := range recs {
					id, _ := r.(map[string]any)["id"].(string)
					seen[id]++
				}
			case "ready":
				ready = f.cursor(t)
			default:
				t.Fatalf("frame %v before ready", f)
			}
		}
		if pages == 0 {
			t.Fatal("no snapshot frame before ready")
		}
		wg.Wait()
		if writeErr != nil {
			t.Fatal(writeErr)
		}
		sentinel := l.insert(t, "snaps", map[string]any{"title": "sentinel", "n": -1})
		next := ready + 1
		for {
			f := c.change(t, "s", "insert")
			if got := f.cursor(t); got != next {
				t.Fatalf("change cursor %d, want %d (gapless after ready %d)", got, next, ready)
			}
			next++
			id, _ := f.rec()["id"].(string)
			if id == sentinel {
				break
			}
			seen[id]++
		}
		mu.Lock()
		defer mu.Unlock()
		for id := range want {
			if seen[id] != 1 {
				t.Errorf("record %s arrived %d times, want once", id, seen[id])
			}
		}
		if len(seen) != len(want) {
			t.Errorf("%d records arrived, %d were written", len(seen), len(want))
		}
	})

	t.Run("unsubscribe", func(t *testing.T) {
		t.Parallel()
		l.collection(t, "unsub")
		c := l.node.dial(t, "apikey="+l.sk)
		c.subscribe(t, map[string]any{"id": "a", "collection": "unsub"})
		c.send(map[string]any{"type": "unsubscribe", "id": "a"})
		if f := c.expect("unsubscribed"); f.str("id") != "a" {
			t.Fatalf("unsubscribed %v", f)
		}
		c.subscribe(t, map[string]any{"id": "b", "collection": "unsub"})
		id := l.insert(t, "unsub", map[string]any{"title": "x"})
		// Only b's change arrives; a's id may be used again.
		if f := c.change(t, "b", "insert"); f.rec()["id"] != id {
			t.Fatalf("change %v", f)
		}
		c.subscribe(t, map[string]any{"id": "a", "collection": "unsub"})
		c.alive(t, "after-unsubscribe")
	})

	t.Run("resume after reconnect", func(t *testing.T) {
		t.Parallel()
		l.collection(t, "resume")
		c := l.node.dial(t, "apikey="+l.sk)
		c.subscribe(t, map[string]any{"id": "r", "collection": "resume"})
		for i := range 3 {
			l.insert(t, "resume", map[string]any{"n": i})
		}
		var processed int64
		for range 2 { // the client processes two of the three, then drops
			processed = c.change(t, "r", "insert").cursor(t)
		}
		c.ws.CloseNow()
		for i := range 3 {
			l.insert(t, "resume", map[string]any{"n": 10 + i})
		}
		c2 := l.node.dial(t, "apikey="+l.sk)
		if got := c2.subscribe(t, map[string]any{"id": "r", "collection": "resume", "cursor": strconv.FormatInt(processed, 10)}); got != processed {
			t.Fatalf("ready cursor %d, want the resumed cursor %d", got, processed)
		}
		l.insert(t, "resume", map[string]any{"n": 99})
		// The one not processed, the three written while away, the live one:
		// each once, in order.
		wantN := []float64{2, 10, 11, 12, 99}
		for i, n := range wantN {
			f := c2.change(t, "r", "insert")
			if f.cursor(t) != processed+int64(i)+1 || f.rec()["n"] != n {
				t.Fatalf("change %d after resuming: %v, want cursor %d with n = %v", i, f, processed+int64(i)+1, n)
			}
		}
		c2.alive(t, "resumed")
	})

	t.Run("subscriptions per connection from the plan", func(t *testing.T) {
		t.Parallel()
		l.collection(t, "many")
		c := l.node.dial(t, "apikey="+l.sk)
		// startLive set the plan's realtime_subscriptions to 3.
		c.send(map[string]any{"type": "ping", "ref": "x"})
		c.expect("pong")
		for i := range 3 {
			c.subscribe(t, map[string]any{"id": fmt.Sprintf("m%d", i), "collection": "many"})
		}
		c.send(map[string]any{"type": "subscribe", "id": "m3", "collection": "many"})
		f := c.expect("error")
		if f.str("code") != "resource_exhausted" || f.str("id") != "m3" || !strings.Contains(f.str("message"), "(limit 3)") {
			t.Fatalf("fourth subscription: %v, want resource_exhausted naming the limit 3", f)
		}
		c.alive(t, "after-limit")
		// A freed slot can be used again.
		c.send(map[string]any{"type": "unsubscribe", "id": "m0"})
		c.expect("unsubscribed")
		c.subscribe(t, map[string]any{"id": "m3", "collection": "many"})
	})

	t.Run("auth frame swaps the user", func(t *testing.T) {
		t.Parallel()
		l.collection(t, "mine")
		own := "record.owner == auth.uid"
		l.must(t, "PUT", "/v1/collections/mine/rules", l.sk, "", map[string]any{"list": own, "view": own, "create": "auth.uid != ''"})
		ann, annTok := l.user(t)
		bob, bobTok := l.user(t)

		c := l.node.dial(t, "apikey="+l.pk+"&access_token="+annTok)
		c.subscribe(t, map[string]any{"id": "m", "collection": "mine"})
		a1 := l.insert(t, "mine", map[string]any{"owner": ann, "title": "a1"})
		if f := c.change(t, "m", "insert"); f.rec()["id"] != a1 {
			t.Fatalf("ann's change %v, want a1", f)
		}
		l.insert(t, "mine", map[string]any{"owner": bob, "title": "b1"})
		a2 := l.insert(t, "mine", map[string]any{"owner": ann, "title": "a2"})
		if f := c.change(t, "m", "insert"); f.rec()["id"] != a2 {
			t.Fatalf("ann's next change %v, want a2 (bob's b1 is hidden from her)", f)
		}

		c.send(map[string]any{"type": "auth", "access_token": bobTok})
		if f := c.expect("auth_ok"); f.str("expires_at") == "" {
			t.Fatalf("auth_ok %v without expires_at", f)
		}
		l.insert(t, "mine", map[string]any{"owner": ann, "title": "a3"})
		b2 := l.insert(t, "mine", map[string]any{"owner": bob, "title": "b2"})
		if f := c.change(t, "m", "insert"); f.rec()["id"] != b2 {
			t.Fatalf("change after the auth frame %v, want bob's b2 (ann's a3 is hidden from bob)", f)
		}
		// An update that hides the record from its subscriber arrives as
		// a delete of the record as the subscriber last saw it.
		l.must(t, "PATCH", "/v1/collections/mine/records/"+b2, l.sk, "", map[string]any{"owner": ann})
		f := c.change(t, "m", "delete")
		if f.rec()["id"] != b2 || f.rec()["owner"] != bob || f["old"] != nil {
			t.Fatalf("hiding update %v, want a delete of b2 as bob saw it", f)
		}
		// The other way round: an update that shows bob a record he could
		// not see arrives as an update, without the old values he may not
		// see.
		a4 := l.insert(t, "mine", map[string]any{"owner": ann, "title": "a4"})
		l.must(t, "PATCH", "/v1/collections/mine/records/"+a4, l.sk, "", map[string]any{"owner": bob})
		f = c.change(t, "m", "update")
		if f.rec()["id"] != a4 || f.rec()["owner"] != bob || f["old"] != nil {
			t.Fatalf("revealing update %v, want an update of a4 without old", f)
		}
		// A bad token is refused; the subscription stays as bob's.
		c.send(map[string]any{"type": "auth", "access_token": "a.b.c"})
		if f := c.expect("error"); f.str("code") != "unauthenticated" {
			t.Fatalf("bad token: %v, want unauthenticated", f)
		}
		b3 := l.insert(t, "mine", map[string]any{"owner": bob, "title": "b3"})
		if f := c.change(t, "m", "insert"); f.rec()["id"] != b3 {
			t.Fatalf("change after a refused token %v, want b3", f)
		}
	})

	t.Run("refused subscriptions keep the connection", func(t *testing.T) {
		t.Parallel()
		l.collection(t, "norules")
		sk := l.node.dial(t, "apikey="+l.sk)
		pk := l.node.dial(t, "apikey="+l.pk)
		for _, tc := range []struct {
			name string
			c    *client
			sub  map[string]any
			code string
		}{
			{"bad filter", sk, map[string]any{"id": "f", "collection": "norules", "filter": "nope =="}, "invalid_argument"},
			{"unknown field in filter", sk, map[string]any{"id": "g", "collection": "norules", "filter": "missing > 1"}, "invalid_argument"},
			{"bad cursor", sk, map[string]any{"id": "h", "collection": "norules", "cursor": "minus-one"}, "invalid_argument"},
			{"unknown collection", sk, map[string]any{"id": "u", "collection": "nowhere"}, "not_found"},
			{"publishable key without rules", pk, map[string]any{"id": "p", "collection": "norules"}, "permission_denied"},
		} {
			tc.sub["type"] = "subscribe"
			tc.c.send(tc.sub)
			f := tc.c.expect("error")
			if f.str("code") != tc.code || f.str("id") != tc.sub["id"] || f.str("message") == "" {
				t.Errorf("%s: %v, want %s echoing id %v with a message", tc.name, f, tc.code, tc.sub["id"])
			}
			tc.c.alive(t, tc.name)
		}
		// The refused ids are free; the secret key's connection still
		// subscribes and receives.
		sk.subscribe(t, map[string]any{"id": "f", "collection": "norules"})
		id := l.insert(t, "norules", map[string]any{"title": "ok"})
		if f := sk.change(t, "f", "insert"); f.rec()["id"] != id {
			t.Fatalf("change %v", f)
		}
	})
}
