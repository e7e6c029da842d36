package filter_test

import (
	"strings"
	"testing"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
)

func TestObjectRules(t *testing.T) {
	t.Parallel()
	env, err := filter.NewObjectRuleEnv()
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string]any{"name": "u1/a.txt", "folder": "u1", "size": int64(10), "content_type": "text/plain"}
	for _, tc := range []struct {
		rule string
		uid  string
		want bool
	}{
		{`object.folder == auth.uid`, "u1", true},
		{`object.folder == auth.uid`, "u2", false},
		{`object.name.startsWith("u1/")`, "", true},
		{`object.size < 100 && object.content_type == "text/plain"`, "", true},
		{`object.size > 100`, "", false},
		// A string literal holding the word object is left alone.
		{`object.name != "object"`, "", true},
	} {
		r, err := env.Rule(tc.rule, filter.MethodCreate)
		if err != nil {
			t.Fatalf("%s: %v", tc.rule, err)
		}
		got, err := r.Eval(obj, filter.Auth{UID: tc.uid, Role: "authenticated"})
		if err != nil || got != tc.want {
			t.Errorf("%s with uid %q = %v, %v; want %v", tc.rule, tc.uid, got, err, tc.want)
		}
		// The SQL form reads the same columns as the objects table.
		if c := r.SQL(0, filter.Auth{UID: tc.uid}); c.SQL == "" {
			t.Errorf("%s: empty SQL", tc.rule)
		}
	}
	for _, tc := range []struct{ rule, want string }{
		{`record.name == "a"`, `column 1: unknown name "record"`},
		{`object.nme == "a"`, `unknown field "nme"`},
		{`object == "a"`, `object is not a value`},
	} {
		_, err := env.Rule(tc.rule, filter.MethodView)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.rule, err, tc.want)
		}
		if strings.Contains(err.Error(), "record.") {
			t.Errorf("%s: message %q speaks of record", tc.rule, err)
		}
	}
}
