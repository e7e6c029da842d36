package projects_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/sovereign-backend/sovereign/controlplane/cptest"
	"github.com/sovereign-backend/sovereign/controlplane/plans"
	"github.com/sovereign-backend/sovereign/internal/token"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

var (
	stateProvisioning = controlplanev1.ProjectState_PROJECT_STATE_PROVISIONING
	stateActive       = controlplanev1.ProjectState_PROJECT_STATE_ACTIVE
	statePaused       = controlplanev1.ProjectState_PROJECT_STATE_PAUSED
	stateDeleting     = controlplanev1.ProjectState_PROJECT_STATE_DELETING
	stateDeleted      = controlplanev1.ProjectState_PROJECT_STATE_DELETED
)

func TestProvisioning(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldConfig{})
	org := w.org(t)
	p := w.create(t, org, "shop")
	if p.GetState() != stateProvisioning {
		t.Errorf("new project is %v, want provisioning", p.GetState())
	}
	if !regexp.MustCompile(`^[a-z0-9]{12}$`).MatchString(p.GetRef()) {
		t.Errorf("ref %q is not 12 lowercase letters and digits", p.GetRef())
	}
	if p.GetDataPlaneUrl() != w.fake.URL || p.GetRegion() != region || p.GetOrganizationId() != org || p.GetCreatedAt() == nil {
		t.Errorf("project %v", p)
	}
	p = w.waitState(t, p.GetId(), stateActive)
	if p.GetLastError() != "" {
		t.Errorf("active project has last_error %q", p.GetLastError())
	}
	tenant, ok := w.fake.Tenant(p.GetRef())
	if !ok || tenant.State != dataplanev1.TenantState_TENANT_STATE_ACTIVE {
		t.Fatalf("data plane tenant %v (%v)", tenant, ok)
	}
	free, _ := plans.Lookup("free")
	l := tenant.Limits
	if l.GetPlan() != "free" || l.GetRequestsPerSecond() != free.Limits.RequestsPerSecond ||
		l.GetDatabaseBytes() != free.Limits.DatabaseBytes || l.GetStorageBytes() != free.Limits.StorageBytes ||
		l.GetRealtimeConnections() != free.Limits.RealtimeConnections {
		t.Errorf("limits %v, want the free plan's %+v", l, free.Limits)
	}
	// By ref, too.
	if got := w.get(t, p.GetRef()); got.GetId() != p.GetId() {
		t.Errorf("get by ref gave %v", got)
	}

	// A new plan's limits reach the data plane.
	if _, err := w.orgs("owner").UpdateOrganization(context.Background(), connect.NewRequest(&controlplanev1.UpdateOrganizationRequest{Id: org, Plan: "pro"})); err != nil {
		t.Fatal(err)
	}
	pro, _ := plans.Lookup("pro")
	cptest.Eventually(t, wait, "the pro plan's limits never reached the data plane", func() bool {
		tenant, _ := w.fake.Tenant(p.GetRef())
		return tenant.Limits.GetPlan() == "pro" && tenant.Limits.GetDatabaseBytes() == pro.Limits.DatabaseBytes
	})
	if got := w.get(t, p.GetId()); got.GetState() != stateActive {
		t.Errorf("after the plan change the project is %v", got.GetState())
	}
}

// While the data plane fails, the project stays provisioning and says why;
// River retries until it works.
func TestProvisioningRetries(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldConfig{})
	org := w.org(t)
	w.fake.FailNext(cptest.MethodProvision, 3)
	p := w.create(t, org, "flaky")
	var seen *controlplanev1.Project
	cptest.Eventually(t, wait, "last_error never showed the failure", func() bool {
		seen = w.get(t, p.GetId())
		if seen.GetState() == stateActive {
			return true
		}
		return seen.GetLastError() != ""
	})
	if seen.GetState() != stateProvisioning {
		t.Fatalf("project went %v before the data plane answered (calls %d)", seen.GetState(), w.fake.Calls(cptest.MethodProvision))
	}
	if !strings.Contains(seen.GetLastError(), "unavailable") || !strings.Contains(seen.GetLastError(), "attempt") {
		t.Errorf("last_error %q does not say what failed", seen.GetLastError())
	}
	p = w.waitState(t, p.GetId(), stateActive)
	if p.GetLastError() != "" {
		t.Errorf("last_error %q kept after success", p.GetLastError())
	}
	if n := w.fake.Calls(cptest.MethodProvision); n != 4 {
		t.Errorf("%d ProvisionTenant calls, want 4 (3 failures, 1 success)", n)
	}
}

