package rest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/rest"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/token"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// The tests in this file are about the REST layer's own protocol work: the
// Connect code to HTTP status mapping, the exact Connect requests it builds,
// headers in both directions, body limits and routing. They serve an
// instrumented RecordService (recorder) that records what reaches it and
// answers what a test tells it to, since no real handler can be asked for
// every Connect code. What the real handlers do over REST is in
// scenarios_test.go.

// recorder is a RecordService that keeps the requests it gets and answers
// with reply.
type recorder struct {
	dataplanev1connect.UnimplementedRecordServiceHandler
	dataplanev1connect.UnimplementedCollectionServiceHandler

	mu      sync.Mutex
	got     []proto.Message
	headers []http.Header
	// reply answers a request; nil answers an empty success.
	reply func(ctx context.Context, msg proto.Message) (proto.Message, http.Header, error)
}

func (rc *recorder) record(ctx context.Context, msg proto.Message, h http.Header) (proto.Message, http.Header, error) {
	rc.mu.Lock()
	rc.got = append(rc.got, msg)
	rc.headers = append(rc.headers, h)
	reply := rc.reply
	rc.mu.Unlock()
	if reply == nil {
		return nil, nil, nil
	}
	return reply(ctx, msg)
}

func (rc *recorder) calls() ([]proto.Message, []http.Header) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.got, rc.headers
}

// serve runs one RPC on rc: its request goes to record, whose answer (or
// a zero Res) comes back with the answer's headers.
func serve[Req, Res any](ctx context.Context, rc *recorder, req *connect.Request[Req]) (*connect.Response[Res], error) {
	out, h, err := rc.record(ctx, any(req.Msg).(proto.Message), req.Header().Clone())
	if err != nil {
		return nil, err
	}
	res := new(Res)
	if out != nil {
		res = any(out).(*Res)
	}
	resp := connect.NewResponse(res)
	for k, vs := range h {
		resp.Header()[k] = vs
	}
	resp.Trailer().Set("Served-By", "recorder")
	return resp, nil
}

func (rc *recorder) GetRecord(ctx context.Context, req *connect.Request[dataplanev1.GetRecordRequest]) (*connect.Response[dataplanev1.GetRecordResponse], error) {
	return serve[dataplanev1.GetRecordRequest, dataplanev1.GetRecordResponse](ctx, rc, req)
}

func (rc *recorder) CreateRecord(ctx context.Context, req *connect.Request[dataplanev1.CreateRecordRequest]) (*connect.Response[dataplanev1.CreateRecordResponse], error) {
	return serve[dataplanev1.CreateRecordRequest, dataplanev1.CreateRecordResponse](ctx, rc, req)
}

func (rc *recorder) UpdateRecord(ctx context.Context, req *connect.Request[dataplanev1.UpdateRecordRequest]) (*connect.Response[dataplanev1.UpdateRecordResponse], error) {
	return serve[dataplanev1.UpdateRecordRequest, dataplanev1.UpdateRecordResponse](ctx, rc, req)
}

func (rc *recorder) ReplaceRecord(ctx context.Context, req *connect.Request[dataplanev1.ReplaceRecordRequest]) (*connect.Response[dataplanev1.ReplaceRecordResponse], error) {
	return serve[dataplanev1.ReplaceRecordRequest, dataplanev1.ReplaceRecordResponse](ctx, rc, req)
}

func (rc *recorder) UpsertRecord(ctx context.Context, req *connect.Request[dataplanev1.UpsertRecordRequest]) (*connect.Response[dataplanev1.UpsertRecordResponse], error) {
	return serve[dataplanev1.UpsertRecordRequest, dataplanev1.UpsertRecordResponse](ctx, rc, req)
}

func (rc *recorder) DeleteRecord(ctx context.Context, req *connect.Request[dataplanev1.DeleteRecordRequest]) (*connect.Response[dataplanev1.DeleteRecordResponse], error) {
	return serve[dataplanev1.DeleteRecordRequest, dataplanev1.DeleteRecordResponse](ctx, rc, req)
}

func (rc *recorder) QueryRecords(ctx context.Context, req *connect.Request[dataplanev1.QueryRecordsRequest]) (*connect.Response[dataplanev1.QueryRecordsResponse], error) {
	return serve[dataplanev1.QueryRecordsRequest, dataplanev1.QueryRecordsResponse](ctx, rc, req)
}

