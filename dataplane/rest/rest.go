// Package rest is the data plane's REST/JSON face: collections, records and
// batches under /v1, for clients that would rather not speak Connect.
//
// It holds no logic of its own. Each REST request becomes the Connect
// request message of the matching RPC and is handed, in process, to the
// same dataplanev1connect handler that serves Connect; the answer is
// translated back. REST and Connect therefore cannot drift: the same
// validation, the same transaction, the same error, with the Connect code
// mapped to its HTTP status as the Connect protocol maps it (HTTPStatus).
//
// Routes:
//
//	GET    /v1/collections                     ListCollections → {"collections": [...]}
//	POST   /v1/collections                     CreateCollection, body a collection → 201, the collection
//	GET    /v1/collections/{name}              GetCollection → the collection
//	PATCH  /v1/collections/{name}              AlterCollection, body {"ops": [...]} → the collection
//	DELETE /v1/collections/{name}              DropCollection → 204
//	GET    /v1/collections/{name}/records      QueryRecords; query filter, sort, limit, cursor, fields, count, expand
//	                                           → {"records": [...], "next_cursor": "...", "total": N, "total_estimated": b}
//	POST   /v1/collections/{name}/records      CreateRecord, body the record → 201, the record
//	GET    /v1/collections/{name}/records/{id} GetRecord; query fields, expand → the record
//	PATCH  /v1/collections/{name}/records/{id} UpdateRecord (the given fields only) → the record
//	PUT    /v1/collections/{name}/records/{id} ReplaceRecord → the record; with ?upsert=true
//	                                           UpsertRecord → 201 when created, 200 when replaced
//	DELETE /v1/collections/{name}/records/{id} DeleteRecord → 204
//	POST   /v1/batch                           Batch, body {"ops": [...]} → {"results": [...]}
//
// Bodies and answers are the protojson form of the Connect messages with
// the proto field names (next_cursor, add_field); requests may use either
// those or the camelCase JSON names. A record is a plain JSON object.
//
// Every route needs the project's API key, in the apikey header or as
// `Authorization: Bearer`, checked exactly as the Connect interceptor of
// package keyauth checks it. Request headers reach the handler (so
// Idempotency-Key works as on Connect) and response headers come back
// (Idempotent-Replayed). Record answers carry `ETag: "<version>"`, and
// If-Match (a version, bare or quoted) is the expected version of PATCH, PUT
// and DELETE.
//
// Errors are Connect's JSON error, {"code": "not_found", "message": "..."},
// with "details" when there are any. Beyond the Connect mapping: a body over
// its limit gets 413, an unknown /v1 path 404, a known path with another
// method 405 with an Allow header, and a body that is not JSON 415.
package rest

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Default body limits.
const (
	// DefaultMaxRecordBytes caps a body that carries one record: 1 MiB,
	// the records service's default record limit.
	DefaultMaxRecordBytes = 1 << 20
	// DefaultMaxBatchBytes caps the body of POST /v1/batch: 16 MiB.
	DefaultMaxBatchBytes = 16 << 20
	// MaxCollectionBytes caps the body of POST and PATCH on a collection:
	// 1 MiB, far more than any schema needs.
	MaxCollectionBytes = 1 << 20
)

// Config configures the REST API.
type Config struct {
	// Collections serves the collection routes; the data plane's
	// CollectionService handler. Required.
	Collections dataplanev1connect.CollectionServiceHandler
	// Records serves the record and batch routes; the data plane's
	// RecordService handler. Required.
	Records dataplanev1connect.RecordServiceHandler
	// Keys authenticates the project API key of every request
	// (*apikeys.Keys). Required.
	Keys keyauth.Authenticator
	// MaxRecordBytes caps, in bytes, the body of a request that carries one
	// record (POST, PATCH and PUT on records), as sent, whitespace included;
	// a larger one gets 413 without reaching the handler. Give the records
	// service the same limit (records.Config.MaxRecordBytes): a record it
	// finds over it (records.ErrTooLarge) is 413 too. 0 means
	// DefaultMaxRecordBytes.
	MaxRecordBytes int64
	// MaxBatchBytes caps, in bytes, the body of POST /v1/batch; a larger one
	// gets 413. The HTTP server's own cap on every body
	// (httpserver.Config.MaxBodyBytes) applies first, so it must be at least
	// this. 0 means DefaultMaxBatchBytes.
	MaxBatchBytes int64
	// Users, when set, authenticates the signed-in end user's access token
	// (Authorization: Bearer, with the key in the apikey header) after the
	// key, as the Connect interceptor chain does; nil serves keys only.
	Users func(ctx context.Context, h http.Header) (context.Context, error)
}

// API serves the REST routes; mount it with Register.
type API struct {
	cfg    Config
	routes []route
	// probe holds the same routes as the mux Register fills, to tell an
	// unknown path (404) from a known one asked with another method (405).
	probe *http.ServeMux
}

type route struct {
	pattern string
	fn      func(w http.ResponseWriter, r *http.Request) error
}

