package realtime_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/realtime"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// The channel-rule routes as a customer reaches them: who may call them,
// what they refuse, and the rule's life (create, replace, list, delete).
func TestChannelRulesAPI(t *testing.T) {
	t.Parallel()
	l := startLive(t, 0)
	_, userTok := l.user(t)
	const path = "/v1/realtime/channel-rules/"
	body := map[string]any{"join": `auth.uid != ""`, "send": "channel.rest == auth.uid"}

	for _, tc := range []struct {
		name, key, token string
		status           int
		code             string
	}{
		{"no key", "", "", http.StatusUnauthorized, "unauthenticated"},
		{"publishable key", l.pk, "", http.StatusForbidden, "permission_denied"},
		{"secret key with a user's token (acts as the user)", l.sk, userTok, http.StatusForbidden, "permission_denied"},
	} {
		for _, m := range []struct {
			method, path string
			body         any
		}{{"PUT", path + "room:", body}, {"GET", "/v1/realtime/channel-rules", nil}, {"DELETE", path + "room:", nil}} {
			status, out := l.do(t, m.method, m.path, tc.key, tc.token, m.body)
			if status != tc.status || out["code"] != tc.code {
				t.Errorf("%s: %s %s = %d %v, want %d %s", tc.name, m.method, m.path, status, out, tc.status, tc.code)
			}
		}
	}

	for _, tc := range []struct {
		name, prefix string
		body         map[string]any
		want         string
	}{
		{"no colon", "room", body, "must be 2 to 100 characters"},
		{"bad character", "ro%20om:", body, "must be 2 to 100 characters"},
		{"too long", strings.Repeat("x", 100) + ":", body, "must be 2 to 100 characters"},
		{"reserved public", "public:", body, "fixed rules"},
		{"reserved under user", "user:abc:", body, "fixed rules"},
		{"join does not compile", "room:", map[string]any{"join": "auth.uid ==", "send": ""}, "join:"},
		{"send reads an unknown field", "room:", map[string]any{"join": "", "send": "channel.topic == 'x'"}, `send: filter: line 1, column 9: unknown field "topic"`},
		{"send names record", "room:", map[string]any{"send": "record.name == 'x'"}, `unknown name "record"`},
		{"prefix differs in the body", "room:", map[string]any{"prefix": "game:"}, "differs from the path"},
		{"unknown body field", "room:", map[string]any{"joins": "true"}, "joins"},
	} {
		status, out := l.do(t, "PUT", path+tc.prefix, l.sk, "", tc.body)
		msg, _ := out["message"].(string)
		if status != http.StatusBadRequest || out["code"] != "invalid_argument" || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: PUT %s = %d %v, want 400 invalid_argument with %q", tc.name, tc.prefix, status, out, tc.want)
		}
	}
	if out := l.must(t, "GET", "/v1/realtime/channel-rules", l.sk, "", nil); len(out["rules"].([]any)) != 0 {
		t.Fatalf("refused rules were stored: %v", out)
	}

	status, out := l.do(t, "PUT", path+"room:", l.sk, "", body)
	if status != http.StatusCreated || out["prefix"] != "room:" || out["join"] != body["join"] || out["send"] != body["send"] || out["created_at"] == nil {
		t.Fatalf("first PUT = %d %v, want 201 and the rule", status, out)
	}
	// The table the rules live in is the tenant's, row-level security
	// enabled and forced: inside the tenant only the service role sees a
	// rule.
	conn, err := pgx.Connect(t.Context(), l.p.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var enabled, forced bool
	var owner string
	if err := conn.QueryRow(t.Context(), `SELECT c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = '_channel_rules'`,
		tenantdb.Schema(l.ref)).Scan(&enabled, &forced, &owner); err != nil {
		t.Fatal(err)
	}
	if !enabled || !forced || owner != tenantdb.Schema(l.ref) {
		t.Fatalf("_channel_rules: row-level security enabled %v, forced %v, owner %s", enabled, forced, owner)
	}
	for role, want := range map[string]int{"anon": 0, "authenticated": 0, "service": 1} {
		var n int
		err := pgx.BeginFunc(t.Context(), conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(t.Context(), "SELECT set_config('role', $1, true), set_config('sovereign.role', $2, true)", tenantdb.Schema(l.ref), role); err != nil {
				return err
			}
			return tx.QueryRow(t.Context(), "SELECT count(*) FROM "+tenantdb.Table(l.ref, "_channel_rules")).Scan(&n)
		})
		if err != nil || n != want {
			t.Fatalf("as %s inside the tenant: %d rules (%v), want %d", role, n, err, want)
		}
	}

	status, out = l.do(t, "PUT", path+"room:", l.sk, "", map[string]any{"join": "true"})
	if status != http.StatusOK || out["join"] != "true" || out["send"] != nil {
		t.Fatalf("second PUT = %d %v, want 200 and the replaced rule (send empty)", status, out)
	}
	l.must(t, "PUT", path+"game:lobby:", l.sk, "", map[string]any{"join": "true"})
	rules := l.must(t, "GET", "/v1/realtime/channel-rules", l.sk, "", nil)["rules"].([]any)
	if len(rules) != 2 || rules[0].(map[string]any)["prefix"] != "game:lobby:" || rules[1].(map[string]any)["prefix"] != "room:" {
		t.Fatalf("rules %v, want game:lobby: and room: by prefix", rules)
	}
	if status, _ := l.do(t, "DELETE", path+"game:lobby:", l.sk, "", nil); status != http.StatusNoContent {
		t.Fatalf("DELETE = %d, want 204", status)
	}
	if status, out := l.do(t, "DELETE", path+"game:lobby:", l.sk, "", nil); status != http.StatusNotFound || out["code"] != "not_found" {
		t.Fatalf("second DELETE = %d %v, want 404 not_found", status, out)
	}

	// The limit, with concurrent sets racing for the last places.
	for i := range realtime.MaxChannelRules - 1 - 5 {
		l.must(t, "PUT", fmt.Sprintf("%sr%03d:", path, i), l.sk, "", map[string]any{"join": "true"})
	}
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Go(func() {
			s, _, err := l.call(t.Context(), "PUT", fmt.Sprintf("%sz%02d:", path, i), l.sk, "", map[string]any{"join": "true"})
			if err != nil {
				t.Error(err)
			}
			statuses[i] = s
		})
	}
	wg.Wait()
	created, refused := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusTooManyRequests:
			refused++
		}
	}
	if created != 5 || refused != 15 {
		t.Fatalf("20 racing sets at %d of %d rules: %d created, %d refused (%v); want 5 and 15", realtime.MaxChannelRules-5, realtime.MaxChannelRules, created, refused, statuses)
	}
	if status, _ := l.do(t, "PUT", path+"room:", l.sk, "", map[string]any{"join": "false"}); status != http.StatusOK {
		t.Fatalf("replacing a rule at the limit = %d, want 200", status)
	}
	if n := len(l.must(t, "GET", "/v1/realtime/channel-rules", l.sk, "", nil)["rules"].([]any)); n != realtime.MaxChannelRules {
		t.Fatalf("%d rules stored, want %d", n, realtime.MaxChannelRules)
	}
}