func (rc *recorder) Batch(ctx context.Context, req *connect.Request[dataplanev1.BatchRequest]) (*connect.Response[dataplanev1.BatchResponse], error) {
	return serve[dataplanev1.BatchRequest, dataplanev1.BatchResponse](ctx, rc, req)
}

func (rc *recorder) AlterCollection(ctx context.Context, req *connect.Request[dataplanev1.AlterCollectionRequest]) (*connect.Response[dataplanev1.AlterCollectionResponse], error) {
	return serve[dataplanev1.AlterCollectionRequest, dataplanev1.AlterCollectionResponse](ctx, rc, req)
}

// protocolEnv is a region with one tenant and its secret key, serving REST
// and Connect over a recorder.
type protocolEnv struct {
	url string
	rc  *recorder
	key http.Header
}

func newProtocolEnv(t *testing.T, cfg rest.Config) *protocolEnv {
	t.Helper()
	r := newRegion(t)
	ref := r.tenant(t)
	rc := &recorder{}
	return &protocolEnv{url: r.server(t, rc, rc, cfg), rc: rc, key: http.Header{"Apikey": {r.key(t, ref, apikeys.KindSecret)}}}
}

// with returns the key header plus kv pairs.
func (e *protocolEnv) with(kv ...string) http.Header {
	h := e.key.Clone()
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// allCodes is every Connect code, and one outside the set.
var allCodes = []connect.Code{
	connect.CodeCanceled, connect.CodeUnknown, connect.CodeInvalidArgument,
	connect.CodeDeadlineExceeded, connect.CodeNotFound, connect.CodeAlreadyExists,
	connect.CodePermissionDenied, connect.CodeResourceExhausted, connect.CodeFailedPrecondition,
	connect.CodeAborted, connect.CodeOutOfRange, connect.CodeUnimplemented, connect.CodeInternal,
	connect.CodeUnavailable, connect.CodeDataLoss, connect.CodeUnauthenticated, connect.Code(99),
}

// The table of the Connect protocol specification, "Error Codes".
var documentedStatus = map[connect.Code]int{
	connect.CodeCanceled: 499, connect.CodeUnknown: 500, connect.CodeInvalidArgument: 400,
	connect.CodeDeadlineExceeded: 504, connect.CodeNotFound: 404, connect.CodeAlreadyExists: 409,
	connect.CodePermissionDenied: 403, connect.CodeResourceExhausted: 429, connect.CodeFailedPrecondition: 400,
	connect.CodeAborted: 409, connect.CodeOutOfRange: 400, connect.CodeUnimplemented: 501,
	connect.CodeInternal: 500, connect.CodeUnavailable: 503, connect.CodeDataLoss: 500,
	connect.CodeUnauthenticated: 401, connect.Code(99): 500,
}

func TestHTTPStatusIsConnectsTable(t *testing.T) {
	t.Parallel()
	for _, code := range allCodes {
		if got, want := rest.HTTPStatus(code), documentedStatus[code]; got != want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", code, got, want)
		}
	}
}