// New validates cfg and returns the API.
func New(cfg Config) (*API, error) {
	if cfg.Collections == nil || cfg.Records == nil || cfg.Keys == nil {
		return nil, errors.New("rest: Config.Collections, Config.Records and Config.Keys are required")
	}
	if cfg.MaxRecordBytes < 0 || cfg.MaxBatchBytes < 0 {
		return nil, errors.New("rest: Config.MaxRecordBytes and Config.MaxBatchBytes must not be negative")
	}
	cfg.MaxRecordBytes = cmp.Or(cfg.MaxRecordBytes, DefaultMaxRecordBytes)
	cfg.MaxBatchBytes = cmp.Or(cfg.MaxBatchBytes, DefaultMaxBatchBytes)
	a := &API{cfg: cfg, probe: http.NewServeMux()}
	a.routes = []route{
		{"GET /v1/collections", a.listCollections},
		{"POST /v1/collections", a.createCollection},
		{"GET /v1/collections/{name}", a.getCollection},
		{"PATCH /v1/collections/{name}", a.alterCollection},
		{"DELETE /v1/collections/{name}", a.dropCollection},
		{"GET /v1/collections/{name}/records", a.queryRecords},
		{"POST /v1/collections/{name}/records", a.createRecord},
		{"GET /v1/collections/{name}/records/{id}", a.getRecord},
		{"PATCH /v1/collections/{name}/records/{id}", a.updateRecord},
		{"PUT /v1/collections/{name}/records/{id}", a.putRecord},
		{"DELETE /v1/collections/{name}/records/{id}", a.deleteRecord},
		{"POST /v1/batch", a.batch},
	}
	for _, rt := range a.routes {
		a.probe.Handle(rt.pattern, http.NotFoundHandler())
	}
	return a, nil
}

// Register mounts every route on mux, and under /v1/ a JSON 404 for
// unknown paths and 405 (with Allow) for known paths asked with another
// method.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.routes {
		mux.Handle(rt.pattern, a.wrap(rt.fn))
	}
	mux.HandleFunc("/v1/", a.unmatched)
}

// wrap authenticates the request, as keyauth's interceptor does for
// Connect, and answers fn's error.
func (a *API) wrap(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, err := a.authenticate(r.Context(), r.Header)
		if err == nil {
			err = fn(w, r.WithContext(ctx))
		}
		if err != nil {
			a.writeError(w, r, err)
		}
	})
}

func (a *API) authenticate(ctx context.Context, h http.Header) (context.Context, error) {
	key := keyauth.KeyFromHeader(h)
	if key == "" {
		return ctx, rpcerr.New(connect.CodeUnauthenticated, keyauth.MissingKeyMessage)
	}
	id, err := a.cfg.Keys.Authenticate(ctx, key)
	if err != nil {
		return ctx, keyauth.Error(ctx, err)
	}
	ctx = keyauth.NewContext(ctx, id)
	if a.cfg.Users != nil {
		return a.cfg.Users(ctx, h)
	}
	return ctx, nil
}

// probeMethods are the methods an Allow header may list.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func (a *API) unmatched(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range probeMethods {
		p := r.Clone(r.Context())
		p.Method = m
		if _, pattern := a.probe.Handler(p); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		a.writeError(w, r, &httpError{status: http.StatusNotFound, code: connect.CodeNotFound,
			msg: "no such route: " + r.URL.Path + " (the REST routes are /v1/collections, /v1/collections/{name}, /v1/collections/{name}/records, /v1/collections/{name}/records/{id} and /v1/batch)"})
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	a.writeError(w, r, &httpError{status: http.StatusMethodNotAllowed, code: connect.CodeUnimplemented,
		msg: "method " + r.Method + " is not allowed on " + r.URL.Path + "; use " + strings.Join(allow, ", ")})
}

// call hands msg to an RPC of a handler, as Connect would: the HTTP
// request's headers become the RPC's request headers, and the RPC's
// response headers (and trailers, prefixed "Trailer-" as in Connect's unary
// protocol) go back on w.
func call[Req, Res any](w http.ResponseWriter, r *http.Request, rpc func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error), msg *Req) (*Res, error) {
	req := connect.NewRequest(msg)
	maps.Copy(req.Header(), r.Header.Clone())
	resp, err := rpc(r.Context(), req)
	if err != nil {
		return nil, err
	}
	if resp == nil || resp.Msg == nil {
		return nil, errors.New("rest: handler returned no response and no error")
	}
	copyHeaders(w.Header(), resp.Header(), "")
	copyHeaders(w.Header(), resp.Trailer(), "Trailer-")
	return resp.Msg, nil
}

// copyHeaders adds src to dst, except the headers that describe the body,
// which the REST answer sets itself.
func copyHeaders(dst, src http.Header, prefix string) {
	for k, vs := range src {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Type", "Content-Length", "Content-Encoding":
			continue
		}
		for _, v := range vs {
			dst.Add(prefix+k, v)
		}
	}
}

// list splits the values of a comma-separated query parameter, which may
// also be repeated: sort=-n,title and sort=-n&sort=title are the same.
// Empty entries are dropped.
func list(vs []string) []string {
	var out []string
	for _, v := range vs {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// checkQuery refuses query parameters other than allowed, and scalar ones
// given more than once, so that a typo is an error rather than ignored.
func checkQuery(r *http.Request, scalars []string, lists ...string) error {
	q := r.URL.Query()
	for name, vs := range q {
		switch {
		case slices.Contains(scalars, name):
			if len(vs) > 1 {
				return invalid("query parameter %q is given %d times; give it once", name, len(vs))
			}
		case slices.Contains(lists, name):
		default:
			known := slices.Concat(scalars, lists)
			if len(known) == 0 {
				return invalid("unknown query parameter %q: %s %s takes none", name, r.Method, r.URL.Path)
			}
			return invalid("unknown query parameter %q: use %s", name, strings.Join(known, ", "))
		}
	}
	return nil
}