// A project is never active before the data plane has provisioned it, and
// keys made meanwhile are on the data plane when it becomes active.
func TestNeverActiveEarly(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldConfig{})
	org := w.org(t)
	arrived, release := w.fake.HoldProvision()
	p := w.create(t, org, "held")
	select {
	case <-arrived:
	case <-time.After(wait):
		t.Fatal("ProvisionTenant never called")
	}
	key, err := w.projects("developer").CreateApiKey(context.Background(), connect.NewRequest(&controlplanev1.CreateApiKeyRequest{
		ProjectId: p.GetId(), Name: "early", Kind: controlplanev1.ApiKeyKind_API_KEY_KIND_SECRET,
	}))
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if got := w.get(t, p.GetId()); got.GetState() != stateProvisioning {
			t.Fatalf("project is %v while ProvisionTenant is still running", got.GetState())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := w.fake.Key(key.Msg.GetApiKey().GetId()); ok {
		t.Error("key pushed before its tenant exists")
	}
	release()
	w.waitState(t, p.GetId(), stateActive)
	rec, ok := w.fake.Key(key.Msg.GetApiKey().GetId())
	if !ok || rec.GetHash() != token.Hash(key.Msg.GetSecret()) {
		t.Errorf("when active, the data plane has key %v (%v)", rec, ok)
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldConfig{})
	org := w.org(t)
	p := w.active(t, org, "keys")
	ctx := context.Background()
	dev := w.projects("developer")

	sk, err := dev.CreateApiKey(ctx, connect.NewRequest(&controlplanev1.CreateApiKeyRequest{
		ProjectId: p.GetId(), Name: "server", Kind: controlplanev1.ApiKeyKind_API_KEY_KIND_SECRET,
	}))
	if err != nil {
		t.Fatal(err)
	}
	secret := sk.Msg.GetSecret()
	if token.Check(secret, token.SecretKey) != nil {
		t.Fatalf("secret %q is not a sov_sk_ key", secret)
	}
	k := sk.Msg.GetApiKey()
	if k.GetPrefix() != token.Display(secret, token.SecretKey) || k.GetKind() != controlplanev1.ApiKeyKind_API_KEY_KIND_SECRET ||
		k.GetExpiresAt() != nil || k.GetName() != "server" || k.GetProjectId() != p.GetId() {
		t.Errorf("key %v", k)
	}
	// Pushed before CreateApiKey returned.
	rec, ok := w.fake.Key(k.GetId())
	if !ok || rec.GetHash() != token.Hash(secret) || rec.GetKind() != "secret" || rec.GetTenantRef() != p.GetRef() ||
		rec.GetExpiresAt() != nil || rec.GetRevokedAt() != nil {
		t.Fatalf("data plane key %v (%v)", rec, ok)
	}

	pk, err := w.projects("admin").CreateApiKey(ctx, connect.NewRequest(&controlplanev1.CreateApiKeyRequest{
		ProjectId: p.GetRef(), Name: "browser", Kind: controlplanev1.ApiKeyKind_API_KEY_KIND_PUBLISHABLE, TtlSeconds: 3600,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if token.Check(pk.Msg.GetSecret(), token.PublishableKey) != nil {
		t.Fatalf("secret %q is not a sov_pk_ key", pk.Msg.GetSecret())
	}
	exp := pk.Msg.GetApiKey().GetExpiresAt().AsTime()
	if d := time.Until(exp); d < 50*time.Minute || d > 70*time.Minute {
		t.Errorf("expires in %v, want about an hour", d)
	}
	rec, ok = w.fake.Key(pk.Msg.GetApiKey().GetId())
	if !ok || rec.GetKind() != "publishable" || !rec.GetExpiresAt().AsTime().Equal(exp) {
		t.Errorf("data plane key %v (%v)", rec, ok)
	}

	// An expired key stays listed, with its expiry.
	expired, err := dev.CreateApiKey(ctx, connect.NewRequest(&controlplanev1.CreateApiKeyRequest{
		ProjectId: p.GetId(), Name: "old", Kind: controlplanev1.ApiKeyKind_API_KEY_KIND_SECRET, TtlSeconds: 60,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.pool.Exec(ctx, `UPDATE controlplane.api_keys SET expires_at = now() - interval '1 minute' WHERE id = $1`, expired.Msg.GetApiKey().GetId()); err != nil {
		t.Fatal(err)
	}

	// Revocation reaches the data plane before RevokeApiKey returns.
	rv, err := dev.RevokeApiKey(ctx, connect.NewRequest(&controlplanev1.RevokeApiKeyRequest{Id: k.GetId()}))
	if err != nil {
		t.Fatal(err)
	}
	if rv.Msg.GetApiKey().GetRevokedAt() == nil {
		t.Errorf("revoked key %v has no revoked_at", rv.Msg.GetApiKey())
	}
	if rec, _ := w.fake.Key(k.GetId()); rec.GetRevokedAt() == nil {
		t.Errorf("revocation not on the data plane when RevokeApiKey returned: %v", rec)
	}
	again, err := dev.RevokeApiKey(ctx, connect.NewRequest(&controlplanev1.RevokeApiKeyRequest{Id: k.GetId()}))
	if err != nil || !again.Msg.GetApiKey().GetRevokedAt().AsTime().Equal(rv.Msg.GetApiKey().GetRevokedAt().AsTime()) {
		t.Errorf("revoking twice: %v, %v", again, err)
	}

	list := func(includeRevoked bool) []*controlplanev1.ApiKey {
		t.Helper()
		res, err := w.projects("viewer").ListApiKeys(ctx, connect.NewRequest(&controlplanev1.ListApiKeysRequest{ProjectId: p.GetId(), IncludeRevoked: includeRevoked}))
		if err != nil {
			t.Fatal(err)
		}
		text := prototext.Format(res.Msg)
		for _, s := range []string{secret, token.Hash(secret), pk.Msg.GetSecret(), token.Hash(pk.Msg.GetSecret())} {
			if strings.Contains(text, s) {
				t.Errorf("ListApiKeys shows a secret or hash: %s", text)
			}
		}
		return res.Msg.GetApiKeys()
	}
	live := list(false)
	if len(live) != 2 || live[0].GetName() != "old" || live[1].GetName() != "browser" {
		t.Fatalf("live keys %v, want old and browser, newest first", live)
	}
	if !live[0].GetExpiresAt().AsTime().Before(time.Now()) {
		t.Errorf("expired key listed with expiry %v", live[0].GetExpiresAt().AsTime())
	}
	all := list(true)
	if len(all) != 3 || all[2].GetId() != k.GetId() || all[2].GetRevokedAt() == nil || all[2].GetPrefix() != k.GetPrefix() || all[2].GetCreatedAt() == nil {
		t.Errorf("all keys %v", all)
	}
}

// When the synchronous push fails, the backstop job delivers it.
func TestPushRetried(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldConfig{})
	org := w.org(t)
	p := w.active(t, org, "retry")
	ctx := context.Background()
	dev := w.projects("developer")

	w.fake.FailNext(cptest.MethodPutKeys, 1)
	sk, err := dev.CreateApiKey(ctx, connect.NewRequest(&controlplanev1.CreateApiKeyRequest{
		ProjectId: p.GetId(), Name: "k", Kind: controlplanev1.ApiKeyKind_API_KEY_KIND_SECRET,
	}))
	if err != nil {
		t.Fatalf("a failed push must not fail CreateApiKey: %v", err)
	}
	id := sk.Msg.GetApiKey().GetId()
	cptest.Eventually(t, wait, "key never reached the data plane", func() bool {
		_, ok := w.fake.Key(id)
		return ok
	})

	w.fake.FailNext(cptest.MethodPutKeys, 2)
	if _, err := dev.RevokeApiKey(ctx, connect.NewRequest(&controlplanev1.RevokeApiKeyRequest{Id: id})); err != nil {
		t.Fatal(err)
	}
	cptest.Eventually(t, wait, "revocation never reached the data plane", func() bool {
		rec, _ := w.fake.Key(id)
		return rec.GetRevokedAt() != nil
	})

	w.fake.FailNext(cptest.MethodSetState, 2)
	if _, err := dev.PauseProject(ctx, connect.NewRequest(&controlplanev1.PauseProjectRequest{Id: p.GetId()})); err != nil {
		t.Fatal(err)
	}
	cptest.Eventually(t, wait, "pause never reached the data plane", func() bool {
		tenant, _ := w.fake.Tenant(p.GetRef())
		return tenant.State == dataplanev1.TenantState_TENANT_STATE_PAUSED
	})
}

// Pause, resume and delete reach the data plane before the call returns;
// the tenant is purged once the retention is over.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	const retention = 2 * time.Second
	w := newWorld(t, worldConfig{retention: retention})
	org := w.org(t)
	p := w.active(t, org, "life")
	ctx := context.Background()
	dev := w.projects("developer")
	tenantState := func() dataplanev1.TenantState {
		tenant, _ := w.fake.Tenant(p.GetRef())
		return tenant.State
	}
	step := func(name string, call func() (*controlplanev1.Project, error), want controlplanev1.ProjectState, wantTenant dataplanev1.TenantState) {
		t.Helper()
		got, err := call()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.GetState() != want {
			t.Errorf("%s: project %v, want %v", name, got.GetState(), want)
		}
		if ts := tenantState(); ts != wantTenant {
			t.Errorf("%s: data plane tenant %v when the call returned, want %v", name, ts, wantTenant)
		}
	}
	pause := func() (*controlplanev1.Project, error) {
		res, err := dev.PauseProject(ctx, connect.NewRequest(&controlplanev1.PauseProjectRequest{Id: p.GetId()}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetProject(), nil
	}
	resume := func() (*controlplanev1.Project, error) {
		res, err := dev.ResumeProject(ctx, connect.NewRequest(&controlplanev1.ResumeProjectRequest{Id: p.GetRef()}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetProject(), nil
	}
	step("pause", pause, statePaused, dataplanev1.TenantState_TENANT_STATE_PAUSED)
	step("pause again", pause, statePaused, dataplanev1.TenantState_TENANT_STATE_PAUSED)
	step("resume", resume, stateActive, dataplanev1.TenantState_TENANT_STATE_ACTIVE)
	step("resume again", resume, stateActive, dataplanev1.TenantState_TENANT_STATE_ACTIVE)

	w.fake.FailNext(cptest.MethodPurge, 1) // the purge job retries
	res, err := w.projects("admin").DeleteProject(ctx, connect.NewRequest(&controlplanev1.DeleteProjectRequest{Id: p.GetId()}))
	if err != nil {
		t.Fatal(err)
	}
	del := res.Msg.GetProject()
	if del.GetState() != stateDeleting || tenantState() != dataplanev1.TenantState_TENANT_STATE_DELETING {
		t.Errorf("after delete: project %v, tenant %v", del.GetState(), tenantState())
	}
	if until := time.Until(del.GetPurgeAt().AsTime()); until > retention || until < -time.Minute {
		t.Errorf("purge_at %v is not about %v away", del.GetPurgeAt().AsTime(), retention)
	}
	for name, call := range map[string]func() (*controlplanev1.Project, error){"pause": pause, "resume": resume} {
		if _, err := call(); cptest.Code(err) != connect.CodeFailedPrecondition {
			t.Errorf("%s of a deleting project: %v, want FailedPrecondition", name, err)
		}
	}
	if _, err := dev.CreateApiKey(ctx, connect.NewRequest(&controlplanev1.CreateApiKeyRequest{
		ProjectId: p.GetId(), Name: "late", Kind: controlplanev1.ApiKeyKind_API_KEY_KIND_SECRET,
	})); cptest.Code(err) != connect.CodeFailedPrecondition {
		t.Errorf("key for a deleting project: %v, want FailedPrecondition", err)
	}
	// The name is free again at once.
	w.create(t, org, "life")

	w.waitState(t, p.GetId(), stateDeleted)
	if ts := tenantState(); ts != dataplanev1.TenantState_TENANT_STATE_DELETED {
		t.Errorf("deleted project's tenant is %v, want purged (DELETED)", ts)
	}
	if n := w.fake.Calls(cptest.MethodPurge); n != 2 {
		t.Errorf("%d PurgeTenant calls, want 2 (a failure, then the purge)", n)
	}
	again, err := w.projects("admin").DeleteProject(ctx, connect.NewRequest(&controlplanev1.DeleteProjectRequest{Id: p.GetId()}))
	if err != nil || again.Msg.GetProject().GetState() != stateDeleted {
		t.Errorf("deleting a deleted project: %v, %v", again, err)
	}
}

// A project deleted while its provisioning call is under way ends up
// deleted on the data plane too, and never active.
func TestDeleteWhileProvisioning(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldConfig{})
	org := w.org(t)
	arrived, release := w.fake.HoldProvision()
	p := w.create(t, org, "short-lived")
	<-arrived
	if _, err := w.projects("owner").DeleteProject(context.Background(), connect.NewRequest(&controlplanev1.DeleteProjectRequest{Id: p.GetId()})); err != nil {
		t.Fatal(err)
	}
	release()
	cptest.Eventually(t, wait, "the late tenant was never set DELETING", func() bool {
		tenant, ok := w.fake.Tenant(p.GetRef())
		return ok && tenant.State == dataplanev1.TenantState_TENANT_STATE_DELETING
	})
	if got := w.get(t, p.GetId()); got.GetState() != stateDeleting {
		t.Errorf("project is %v, want deleting", got.GetState())
	}
}

// Many unpushed keys go in several PutApiKeys calls (the data plane takes
// at most 1000 a call).
func TestManyKeys(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldConfig{})
	org := w.org(t)
	p := w.active(t, org, "many")
	ctx := context.Background()
	if _, err := w.pool.Exec(ctx, `
INSERT INTO controlplane.api_keys (id, project_id, name, kind, hash, prefix)
SELECT gen_random_uuid(), $1, 'bulk ' || i, 'secret', md5(i::text) || md5((i + 1)::text), 'sov_sk_xxxx'
FROM generate_series(1, 1200) AS i`, p.GetId()); err != nil {
		t.Fatal(err)
	}
	before := w.fake.Calls(cptest.MethodPutKeys)
	res, err := w.projects("developer").CreateApiKey(ctx, connect.NewRequest(&controlplanev1.CreateApiKeyRequest{
		ProjectId: p.GetId(), Name: "last", Kind: controlplanev1.ApiKeyKind_API_KEY_KIND_SECRET,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.fake.Key(res.Msg.GetApiKey().GetId()); !ok {
		t.Error("the new key is not on the data plane")
	}
	if n := w.fake.Calls(cptest.MethodPutKeys) - before; n != 3 {
		t.Errorf("%d PutApiKeys calls for 1201 keys, want 3", n)
	}
	var unpushed int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM controlplane.api_keys WHERE sync_version > pushed_version`).Scan(&unpushed); err != nil || unpushed != 0 {
		t.Errorf("%d keys left unpushed (%v)", unpushed, err)
	}
}
