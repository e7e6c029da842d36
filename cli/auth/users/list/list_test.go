package list

import (
	"bytes"
	"context"
	"testing"

	"github.com/sovereign-backend/sovereign/cli/factory"
)

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    Options
		wantErr int
	}{
		{args: []string{}, want: Options{}},
		{args: []string{"--email-prefix", "ada", "--limit", "5", "--json"}, want: Options{EmailPrefix: "ada", Limit: 5, JSON: true}},
		{args: []string{"--limit", "-1"}, wantErr: factory.ExitUsage},
		{args: []string{"extra"}, wantErr: factory.ExitError},
	} {
		f := &factory.Factory{IO: &factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
		var got *Options
		cmd := NewCmdList(f, func(_ context.Context, o *Options) error { got = o; return nil })
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
		if got.EmailPrefix != tc.want.EmailPrefix || got.Limit != tc.want.Limit || got.JSON != tc.want.JSON {
			t.Errorf("%q: options %+v, want %+v", tc.args, *got, tc.want)
		}
	}
}
