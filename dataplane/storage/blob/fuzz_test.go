package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Contents of the files the fuzz target must never read or change.
const (
	parentSentinel = "SENTINEL-OF-THE-PARENT-DIRECTORY"
	otherSentinel  = "SENTINEL-OF-TENANT-B"
)

// FuzzLocalTraversal checks that no key reaches outside the tenant's root:
// through the public API (which checks keys first) and through the
// unchecked internal operations, where os.Root alone stands in the way.
//
// Each run builds a parent directory holding the roots of tenants A and B,
// a sentinel file in the parent and one in B (a blob of B's), and in A's
// root symbolic links to the parent, to B's root and to the sentinels. It
// then does everything it can as tenant A with the fuzzed name and checks
// that nothing outside A's root was created, removed or changed, and that
// no read returned a sentinel's bytes.
//
// The seed corpus is in testdata/fuzz/FuzzLocalTraversal; plain `go test`
// runs it. To search further:
//
//	go test -fuzz=FuzzLocalTraversal -fuzztime=60s ./dataplane/storage/blob/
func FuzzLocalTraversal(f *testing.F) {
	for _, k := range []string{"ok", "../sentinel", "link/sentinel", "a/../../sentinel"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, name string) {
		parent := t.TempDir()
		const refA, refB = "tenanta", "tenantb"
		l, err := NewLocal(parent)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		l.noSync = true
		ctx := context.Background()
		if err := os.WriteFile(filepath.Join(parent, "sentinel"), []byte(parentSentinel), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Put(ctx, refB, "sentinel", strings.NewReader(otherSentinel), -1); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Put(ctx, refA, "seed", strings.NewReader("seed"), -1); err != nil {
			t.Fatal(err)
		}
		rootA := filepath.Join(parent, refA)
		for link, target := range map[string]string{
			"link":          parent,                            // absolute, to the parent
			"up":            "..",                              // relative, to the parent
			"other":         "../" + refB,                      // to B's root
			"sentinel-link": filepath.Join(parent, "sentinel"), // to a file outside
			"b-link":        "../" + refB + "/sentinel",
		} {
			if err := os.Symlink(target, filepath.Join(rootA, link)); err != nil {
				t.Fatal(err)
			}
		}
		before := snapshot(t, parent, rootA)

		// readAll fails the test when a read returned a sentinel's bytes.
		readAll := func(op string, rc io.ReadCloser, err error) {
			if err != nil {
				return
			}
			defer rc.Close()
			b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
			if bytes.Contains(b, []byte(parentSentinel)) || bytes.Contains(b, []byte(otherSentinel)) {
				t.Fatalf("%s %q read a file outside tenant A's root", op, name)
			}
		}

		// The public API, which refuses invalid keys.
		_, _ = l.Put(ctx, refA, name, strings.NewReader("fuzz"), 4)
		rc, err := l.Get(ctx, refA, name, 0, -1)
		readAll("Get", rc, err)
		_, _ = l.Stat(ctx, refA, name)
		_, _ = l.Copy(ctx, refA, "seed", name)
		if _, err := l.Copy(ctx, refA, name, "copied"); err == nil {
			rc, err := l.Get(ctx, refA, "copied", 0, -1)
			readAll("Copy from", rc, err)
		}
		_ = l.List(ctx, refA, name, func(Info) bool { return true })
		_ = l.Delete(ctx, refA, name)

		// The internal operations, without the key check: only os.Root
		// keeps the name inside A's root now.
		rc, err = l.get(ctx, refA, name, 0, -1)
		readAll("get", rc, err)
		_, _ = l.stat(ctx, refA, name)
		if _, err := l.copy(ctx, refA, name, "copied2"); err == nil {
			rc, err := l.get(ctx, refA, "copied2", 0, -1)
			readAll("copy from", rc, err)
		}
		_, _ = l.copy(ctx, refA, "seed", name)
		_, _ = l.put(ctx, refA, name, strings.NewReader("fuzz"), -1)
		_, _ = l.put(ctx, refA, name+"/deeper", strings.NewReader("fuzz"), -1)
		_ = l.delete(ctx, refA, name)

		after := snapshot(t, parent, rootA)
		if !maps.Equal(before, after) {
			t.Fatalf("name %q changed files outside tenant A's root:\nbefore %v\nafter  %v", name, sorted(before), sorted(after))
		}
		if b, err := os.ReadFile(filepath.Join(parent, "sentinel")); err != nil || string(b) != parentSentinel {
			t.Fatalf("name %q: the parent's sentinel is now %q, %v", name, b, err)
		}
		if b, err := os.ReadFile(filepath.Join(parent, refB, "sentinel")); err != nil || string(b) != otherSentinel {
			t.Fatalf("name %q: B's sentinel is now %q, %v", name, b, err)
		}
	})
}

// snapshot describes every file and directory under dir except those under
// skip: path → type, mode and, for files, a hash of the content.
func snapshot(t *testing.T, dir, skip string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			out[p] = "dir (tenant A's root)" // must stay, its content is free
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:8])
		}
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return out
}

func sorted(m map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+": "+m[k])
	}
	return out
}