// For every code, the REST answer has the status and the JSON error body
// (code, message, details) that Connect's own unary JSON protocol sends for
// the same handler error, and the error's metadata as headers.
func TestErrorsMatchConnectForEveryCode(t *testing.T) {
	t.Parallel()
	e := newProtocolEnv(t, rest.Config{})
	e.rc.reply = func(_ context.Context, msg proto.Message) (proto.Message, http.Header, error) {
		n, _ := strconv.Atoi(msg.(*dataplanev1.GetRecordRequest).GetId())
		code := connect.Code(n)
		err := connect.NewError(code, fmt.Errorf("failure %q <&> of code %v", "x", code))
		err.Meta().Set("Retry-After", "7")
		if code == connect.CodeInvalidArgument {
			d, derr := connect.NewErrorDetail(&dataplanev1.RenameField{From: "a", To: "b"})
			if derr != nil {
				return nil, nil, derr
			}
			err.AddDetail(d)
		}
		return nil, nil, err
	}
	for _, code := range allCodes {
		t.Run(code.String(), func(t *testing.T) {
			t.Parallel()
			id := strconv.Itoa(int(code))
			got := send(t, http.MethodGet, e.url+"/v1/collections/posts/records/"+id, e.key, "")
			viaConnect := send(t, http.MethodPost, e.url+"/sovereign.dataplane.v1.RecordService/GetRecord",
				e.with("Content-Type", "application/json", "Connect-Protocol-Version", "1"),
				`{"collection":"posts","id":"`+id+`"}`)
			if got.status != documentedStatus[code] || got.status != viaConnect.status {
				t.Errorf("REST status %d, Connect %d, documented %d", got.status, viaConnect.status, documentedStatus[code])
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if ra := got.header.Get("Retry-After"); ra != "7" {
				t.Errorf("error metadata lost: Retry-After %q", ra)
			}
			if !reflect.DeepEqual(got.json(t), viaConnect.json(t)) {
				t.Errorf("REST error body %s\nConnect's         %s", got.body, viaConnect.body)
			}
			if wantDetails := code == connect.CodeInvalidArgument; strings.Contains(string(got.body), `"details"`) != wantDetails {
				t.Errorf("details present = %v, want %v: %s", !wantDetails, wantDetails, got.body)
			}
		})
	}
}

// An error that is not a Connect error is an internal error that names the
// request id and nothing of the error.
func TestNonConnectErrorIsInternal(t *testing.T) {
	t.Parallel()
	e := newProtocolEnv(t, rest.Config{})
	e.rc.reply = func(context.Context, proto.Message) (proto.Message, http.Header, error) {
		return nil, nil, errors.New(`ERROR: relation "t_secret"."posts" does not exist (SQLSTATE 42P01)`)
	}
	got := send(t, http.MethodGet, e.url+"/v1/collections/posts/records/1", e.with("X-Request-Id", "req-123"), "")
	body := got.json(t)
	if got.status != 500 || body["code"] != "internal" || body["message"] != "internal error (request id req-123)" {
		t.Fatalf("got %d %s", got.status, got.body)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	ref := r.tenant(t)
	secret := r.key(t, ref, apikeys.KindSecret)
	paused := r.tenant(t)
	pausedKey := r.key(t, paused, apikeys.KindSecret)
	if _, err := r.tenants.SetState(t.Context(), tenants.SetStateParams{Ref: paused, State: tenants.StatePaused}); err != nil {
		t.Fatal(err)
	}
	rc := &recorder{}
	url := r.server(t, rc, rc, rest.Config{})
	// The group ends when its parallel scenarios have.
	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range []struct {
			name   string
			header http.Header
			status int
			code   string
			msg    string
		}{
			{"no key", nil, 401, "unauthenticated", keyauth.MissingKeyMessage},
			{"basic auth is no key", http.Header{"Authorization": {"Basic " + secret}}, 401, "unauthenticated", keyauth.MissingKeyMessage},
			{"malformed key", http.Header{"Apikey": {secret[:len(secret)-3]}}, 401, "unauthenticated", "malformed API key"},
			{"unknown key", http.Header{"Apikey": {token.New(token.SecretKey)}}, 401, "unauthenticated", "unknown API key"},
			{"key of a paused project", http.Header{"Apikey": {pausedKey}}, 400, "failed_precondition", "project paused"},
			{"apikey header", http.Header{"Apikey": {secret}}, 200, "", ""},
			{"bearer", http.Header{"Authorization": {"Bearer " + secret}}, 200, "", ""},
		} {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				got := send(t, http.MethodGet, url+"/v1/collections/posts/records/abc", sc.header, "")
				if got.status != sc.status {
					t.Fatalf("status %d, want %d: %s", got.status, sc.status, got.body)
				}
				if sc.code == "" {
					return
				}
				body := got.json(t)
				if body["code"] != sc.code || !strings.Contains(body["message"].(string), sc.msg) {
					t.Fatalf("got %s, want %s mentioning %q", got.body, sc.code, sc.msg)
				}
				// The same answer as Connect's.
				viaConnect := send(t, http.MethodPost, url+"/sovereign.dataplane.v1.RecordService/GetRecord",
					withHeader(sc.header, "Content-Type", "application/json"), `{"collection":"posts","id":"abc"}`)
				if !reflect.DeepEqual(body, viaConnect.json(t)) || viaConnect.status != got.status {
					t.Errorf("REST %d %s, Connect %d %s", got.status, got.body, viaConnect.status, viaConnect.body)
				}
			})
		}
	})
	// Refused requests never reach the handler.
	got, _ := rc.calls()
	if len(got) != 2 {
		t.Errorf("the handler ran %d times, want 2 (the authenticated requests)", len(got))
	}
}

