package create

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/cli/factory"
)

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    Options
		wantErr int
	}{
		{args: []string{"--project", "abc"}, want: Options{Project: "abc", Kind: "secret", Name: "secret"}},
		{args: []string{"-p", "abc", "--kind", "publishable", "--name", "web", "--ttl", "720h", "--json"},
			want: Options{Project: "abc", Kind: "publishable", Name: "web", TTL: 720 * time.Hour, JSON: true}},
		{args: []string{}, wantErr: factory.ExitUsage},
		{args: []string{"-p", "abc", "--kind", "admin"}, wantErr: factory.ExitUsage},
		{args: []string{"-p", "abc", "--ttl", "-1h"}, wantErr: factory.ExitUsage},
	} {
		f := &factory.Factory{IO: &factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
		var got *Options
		cmd := NewCmdCreate(f, func(_ context.Context, o *Options) error { got = o; return nil })
		cmd.SetArgs(tc.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		if tc.wantErr != 0 {
			if err == nil || factory.ExitCode(err) != tc.wantErr {
				t.Errorf("%q: err %v, want exit %d", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if got.Project != tc.want.Project || got.Kind != tc.want.Kind || got.Name != tc.want.Name || got.TTL != tc.want.TTL || got.JSON != tc.want.JSON {
			t.Errorf("%q: options %+v, want %+v", tc.args, *got, tc.want)
		}
	}
}
