package blob

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocalSymlinkEscape checks that os.Root refuses symbolic links that
// lead out of the tenant's root, for keys that ValidKey accepts: a link
// planted in the tenant's directory (by an operator, a restore, a bug
// elsewhere) does not let a key reach another tenant or the host.
func TestLocalSymlinkEscape(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	l, err := NewLocal(parent)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(parent, "host-file"), []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Put(ctx, "tenantb", "secret", strings.NewReader("B's secret"), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Put(ctx, "tenanta", "mine", strings.NewReader("A's"), -1); err != nil {
		t.Fatal(err)
	}
	rootA := filepath.Join(parent, "tenanta")
	for link, target := range map[string]string{
		"up":   parent,
		"b":    "../tenantb",
		"file": filepath.Join(parent, "host-file"),
		"bsec": "../tenantb/secret",
	} {
		if err := os.Symlink(target, filepath.Join(rootA, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"up/host-file", "b/secret", "file", "bsec", "up/tenantb/secret"} {
		if !ValidKey(key) {
			t.Fatalf("%q should be a valid key for this test", key)
		}
		if rc, err := l.Get(ctx, "tenanta", key, 0, -1); err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			t.Errorf("Get %q through a link out of the root read %q", key, b)
		}
		if info, err := l.Stat(ctx, "tenanta", key); err == nil {
			t.Errorf("Stat %q through a link out of the root = %+v", key, info)
		}
		if _, err := l.Copy(ctx, "tenanta", key, "stolen"); err == nil {
			t.Errorf("Copy from %q through a link out of the root succeeded", key)
		}
		_ = l.Delete(ctx, "tenanta", key)
	}
	for _, key := range []string{"up/new", "b/new", "up/host-file", "b/secret"} {
		if _, err := l.Put(ctx, "tenanta", key, strings.NewReader("overwritten"), -1); err == nil {
			t.Errorf("Put %q through a link out of the root succeeded", key)
		}
		if _, err := l.Copy(ctx, "tenanta", "mine", key); err == nil {
			t.Errorf("Copy to %q through a link out of the root succeeded", key)
		}
	}
	// List does not follow links.
	var keys []string
	if err := l.List(ctx, "tenanta", "", func(i Info) bool { keys = append(keys, i.Key); return true }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "mine" {
		t.Errorf("List = %v, want [mine]", keys)
	}
	for path, want := range map[string]string{
		filepath.Join(parent, "host-file"):         "host secret",
		filepath.Join(parent, "tenantb", "secret"): "B's secret",
	} {
		if b, err := os.ReadFile(path); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", path, b, err, want)
		}
	}
	for _, p := range []string{filepath.Join(parent, "new"), filepath.Join(parent, "tenantb", "new"), filepath.Join(parent, "stolen")} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists: %v", p, err)
		}
	}
}

// TestLocalLeftovers checks that Leftovers sees a temporary file, so that
// the suite's check after failed Puts can fail.
func TestLocalLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if left, err := l.Leftovers(ctx, "tenanta"); err != nil || len(left) != 0 {
		t.Errorf("Leftovers of a new tenant = %v, %v", left, err)
	}
	if _, err := l.Put(ctx, "tenanta", "k", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if left, err := l.Leftovers(ctx, "tenanta"); err != nil || len(left) != 0 {
		t.Errorf("Leftovers after a Put = %v, %v", left, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tenanta", tmpDir, "put-crashed"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if left, err := l.Leftovers(ctx, "tenanta"); err != nil || strings.Join(left, ",") != "put-crashed" {
		t.Errorf("Leftovers = %v, %v; want [put-crashed]", left, err)
	}
	// The temporary directory is never listed.
	var keys []string
	if err := l.List(ctx, "tenanta", "", func(i Info) bool { keys = append(keys, i.Key); return true }); err != nil || strings.Join(keys, ",") != "k" {
		t.Errorf("List = %v, %v; want [k]", keys, err)
	}
}
