package set

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/sovereign-backend/sovereign/cli/factory"
)

func TestFlags(t *testing.T) {
	base := []string{"google", "--issuer", "https://accounts.google.com", "--client-id", "cid"}
	for _, tc := range []struct {
		args    []string
		want    Options
		wantErr int
	}{
		{args: base, want: Options{Name: "google", Issuer: "https://accounts.google.com", ClientID: "cid"}},
		{args: append(slices.Clone(base), "--client-secret-stdin", "--scope", "profile,calendar", "--scope", "drive",
			"--redirect-url", "https://a.example.com/in,https://b.example.com/in"),
			want: Options{Name: "google", Issuer: "https://accounts.google.com", ClientID: "cid", ClientSecretStdin: true,
				Scopes: []string{"profile", "calendar", "drive"}, RedirectURLs: []string{"https://a.example.com/in", "https://b.example.com/in"}}},
		{args: []string{"google", "--client-id", "cid"}, wantErr: factory.ExitUsage},
		{args: []string{"google", "--issuer", "https://accounts.google.com"}, wantErr: factory.ExitUsage},
		{args: []string{"google", "--issuer", "accounts.google.com", "--client-id", "cid"}, wantErr: factory.ExitUsage},
		{args: append(slices.Clone(base), "--redirect-url", "/relative"), wantErr: factory.ExitUsage},
		{args: append(slices.Clone(base), "--client-secret", "s3cret"), wantErr: factory.ExitError},
	} {
		f := &factory.Factory{IO: &factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
		var got *Options
		cmd := NewCmdSet(f, func(_ context.Context, o *Options) error { got = o; return nil })
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
		if got.Name != tc.want.Name || got.Issuer != tc.want.Issuer || got.ClientID != tc.want.ClientID ||
			got.ClientSecretStdin != tc.want.ClientSecretStdin || !slices.Equal(got.Scopes, tc.want.Scopes) ||
			!slices.Equal(got.RedirectURLs, tc.want.RedirectURLs) {
			t.Errorf("%q: options %+v, want %+v", tc.args, *got, tc.want)
		}
	}
}
