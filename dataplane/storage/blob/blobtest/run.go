package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
)

// leftoverer is implemented by backends that can tell what failed Puts left
// behind (temporary files, incomplete multipart uploads); both of ours do.
type leftoverer interface {
	Leftovers(ctx context.Context, ref string) ([]string, error)
}

// Run is the conformance suite: every blob.Backend must pass it. Each
// subtest works in a tenant of its own; the tenants are deleted at the end.
// LargeStreaming runs first and alone, so that the heap growth it logs is
// its own; the others then run in parallel.
func Run(t *testing.T, b blob.Backend) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, b blob.Backend, ref string)
	}{
		{"LargeStreaming", testLargeStreaming},
		{"PutGet", testPutGet},
		{"Ranges", testRanges},
		{"NotFound", testNotFound},
		{"List", testList},
		{"Overwrite", testOverwrite},
		{"Copy", testCopy},
		{"Delete", testDelete},
		{"TenantsIsolated", testTenantsIsolated},
		{"FailedPut", testFailedPut},
		{"CancelledPut", testCancelledPut},
		{"SizeMismatch", testSizeMismatch},
		{"InvalidKeys", testInvalidKeys},
		{"DeleteTenant", testDeleteTenant},
		{"ConcurrentPuts", testConcurrentPuts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "LargeStreaming" {
				t.Parallel()
			}
			ref := NewRef()
			t.Cleanup(func() {
				if err := b.DeleteTenant(context.Background(), ref); err != nil {
					t.Errorf("DeleteTenant at cleanup: %v", err)
				}
			})
			tc.fn(t, b, ref)
		})
	}
}

// put stores data under key and checks the Info it returns.
func put(t *testing.T, b blob.Backend, ref, key string, data []byte) {
	t.Helper()
	info, err := b.Put(t.Context(), ref, key, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
	if info.Key != key || info.Size != int64(len(data)) {
		t.Fatalf("Put %s = %+v, want key %s size %d", key, info, key, len(data))
	}
}

// read returns the bytes Get gives.
func read(t *testing.T, b blob.Backend, ref, key string, offset, length int64) ([]byte, error) {
	t.Helper()
	rc, err := b.Get(t.Context(), ref, key, offset, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get %s [%d, +%d): read: %v", key, offset, length, err)
	}
	return got, nil
}

// mustRead is read that fails the test on an error.
func mustRead(t *testing.T, b blob.Backend, ref, key string) []byte {
	t.Helper()
	got, err := read(t, b, ref, key, 0, -1)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	return got
}

// wantAbsent checks that key has no blob.
func wantAbsent(t *testing.T, b blob.Backend, ref, key string) {
	t.Helper()
	if info, err := b.Stat(t.Context(), ref, key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat %s = %+v, %v; want ErrNotFound", key, info, err)
	}
	if _, err := read(t, b, ref, key, 0, -1); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get %s: err = %v, want ErrNotFound", key, err)
	}
}

// keys lists the tenant's keys under prefix.
func keys(t *testing.T, b blob.Backend, ref, prefix string) []string {
	t.Helper()
	var out []string
	err := b.List(t.Context(), ref, prefix, func(i blob.Info) bool {
		out = append(out, i.Key)
		return true
	})
	if err != nil {
		t.Fatalf("List %q: %v", prefix, err)
	}
	return out
}

// noLeftovers checks that failed Puts left nothing behind.
func noLeftovers(t *testing.T, b blob.Backend, ref string) {
	t.Helper()
	l, ok := b.(leftoverer)
	if !ok {
		return
	}
	left, err := l.Leftovers(t.Context(), ref)
	if err != nil {
		t.Fatalf("Leftovers: %v", err)
	}
	if len(left) > 0 {
		t.Errorf("failed Puts left %v behind", left)
	}
}

