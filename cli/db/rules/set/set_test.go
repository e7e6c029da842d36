package set

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

func show(r sovereign.Rules) string {
	var parts []string
	for i, p := range []*string{r.List, r.View, r.Create, r.Update, r.Delete} {
		if p != nil {
			parts = append(parts, ops[i]+"="+*p)
		}
	}
	return strings.Join(parts, " ")
}

func TestFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(file, []byte(`{"view": "record.owner == auth.uid", "delete": null}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args    []string
		stdin   string
		want    string
		wantErr string
	}{
		{args: []string{"posts", "--view", "true", "--update", "record.owner == auth.uid"}, want: "view=true update=record.owner == auth.uid"},
		{args: []string{"posts", "--list", "auth.uid != ''", "--view", "true", "--create", "true", "--update", "false", "--delete", "false"},
			want: "list=auth.uid != '' view=true create=true update=false delete=false"},
		{args: []string{"posts", "--file", file}, want: "view=record.owner == auth.uid"},
		{args: []string{"posts", "-f", "-"}, stdin: `{"list": "true", "create": "auth.uid != ''"}`, want: "list=true create=auth.uid != ''"},
		{args: []string{"posts", "--file", "-"}, stdin: "{}", want: ""},
		{args: []string{"posts"}, wantErr: "give the rules"},
		{args: []string{"posts", "--view", ""}, wantErr: "--view is empty"},
		{args: []string{"posts", "--view", "true", "--file", file}, wantErr: "do not go together"},
		{args: []string{"posts", "--file", "-"}, stdin: `{"read": "true"}`, wantErr: `unknown field "read"`},
		{args: []string{"posts", "--file", "-"}, stdin: `{"view": true}`, wantErr: "not a rules object"},
		{args: []string{"posts", "--file", "-"}, stdin: `{} {}`, wantErr: "more than one"},
		{args: []string{"posts", "--file", filepath.Join(t.TempDir(), "missing.json")}, wantErr: "no such file"},
	} {
		f := &factory.Factory{IO: &factory.IOStreams{In: strings.NewReader(tc.stdin), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
		var got *Options
		cmd := NewCmdSet(f, func(_ context.Context, o *Options) error { got = o; return nil })
		cmd.SetArgs(tc.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		if tc.wantErr != "" {
			if err == nil || factory.ExitCode(err) != factory.ExitUsage || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want a usage error with %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if s := show(got.Rules); got.Collection != "posts" || s != tc.want {
			t.Errorf("%q: rules %q, want %q", tc.args, s, tc.want)
		}
	}
}
