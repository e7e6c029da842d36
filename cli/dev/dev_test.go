package dev

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/sovereign-backend/sovereign/cli/factory"
)

// `sov dev` hands its arguments to the server untouched, but `sov dev mail`
// is a command of its own.
func TestRouting(t *testing.T) {
	f := &factory.Factory{IO: &factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
	var got []string
	cmd := NewCmdDev(f, func(_ context.Context, o *Options) error { got = o.Args; return nil })

	cmd.SetArgs([]string{"--dir", "/tmp/x", "--controlplane-addr", ":9000"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"--dir", "/tmp/x", "--controlplane-addr", ":9000"}) {
		t.Errorf("sovereign dev got %q", got)
	}

	sub, rest, err := cmd.Find([]string{"mail", "--to", "dev@example.com"})
	if err != nil || sub.Name() != "mail" || !slices.Equal(rest, []string{"--to", "dev@example.com"}) {
		t.Errorf("`dev mail` found %q with %q (%v)", sub.Name(), rest, err)
	}
}