// pattern returns n bytes that differ from those of any other seed.
func pattern(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func testPutGet(t *testing.T, b blob.Backend, ref string) {
	data := []byte("hello, blob")
	put(t, b, ref, "bucket1/object1", data)
	if got := mustRead(t, b, ref, "bucket1/object1"); !bytes.Equal(got, data) {
		t.Errorf("Get = %q, want %q", got, data)
	}
	info, err := b.Stat(t.Context(), ref, "bucket1/object1")
	if err != nil || info != (blob.Info{Key: "bucket1/object1", Size: int64(len(data))}) {
		t.Errorf("Stat = %+v, %v; want size %d", info, err, len(data))
	}
	// Unknown size.
	info, err = b.Put(t.Context(), ref, "bucket1/unsized", bytes.NewReader(data), -1)
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("Put of unknown size = %+v, %v; want size %d", info, err, len(data))
	}
	if got := mustRead(t, b, ref, "bucket1/unsized"); !bytes.Equal(got, data) {
		t.Errorf("Get = %q, want %q", got, data)
	}
	// Empty blobs exist.
	put(t, b, ref, "empty", nil)
	if got := mustRead(t, b, ref, "empty"); len(got) != 0 {
		t.Errorf("Get empty = %q", got)
	}
	if info, err := b.Stat(t.Context(), ref, "empty"); err != nil || info.Size != 0 {
		t.Errorf("Stat empty = %+v, %v", info, err)
	}
	// A key of the greatest length, in segments a file system takes.
	long := strings.Repeat(strings.Repeat("k", 127)+"/", 4)[:blob.MaxKeyLen-1] + "z"
	put(t, b, ref, long, data)
	if got := mustRead(t, b, ref, long); !bytes.Equal(got, data) {
		t.Errorf("Get of a %d-byte key = %q", len(long), got)
	}
	if b.Name() == "" {
		t.Error("Name() is empty")
	}
}

