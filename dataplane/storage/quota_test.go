package storage_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
	"github.com/sovereign-backend/sovereign/dataplane/storage/blob/blobtest"
)

// TestQuota: the project's plan limit refuses an upload that would pass
// it with 413 resource_exhausted and stores nothing, whether the body has
// a Content-Length or not, and on both backends.
func TestQuota(t *testing.T) {
	t.Parallel()
	blobtest.ForEach(t, func(t *testing.T, b blob.Backend) {
		t.Parallel()
		e := newServiceEnv(t, b)
		ref, sk, _ := e.tenant(t)
		e.setQuota(t, ref, 100)
		u := e.url + "/v1/storage"
		if r := do(t, "POST", u+"/buckets", sk, strings.NewReader(`{"name":"docs"}`), nil); r.status != 201 {
			t.Fatal(r.body)
		}
		text := map[string]string{"Content-Type": "text/plain"}
		if r := do(t, "PUT", u+"/objects/docs/first.txt", sk, strings.NewReader(strings.Repeat("a", 60)), text); r.status != 201 {
			t.Fatalf("upload under the quota: %d %s", r.status, r.body)
		}
		unchanged := func(step string) {
			t.Helper()
			if n, size := e.blobBytes(t, ref); n != 1 || size != 60 {
				t.Errorf("%s: the backend holds %d blobs of %d bytes, want 1 of 60", step, n, size)
			}
			if ub, uo := e.usage(t, sk); ub != 60 || uo != 1 {
				t.Errorf("%s: usage %d bytes in %d objects, want 60 in 1", step, ub, uo)
			}
		}
		over := strings.Repeat("b", 41)
		for name, body := range map[string]io.Reader{
			"with Content-Length":    strings.NewReader(over),
			"without Content-Length": io.MultiReader(strings.NewReader(over)),
		} {
			r := do(t, "PUT", u+"/objects/docs/over.txt", sk, body, text)
			if r.status != 413 || !strings.Contains(r.body, `"code":"resource_exhausted"`) || !strings.Contains(r.body, "quota") {
				t.Errorf("%s: %d %s", name, r.status, r.body)
			}
			unchanged(name)
		}
		// A multipart form has no size before it is read.
		form, ct := multipartBody(t, "text/plain", over, "")
		if r := do(t, "POST", u+"/objects/docs/over.txt", sk, strings.NewReader(form), map[string]string{"Content-Type": ct}); r.status != 413 {
			t.Errorf("form over the quota: %d %s", r.status, r.body)
		}
		unchanged("form")
		// Replacing an object counts only the difference; growing it past
		// the quota is refused.
		if r := do(t, "PUT", u+"/objects/docs/first.txt", sk, strings.NewReader(strings.Repeat("c", 101)), text); r.status != 413 {
			t.Errorf("grow past the quota: %d %s", r.status, r.body)
		}
		unchanged("grow")
		// A copy would double the bytes.
		if r := do(t, "POST", u+"/buckets/docs/copy", sk, strings.NewReader(`{"name":"first.txt","destination_name":"copy.txt"}`), nil); r.status != 413 {
			t.Errorf("copy past the quota: %d %s", r.status, r.body)
		}
		unchanged("copy")
		// Exactly up to the limit is fine, and usage shows the limit.
		if r := do(t, "PUT", u+"/objects/docs/rest.txt", sk, io.MultiReader(strings.NewReader(strings.Repeat("d", 40))), text); r.status != 201 {
			t.Errorf("upload to the limit: %d %s", r.status, r.body)
		}
		if r := do(t, "GET", u+"/usage", sk, nil, nil); !strings.Contains(r.body, `"bytes":"100"`) || !strings.Contains(r.body, `"limit_bytes":"100"`) {
			t.Errorf("usage at the limit: %s", r.body)
		}
		// Raising the plan's limit lets the refused upload through.
		e.setQuota(t, ref, 1000)
		if r := do(t, "PUT", u+"/objects/docs/over.txt", sk, strings.NewReader(over), text); r.status != 201 {
			t.Errorf("after raising the quota: %d %s", r.status, r.body)
		}
	})
}

// TestQuotaConcurrent: uploads racing for the last room of the quota
// (some with Content-Length, some without) never take usage past the
// limit, exactly as many as fit succeed, and the refused ones leave no
// blob behind.
func TestQuotaConcurrent(t *testing.T) {
	t.Parallel()
	blobtest.ForEach(t, func(t *testing.T, b blob.Backend) {
		t.Parallel()
		e := newServiceEnv(t, b)
		ref, sk, _ := e.tenant(t)
		const limit, size, uploads = 1000, 300, 10
		e.setQuota(t, ref, limit)
		u := e.url + "/v1/storage"
		if r := do(t, "POST", u+"/buckets", sk, strings.NewReader(`{"name":"docs"}`), nil); r.status != 201 {
			t.Fatal(r.body)
		}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses = map[int]int{}
			done     = make(chan struct{})
			peak     int64
		)
		// A watcher reads usage while the uploads run.
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			for {
				select {
				case <-done:
					return
				default:
				}
				r, err := tryDo(e.url+"/v1/storage/usage", sk)
				if err != nil {
					continue
				}
				var u struct {
					Bytes int64 `json:"bytes,string"`
				}
				if json.Unmarshal([]byte(r), &u) == nil {
					peak = max(peak, u.Bytes)
				}
			}
		}()
		for i := range uploads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var body io.Reader = strings.NewReader(strings.Repeat("x", size))
				if i%2 == 1 {
					body = io.MultiReader(body)
				}
				req, err := http.NewRequest("PUT", fmt.Sprintf("%s/objects/docs/%d.txt", u, i), body)
				if err != nil {
					panic(err)
				}
				req.Header.Set("apikey", sk)
				req.Header.Set("Content-Type", "text/plain")
				status := -1
				if res, err := http.DefaultClient.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					status = res.StatusCode
				}
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		close(done)
		<-watched
		if statuses[201] != limit/size || statuses[413] != uploads-limit/size {
			t.Errorf("statuses %v, want %d × 201 and %d × 413", statuses, limit/size, uploads-limit/size)
		}
		ub, uo := e.usage(t, sk)
		if ub > limit || peak > limit {
			t.Errorf("usage reached %d bytes (peak seen %d), past the limit of %d", ub, peak, limit)
		}
		n, bytes := e.blobBytes(t, ref)
		if int64(n) != uo || bytes != ub || uo != int64(statuses[201]) {
			t.Errorf("the backend holds %d blobs of %d bytes; usage %d objects of %d bytes; %d uploads succeeded", n, bytes, uo, ub, statuses[201])
		}
	})
}

// tryDo GETs url with key, for goroutines other than the test's.
func tryDo(url, key string) (string, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("apikey", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}
