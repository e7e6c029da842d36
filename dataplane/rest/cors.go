package rest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/cors"
)

// DefaultCORSMaxAge is how long browsers may cache a preflight answer by
// default: 2 hours, the most Chromium honours.
const DefaultCORSMaxAge = 2 * time.Hour

// CORSConfig configures CORS for the data plane.
type CORSConfig struct {
	// AllowedOrigins may call the data plane from a browser: exact origins
	// ("https://app.example.com"), origins with one "*" standing for any
	// run of characters ("https://*.example.com"), or "*" for any origin.
	// Empty means any origin: the API key, not a cookie, carries a request's
	// authority, so a page gets no more than the key it already holds.
	// Credentials (cookies) are never allowed.
	AllowedOrigins []string
	// MaxAge is how long a browser may cache a preflight answer, rounded
	// down to whole seconds. 0 means DefaultCORSMaxAge; negative sends no
	// Access-Control-Max-Age (browsers then cache for 5 seconds).
	MaxAge time.Duration
}

// Validate reports an origin that could never match a browser's Origin
// header: each must be "*" or scheme://host[:port], with at most one "*"
// and no path.
func (c CORSConfig) Validate() error {
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		if strings.Count(o, "*") > 1 {
			return fmt.Errorf("cors: origin %q has more than one *", o)
		}
		u, err := url.Parse(strings.Replace(o, "*", "x", 1))
		if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("cors: origin %q is not scheme://host[:port], e.g. https://app.example.com", o)
		}
	}
	return nil
}

// CORS headers of the data plane: those of the REST routes and those that
// Connect, gRPC-Web and the Connect JavaScript clients send and read.
var (
	corsMethods = []string{
		http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions,
	}
	corsRequestHeaders = []string{
		"Apikey", "Authorization", "Content-Type", "Idempotency-Key", "If-Match", "X-Request-Id",
		// Storage: conditional and ranged downloads, checksums, tus.
		"If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range", "Range",
		"X-Checksum-Sha256", "Upload-Length", "Upload-Offset", "Upload-Metadata", "Tus-Resumable",
		"Connect-Protocol-Version", "Connect-Timeout-Ms", "Connect-Accept-Encoding",
		"Connect-Content-Encoding", "Grpc-Timeout", "X-Grpc-Web", "X-User-Agent",
	}
	corsExposedHeaders = []string{
		"Etag", "Location", "X-Request-Id", "Idempotent-Replayed",
		"Content-Range", "Content-Length", "Accept-Ranges", "Last-Modified", "Content-Disposition",
		"X-Checksum-Sha256", "Upload-Offset", "Upload-Length", "Upload-Metadata", "Tus-Resumable", "Tus-Version", "Tus-Max-Size", "Tus-Extension",
		"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin",
	}
)

// CORS wraps next, normally the data plane's whole mux (Connect routes
// too), so browsers on AllowedOrigins may call it: preflights (OPTIONS with
// Access-Control-Request-Method) are answered here with 204 and never reach
// next; other requests get the Access-Control-Allow-Origin and
// -Expose-Headers they need. Call cfg.Validate first: an invalid origin
// matches nothing.
func CORS(cfg CORSConfig, next http.Handler) http.Handler {
	origins := cfg.AllowedOrigins
	if len(origins) == 0 {
		origins = []string{"*"}
	}
	// rs/cors sends no Access-Control-Max-Age for 0 and "0" for a negative
	// value.
	var maxAge int
	switch {
	case cfg.MaxAge == 0:
		maxAge = int(DefaultCORSMaxAge / time.Second)
	case cfg.MaxAge >= time.Second:
		maxAge = int(cfg.MaxAge / time.Second)
	case cfg.MaxAge > 0:
		maxAge = -1
	}
	return cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   corsMethods,
		AllowedHeaders:   corsRequestHeaders,
		ExposedHeaders:   corsExposedHeaders,
		MaxAge:           maxAge,
		AllowCredentials: false,
	}).Handler(next)
}