func testRanges(t *testing.T, b blob.Backend, ref string) {
	data := pattern(1, 1000)
	put(t, b, ref, "r", data)
	put(t, b, ref, "empty", nil)
	for _, c := range []struct {
		key            string
		offset, length int64
		want           []byte // nil with wantErr
		wantErr        error
	}{
		{"r", 0, -1, data, nil},
		{"r", 0, 10, data[:10], nil},        // start
		{"r", 500, 100, data[500:600], nil}, // middle
		{"r", 990, -1, data[990:], nil},     // to the end
		{"r", 990, 10, data[990:], nil},     // exactly the end
		{"r", 990, 100, data[990:], nil},    // length past the end is clipped
		{"r", 999, 1, data[999:], nil},      // last byte
		{"r", 0, 1000000, data, nil},        // clipped from the start
		{"r", 1000, -1, []byte{}, nil},      // at the end: nothing
		{"r", 1000, 5, []byte{}, nil},       // at the end: nothing
		{"r", 10, 0, []byte{}, nil},         // zero length
		{"r", 1001, -1, nil, blob.ErrInvalidRange},
		{"r", 1001, 5, nil, blob.ErrInvalidRange},
		{"r", 5000, 0, nil, blob.ErrInvalidRange},
		{"r", -1, 5, nil, blob.ErrInvalidRange},
		{"empty", 0, -1, []byte{}, nil},
		{"empty", 0, 10, []byte{}, nil},
		{"empty", 1, -1, nil, blob.ErrInvalidRange},
		{"missing", 0, 10, nil, blob.ErrNotFound},
		{"missing", 5, -1, nil, blob.ErrNotFound},
	} {
		got, err := read(t, b, ref, c.key, c.offset, c.length)
		if c.wantErr != nil {
			if !errors.Is(err, c.wantErr) {
				t.Errorf("Get %s offset %d length %d: err = %v, want %v", c.key, c.offset, c.length, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Get %s offset %d length %d: %v", c.key, c.offset, c.length, err)
			continue
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("Get %s offset %d length %d: %d bytes, want %d (%q...)", c.key, c.offset, c.length, len(got), len(c.want), got[:min(len(got), 8)])
		}
	}
}

func testNotFound(t *testing.T, b blob.Backend, ref string) {
	ctx := t.Context()
	// In a tenant that has never stored anything.
	wantAbsent(t, b, ref, "nothing/here")
	if got := keys(t, b, ref, ""); len(got) != 0 {
		t.Errorf("List of a new tenant = %v", got)
	}
	if _, err := b.Copy(ctx, ref, "nothing", "else"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Copy of a missing blob: err = %v, want ErrNotFound", err)
	}
	wantAbsent(t, b, ref, "else")

	put(t, b, ref, "dir/file", []byte("x"))
	// A "directory" of blobs is not a blob; neither is a path through one.
	wantAbsent(t, b, ref, "dir")
	wantAbsent(t, b, ref, "dir/file/deeper")
	wantAbsent(t, b, ref, "dir/fil")
	if _, err := b.Copy(ctx, ref, "dir", "copy"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Copy of a directory: err = %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, ref, "dir"); err != nil {
		t.Errorf("Delete of a directory: %v", err)
	}
	if got := mustRead(t, b, ref, "dir/file"); string(got) != "x" {
		t.Errorf("dir/file = %q after Delete of dir", got)
	}
}

func testList(t *testing.T, b blob.Backend, ref string) {
	all := []string{"a-b", "a.c", "a/x", "a/y/z", "a/y0", "ab", "b", "c/d/e/f", "c_d"}
	shuffled := slices.Clone(all)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i, k := range shuffled {
		put(t, b, ref, k, bytes.Repeat([]byte{'x'}, len(k)+i))
	}
	want := func(prefix string) []string {
		var out []string
		for _, k := range all {
			if strings.HasPrefix(k, prefix) {
				out = append(out, k)
			}
		}
		return out
	}
	for _, prefix := range []string{"", "a", "a/", "a/y", "a/y/", "ab", "c/d", "c/d/e/f", "c/d/e/f/", "zz", "b"} {
		if got := keys(t, b, ref, prefix); !slices.Equal(got, want(prefix)) {
			t.Errorf("List %q = %v, want %v", prefix, got, want(prefix))
		}
	}
	// Sizes come with the keys.
	err := b.List(t.Context(), ref, "", func(i blob.Info) bool {
		n := len(i.Key) + slices.Index(shuffled, i.Key)
		if i.Size != int64(n) {
			t.Errorf("List: %s has size %d, want %d", i.Key, i.Size, n)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	// fn returning false stops the listing.
	var got []string
	err = b.List(t.Context(), ref, "", func(i blob.Info) bool {
		got = append(got, i.Key)
		return len(got) < 3
	})
	if err != nil || !slices.Equal(got, all[:3]) {
		t.Errorf("List stopped after 3 = %v, %v; want %v", got, err, all[:3])
	}
}

func testOverwrite(t *testing.T, b blob.Backend, ref string) {
	put(t, b, ref, "k", pattern(1, 5000))
	v2 := pattern(2, 300)
	put(t, b, ref, "k", v2)
	if got := mustRead(t, b, ref, "k"); !bytes.Equal(got, v2) {
		t.Errorf("after overwrite Get = %d bytes, want the second version's %d", len(got), len(v2))
	}
	if info, err := b.Stat(t.Context(), ref, "k"); err != nil || info.Size != 300 {
		t.Errorf("Stat = %+v, %v; want size 300", info, err)
	}
	if got := keys(t, b, ref, ""); !slices.Equal(got, []string{"k"}) {
		t.Errorf("List = %v, want [k]", got)
	}
}

func testCopy(t *testing.T, b blob.Backend, ref string) {
	ctx := t.Context()
	src := pattern(3, 70000)
	put(t, b, ref, "src/1", src)
	info, err := b.Copy(ctx, ref, "src/1", "dst/deep/1")
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if info != (blob.Info{Key: "dst/deep/1", Size: int64(len(src))}) {
		t.Errorf("Copy = %+v, want key dst/deep/1 size %d", info, len(src))
	}
	if got := mustRead(t, b, ref, "dst/deep/1"); !bytes.Equal(got, src) {
		t.Error("the copy differs from the source")
	}
	if got := mustRead(t, b, ref, "src/1"); !bytes.Equal(got, src) {
		t.Error("the source changed")
	}
	// Copy replaces what is at dst; the source stays when it is changed.
	put(t, b, ref, "other", []byte("other"))
	if _, err := b.Copy(ctx, ref, "other", "dst/deep/1"); err != nil {
		t.Fatalf("Copy over an existing blob: %v", err)
	}
	if got := mustRead(t, b, ref, "dst/deep/1"); string(got) != "other" {
		t.Errorf("after Copy over it, dst = %q, want %q", got, "other")
	}
	put(t, b, ref, "other", []byte("changed"))
	if got := mustRead(t, b, ref, "dst/deep/1"); string(got) != "other" {
		t.Errorf("after the source changed, the copy = %q, want %q", got, "other")
	}
	// A copy onto itself changes nothing.
	if info, err := b.Copy(ctx, ref, "src/1", "src/1"); err != nil || info.Size != int64(len(src)) {
		t.Errorf("Copy onto itself = %+v, %v", info, err)
	}
	if got := mustRead(t, b, ref, "src/1"); !bytes.Equal(got, src) {
		t.Error("a copy onto itself changed the blob")
	}
	// An empty blob copies.
	put(t, b, ref, "empty", nil)
	if info, err := b.Copy(ctx, ref, "empty", "empty2"); err != nil || info.Size != 0 {
		t.Errorf("Copy of an empty blob = %+v, %v", info, err)
	}
}

func testDelete(t *testing.T, b blob.Backend, ref string) {
	ctx := t.Context()
	if err := b.Delete(ctx, ref, "never"); err != nil {
		t.Errorf("Delete in a tenant with no blobs: %v", err)
	}
	put(t, b, ref, "x/1", []byte("1"))
	put(t, b, ref, "x/2", []byte("2"))
	put(t, b, ref, "x/y/3", []byte("3"))
	for _, k := range []string{"x/1", "x/y/3"} {
		if err := b.Delete(ctx, ref, k); err != nil {
			t.Fatalf("Delete %s: %v", k, err)
		}
		wantAbsent(t, b, ref, k)
		if err := b.Delete(ctx, ref, k); err != nil {
			t.Errorf("second Delete %s: %v", k, err)
		}
	}
	if err := b.Delete(ctx, ref, "x/missing"); err != nil {
		t.Errorf("Delete of a missing blob: %v", err)
	}
	if got := keys(t, b, ref, ""); !slices.Equal(got, []string{"x/2"}) {
		t.Errorf("List after deletes = %v, want [x/2]", got)
	}
	// A key whose "directory" emptied can be stored again, also as a blob.
	put(t, b, ref, "x/y", []byte("now a blob"))
	if got := mustRead(t, b, ref, "x/y"); string(got) != "now a blob" {
		t.Errorf("x/y = %q", got)
	}
}

func testTenantsIsolated(t *testing.T, b blob.Backend, refA string) {
	ctx := t.Context()
	refB := NewRef()
	t.Cleanup(func() { _ = b.DeleteTenant(context.Background(), refB) })
	put(t, b, refA, "same/key", []byte("A's"))
	put(t, b, refB, "same/key", []byte("B's"))
	put(t, b, refA, "only-a", []byte("a"))
	if got := mustRead(t, b, refA, "same/key"); string(got) != "A's" {
		t.Errorf("A reads %q", got)
	}
	if got := mustRead(t, b, refB, "same/key"); string(got) != "B's" {
		t.Errorf("B reads %q", got)
	}
	wantAbsent(t, b, refB, "only-a")
	if _, err := b.Copy(ctx, refB, "only-a", "stolen"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("B copies A's blob: err = %v, want ErrNotFound", err)
	}
	if got := keys(t, b, refB, ""); !slices.Equal(got, []string{"same/key"}) {
		t.Errorf("B lists %v, want [same/key]", got)
	}
	if err := b.Delete(ctx, refB, "same/key"); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, b, refA, "same/key"); string(got) != "A's" {
		t.Errorf("after B's Delete, A reads %q", got)
	}
	put(t, b, refB, "same/key", []byte("B's"))
	if err := b.DeleteTenant(ctx, refA); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, b, refB, "same/key"); string(got) != "B's" {
		t.Errorf("after A's DeleteTenant, B reads %q", got)
	}
	// A ref that is a prefix of another's is still apart.
	refC := refB[:len(refB)-1]
	t.Cleanup(func() { _ = b.DeleteTenant(context.Background(), refC) })
	wantAbsent(t, b, refC, "same/key")
	if got := keys(t, b, refC, ""); len(got) != 0 {
		t.Errorf("%s lists %v of %s", refC, got, refB)
	}
}

// failingReader gives n bytes of pattern, then fails.
type failingReader struct {
	r   io.Reader
	n   int64
	err error
}

var errReader = errors.New("reader broke")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	k, err := f.r.Read(p)
	f.n -= int64(k)
	return k, err
}

func testFailedPut(t *testing.T, b blob.Backend, ref string) {
	old := []byte("the previous version")
	put(t, b, ref, "k", old)
	for _, c := range []struct {
		name       string
		key        string
		sent, size int64 // bytes before the failure; the size Put is given
	}{
		{"small unsized", "k", 1000, -1},
		{"small sized", "k", 1000, 5000},
		{"new key", "new/key", 1000, -1},
		// Past a multipart upload's first part (blob.PartSize): S3 must
		// abort an upload that has parts.
		{"multipart unsized", "k", blob.PartSize + 1<<20, -1},
		{"multipart sized", "new/key", blob.PartSize + 1<<20, 3 * blob.PartSize},
	} {
		r := &failingReader{r: newGenerator(7), n: c.sent, err: errReader}
		_, err := b.Put(t.Context(), ref, c.key, r, c.size)
		if !errors.Is(err, errReader) {
			t.Errorf("%s: Put with a failing reader: err = %v, want the reader's error", c.name, err)
		}
	}
	if got := mustRead(t, b, ref, "k"); !bytes.Equal(got, old) {
		t.Errorf("after failed Puts k = %d bytes, want the previous version", len(got))
	}
	wantAbsent(t, b, ref, "new/key")
	if got := keys(t, b, ref, ""); !slices.Equal(got, []string{"k"}) {
		t.Errorf("List after failed Puts = %v, want [k]", got)
	}
	noLeftovers(t, b, ref)
}

// cancellingReader gives bytes forever and cancels its context after n.
type cancellingReader struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n -= int64(k)
	if c.n <= 0 {
		c.cancel()
	}
	return k, err
}

func testCancelledPut(t *testing.T, b blob.Backend, ref string) {
	put(t, b, ref, "k", []byte("kept"))
	for _, c := range []struct {
		key  string
		n    int64 // bytes read before cancelling
		size int64
	}{
		{"k", 1000, -1},
		{"k", blob.PartSize + 1<<20, -1},
		{"new", 1000, 1 << 30},
		{"new", 1000, -1},
	} {
		ctx, cancel := context.WithCancel(t.Context())
		r := &cancellingReader{r: newGenerator(9), n: c.n, cancel: cancel}
		_, err := b.Put(ctx, ref, c.key, r, c.size)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Put %s cancelled after %d bytes: err = %v, want context.Canceled", c.key, c.n, err)
		}
	}
	if got := mustRead(t, b, ref, "k"); string(got) != "kept" {
		t.Errorf("after cancelled Puts k = %q, want %q", got, "kept")
	}
	wantAbsent(t, b, ref, "new")
	noLeftovers(t, b, ref)
}