func withHeader(h http.Header, kv ...string) http.Header {
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Each route builds the Connect request the same call over Connect would
// carry, with the HTTP request's headers, and answers with the handler's
// response headers.
func TestRequestsBecomeConnectRequests(t *testing.T) {
	t.Parallel()
	e := newProtocolEnv(t, rest.Config{})
	rec := map[string]any{"id": "0190f0e0-0000-7000-8000-000000000001", "title": "hi", "version": 4.0}
	e.rc.reply = func(_ context.Context, msg proto.Message) (proto.Message, http.Header, error) {
		h := http.Header{"Idempotent-Replayed": {"true"}}
		r, _ := structpb.NewStruct(rec)
		switch msg.(type) {
		case *dataplanev1.CreateRecordRequest:
			return &dataplanev1.CreateRecordResponse{Record: r}, h, nil
		case *dataplanev1.UpdateRecordRequest:
			return &dataplanev1.UpdateRecordResponse{Record: r}, h, nil
		case *dataplanev1.UpsertRecordRequest:
			return &dataplanev1.UpsertRecordResponse{Record: r, Created: true}, h, nil
		case *dataplanev1.QueryRecordsRequest:
			return &dataplanev1.QueryRecordsResponse{Records: []*structpb.Struct{r}, NextCursor: "c2", Total: 12, TotalEstimated: true}, h, nil
		}
		return nil, h, nil
	}
	for _, sc := range []struct {
		name         string
		method, path string
		header       http.Header
		body         string
		want         proto.Message
		status       int
		answer       []string // fragments of the answer
		etag         string
	}{
		{name: "query with every parameter", method: "GET",
			path: "/v1/collections/posts/records?filter=n+%3E+5+%26%26+title.startsWith(%22a%22)&sort=-n,+title&sort=id&limit=20&cursor=abc&fields=title,n&count=exact&expand=author,tags",
			want: &dataplanev1.QueryRecordsRequest{Collection: "posts", Filter: `n > 5 && title.startsWith("a")`, Sort: []string{"-n", "title", "id"},
				Limit: 20, Cursor: "abc", Fields: []string{"title", "n"}, Count: dataplanev1.CountMode_COUNT_MODE_EXACT, Expand: []string{"author", "tags"}},
			status: 200, answer: []string{`"records":[{`, `"next_cursor":"c2"`, `"total":12`, `"total_estimated":true`}},
		{name: "query without count has no total", method: "GET", path: "/v1/collections/posts/records",
			want: &dataplanev1.QueryRecordsRequest{Collection: "posts"}, status: 200, answer: []string{`"next_cursor":"c2"`, `!"total"`}},
		{name: "estimated count", method: "GET", path: "/v1/collections/posts/records?count=estimated",
			want: &dataplanev1.QueryRecordsRequest{Collection: "posts", Count: dataplanev1.CountMode_COUNT_MODE_ESTIMATED}, status: 200, answer: []string{`"total":12`}},
		{name: "get with fields and expand", method: "GET", path: "/v1/collections/posts/records/r1?fields=title&expand=author",
			want: &dataplanev1.GetRecordRequest{Collection: "posts", Id: "r1", Fields: []string{"title"}, Expand: []string{"author"}}, status: 200},
		{name: "create", method: "POST", path: "/v1/collections/posts/records", header: http.Header{"Idempotency-Key": {"k-1"}},
			body:   `{"title": "hi", "n": 3, "tags": ["a"], "meta": {"x": null}}`,
			want:   &dataplanev1.CreateRecordRequest{Collection: "posts", Record: mustStruct(t, map[string]any{"title": "hi", "n": 3, "tags": []any{"a"}, "meta": map[string]any{"x": nil}})},
			status: 201, answer: []string{`"title":"hi"`}, etag: `"4"`},
		{name: "update with a quoted If-Match", method: "PATCH", path: "/v1/collections/posts/records/r1", header: http.Header{"If-Match": {`"3"`}},
			body: `{"n": null}`, want: &dataplanev1.UpdateRecordRequest{Collection: "posts", Id: "r1", Patch: mustStruct(t, map[string]any{"n": nil}), ExpectedVersion: 3},
			status: 200, etag: `"4"`},
		{name: "replace with a bare If-Match", method: "PUT", path: "/v1/collections/posts/records/r1", header: http.Header{"If-Match": {"7"}},
			body: `{"title": "x"}`, want: &dataplanev1.ReplaceRecordRequest{Collection: "posts", Id: "r1", Record: mustStruct(t, map[string]any{"title": "x"}), ExpectedVersion: 7},
			status: 200},
		{name: "If-Match * checks nothing", method: "DELETE", path: "/v1/collections/posts/records/r1", header: http.Header{"If-Match": {"*"}},
			want: &dataplanev1.DeleteRecordRequest{Collection: "posts", Id: "r1"}, status: 204},
		{name: "delete with If-Match", method: "DELETE", path: "/v1/collections/posts/records/r1", header: http.Header{"If-Match": {`"2"`}},
			want: &dataplanev1.DeleteRecordRequest{Collection: "posts", Id: "r1", ExpectedVersion: 2}, status: 204},
		{name: "upsert takes the id from the path", method: "PUT", path: "/v1/collections/posts/records/r1?upsert=true", body: `{"title": "x"}`,
			want: &dataplanev1.UpsertRecordRequest{Collection: "posts", Record: mustStruct(t, map[string]any{"id": "r1", "title": "x"})}, status: 201, etag: `"4"`},
		{name: "upsert=false replaces", method: "PUT", path: "/v1/collections/posts/records/r1?upsert=false", body: `{}`,
			want: &dataplanev1.ReplaceRecordRequest{Collection: "posts", Id: "r1", Record: mustStruct(t, map[string]any{})}, status: 200},
		{name: "alter takes the name from the path", method: "PATCH", path: "/v1/collections/posts",
			body: `{"ops": [{"add_field": {"name": "n", "type": "integer"}}, {"renameField": {"from": "a", "to": "b"}}, {"drop_index": "ix"}]}`,
			want: &dataplanev1.AlterCollectionRequest{Name: "posts", Ops: []*dataplanev1.AlterOp{
				{Op: &dataplanev1.AlterOp_AddField{AddField: &dataplanev1.Field{Name: "n", Type: "integer"}}},
				{Op: &dataplanev1.AlterOp_RenameField{RenameField: &dataplanev1.RenameField{From: "a", To: "b"}}},
				{Op: &dataplanev1.AlterOp_DropIndex{DropIndex: "ix"}},
			}}, status: 200},
		{name: "batch", method: "POST", path: "/v1/batch", header: http.Header{"Content-Type": {"application/json; charset=utf-8"}},
			body: `{"ops": [{"create": {"collection": "posts", "record": {"n": 1}}}, {"delete": {"collection": "posts", "id": "r1", "expected_version": "2"}}]}`,
			want: &dataplanev1.BatchRequest{Ops: []*dataplanev1.BatchOp{
				{Op: &dataplanev1.BatchOp_Create{Create: &dataplanev1.CreateRecordRequest{Collection: "posts", Record: mustStruct(t, map[string]any{"n": 1})}}},
				{Op: &dataplanev1.BatchOp_Delete{Delete: &dataplanev1.DeleteRecordRequest{Collection: "posts", Id: "r1", ExpectedVersion: 2}}},
			}}, status: 200, answer: []string{`"results":[]`}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			before, _ := e.rc.calls()
			h := withHeader(e.key, "X-Custom", "passed")
			for k, vs := range sc.header {
				h[k] = vs
			}
			got := send(t, sc.method, e.url+sc.path, h, sc.body)
			if got.status != sc.status {
				t.Fatalf("status %d, want %d: %s", got.status, sc.status, got.body)
			}
			msgs, headers := e.rc.calls()
			if len(msgs) != len(before)+1 {
				t.Fatalf("the handler ran %d times, want once", len(msgs)-len(before))
			}
			if m := msgs[len(msgs)-1]; !proto.Equal(m, sc.want) {
				t.Errorf("handler got %v\nwant %v", m, sc.want)
			}
			hh := headers[len(headers)-1]
			for k := range h {
				if hh.Get(k) != h.Get(k) {
					t.Errorf("header %s reached the handler as %q, want %q", k, hh.Get(k), h.Get(k))
				}
			}
			if got.header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("the handler's response header did not come back: %v", got.header)
			}
			// Trailers come back as Connect's unary protocol sends them.
			if got.header.Get("Trailer-Served-By") != "recorder" {
				t.Errorf("the handler's trailer did not come back: %v", got.header)
			}
			if tag := got.header.Get("ETag"); tag != sc.etag {
				t.Errorf("ETag %q, want %q", tag, sc.etag)
			}
			for _, f := range sc.answer {
				if neg, ok := strings.CutPrefix(f, "!"); ok {
					if strings.Contains(string(got.body), neg) {
						t.Errorf("answer %s has %s", got.body, neg)
					}
				} else if !strings.Contains(string(got.body), f) {
					t.Errorf("answer %s lacks %s", got.body, f)
				}
			}
		})
	}
}

