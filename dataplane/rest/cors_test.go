package rest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/rest"
)

func preflight(t *testing.T, url, origin, method, headers string) answer {
	t.Helper()
	h := http.Header{"Origin": {origin}, "Access-Control-Request-Method": {method}}
	if headers != "" {
		h.Set("Access-Control-Request-Headers", headers)
	}
	return send(t, http.MethodOptions, url, h, "")
}

// The node's CORS (what newRegion's server mounts: any origin) answers
// preflights of REST and Connect routes alike, without a key, and gives
// actual answers, errors included, the headers a browser needs to read
// them.
func TestCORSOnTheDataPlane(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	ref := r.tenant(t)
	key := r.key(t, ref, apikeys.KindSecret)
	rc := &recorder{}
	url := r.server(t, rc, rc, rest.Config{})

	for _, sc := range []struct{ name, path, method, headers string }{
		{"REST write with a key and an idempotency key", "/v1/collections/posts/records", "POST", "apikey,content-type,idempotency-key"},
		{"REST conditional update", "/v1/collections/posts/records/r1", "PATCH", "authorization,content-type,if-match,x-request-id"},
		{"REST delete", "/v1/collections/posts", "DELETE", "apikey"},
		{"REST replace", "/v1/collections/posts/records/r1", "PUT", "apikey,content-type"},
		{"Connect call", "/sovereign.dataplane.v1.RecordService/GetRecord", "POST", "apikey,connect-protocol-version,connect-timeout-ms,content-type"},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			got := preflight(t, url+sc.path, "https://app.example.com", sc.method, sc.headers)
			if got.status != http.StatusNoContent {
				t.Fatalf("preflight status %d: %s", got.status, got.body)
			}
			for k, want := range map[string]string{
				"Access-Control-Allow-Origin":      "*",
				"Access-Control-Allow-Methods":     sc.method,
				"Access-Control-Allow-Headers":     sc.headers,
				"Access-Control-Max-Age":           "7200",
				"Access-Control-Allow-Credentials": "",
			} {
				if v := got.header.Get(k); v != want {
					t.Errorf("%s: %q, want %q", k, v, want)
				}
			}
		})
	}
	t.Run("a header outside the list is refused", func(t *testing.T) {
		t.Parallel()
		got := preflight(t, url+"/v1/collections", "https://app.example.com", "POST", "apikey,x-secret-thing")
		if v := got.header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("Access-Control-Allow-Origin %q for a header not allowed", v)
		}
	})
	t.Run("actual answers expose the headers", func(t *testing.T) {
		t.Parallel()
		got := send(t, http.MethodGet, url+"/v1/collections/posts/records/r1", http.Header{"Origin": {"https://app.example.com"}, "Apikey": {key}}, "")
		if got.status != 200 {
			t.Fatalf("status %d: %s", got.status, got.body)
		}
		checkExposed(t, got)
	})
	t.Run("errors too, so that a browser can read them", func(t *testing.T) {
		t.Parallel()
		got := send(t, http.MethodGet, url+"/v1/collections", http.Header{"Origin": {"https://app.example.com"}}, "")
		if got.status != 401 {
			t.Fatalf("status %d: %s", got.status, got.body)
		}
		checkExposed(t, got)
	})
}

func checkExposed(t *testing.T, got answer) {
	t.Helper()
	if v := got.header.Get("Access-Control-Allow-Origin"); v != "*" {
		t.Errorf("Access-Control-Allow-Origin %q", v)
	}
	exposed := strings.ToLower(got.header.Get("Access-Control-Expose-Headers"))
	for _, h := range []string{"etag", "x-request-id", "idempotent-replayed", "location", "grpc-status"} {
		if !strings.Contains(exposed, h) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, h)
		}
	}
}

func TestCORSAllowedOrigins(t *testing.T) {
	t.Parallel()
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := rest.CORS(rest.CORSConfig{
		AllowedOrigins: []string{"https://app.example.com", "https://*.preview.example.com", "http://localhost:5173"},
		MaxAge:         90*time.Second + 500*time.Millisecond,
	}, next)
	for _, sc := range []struct {
		origin  string
		allowed bool
	}{
		{"https://app.example.com", true},
		{"https://pr-12.preview.example.com", true},
		{"http://localhost:5173", true},
		{"http://app.example.com", false},
		{"https://evil.example.com", false},
		{"https://app.example.com.evil.net", false},
		{"http://localhost:3000", false},
	} {
		t.Run(sc.origin, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodOptions, "/v1/collections", nil)
			req.Header.Set("Origin", sc.origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "apikey,content-type")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusNoContent {
				t.Fatalf("preflight reached the handler: %d", w.Code)
			}
			want, maxAge := "", ""
			if sc.allowed {
				want, maxAge = sc.origin, "90"
			}
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("preflight Access-Control-Allow-Origin %q, want %q", got, want)
			}
			if got := w.Header().Get("Access-Control-Max-Age"); got != maxAge {
				t.Errorf("Access-Control-Max-Age %q, want %q", got, maxAge)
			}
			if !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "Origin") {
				t.Errorf("Vary %q lacks Origin", w.Header().Values("Vary"))
			}

			req = httptest.NewRequest(http.MethodGet, "/v1/collections", nil)
			req.Header.Set("Origin", sc.origin)
			w = httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusTeapot {
				t.Fatalf("the request did not reach the handler: %d", w.Code)
			}
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, want)
			}
		})
	}
}

func TestCORSMaxAge(t *testing.T) {
	t.Parallel()
	for _, sc := range []struct {
		maxAge time.Duration
		want   []string
	}{
		{0, []string{"7200"}},
		{time.Hour, []string{"3600"}},
		{time.Millisecond, []string{"0"}},
		{-1, nil},
	} {
		h := rest.CORS(rest.CORSConfig{MaxAge: sc.maxAge}, http.NotFoundHandler())
		req := httptest.NewRequest(http.MethodOptions, "/", nil)
		req.Header.Set("Origin", "https://a.example")
		req.Header.Set("Access-Control-Request-Method", "GET")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if got := w.Header().Values("Access-Control-Max-Age"); strings.Join(got, ",") != strings.Join(sc.want, ",") {
			t.Errorf("MaxAge %v: Access-Control-Max-Age %q, want %q", sc.maxAge, got, sc.want)
		}
	}
}

func TestCORSConfigValidate(t *testing.T) {
	t.Parallel()
	for _, sc := range []struct {
		origins []string
		err     string
	}{
		{nil, ""},
		{[]string{"*"}, ""},
		{[]string{"https://app.example.com", "http://localhost:5173", "https://*.example.com"}, ""},
		{[]string{"app.example.com"}, `origin "app.example.com" is not scheme://host[:port]`},
		{[]string{"https://app.example.com/"}, "is not scheme://host[:port]"},
		{[]string{"https://app.example.com/path"}, "is not scheme://host[:port]"},
		{[]string{"https://*.*.example.com"}, "has more than one *"},
	} {
		err := rest.CORSConfig{AllowedOrigins: sc.origins}.Validate()
		if (err == nil) != (sc.err == "") || (err != nil && !strings.Contains(err.Error(), sc.err)) {
			t.Errorf("Validate(%q) = %v, want %q", sc.origins, err, sc.err)
		}
	}
}
