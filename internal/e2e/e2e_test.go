// Package e2e drives the whole platform, both planes started in process on
// real PostgreSQL and Valkey, through the Go SDK, as a customer would.
package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/internal/platformtest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// project signs a new account up, makes an organization and a project in
// region local, and waits for it to be active.
func project(t *testing.T, p *platformtest.Platform) (*sovereign.ManagementClient, *sovereign.Project) {
	t.Helper()
	ctx := context.Background()
	anon := sovereign.NewManagementClient(p.APIURL)
	sess, err := anon.Signup(ctx, fmt.Sprintf("e2e-%d@example.com", time.Now().UnixNano()), "correct-horse-battery-9")
	if err != nil {
		t.Fatalf("signup: %v", err)
	}
	mc := sovereign.NewManagementClient(p.APIURL, sovereign.WithToken(sess.AccessToken))
	org, err := mc.CreateOrganization(ctx, "acme")
	if err != nil {
		t.Fatalf("create organization: %v", err)
	}
	pr, err := mc.CreateProject(ctx, sovereign.CreateProjectParams{OrganizationID: org.ID, Name: "shop", Region: "local"})
	if err != nil {
		t.Fatalf("create project: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	pr, err = mc.WaitProjectActive(wctx, pr.ID)
	if err != nil {
		t.Fatalf("wait for the project: %v", err)
	}
	if pr.DataPlaneURL != p.DataURL {
		t.Fatalf("project's data plane URL %q, want %q", pr.DataPlaneURL, p.DataURL)
	}
	return mc, pr
}

func secretKey(t *testing.T, mc *sovereign.ManagementClient, pr *sovereign.Project, name string) (*sovereign.APIKey, string) {
	t.Helper()
	k, secret, err := mc.CreateAPIKey(context.Background(), sovereign.CreateAPIKeyParams{ProjectID: pr.ID, Name: name, Kind: sovereign.KeySecret})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	return k, secret
}

// The acceptance path: signup → org → project in region local → secret key →
// an authenticated data-plane call → revoke → the same call fails within 1 s.
func TestSignupToRevokedKey(t *testing.T) {
	t.Parallel()
	p := platformtest.Start(t, platformtest.Options{})
	ctx := context.Background()
	mc, pr := project(t, p)
	key, secret := secretKey(t, mc, pr, "server")

	dc := sovereign.NewClient(pr.DataPlaneURL, sovereign.WithAPIKey(secret))
	info, err := dc.CurrentProject(ctx)
	if err != nil {
		t.Fatalf("data-plane call with a fresh key: %v", err)
	}
	if info.Ref != pr.Ref || info.KeyID != key.ID || info.KeyKind != sovereign.KeySecret || info.Region != "local" {
		t.Fatalf("the data plane says %+v for project %s key %s", info, pr.Ref, key.ID)
	}

	if _, err := mc.RevokeAPIKey(ctx, key.ID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	revoked := time.Now()
	// The promise is one second; the revocation is pushed before RevokeAPIKey
	// answers, so the very first call normally fails already.
	for {
		_, err := dc.CurrentProject(ctx)
		if sovereign.IsUnauthenticated(err) {
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("the revoked key still works %v after the revocation (last answer: %v)", time.Since(revoked), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With the control plane down, the data plane still authenticates existing
// keys and still refuses revoked ones: it holds what it needs in its own
// database.
func TestDataPlaneServesWithoutControlPlane(t *testing.T) {
	t.Parallel()
	p := platformtest.Start(t, platformtest.Options{})
	ctx := context.Background()
	mc, pr := project(t, p)
	_, live := secretKey(t, mc, pr, "live")
	dead, deadSecret := secretKey(t, mc, pr, "dead")
	if _, err := mc.RevokeAPIKey(ctx, dead.ID); err != nil {
		t.Fatal(err)
	}

	p.StopControlPlane()
	if _, err := mc.WhoAmI(ctx); err == nil {
		t.Fatal("the control plane still answers after StopControlPlane")
	}
	for range 3 { // several calls: cache hits and misses alike
		if _, err := sovereign.NewClient(p.DataURL, sovereign.WithAPIKey(live)).CurrentProject(ctx); err != nil {
			t.Fatalf("live key with the control plane down: %v", err)
		}
		if _, err := sovereign.NewClient(p.DataURL, sovereign.WithAPIKey(deadSecret)).CurrentProject(ctx); !sovereign.IsUnauthenticated(err) {
			t.Fatalf("revoked key with the control plane down: %v, want Unauthenticated", err)
		}
	}
}

// Pausing a project stops its keys on the data plane; resuming brings them
// back.
func TestPauseAndResume(t *testing.T) {
	t.Parallel()
	p := platformtest.Start(t, platformtest.Options{})
	ctx := context.Background()
	mc, pr := project(t, p)
	_, secret := secretKey(t, mc, pr, "k")
	dc := sovereign.NewClient(p.DataURL, sovereign.WithAPIKey(secret))
	if _, err := mc.PauseProject(ctx, pr.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.CurrentProject(ctx); !isCode(err, sovereign.CodeFailedPrecondition) {
		t.Fatalf("paused project: %v, want FailedPrecondition", err)
	}
	if _, err := mc.ResumeProject(ctx, pr.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.CurrentProject(ctx); err != nil {
		t.Fatalf("resumed project: %v", err)
	}
}

func isCode(err error, want sovereign.Code) bool {
	code, ok := sovereign.ErrorCode(err)
	return ok && code == want
}
