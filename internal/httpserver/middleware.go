package httpserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-Id"

type ctxKey int

const (
	loggerKey ctxKey = iota
	requestIDKey
)

// Logger returns the request-scoped logger (with request_id), or
// slog.Default() outside a request.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// A client-supplied request id is kept only when it is short and plain, so it
// cannot forge log lines or carry a payload.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type metrics struct {
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sovereign_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sovereign_http_request_errors_total",
			Help: "HTTP requests answered with a 5xx status, by route pattern and method.",
		}, []string{"route", "method"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sovereign_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.errors, m.duration)
	return m
}

// statusWriter remembers the status code and body size. It forwards Flush and
// Unwrap so streaming responses (Connect, SSE) and http.ResponseController
// keep working.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Middleware wraps next with request ids, access logs, metrics by route
// pattern, panic recovery and a body size cap. next is normally the plane's
// *http.ServeMux: the route label is the pattern it matched, so label
// cardinality is bounded by the routes, never by user input.
func Middleware(logger *slog.Logger, m *metrics, maxBody int64, next http.Handler) http.Handler {
	return middleware(logger, m, maxBody, nil, next)
}

// middleware is Middleware with path prefixes whose bodies it leaves
// alone (Config.OwnBodyLimits).
func middleware(logger *slog.Logger, m *metrics, maxBody int64, own []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID.MatchString(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		log := logger.With("request_id", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, loggerKey, log)
		r = r.WithContext(ctx)
		if !slices.ContainsFunc(own, func(p string) bool { return strings.HasPrefix(r.URL.Path, p) }) {
			if r.ContentLength > maxBody {
				http.Error(w, "request body too large: the limit is "+strconv.FormatInt(maxBody, 10)+" bytes", http.StatusRequestEntityTooLarge)
				m.observe("unmatched", r.Method, http.StatusRequestEntityTooLarge, time.Since(start))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if sw.code == 0 {
					http.Error(sw, "internal error (request id "+id+")", http.StatusInternalServerError)
				}
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			d := time.Since(start)
			m.observe(route, r.Method, code, d)
			level := slog.LevelInfo
			if code >= 500 {
				level = slog.LevelError
			}
			log.LogAttrs(r.Context(), level, "request",
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.String("path", r.URL.Path),
				slog.Int("status", code),
				slog.Int64("bytes", sw.bytes),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			)
		}()
		next.ServeHTTP(sw, r)
	})
}

func (m *metrics) observe(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	if code >= 500 {
		m.errors.WithLabelValues(route, method).Inc()
	}
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}