// Bad requests are answered by the REST layer with the code and status
// Connect would give, naming what is wrong, without reaching the handler.
func TestBadRequestsNeverReachTheHandler(t *testing.T) {
	t.Parallel()
	e := newProtocolEnv(t, rest.Config{MaxRecordBytes: 100, MaxBatchBytes: 300})
	big := `{"title": "` + strings.Repeat("x", 100) + `"}`
	for _, sc := range []struct {
		name         string
		method, path string
		header       http.Header
		body         string
		status       int
		code, msg    string
		allow        string
	}{
		{name: "malformed JSON names the position", method: "POST", path: "/v1/collections/posts/records",
			body: "{\n  \"title\": \"a\",\n  \"n\" 2\n}", status: 400, code: "invalid_argument", msg: `invalid JSON at line 3, column 7: unexpected character 2, missing ":" after field name`},
		{name: "a record must be an object", method: "POST", path: "/v1/collections/posts/records", body: `[1, 2]`,
			status: 400, code: "invalid_argument", msg: "invalid JSON at line 1, column 1: unexpected token ["},
		{name: "trailing garbage", method: "PATCH", path: "/v1/collections/posts/records/r1", body: `{"a": 1} x`,
			status: 400, code: "invalid_argument", msg: "at line 1, column 10"},
		{name: "empty body", method: "POST", path: "/v1/collections/posts/records", status: 400, code: "invalid_argument", msg: "the request body is empty"},
		{name: "unknown field of a collection", method: "POST", path: "/v1/collections", body: `{"name": "posts", "feilds": []}`,
			status: 400, code: "invalid_argument", msg: `invalid request body at line 1, column 19: unknown field "feilds"`},
		{name: "wrong JSON type", method: "POST", path: "/v1/collections", body: `{"name": "posts", "fields": [{"name": "a", "required": "yes"}]}`,
			status: 400, code: "invalid_argument", msg: `invalid value for bool field required: "yes"`},
		{name: "unknown alter op", method: "PATCH", path: "/v1/collections/posts", body: `{"ops": [{"rename": {}}]}`,
			status: 400, code: "invalid_argument", msg: `unknown field "rename"`},
		{name: "alter body names another collection", method: "PATCH", path: "/v1/collections/posts", body: `{"name": "users", "ops": []}`,
			status: 400, code: "invalid_argument", msg: `the body names collection "users" but the path "posts"`},
		{name: "not JSON", method: "POST", path: "/v1/collections/posts/records", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			body: "title=x", status: 415, code: "invalid_argument", msg: `unsupported Content-Type "application/x-www-form-urlencoded": send application/json`},
		{name: "record body over the limit", method: "POST", path: "/v1/collections/posts/records", body: big,
			status: 413, code: "resource_exhausted", msg: "request body too large: the limit is 100 bytes"},
		{name: "patch body over the limit", method: "PATCH", path: "/v1/collections/posts/records/r1", body: big, status: 413, code: "resource_exhausted"},
		{name: "put body over the limit", method: "PUT", path: "/v1/collections/posts/records/r1?upsert=true", body: big, status: 413, code: "resource_exhausted"},
		{name: "batch body over its limit", method: "POST", path: "/v1/batch", body: `{"ops": [` + strings.Repeat(`{"delete": {"collection": "posts", "id": "r"}},`, 8) + `]}`,
			status: 413, code: "resource_exhausted", msg: "the limit is 300 bytes"},
		{name: "If-Match not a version", method: "PATCH", path: "/v1/collections/posts/records/r1", header: http.Header{"If-Match": {`W/"3"`}}, body: `{}`,
			status: 400, code: "invalid_argument", msg: `If-Match must be one record version, e.g. If-Match: "3" (the ETag of the record), got "W/\"3\""`},
		{name: "If-Match zero", method: "DELETE", path: "/v1/collections/posts/records/r1", header: http.Header{"If-Match": {"0"}},
			status: 400, code: "invalid_argument", msg: "If-Match must be one record version"},
		{name: "If-Match with two versions", method: "PUT", path: "/v1/collections/posts/records/r1", header: http.Header{"If-Match": {`"1", "2"`}}, body: `{}`,
			status: 400, code: "invalid_argument", msg: "If-Match must be one record version"},
		{name: "If-Match with upsert", method: "PUT", path: "/v1/collections/posts/records/r1?upsert=true", header: http.Header{"If-Match": {"1"}}, body: `{}`,
			status: 400, code: "invalid_argument", msg: "If-Match cannot be combined with upsert=true"},
		{name: "upsert body with another id", method: "PUT", path: "/v1/collections/posts/records/r1?upsert=true", body: `{"id": "r2"}`,
			status: 400, code: "invalid_argument", msg: `the body's id "r2" differs from the path's "r1"`},
		{name: "upsert not a bool", method: "PUT", path: "/v1/collections/posts/records/r1?upsert=yes%20please", body: `{}`,
			status: 400, code: "invalid_argument", msg: `upsert must be true or false, got "yes please"`},
		{name: "limit not a number", method: "GET", path: "/v1/collections/posts/records?limit=ten",
			status: 400, code: "invalid_argument", msg: `limit must be a whole number from 1 to 1000, got "ten"`},
		{name: "count unknown", method: "GET", path: "/v1/collections/posts/records?count=all",
			status: 400, code: "invalid_argument", msg: `count must be exact, estimated or none, got "all"`},
		{name: "unknown query parameter", method: "GET", path: "/v1/collections/posts/records?filtr=n>1",
			status: 400, code: "invalid_argument", msg: `unknown query parameter "filtr": use filter, limit, cursor, count, sort, fields, expand`},
		{name: "filter given twice", method: "GET", path: "/v1/collections/posts/records?filter=a&filter=b",
			status: 400, code: "invalid_argument", msg: `query parameter "filter" is given 2 times; give it once`},
		{name: "query parameter on a route without any", method: "DELETE", path: "/v1/collections/posts?force=true",
			status: 400, code: "invalid_argument", msg: `unknown query parameter "force": DELETE /v1/collections/posts takes none`},
		{name: "unknown path", method: "GET", path: "/v1/tables", status: 404, code: "not_found", msg: "no such route: /v1/tables"},
		{name: "too deep a path", method: "GET", path: "/v1/collections/posts/records/r1/history", status: 404, code: "not_found"},
		{name: "trailing slash", method: "GET", path: "/v1/collections/", status: 404, code: "not_found"},
		{name: "wrong method on the collections", method: "DELETE", path: "/v1/collections", status: 405, code: "unimplemented",
			msg: "method DELETE is not allowed on /v1/collections; use GET, HEAD, POST", allow: "GET, HEAD, POST"},
		{name: "PUT on a collection", method: "PUT", path: "/v1/collections/posts", body: `{}`, status: 405, allow: "GET, HEAD, PATCH, DELETE"},
		{name: "POST on a record", method: "POST", path: "/v1/collections/posts/records/r1", body: `{}`, status: 405, allow: "GET, HEAD, PUT, PATCH, DELETE"},
		{name: "GET on batch", method: "GET", path: "/v1/batch", status: 405, allow: "POST"},
		{name: "OPTIONS without a preflight", method: "OPTIONS", path: "/v1/collections/posts/records", status: 405, allow: "GET, HEAD, POST"},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			got := send(t, sc.method, e.url+sc.path, withHeader(e.key, flatten(sc.header)...), sc.body)
			if got.status != sc.status {
				t.Fatalf("status %d, want %d: %s", got.status, sc.status, got.body)
			}
			body := got.json(t)
			if sc.code != "" && body["code"] != sc.code {
				t.Errorf("code %v, want %s", body["code"], sc.code)
			}
			if msg, _ := body["message"].(string); !strings.Contains(msg, sc.msg) {
				t.Errorf("message %q, want it to contain %q", msg, sc.msg)
			}
			if a := got.header.Get("Allow"); a != sc.allow {
				t.Errorf("Allow %q, want %q", a, sc.allow)
			}
		})
	}
	t.Cleanup(func() {
		if got, _ := e.rc.calls(); len(got) != 0 {
			t.Errorf("the handler ran for %v", got)
		}
	})
}

