package storage_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/internal/platformtest"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// platform is a whole platform (control plane and data plane) with an
// operator signed up on it: the storage service as production wires it.
type platform struct {
	p  *platformtest.Platform
	mc *sovereign.ManagementClient
	n  int
}

// project is a project of the platform with a secret and a publishable
// key.
type project struct {
	ref, sk, pk string
}

func startPlatform(t *testing.T, o platformtest.Options) *platform {
	t.Helper()
	p := platformtest.Start(t, o)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	sess, err := sovereign.NewManagementClient(p.APIURL).Signup(t.Context(), "op"+hex.EncodeToString(b)+"@operator.example.com", "correct-horse-battery-9")
	if err != nil {
		t.Fatalf("signup: %v", err)
	}
	return &platform{p: p, mc: sovereign.NewManagementClient(p.APIURL, sovereign.WithToken(sess.AccessToken))}
}

// project makes an active project with its keys.
func (pl *platform) project(t *testing.T) project {
	t.Helper()
	ctx := t.Context()
	pl.n++
	org, err := pl.mc.CreateOrganization(ctx, fmt.Sprintf("org%d", pl.n))
	if err != nil {
		t.Fatalf("create organization: %v", err)
	}
	pr, err := pl.mc.CreateProject(ctx, sovereign.CreateProjectParams{OrganizationID: org.ID, Name: fmt.Sprintf("app%d", pl.n), Region: "local"})
	if err != nil {
		t.Fatalf("create project: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if pr, err = pl.mc.WaitProjectActive(wctx, pr.ID); err != nil {
		t.Fatalf("wait for the project: %v", err)
	}
	out := project{ref: pr.Ref}
	if _, out.sk, err = pl.mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{ProjectID: pr.ID, Name: "server", Kind: sovereign.KeySecret}); err != nil {
		t.Fatalf("create secret key: %v", err)
	}
	if _, out.pk, err = pl.mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{ProjectID: pr.ID, Name: "app", Kind: sovereign.KeyPublishable}); err != nil {
		t.Fatalf("create publishable key: %v", err)
	}
	return out
}

// user signs an end user of pr up and returns the user's id and access
// token.
func (pl *platform) user(t *testing.T, pr project) (id, access string) {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	req := connect.NewRequest(&dataplanev1.SignUpRequest{Email: "u" + hex.EncodeToString(b) + "@example.com", Password: "Pw-" + hex.EncodeToString(b) + "-x9!"})
	req.Header().Set("apikey", pr.pk)
	res, err := dataplanev1connect.NewAuthServiceClient(http.DefaultClient, pl.p.DataURL).SignUp(t.Context(), req)
	if err != nil {
		t.Fatalf("sign up: %v", err)
	}
	s := res.Msg.GetSession()
	if s.GetUser().GetId() == "" || s.GetAccessToken() == "" {
		t.Fatalf("sign up gave session %v", s)
	}
	return s.GetUser().GetId(), s.GetAccessToken()
}
