package storage_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
)

// TestConcurrentWritesOnOneName: uploads, deletes and moves racing on the
// same names only ever answer success or the expected refusal (never an
// internal error such as a deadlock between their locks), and leave the
// usage equal to what the backend holds.
func TestConcurrentWritesOnOneName(t *testing.T) {
	t.Parallel()
	b, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := newServiceEnv(t, b)
	ref, sk, _ := e.tenant(t)
	u := e.url + "/v1/storage"
	if r := do(t, "POST", u+"/buckets", sk, strings.NewReader(`{"name":"docs"}`), nil); r.status != 201 {
		t.Fatal(r.body)
	}
	const rounds, workers = 15, 6
	var (
		mu  sync.Mutex
		bad []string
	)
	send := func(method, path, body string) {
		req, err := http.NewRequest(method, u+path, strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("apikey", sk)
		req.Header.Set("Content-Type", "text/plain")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			mu.Lock()
			bad = append(bad, fmt.Sprintf("%s %s: %v", method, path, err))
			mu.Unlock()
			return
		}
		res.Body.Close()
		// 404 is fine: the object was deleted or moved away first.
		if res.StatusCode >= 500 {
			mu.Lock()
			bad = append(bad, fmt.Sprintf("%s %s: %s", method, path, res.Status))
			mu.Unlock()
		}
	}
	for i := range rounds {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch w % 3 {
				case 0:
					send("PUT", "/objects/docs/x.txt", strings.Repeat("p", i+w))
				case 1:
					send("DELETE", "/objects/docs/x.txt", "")
				case 2:
					send("POST", "/buckets/docs/move", `{"name":"x.txt","destination_name":"y.txt"}`)
					send("POST", "/buckets/docs/move", `{"name":"y.txt","destination_name":"x.txt"}`)
				}
			}()
		}
		wg.Wait()
	}
	for _, s := range bad {
		t.Error(s)
	}
	n, size := e.blobBytes(t, ref)
	ub, uo := e.usage(t, sk)
	if int64(n) != uo || size != ub {
		t.Errorf("the backend holds %d blobs of %d bytes; usage says %d objects of %d bytes", n, size, uo, ub)
	}
}
