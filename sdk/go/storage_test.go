package sovereign_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// The storage tests run against the platform of SOVEREIGN_TEST_API_URL and
// SOVEREIGN_TEST_DATA_URL, like the examples, each in buckets of its own in
// the examples' data project.

func storageClient(t *testing.T) (context.Context, *sovereign.Client) {
	t.Helper()
	if apiURL == "" || dataURL == "" {
		t.Fatal("the storage tests need a platform: set SOVEREIGN_TEST_API_URL and SOVEREIGN_TEST_DATA_URL (see TestMain)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx, dataClient(ctx)
}

// newBucket makes a bucket with a name no other test or run uses.
func newBucket(ctx context.Context, t *testing.T, c *sovereign.Client, b sovereign.Bucket) *sovereign.BucketRef {
	t.Helper()
	b.Name = fmt.Sprintf("%s-%d", b.Name, time.Now().UnixNano()%1e12)
	if _, err := c.Storage().CreateBucket(ctx, b); err != nil {
		t.Fatalf("create bucket %s: %v", b.Name, err)
	}
	return c.Storage().Bucket(b.Name)
}

func wantCode(t *testing.T, what string, err error, code sovereign.Code) {
	t.Helper()
	if got, ok := sovereign.ErrorCode(err); !ok || got != code {
		t.Fatalf("%s: err = %v, want code %s", what, err, code)
	}
}

func TestStorageObjects(t *testing.T) {
	t.Parallel()
	ctx, c := storageClient(t)
	st := c.Storage()
	b := newBucket(ctx, t, c, sovereign.Bucket{Name: "objects", MaxObjectBytes: 1 << 20, AllowedContentTypes: []string{"text/*", "image/png"}})

	got, err := st.GetBucket(ctx, b.Name())
	if err != nil || got.MaxObjectBytes != 1<<20 || !slices.Equal(got.AllowedContentTypes, []string{"text/*", "image/png"}) {
		t.Fatalf("GetBucket = %+v, %v", got, err)
	}

	body := "hello, storage\n"
	var progress []int64
	obj, err := b.Upload(ctx, "docs/hello.txt", strings.NewReader(body), &sovereign.UploadOptions{
		ContentType: "text/plain", Metadata: map[string]string{"owner": "ada"},
		Progress: func(sent, total int64) {
			if total != int64(len(body)) {
				t.Errorf("progress total = %d, want %d", total, len(body))
			}
			progress = append(progress, sent)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	if obj.Name != "docs/hello.txt" || obj.Size != int64(len(body)) || obj.SHA256 != hex.EncodeToString(sum[:]) ||
		obj.Metadata["owner"] != "ada" || !strings.HasPrefix(obj.ContentType, "text/plain") || obj.ETag == "" {
		t.Fatalf("uploaded object = %+v", obj)
	}
	if len(progress) == 0 || progress[len(progress)-1] != int64(len(body)) {
		t.Errorf("progress calls = %v, want the last at %d", progress, len(body))
	}

	// Whole, ranged and conditional downloads.
	rc, dobj, err := b.Download(ctx, "docs/hello.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(raw) != body || dobj.ETag != obj.ETag || dobj.Metadata["owner"] != "ada" || dobj.Size != obj.Size {
		t.Fatalf("download = %q, %+v, %v", raw, dobj, err)
	}
	rc, _, err = b.Download(ctx, "docs/hello.txt", &sovereign.DownloadOptions{Offset: 7, Length: 7})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(rc)
	rc.Close()
	if string(raw) != "storage" {
		t.Errorf("range 7+7 = %q, want %q", raw, "storage")
	}
	if _, _, err := b.Download(ctx, "docs/hello.txt", &sovereign.DownloadOptions{IfNoneMatch: obj.ETag}); !errors.Is(err, sovereign.ErrNotModified) {
		t.Errorf("download with the current ETag: %v, want ErrNotModified", err)
	}
	_, _, err = b.Download(ctx, "docs/hello.txt", &sovereign.DownloadOptions{Offset: 1000})
	wantCode(t, "range past the end", err, sovereign.Code(11)) // OutOfRange

	// Create-only uploads refuse an existing name.
	_, err = b.Upload(ctx, "docs/hello.txt", strings.NewReader("other"), &sovereign.UploadOptions{ContentType: "text/plain", IfNoneMatch: true})
	wantCode(t, "IfNoneMatch on an existing object", err, sovereign.CodeFailedPrecondition)

	// A type the bucket does not take, a body over its limit, a wrong
	// checksum: refused, nothing kept.
	_, err = b.Upload(ctx, "x.json", strings.NewReader("{}"), &sovereign.UploadOptions{ContentType: "application/json"})
	wantCode(t, "a type outside the allowed list", err, sovereign.CodeInvalidArgument)
	_, err = b.Upload(ctx, "big.txt", bytes.NewReader(make([]byte, 1<<20+1)), &sovereign.UploadOptions{ContentType: "text/plain"})
	wantCode(t, "a body over max_object_bytes", err, sovereign.CodeResourceExhausted)
	_, err = b.Upload(ctx, "bad-sum.txt", strings.NewReader("abc"), &sovereign.UploadOptions{ContentType: "text/plain", SHA256: strings.Repeat("0", 64)})
	wantCode(t, "a wrong checksum", err, sovereign.CodeInvalidArgument)
	for _, name := range []string{"big.txt", "bad-sum.txt", "x.json"} {
		if _, err := b.Stat(ctx, name); !sovereign.IsNotFound(err) {
			t.Errorf("Stat %s after a refused upload: %v, want not found", name, err)
		}
	}

	// Bad names.
	for _, name := range []string{"../etc/passwd", "/abs", "a/./b", "nul\x00x", `back\slash`, "bad\xffutf8", strings.Repeat("n", 1025)} {
		_, err := b.Upload(ctx, name, strings.NewReader("x"), &sovereign.UploadOptions{ContentType: "text/plain"})
		wantCode(t, fmt.Sprintf("upload as %q", name), err, sovereign.CodeInvalidArgument)
		// So are other calls naming them.
		_, err = b.Stat(ctx, name)
		wantCode(t, fmt.Sprintf("stat of %q", name), err, sovereign.CodeInvalidArgument)
	}

	// Listing, with and without a delimiter, across pages.
	for _, n := range []string{"docs/a.txt", "docs/b.txt", "docs/sub/c.txt", "top.txt"} {
		if _, err := b.Upload(ctx, n, strings.NewReader(n), &sovereign.UploadOptions{ContentType: "text/plain"}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for o, err := range b.List(ctx, sovereign.ListOptions{Prefix: "docs/", PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, o.Name)
	}
	if want := []string{"docs/a.txt", "docs/b.txt", "docs/hello.txt", "docs/sub/c.txt"}; !slices.Equal(names, want) {
		t.Errorf("List docs/ = %v, want %v", names, want)
	}
	names = names[:0]
	for o, err := range b.List(ctx, sovereign.ListOptions{Delimiter: "/"}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, fmt.Sprintf("%s:%v", o.Name, o.Prefix))
	}
	if want := []string{"docs/:true", "top.txt:false"}; !slices.Equal(names, want) {
		t.Errorf("List with / = %v, want %v", names, want)
	}

	// Copy, move, metadata.
	other := newBucket(ctx, t, c, sovereign.Bucket{Name: "other"})
	cp, err := b.Copy(ctx, "top.txt", other.Name(), "copied.txt")
	if err != nil || cp.Bucket != other.Name() || cp.Size != int64(len("top.txt")) {
		t.Fatalf("Copy = %+v, %v", cp, err)
	}
	mv, err := b.Move(ctx, "docs/a.txt", "", "docs/moved.txt")
	if err != nil || mv.Name != "docs/moved.txt" {
		t.Fatalf("Move = %+v, %v", mv, err)
	}
	if _, err := b.Stat(ctx, "docs/a.txt"); !sovereign.IsNotFound(err) {
		t.Errorf("Stat of a moved object's old name: %v", err)
	}
	md, err := b.SetMetadata(ctx, "docs/moved.txt", map[string]string{"k": "v"})
	if err != nil || md.Metadata["k"] != "v" {
		t.Fatalf("SetMetadata = %+v, %v", md, err)
	}

	// Signed URLs work without a key; a tampered one does not.
	u, exp, err := b.SignedURL(ctx, "docs/hello.txt", http.MethodGet, time.Minute)
	if err != nil || !strings.HasPrefix(u, "http") || time.Until(exp) <= 0 {
		t.Fatalf("SignedURL = %q, %v, %v", u, exp, err)
	}
	if got := httpGet(t, u); got != body {
		t.Errorf("GET of the signed URL = %q", got)
	}
	resp, err := http.Get(strings.Replace(u, "sig=", "sig=A", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("tampered signed URL: HTTP %d, want 403", resp.StatusCode)
	}
	if _, err := st.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("signed URL after rotation: HTTP %d, want 403", resp.StatusCode)
	}

	// Deletes: missing names are reported; a bucket with objects needs force.
	missing, err := b.Delete(ctx, "top.txt", "nope.txt")
	if err != nil || !slices.Equal(missing, []string{"nope.txt"}) {
		t.Errorf("Delete = %v, %v", missing, err)
	}
	_, err = st.DeleteBucket(ctx, b.Name(), false)
	wantCode(t, "deleting a bucket with objects", err, sovereign.CodeFailedPrecondition)
	if n, err := st.DeleteBucket(ctx, b.Name(), true); err != nil || n == 0 {
		t.Errorf("DeleteBucket force = %d, %v", n, err)
	}
	if _, err := st.GetBucket(ctx, b.Name()); !sovereign.IsNotFound(err) {
		t.Errorf("GetBucket after delete: %v", err)
	}
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d, %v: %s", u, resp.StatusCode, err, raw)
	}
	return string(raw)
}

// cutTransport breaks the first PATCH it sends after cutAfter bytes of its
// body, as a network failure would, and counts requests by method.
type cutTransport struct {
	cutAfter int64
	cut      atomic.Bool
	mu       sync.Mutex
	methods  map[string]int
}

func (c *cutTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.methods == nil {
		c.methods = map[string]int{}
	}
	c.methods[r.Method]++
	c.mu.Unlock()
	if r.Method == http.MethodPatch && r.Body != nil && c.cut.CompareAndSwap(false, true) {
		r = r.Clone(r.Context())
		r.Body = &cutBody{r: r.Body, left: c.cutAfter}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (c *cutTransport) count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.methods[method]
}

type cutBody struct {
	r    io.ReadCloser
	left int64
}

var errCut = errors.New("test: connection cut")

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cutBody) Close() error { return b.r.Close() }

// A resumable upload from a reader that cannot seek survives a connection
// cut in the middle of a chunk: it asks the server's offset and goes on.
func TestStorageResumableAfterInterruption(t *testing.T) {
	t.Parallel()
	ctx, c := storageClient(t)
	b := newBucket(ctx, t, c, sovereign.Bucket{Name: "resume"})

	tr := &cutTransport{cutAfter: 3 << 20}
	key := keyOf(ctx, t)
	rc := sovereign.NewClient(dataURL, sovereign.WithAPIKey(key), sovereign.WithHTTPClient(&http.Client{Transport: tr}))
	rb := rc.Storage().Bucket(b.Name())

	const size = 2*sovereign.ResumableChunkSize + 12345
	data := make([]byte, size)
	_, _ = rand.Read(data)
	sum := sha256.Sum256(data)
	var last atomic.Int64
	// io.MultiReader hides the bytes.Reader: the SDK cannot seek or
	// learn the size, so both come from the options.
	obj, err := rb.Upload(ctx, "big.bin", io.MultiReader(bytes.NewReader(data)), &sovereign.UploadOptions{
		Size: size, SHA256: hex.EncodeToString(sum[:]), ContentType: "application/octet-stream",
		Progress: func(sent, _ int64) { last.Store(sent) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != size || obj.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("object = %+v", obj)
	}
	if !tr.cut.Load() || tr.count(http.MethodHead) == 0 || tr.count(http.MethodPatch) < 4 {
		t.Errorf("the upload was not cut and resumed: cut %v, %d HEAD, %d PATCH", tr.cut.Load(), tr.count(http.MethodHead), tr.count(http.MethodPatch))
	}
	if last.Load() != size {
		t.Errorf("last progress = %d, want %d", last.Load(), size)
	}
	rd, _, err := b.Download(ctx, "big.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got, err := io.ReadAll(rd)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download of the resumed upload: %d bytes, equal %v, %v", len(got), bytes.Equal(got, data), err)
	}
}

// Uploads of 8 MiB or more go through tus without asking, and the bucket's
// limit is checked when the upload is created.
func TestStorageResumableLimits(t *testing.T) {
	t.Parallel()
	ctx, c := storageClient(t)
	b := newBucket(ctx, t, c, sovereign.Bucket{Name: "tuslimit", MaxObjectBytes: 9 << 20})

	data := make([]byte, 10<<20)
	r := mrand.NewChaCha8([32]byte{1})
	_, _ = r.Read(data)
	_, err := b.Upload(ctx, "too-big.bin", bytes.NewReader(data), nil)
	wantCode(t, "a resumable upload over the bucket's limit", err, sovereign.CodeResourceExhausted)
	if _, err := b.Stat(ctx, "too-big.bin"); !sovereign.IsNotFound(err) {
		t.Errorf("Stat after a refused upload: %v", err)
	}
	obj, err := b.Upload(ctx, "fits.bin", bytes.NewReader(data[:8<<20]), nil)
	if err != nil || obj.Size != 8<<20 {
		t.Fatalf("8 MiB upload = %+v, %v", obj, err)
	}
}

// Another project's bucket answers not found, whatever its name.
func TestStorageTenantIsolation(t *testing.T) {
	t.Parallel()
	ctx, c := storageClient(t)
	b := newBucket(ctx, t, c, sovereign.Bucket{Name: "mine"})
	if _, err := b.Upload(ctx, "secret.txt", strings.NewReader("s"), nil); err != nil {
		t.Fatal(err)
	}
	other := otherProjectClient(ctx, t)
	ob := other.Storage().Bucket(b.Name())
	if _, err := ob.Stat(ctx, "secret.txt"); !sovereign.IsNotFound(err) {
		t.Errorf("Stat from another project: %v, want not found", err)
	}
	if _, _, err := ob.Download(ctx, "secret.txt", nil); !sovereign.IsNotFound(err) {
		t.Errorf("Download from another project: %v, want not found", err)
	}
	if _, err := other.Storage().GetBucket(ctx, b.Name()); !sovereign.IsNotFound(err) {
		t.Errorf("GetBucket from another project: %v, want not found", err)
	}
}

var (
	storageKeyOnce sync.Once
	storageKey     string
	otherOnce      sync.Once
	otherCl        *sovereign.Client
)

// keyOf makes a second secret key of the examples' data project, for
// clients with their own transport.
func keyOf(ctx context.Context, t *testing.T) string {
	t.Helper()
	storageKeyOnce.Do(func() {
		mc := managementClient(ctx)
		info, err := dataClient(ctx).CurrentProject(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p, err := mc.GetProject(ctx, info.Ref)
		if err != nil {
			t.Fatal(err)
		}
		_, key, err := mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{ProjectID: p.ID, Name: "storage", Kind: sovereign.KeySecret})
		if err != nil {
			t.Fatal(err)
		}
		waitKey(ctx, t, key)
		storageKey = key
	})
	if storageKey == "" {
		t.Fatal("no key")
	}
	return storageKey
}

func otherProjectClient(ctx context.Context, t *testing.T) *sovereign.Client {
	t.Helper()
	otherOnce.Do(func() {
		mc := managementClient(ctx)
		org, err := mc.CreateOrganization(ctx, "Storage isolation")
		if err != nil {
			t.Fatal(err)
		}
		p, err := mc.CreateProject(ctx, sovereign.CreateProjectParams{OrganizationID: org.ID, Name: "other", Region: "local"})
		if err != nil {
			t.Fatal(err)
		}
		if p, err = mc.WaitProjectActive(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		_, secret, err := mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{ProjectID: p.ID, Name: "other", Kind: sovereign.KeySecret})
		if err != nil {
			t.Fatal(err)
		}
		waitKey(ctx, t, secret)
		otherCl = sovereign.NewClient(dataURL, sovereign.WithAPIKey(secret))
	})
	if otherCl == nil {
		t.Fatal("no client of another project")
	}
	return otherCl
}

// waitKey waits until a fresh key authenticates on the data plane, which
// learns of it from the control plane.
func waitKey(ctx context.Context, t *testing.T, key string) {
	t.Helper()
	dc := sovereign.NewClient(dataURL, sovereign.WithAPIKey(key))
	for {
		_, err := dc.CurrentProject(ctx)
		if err == nil {
			return
		}
		if !sovereign.IsUnauthenticated(err) || ctx.Err() != nil {
			t.Fatalf("first call with a fresh key: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
