// Package setup is what the benchmarks under bench/ share to reach a
// platform: the URLs `sovereign test-services --platform` exports, and an
// account, organization and projects with secret keys made through the SDK.
package setup

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// What `sovereign test-services --platform` exports, and the database its
// planes use on the server EnvDatabaseURL points at.
const (
	EnvAPIURL      = "SOVEREIGN_TEST_API_URL"
	EnvDataURL     = "SOVEREIGN_TEST_DATA_URL"
	EnvDatabaseURL = "SOVEREIGN_TEST_DATABASE_URL"
	PlatformDB     = "sovereign_platform_test"
)

// DefaultAPIURL is $SOVEREIGN_TEST_API_URL, else the control plane of `sov
// dev`.
func DefaultAPIURL() string { return cmp.Or(os.Getenv(EnvAPIURL), "http://127.0.0.1:7070") }

// DefaultDataURL is $SOVEREIGN_TEST_DATA_URL, else the data plane of `sov
// dev`.
func DefaultDataURL() string { return cmp.Or(os.Getenv(EnvDataURL), "http://127.0.0.1:7071") }

// DefaultDatabaseURL is the platform database on the server of
// $SOVEREIGN_TEST_DATABASE_URL, as `sovereign test-services --platform` sets
// it up, or "" when that is not set.
func DefaultDatabaseURL() string {
	raw := os.Getenv(EnvDatabaseURL)
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.Path = "/" + PlatformDB
	return u.String()
}

// Org is an organization made for a benchmark, with the management client
// of its owner. It remembers the projects made through it so that Cleanup
// can delete them.
type Org struct {
	Client *sovereign.ManagementClient
	ID     string

	projects []string
}

// NewOrg signs up a fresh account on the control plane at apiURL (or uses
// token, an access or personal access token, when not empty) and creates an
// organization.
func NewOrg(ctx context.Context, apiURL, token string) (*Org, error) {
	if token == "" {
		email := fmt.Sprintf("bench-%d@example.com", time.Now().UnixNano())
		sess, err := sovereign.NewManagementClient(apiURL).Signup(ctx, email, "bench-"+rand.Text())
		if err != nil {
			return nil, fmt.Errorf("sign up: %w", err)
		}
		token = sess.AccessToken
	}
	mc := sovereign.NewManagementClient(apiURL, sovereign.WithToken(token))
	org, err := mc.CreateOrganization(ctx, fmt.Sprintf("bench-%d", time.Now().Unix()))
	if err != nil {
		return nil, fmt.Errorf("create organization: %w", err)
	}
	return &Org{Client: mc, ID: org.ID}, nil
}

// CreateProject creates a project of the organization called name in
// region, without waiting for it to become active.
func (o *Org) CreateProject(ctx context.Context, name, region string) (*sovereign.Project, error) {
	p, err := o.Client.CreateProject(ctx, sovereign.CreateProjectParams{OrganizationID: o.ID, Name: name, Region: region})
	if err != nil {
		return nil, fmt.Errorf("create project %s: %w", name, err)
	}
	o.projects = append(o.projects, p.ID)
	return p, nil
}

// Project is a project ready for data-plane calls.
type Project struct {
	*sovereign.Project
	// KeyID is the id of the secret key Secret.
	KeyID  string
	Secret string
}

// NewProject creates a project, waits (at most timeout) until it is active,
// creates a secret key and waits until that key authenticates on the data
// plane at dataURL.
func (o *Org) NewProject(ctx context.Context, name, region, dataURL string, timeout time.Duration) (*Project, error) {
	p, err := o.CreateProject(ctx, name, region)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	p, err = o.Client.WaitProjectActive(wctx, p.ID)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", name, err)
	}
	key, secret, err := o.Client.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{ProjectID: p.ID, Name: "bench", Kind: sovereign.KeySecret})
	if err != nil {
		return nil, fmt.Errorf("create key for project %s: %w", name, err)
	}
	if err := WaitKey(ctx, dataURL, secret, timeout); err != nil {
		return nil, fmt.Errorf("project %s: %w", name, err)
	}
	return &Project{Project: p, KeyID: key.ID, Secret: secret}, nil
}

// Cleanup deletes the projects made through o (their data is purged after
// the platform's retention) and then the organization.
func (o *Org) Cleanup(ctx context.Context) error {
	var errs []error
	for _, id := range o.projects {
		if _, err := o.Client.DeleteProject(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("delete project %s: %w", id, err))
		}
	}
	if err := o.Client.DeleteOrganization(ctx, o.ID); err != nil {
		errs = append(errs, fmt.Errorf("delete organization %s: %w", o.ID, err))
	}
	return errors.Join(errs...)
}

// WaitKey calls the data plane at dataURL with key until the key
// authenticates (CurrentProject), for at most timeout.
func WaitKey(ctx context.Context, dataURL, key string, timeout time.Duration) error {
	dc := sovereign.NewClient(dataURL, sovereign.WithAPIKey(key))
	deadline := time.Now().Add(timeout)
	for {
		_, err := dc.CurrentProject(ctx)
		if err == nil {
			return nil
		}
		if !sovereign.IsUnauthenticated(err) || time.Now().After(deadline) {
			return fmt.Errorf("first data-plane call with a fresh key: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
