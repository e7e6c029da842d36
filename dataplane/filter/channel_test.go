package filter_test

import (
	"strings"
	"testing"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
)

func TestChannelRules(t *testing.T) {
	t.Parallel()
	env, err := filter.NewChannelRuleEnv()
	if err != nil {
		t.Fatal(err)
	}
	ch := map[string]any{"name": "room:u1", "rest": "u1"}
	for _, tc := range []struct {
		rule string
		auth filter.Auth
		want bool
	}{
		{`channel.rest == auth.uid`, filter.Auth{UID: "u1"}, true},
		{`channel.rest == auth.uid`, filter.Auth{UID: "u2"}, false},
		{`auth.uid != ""`, filter.Auth{}, false},
		{`auth.role == "admin" || channel.name.startsWith("room:u")`, filter.Auth{UID: "u9", Role: "authenticated"}, true},
		{`auth.claims.team == channel.rest`, filter.Auth{UID: "u9", Claims: map[string]any{"team": "u1"}}, true},
		// A string literal holding the word channel is left alone.
		{`channel.name != "channel"`, filter.Auth{}, true},
	} {
		r, err := env.Rule(tc.rule, filter.MethodView)
		if err != nil {
			t.Fatalf("%s: %v", tc.rule, err)
		}
		got, err := r.Eval(ch, tc.auth)
		if err != nil || got != tc.want {
			t.Errorf("%s with %+v = %v, %v; want %v", tc.rule, tc.auth, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ rule, want string }{
		{`record.name == "a"`, `column 1: unknown name "record"; channel rules read channel.name and channel.rest`},
		{`channel.nme == "a"`, `unknown field "nme"`},
		{`channel == "a"`, `channel is not a value`},
		// Positions stay right although channel is longer than record.
		{`channel.name == "a" && channel.nope == 1`, `column 32: unknown field "nope"`},
	} {
		_, err := env.Rule(tc.rule, filter.MethodView)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.rule, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "record.") {
			t.Errorf("%s: message %q speaks of record", tc.rule, err)
		}
	}
}