func testSizeMismatch(t *testing.T, b blob.Backend, ref string) {
	for _, c := range []struct {
		n, size int64
	}{
		{5, 10},   // short
		{10, 5},   // long
		{0, 1},    // empty but a size
		{1, 0},    // a byte but size 0
		{100, 99}, // one more
	} {
		_, err := b.Put(t.Context(), ref, "k", bytes.NewReader(pattern(4, int(c.n))), c.size)
		if !errors.Is(err, blob.ErrSizeMismatch) {
			t.Errorf("Put of %d bytes with size %d: err = %v, want ErrSizeMismatch", c.n, c.size, err)
		}
		wantAbsent(t, b, ref, "k")
	}
	noLeftovers(t, b, ref)
}

// InvalidKeys are keys every backend must refuse with blob.ErrInvalidKey.
var InvalidKeys = []string{
	"", ".", "..", "../x", "x/..", "x/../y", "a/../../b", "./x", "x/./y",
	"/abs", "/", "a//b", "a/", "a\\b", "..\\x", "a\x00b", "\x00",
	".hidden", "x/.tmp", "a b", "é", "a\u2024\u2024", "\uff0e\uff0e/x", "a\nb", "a:b", "a*", "~",
	strings.Repeat("a", blob.MaxKeyLen+1),
	strings.Repeat("ab/", 200),
	string([]byte{0xff, 0xfe}),
}

