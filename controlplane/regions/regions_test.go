package regions_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/controlplane/cptest"
	"github.com/sovereign-backend/sovereign/controlplane/regions"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	euSecret = "eu-secret-0123456789abcdef"
	usSecret = "us-secret-0123456789abcdef"
)

// bearer is a client option sending a region secret.
func bearer(secret string) connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+secret)
			return next(ctx, req)
		}
	}))
}

func TestRegionService(t *testing.T) {
	t.Parallel()
	pool := cptest.DB(t)
	reg, err := regions.New(regions.Config{Pool: pool, Secrets: map[string]string{"eu-1": euSecret, "us-1": usSecret}})
	if err != nil {
		t.Fatal(err)
	}
	url := cptest.Serve(t, func(mux *http.ServeMux, opts ...connect.HandlerOption) {
		mux.Handle(controlplanev1connect.NewRegionServiceHandler(regions.NewHandler(reg), opts...))
	})
	user := cptest.Account(t, pool, "dev@example.com")
	client := func(opts ...connect.ClientOption) controlplanev1connect.RegionServiceClient {
		return controlplanev1connect.NewRegionServiceClient(http.DefaultClient, url, opts...)
	}
	ctx := context.Background()

	register := func(name, publicURL string) func(...connect.ClientOption) error {
		return func(opts ...connect.ClientOption) error {
			res, err := client(opts...).RegisterRegion(ctx, connect.NewRequest(&controlplanev1.RegisterRegionRequest{Name: name, PublicUrl: publicURL}))
			if err == nil {
				r := res.Msg.GetRegion()
				if r.GetName() != name || r.GetPublicUrl() != strings.TrimRight(publicURL, "/") || !r.GetHealthy() {
					t.Errorf("registered %v", r)
				}
			}
			return err
		}
	}
	heartbeat := func(name string) func(...connect.ClientOption) error {
		return func(opts ...connect.ClientOption) error {
			_, err := client(opts...).Heartbeat(ctx, connect.NewRequest(&controlplanev1.HeartbeatRequest{Name: name}))
			return err
		}
	}
	list := func(opts ...connect.ClientOption) error {
		_, err := client(opts...).ListRegions(ctx, connect.NewRequest(&controlplanev1.ListRegionsRequest{}))
		return err
	}
	// Sequential: later scenarios build on earlier ones.
	for _, sc := range []struct {
		name string
		call func(...connect.ClientOption) error
		opts []connect.ClientOption
		code connect.Code
	}{
		{"heartbeat/before registering", heartbeat("eu-1"), []connect.ClientOption{bearer(euSecret)}, connect.CodeFailedPrecondition},
		{"register", register("eu-1", "https://eu-1.example.com/"), []connect.ClientOption{bearer(euSecret)}, 0},
		{"register/again with a new URL", register("eu-1", "https://eu-1b.example.com"), []connect.ClientOption{bearer(euSecret)}, 0},
		{"register/another region's secret", register("eu-1", "https://evil.example.com"), []connect.ClientOption{bearer(usSecret)}, connect.CodeUnauthenticated},
		{"register/wrong secret", register("us-1", "https://us.example.com"), []connect.ClientOption{bearer(usSecret + "x")}, connect.CodeUnauthenticated},
		{"register/unknown region", register("ap-1", "https://ap.example.com"), []connect.ClientOption{bearer(usSecret)}, connect.CodeUnauthenticated},
		{"register/no secret", register("us-1", "https://us.example.com"), nil, connect.CodeUnauthenticated},
		{"register/account credentials", register("us-1", "https://us.example.com"), []connect.ClientOption{cptest.As(user)}, connect.CodeUnauthenticated},
		{"register/not a URL", register("us-1", "us.example.com"), []connect.ClientOption{bearer(usSecret)}, connect.CodeInvalidArgument},
		{"register/URL with credentials", register("us-1", "https://a:b@us.example.com"), []connect.ClientOption{bearer(usSecret)}, connect.CodeInvalidArgument},
		{"register/ftp URL", register("us-1", "ftp://us.example.com"), []connect.ClientOption{bearer(usSecret)}, connect.CodeInvalidArgument},
		{"heartbeat", heartbeat("eu-1"), []connect.ClientOption{bearer(euSecret)}, 0},
		{"heartbeat/wrong secret", heartbeat("eu-1"), []connect.ClientOption{bearer(usSecret)}, connect.CodeUnauthenticated},
		{"list/signed in", list, []connect.ClientOption{cptest.As(user)}, 0},
		{"list/anonymous", list, nil, connect.CodeUnauthenticated},
		{"list/region secret is no account", list, []connect.ClientOption{bearer(euSecret)}, connect.CodeUnauthenticated},
	} {
		if err := sc.call(sc.opts...); cptest.Code(err) != sc.code {
			t.Errorf("%s: code %v, want %v (err %v)", sc.name, cptest.Code(err), sc.code, err)
		}
	}

	// us-1 registered long ago and went quiet: listed, but not healthy.
	if err := register("us-1", "http://us-1.example.com:7071")(bearer(usSecret)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE controlplane.regions SET last_heartbeat_at = now() - interval '31 seconds' WHERE name = 'us-1'`); err != nil {
		t.Fatal(err)
	}
	res, err := client(cptest.As(user)).ListRegions(ctx, connect.NewRequest(&controlplanev1.ListRegionsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	got := res.Msg.GetRegions()
	if len(got) != 2 || got[0].GetName() != "eu-1" || got[1].GetName() != "us-1" {
		t.Fatalf("regions %v", got)
	}
	if !got[0].GetHealthy() || got[0].GetPublicUrl() != "https://eu-1b.example.com" || got[0].GetLastHeartbeatAt() == nil || got[0].GetRegisteredAt() == nil {
		t.Errorf("eu-1: %v", got[0])
	}
	if got[1].GetHealthy() || time.Since(got[1].GetLastHeartbeatAt().AsTime()) < 30*time.Second {
		t.Errorf("us-1 should be unhealthy: %v", got[1])
	}
}

// The admin client reaches the region's registered URL with its secret.
func TestAdminClient(t *testing.T) {
	t.Parallel()
	pool := cptest.DB(t)
	fake := cptest.NewFakeDataPlane(t, euSecret)
	reg, err := regions.New(regions.Config{Pool: pool, Secrets: map[string]string{"eu-1": euSecret, "us-1": usSecret}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := reg.AdminClient(ctx, "eu-1"); err == nil {
		t.Error("admin client for a region that never registered")
	}
	if _, err := reg.AdminClient(ctx, "ap-1"); err == nil {
		t.Error("admin client for a region without a secret")
	}
	if _, err := reg.RegionRegister(ctx, regions.RegionRegisterParams{Name: "eu-1", PublicURL: fake.URL}); err != nil {
		t.Fatal(err)
	}
	c, err := reg.AdminClient(ctx, "eu-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ProvisionTenant(ctx, connect.NewRequest(&dataplanev1.ProvisionTenantRequest{Ref: "abcdefabcdef"})); err != nil {
		t.Fatalf("provision through the admin client: %v", err)
	}
	if _, ok := fake.Tenant("abcdefabcdef"); !ok {
		t.Error("the fake data plane did not get the call")
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	got, err := regions.ParseSecrets([]string{"local=0123456789abcdef0123", "eu-1=" + euSecret + ", us-1=" + usSecret})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["eu-1"] != euSecret || got["us-1"] != usSecret || got["local"] != "0123456789abcdef0123" {
		t.Errorf("parsed %v", got)
	}
	for _, bad := range [][]string{
		{"local"},                  // no secret
		{"local=short"},            // too short
		{"Local=0123456789abcdef"}, // bad region name
		{"a=0123456789abcdef", "a=0123456789abcdefgh"}, // twice
	} {
		if _, err := regions.ParseSecrets(bad); err == nil {
			t.Errorf("ParseSecrets(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("ParseSecrets(%q) error shows the secret: %v", bad, err)
		}
	}
	if _, err := regions.New(regions.Config{Pool: cptest.DB(t), Secrets: map[string]string{"x": "short"}}); err == nil {
		t.Error("New accepted a short secret")
	}
	reg, err := regions.New(regions.Config{Pool: cptest.DB(t), Secrets: map[string]string{"eu-1": euSecret}})
	if err != nil {
		t.Fatal(err)
	}
	if reg.Authenticate("eu-1", euSecret) != nil || reg.Authenticate("eu-1", usSecret) == nil || reg.Authenticate("us-1", euSecret) == nil {
		t.Error("Authenticate is wrong")
	}
}
