package storage_test

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/storage"
	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
	"github.com/sovereign-backend/sovereign/dataplane/storage/blob/blobtest"
)

// TestJanitor: orphan blobs (object-like and upload parts without an
// upload) go once seen orphan for OrphanAge, and only then; uploads go once
// older than UploadAge, with their parts; live objects and uploads stay.
// Ages are tiny or huge rather than waited for.
func TestJanitor(t *testing.T) {
	t.Parallel()
	blobtest.ForEach(t, func(t *testing.T, b blob.Backend) {
		t.Parallel()
		e, svc, _ := newTUSEnv(t, b, 0)
		ref, sk, _ := e.tenant(t)
		otherRef, otherSK, _ := e.tenant(t)
		ctx := t.Context()
		for _, key := range []string{sk, otherSK} {
			if r := do(t, "POST", e.url+"/v1/storage/buckets", key, strings.NewReader(`{"name":"docs"}`), nil); r.status != 201 {
				t.Fatalf("create bucket: %d %s", r.status, r.body)
			}
			if r := do(t, "PUT", e.url+"/v1/storage/objects/docs/keep.txt", key, strings.NewReader("keep me"), map[string]string{"Content-Type": "text/plain"}); r.status != 201 {
				t.Fatalf("put: %d %s", r.status, r.body)
			}
		}
		c := tusCreate(t, e, sk, 100, map[string]string{"bucket": "docs", "name": "big.txt", "content_type": "text/plain"})
		loc := c.header.Get("Location")
		if r := tusPatch(t, loc, sk, 0, bytes.Repeat([]byte("x"), 40)); c.status != 201 || r.status != 204 {
			t.Fatalf("upload: %d, PATCH %d %s", c.status, r.status, r.body)
		}
		orphans := []string{"0123456789abcdef/orphan", "uploads/" + strings.Repeat("ab", 16) + "/00000000000000000000.feed"}
		for _, ref := range []string{ref, otherRef} {
			for _, k := range orphans {
				if _, err := b.Put(ctx, ref, k, strings.NewReader("lost"), 4); err != nil {
					t.Fatal(err)
				}
			}
		}
		only := func(context.Context) ([]string, error) { return []string{ref}, nil }
		objectsAndParts := e.blobKeys(t, ref, "")

		// Huge ages: nothing goes, however often it runs.
		patient := svc.NewJanitor(storage.JanitorConfig{Tenants: only})
		for range 2 {
			if st, err := patient.Sweep(ctx); err != nil || st != (storage.JanitorStats{}) {
				t.Fatalf("sweep with the default ages: %+v %v", st, err)
			}
		}
		// A tiny orphan age: the first sweep only sees them, the second
		// deletes them; the upload is young.
		j := svc.NewJanitor(storage.JanitorConfig{Tenants: only, OrphanAge: time.Nanosecond})
		if st, err := j.Sweep(ctx); err != nil || st != (storage.JanitorStats{}) {
			t.Fatalf("first sweep: %+v %v", st, err)
		}
		if st, err := j.Sweep(ctx); err != nil || st != (storage.JanitorStats{Orphans: len(orphans)}) {
			t.Fatalf("second sweep: %+v %v, want %d orphans", st, err, len(orphans))
		}
		left := e.blobKeys(t, ref, "")
		want := slices.DeleteFunc(slices.Clone(objectsAndParts), func(k string) bool { return slices.Contains(orphans, k) })
		if !slices.Equal(left, want) {
			t.Errorf("blobs after the orphan sweep: %v, want %v", left, want)
		}
		if g := do(t, "GET", e.url+"/v1/storage/objects/docs/keep.txt", sk, nil, nil); g.status != 200 || g.body != "keep me" {
			t.Errorf("object after the sweep: %d %q", g.status, g.body)
		}
		if h := tusHead(t, loc, sk); h.status != 200 || h.header.Get("Upload-Offset") != strconv.Itoa(40) {
			t.Errorf("young upload after the sweep: %d %v", h.status, h.header)
		}
		// A tiny upload age: the upload and its parts go.
		old := svc.NewJanitor(storage.JanitorConfig{Tenants: only, UploadAge: time.Nanosecond})
		if st, err := old.Sweep(ctx); err != nil || st != (storage.JanitorStats{Uploads: 1}) {
			t.Fatalf("upload sweep: %+v %v", st, err)
		}
		if h := tusHead(t, loc, sk); h.status != 404 {
			t.Errorf("expired upload: HEAD %d", h.status)
		}
		if parts := e.blobKeys(t, ref, "uploads/"); len(parts) != 0 {
			t.Errorf("expired upload's parts: %v", parts)
		}
		// The other project, not swept, kept its orphans.
		for _, k := range orphans {
			if _, err := b.Stat(ctx, otherRef, k); err != nil {
				t.Errorf("other project's blob %s: %v", k, err)
			}
		}
		// Without Tenants, every project with storage tables is swept.
		all := svc.NewJanitor(storage.JanitorConfig{OrphanAge: time.Nanosecond})
		_, err1 := all.Sweep(ctx)
		st, err2 := all.Sweep(ctx)
		if err1 != nil || err2 != nil || st.Orphans != len(orphans) {
			t.Errorf("sweep of every project: %+v %v %v, want the other project's %d orphans", st, err1, err2, len(orphans))
		}
		for _, k := range orphans {
			if _, err := b.Stat(ctx, otherRef, k); err == nil {
				t.Errorf("other project's orphan %s survived", k)
			}
		}
		if g := do(t, "GET", e.url+"/v1/storage/objects/docs/keep.txt", otherSK, nil, nil); g.status != 200 {
			t.Errorf("other project's object after the sweep: %d", g.status)
		}
	})
}