func flatten(h http.Header) []string {
	var kv []string
	for k, vs := range h {
		for _, v := range vs {
			kv = append(kv, k, v)
		}
	}
	return kv
}

// A body without Content-Length (chunked) is cut at the limit as it is
// read.
func TestChunkedBodyOverTheLimit(t *testing.T) {
	t.Parallel()
	e := newProtocolEnv(t, rest.Config{MaxRecordBytes: 1000})
	// A MultiReader has no known length: the client sends it chunked.
	body := io.MultiReader(strings.NewReader(`{"title": "`), strings.NewReader(strings.Repeat("x", 10000)), strings.NewReader(`"}`))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+"/v1/collections/posts/records", body)
	if err != nil {
		t.Fatal(err)
	}
	if req.ContentLength != 0 {
		t.Fatalf("ContentLength %d: the body would not be chunked", req.ContentLength)
	}
	req.Header = e.with()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || !strings.Contains(string(b), "the limit is 1000 bytes") {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
	if got, _ := e.rc.calls(); len(got) != 0 {
		t.Errorf("the handler ran for %v", got)
	}
}

// A record the records service finds over its size limit is 413 (the
// request's fault), while any other ResourceExhausted stays 429.
func TestRecordTooLargeIs413(t *testing.T) {
	t.Parallel()
	e := newProtocolEnv(t, rest.Config{})
	e.rc.reply = func(_ context.Context, msg proto.Message) (proto.Message, http.Header, error) {
		if msg.(*dataplanev1.CreateRecordRequest).GetCollection() == "big" {
			return nil, nil, connect.NewError(connect.CodeResourceExhausted, &records.Error{Kind: records.KindTooLarge, Msg: "record is 2000000 bytes of JSON, over the limit"})
		}
		return nil, nil, connect.NewError(connect.CodeResourceExhausted, errors.New("too many requests; retry in 1s"))
	}
	got := send(t, http.MethodPost, e.url+"/v1/collections/big/records", e.key, `{"a": 1}`)
	if body := got.json(t); got.status != 413 || body["code"] != "resource_exhausted" || body["message"] != "record is 2000000 bytes of JSON, over the limit" {
		t.Errorf("too large: %d %s", got.status, got.body)
	}
	got = send(t, http.MethodPost, e.url+"/v1/collections/posts/records", e.key, `{"a": 1}`)
	if body := got.json(t); got.status != 429 || body["code"] != "resource_exhausted" {
		t.Errorf("rate limited: %d %s", got.status, got.body)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	rc := &recorder{}
	keys := &apikeys.Keys{}
	for _, sc := range []struct {
		name string
		cfg  rest.Config
		err  string
	}{
		{"no handlers", rest.Config{Keys: keys}, "Config.Collections, Config.Records and Config.Keys are required"},
		{"no keys", rest.Config{Collections: rc, Records: rc}, "Config.Collections, Config.Records and Config.Keys are required"},
		{"negative limit", rest.Config{Collections: rc, Records: rc, Keys: keys, MaxBatchBytes: -1}, "must not be negative"},
		{"defaults", rest.Config{Collections: rc, Records: rc, Keys: keys}, ""},
	} {
		_, err := rest.New(sc.cfg)
		if (err == nil) != (sc.err == "") || (err != nil && !strings.Contains(err.Error(), sc.err)) {
			t.Errorf("%s: got %v, want %q", sc.name, err, sc.err)
		}
	}
}