// invalidRefs are tenant refs every backend must refuse with ErrInvalidKey.
var invalidRefs = []string{"", "abc", "../x", "a/b", "ABCD", "t_abcd", strings.Repeat("a", 33), "abcd\x00"}

func testInvalidKeys(t *testing.T, b blob.Backend, ref string) {
	ctx := t.Context()
	put(t, b, ref, "good", []byte("g"))
	for _, k := range InvalidKeys {
		if _, err := b.Put(ctx, ref, k, strings.NewReader("x"), 1); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put %q: err = %v, want ErrInvalidKey", k, err)
		}
		if _, err := b.Get(ctx, ref, k, 0, -1); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Get %q: err = %v, want ErrInvalidKey", k, err)
		}
		if _, err := b.Stat(ctx, ref, k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Stat %q: err = %v, want ErrInvalidKey", k, err)
		}
		if _, err := b.Copy(ctx, ref, "good", k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Copy to %q: err = %v, want ErrInvalidKey", k, err)
		}
		if _, err := b.Copy(ctx, ref, k, "good2"); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Copy from %q: err = %v, want ErrInvalidKey", k, err)
		}
		if err := b.Delete(ctx, ref, k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Delete %q: err = %v, want ErrInvalidKey", k, err)
		}
	}
	for _, r := range invalidRefs {
		if _, err := b.Put(ctx, r, "k", strings.NewReader("x"), 1); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put as tenant %q: err = %v, want ErrInvalidKey", r, err)
		}
		if _, err := b.Get(ctx, r, "k", 0, -1); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Get as tenant %q: err = %v, want ErrInvalidKey", r, err)
		}
		if err := b.List(ctx, r, "", func(blob.Info) bool { return true }); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("List as tenant %q: err = %v, want ErrInvalidKey", r, err)
		}
		if err := b.DeleteTenant(ctx, r); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("DeleteTenant %q: err = %v, want ErrInvalidKey", r, err)
		}
	}
	if got := keys(t, b, ref, ""); !slices.Equal(got, []string{"good"}) {
		t.Errorf("List = %v, want [good]", got)
	}
}