// Rules decide who joins and who sends; the longest prefix wins; a rule is
// read at the join.
func TestChannelRulesOnTheSocket(t *testing.T) {
	t.Parallel()
	l := startLive(t, 0)
	annID, annTok := l.user(t)
	_, bobTok := l.user(t)
	const path = "/v1/realtime/channel-rules/"
	l.must(t, "PUT", path+"room:", l.sk, "", map[string]any{"join": `auth.uid != ""`, "send": "channel.rest == auth.uid"})
	l.must(t, "PUT", path+"room:vip:", l.sk, "", map[string]any{"join": `auth.claims.email == "nobody@example.com"`})

	anon := l.node.dial(t, "apikey="+l.pk)
	ann := l.node.dial(t, "apikey="+l.pk+"&access_token="+annTok)
	bob := l.node.dial(t, "apikey="+l.pk+"&access_token="+bobTok)
	denied := func(c *client, what string, frame map[string]any) {
		t.Helper()
		c.send(frame)
		if f := c.expect("error"); f.str("code") != "permission_denied" {
			t.Fatalf("%s: %v, want permission_denied", what, f)
		}
	}
	room := "room:" + annID

	denied(anon, "anon joins a room (join rule wants a user)", map[string]any{"type": "join", "channel": room})
	join(t, ann, room, nil)
	join(t, bob, room, nil)
	denied(bob, "bob shares presence in ann's room (send rule)", map[string]any{"type": "presence", "channel": room, "state": map[string]any{"x": 1}})
	denied(bob, "bob sends in ann's room (send rule)", map[string]any{"type": "broadcast", "channel": room, "event": "e", "payload": "x"})
	ann.send(map[string]any{"type": "broadcast", "channel": room, "event": "hello", "payload": "from ann"})
	if f := bob.expect("broadcast"); f.str("event") != "hello" || f["payload"] != "from ann" {
		t.Fatalf("bob got %v, want ann's broadcast", f)
	}
	// A join with a presence state needs the send rule too.
	denied(bob, "bob joins with presence", map[string]any{"type": "join", "channel": "room:" + annID + ":side", "presence": map[string]any{"x": 1}})

	// room:vip: is longer than room:, so its join rule decides.
	denied(ann, "ann joins a vip room", map[string]any{"type": "join", "channel": "room:vip:1"})
	// No rule covers other:…: the secret key only.
	denied(ann, "ann joins an uncovered channel", map[string]any{"type": "join", "channel": "other:1"})
	svc := l.node.dial(t, "apikey="+l.sk)
	join(t, svc, "other:1", nil)
	join(t, svc, "room:vip:1", nil)

	// Deleting room: leaves members as they are (the rule was read at
	// their join) and refuses later joins.
	if status, _ := l.do(t, "DELETE", path+"room:", l.sk, "", nil); status != http.StatusNoContent {
		t.Fatalf("DELETE room: = %d", status)
	}
	denied(bob, "bob joins after the rule is gone", map[string]any{"type": "join", "channel": "room:" + annID + ":2"})
	ann.send(map[string]any{"type": "broadcast", "channel": room, "event": "still", "payload": 2})
	if f := bob.expect("broadcast"); f.str("event") != "still" {
		t.Fatalf("bob got %v, want the broadcast in the room he joined", f)
	}
}
