package create

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
		wantErr bool
	}{
		{args: []string{"--email", "ada@example.com", "--password-stdin"}, want: Options{Email: "ada@example.com", PasswordStdin: true}},
		{args: []string{"--email", "a@b.c", "--verified", "--role", "editor", "--json"},
			want: Options{Email: "a@b.c", Verified: true, Role: "editor", JSON: true}},
		{args: []string{"ada@example.com"}, wantErr: true},
		{args: []string{"--password", "hunter2"}, wantErr: true},
	} {
		f := &factory.Factory{IO: &factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
		var got *Options
		cmd := NewCmdCreate(f, func(_ context.Context, o *Options) error { got = o; return nil })
		cmd.SetArgs(tc.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		if tc.wantErr {
			if err == nil {
				t.Errorf("%q: no error", tc.args)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if got.Email != tc.want.Email || got.PasswordStdin != tc.want.PasswordStdin || got.Verified != tc.want.Verified ||
			got.Role != tc.want.Role || got.JSON != tc.want.JSON {
			t.Errorf("%q: options %+v, want %+v", tc.args, *got, tc.want)
		}
	}
}