func testDeleteTenant(t *testing.T, b blob.Backend, ref string) {
	ctx := t.Context()
	if err := b.DeleteTenant(ctx, NewRef()); err != nil {
		t.Errorf("DeleteTenant of a tenant with no blobs: %v", err)
	}
	for i := range 25 {
		put(t, b, ref, fmt.Sprintf("b%d/o%d", i%3, i), []byte{byte(i)})
	}
	if err := b.DeleteTenant(ctx, ref); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	if got := keys(t, b, ref, ""); len(got) != 0 {
		t.Errorf("List after DeleteTenant = %v", got)
	}
	wantAbsent(t, b, ref, "b0/o0")
	if err := b.DeleteTenant(ctx, ref); err != nil {
		t.Errorf("second DeleteTenant: %v", err)
	}
	put(t, b, ref, "again", []byte("a"))
	if got := keys(t, b, ref, ""); !slices.Equal(got, []string{"again"}) {
		t.Errorf("List after a Put that follows DeleteTenant = %v", got)
	}
}

func testConcurrentPuts(t *testing.T, b blob.Backend, ref string) {
	const writers, size = 6, 256 << 10
	versions := make([][]byte, writers)
	for i := range versions {
		versions[i] = pattern(uint64(100+i), size)
	}
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			_, errs[i] = b.Put(t.Context(), ref, "contended", bytes.NewReader(versions[i]), -1)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	got := mustRead(t, b, ref, "contended")
	if !slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, got) }) {
		t.Errorf("after concurrent Puts the blob (%d bytes) is none of the versions written whole", len(got))
	}
	noLeftovers(t, b, ref)
}

// generator is an endless deterministic byte stream: byte i is
// block[i%len(block)], where block is random and of an odd length, so that
// parts and buffers never line up with it.
type generator struct {
	block []byte
	off   int
}

