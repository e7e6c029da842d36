package rest_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/rest"
	"github.com/sovereign-backend/sovereign/dataplane/rules"
	"github.com/sovereign-backend/sovereign/dataplane/rules/rulesrpc"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/schema/schemarpc"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/broker"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// GET and PUT /v1/collections/{name}/rules, and what a publishable key
// can do with records once the rules let it.
func TestRulesRoutes(t *testing.T) {
	t.Parallel()
	r := newRegion(t)
	db := tenantdb.New(r.pool)
	st, err := schema.NewStore(schema.StoreConfig{DB: db, Broker: broker.NewMemory(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := records.New(records.Config{DB: db, Schema: st})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.New(rules.Config{Schema: st})
	if err != nil {
		t.Fatal(err)
	}
	col, rec, rh := schemarpc.NewHandler(st), records.NewHandler(svc, nil), rulesrpc.NewHandler(rs)
	api, err := rest.New(rest.Config{Collections: col, Records: rec, Keys: r.keys})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.AddRules(rh); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	opts := connect.WithInterceptors(keyauth.NewInterceptor(r.keys))
	mux.Handle(dataplanev1connect.NewRulesServiceHandler(rh, opts))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ref := r.tenant(t)
	sk, pk := r.key(t, ref, apikeys.KindSecret), r.key(t, ref, apikeys.KindPublishable)
	secretKey, publishable := http.Header{"Apikey": {sk}}, http.Header{"Apikey": {pk}}

	for _, sc := range []struct {
		name         string
		method, path string
		key          http.Header
		body         string
		status       int
		want         []string
	}{
		{"a collection", "POST", "/v1/collections", secretKey, `{"name": "posts", "fields": [{"name": "title", "type": "text"}, {"name": "owner", "type": "text"}]}`, 201, nil},
		{"a record", "POST", "/v1/collections/posts/records", secretKey, `{"title": "hello", "owner": "alice"}`, 201, nil},
		{"no rules yet", "GET", "/v1/collections/posts/rules", secretKey, "", 200, []string{`{}`}},
		{"publishable key before rules", "GET", "/v1/collections/posts/records", publishable, "", 403, []string{"access rules are not set yet"}},
		{"rules need the secret key", "PUT", "/v1/collections/posts/rules", publishable, `{"list": "true"}`, 403, []string{"permission_denied"}},
		{"nor can it read them", "GET", "/v1/collections/posts/rules", publishable, "", 403, []string{"permission_denied"}},
		{"a bad rule, with its position", "PUT", "/v1/collections/posts/rules", secretKey, `{"list": "true", "view": "record.ownr == auth.uid"}`, 400,
			[]string{`"invalid_argument"`, `view: line 1, column 8: unknown field \"ownr\"`}},
		{"not JSON", "PUT", "/v1/collections/posts/rules", secretKey, `{"list": `, 400, []string{"invalid JSON"}},
		{"an unknown rule name", "PUT", "/v1/collections/posts/rules", secretKey, `{"read": "true"}`, 400, []string{"unknown field"}},
		{"an unknown collection", "PUT", "/v1/collections/nope/rules", secretKey, `{"list": "true"}`, 404, []string{`collection \"nope\" not found`}},
		{"the issue's example", "PUT", "/v1/collections/posts/rules", secretKey,
			`{"list": "auth.uid != ''", "view": "record.owner == auth.uid", "create": "auth.uid != ''", "update": "record.owner == auth.uid", "delete": "false"}`, 200,
			[]string{`"list":"auth.uid != ''"`, `"delete":"false"`}},
		{"read back", "GET", "/v1/collections/posts/rules", secretKey, "", 200, []string{`"view":"record.owner == auth.uid"`, `"update":"record.owner == auth.uid"`}},
		{"anon lists nothing", "GET", "/v1/collections/posts/records?count=exact", publishable, "", 200, []string{`"records":[]`, `"total":0`}},
		{"anon cannot create", "POST", "/v1/collections/posts/records", publishable, `{"title": "x"}`, 403, []string{"do not allow this write"}},
		{"open the list", "PUT", "/v1/collections/posts/rules", secretKey, `{"list": "true", "view": null}`, 200, nil},
		{"a missing rule is gone", "GET", "/v1/collections/posts/rules", secretKey, "", 200, []string{`{"list":"true"}`}},
		{"anon lists now", "GET", "/v1/collections/posts/records", publishable, "", 200, []string{`"title":"hello"`}},
		{"another method", "POST", "/v1/collections/posts/rules", secretKey, `{}`, 405, []string{"GET, HEAD, PUT"}},
	} {
		got := send(t, sc.method, srv.URL+sc.path, sc.key, sc.body)
		if got.status != sc.status {
			t.Errorf("%s: %s %s: status %d, want %d: %s", sc.name, sc.method, sc.path, got.status, sc.status, got.body)
			continue
		}
		for _, w := range sc.want {
			if !strings.Contains(string(got.body), w) && !strings.Contains(got.header.Get("Allow"), w) {
				t.Errorf("%s: answer %s lacks %s", sc.name, got.body, w)
			}
		}
	}
	// The same service over Connect.
	client := dataplanev1connect.NewRulesServiceClient(srv.Client(), srv.URL)
	creq := connect.NewRequest(&dataplanev1.GetRulesRequest{Collection: "posts"})
	creq.Header().Set("Apikey", sk)
	res, err := client.GetRules(t.Context(), creq)
	if err != nil || res.Msg.GetRules().GetList() != "true" || res.Msg.GetRules().View != nil {
		t.Errorf("GetRules over Connect: %v (%v)", res, err)
	}
	if err := (&rest.API{}).AddRules(nil); err == nil {
		t.Error("AddRules took a nil handler")
	}
}