func newGenerator(seed uint64) *generator {
	return &generator{block: pattern(seed, 1<<20+7)}
}

func (g *generator) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], g.block[g.off:])
		n += k
		g.off = (g.off + k) % len(g.block)
	}
	return n, nil
}

// at returns n bytes from offset.
func (g *generator) at(offset int64, n int) []byte {
	h := &generator{block: g.block, off: int(offset % int64(len(g.block)))}
	p := make([]byte, n)
	_, _ = h.Read(p)
	return p
}

// heapWatch records the highest heap in use seen at its samples.
type heapWatch struct {
	base, peak uint64
}

func newHeapWatch() *heapWatch {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return &heapWatch{base: m.HeapAlloc, peak: m.HeapAlloc}
}

// sample collects garbage first, so that the peak is of live memory.
func (h *heapWatch) sample() {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	h.peak = max(h.peak, m.HeapAlloc)
}

func (h *heapWatch) growthMiB() float64 { return float64(h.peak-h.base) / (1 << 20) }

// sampledReader samples the heap every 4 MiB read through it.
type sampledReader struct {
	r     io.Reader
	h     *heapWatch
	count int64
	hash  io.Writer
}

func (s *sampledReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if s.count/(4<<20) != (s.count+int64(n))/(4<<20) {
		s.h.sample()
	}
	s.count += int64(n)
	if s.hash != nil {
		s.hash.Write(p[:n])
	}
	return n, err
}

func testLargeStreaming(t *testing.T, b blob.Backend, ref string) {
	const size = 40 << 20
	ctx := t.Context()
	for _, c := range []struct {
		key  string
		size int64
	}{
		{"large/sized", size},
		{"large/unsized", -1},
	} {
		g := newGenerator(11)
		sum := sha256.New()
		h := newHeapWatch()
		in := &sampledReader{r: io.LimitReader(g, size), h: h, hash: sum}
		info, err := b.Put(ctx, ref, c.key, in, c.size)
		if err != nil {
			t.Fatalf("Put %s: %v", c.key, err)
		}
		if info.Size != size {
			t.Fatalf("Put %s stored %d bytes, want %d", c.key, info.Size, size)
		}
		t.Logf("%s: Put %s of %d MiB: heap grew by at most %.1f MiB (live heap sampled every 4 MiB)", b.Name(), c.key, size>>20, h.growthMiB())
		want := sum.Sum(nil)

		h = newHeapWatch()
		rc, err := b.Get(ctx, ref, c.key, 0, -1)
		if err != nil {
			t.Fatalf("Get %s: %v", c.key, err)
		}
		back := sha256.New()
		n, err := io.Copy(io.Discard, &sampledReader{r: rc, h: h, hash: back})
		rc.Close()
		if err != nil || n != size {
			t.Fatalf("Get %s: read %d bytes, %v; want %d", c.key, n, err, size)
		}
		if !bytes.Equal(back.Sum(nil), want) {
			t.Fatalf("Get %s: SHA-256 differs from what was put", c.key)
		}
		t.Logf("%s: Get %s of %d MiB: heap grew by at most %.1f MiB", b.Name(), c.key, size>>20, h.growthMiB())
	}
	// Ranges across a part boundary and at the end of a large blob.
	g := newGenerator(11)
	for _, r := range [][2]int64{{blob.PartSize - 100, 200}, {size - 10, 100}, {12345678, 1 << 20}} {
		got, err := read(t, b, ref, "large/unsized", r[0], r[1])
		if err != nil {
			t.Fatalf("Get offset %d length %d: %v", r[0], r[1], err)
		}
		want := g.at(r[0], int(min(r[1], size-r[0])))
		if !bytes.Equal(got, want) {
			t.Errorf("Get offset %d length %d: %d bytes differ from what was put", r[0], r[1], len(got))
		}
	}
	// A copy of a large blob is whole.
	if info, err := b.Copy(ctx, ref, "large/sized", "large/copy"); err != nil || info.Size != size {
		t.Errorf("Copy of the large blob = %+v, %v", info, err)
	}
}
