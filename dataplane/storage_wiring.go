package dataplane

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"path/filepath"

	"github.com/sovereign-backend/sovereign/dataplane/storage"
	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// buildStorage mounts the storage service (Connect and REST under
// /v1/storage/, resumable tus uploads under /v1/storage/uploads/) and
// starts its janitor with the node: bytes on local disk under
// DataDir/storage, or in the S3 store of StorageS3URL; signed URLs sealed
// with a key derived from the region secret (none without one).
func (p *Plane) buildStorage(d *wiring) error {
	cfg := p.cfg
	dir := cfg.DataDir
	if dir == "" {
		dir = "data"
	}
	blobs, err := blob.Open(filepath.Join(dir, "storage"), cfg.StorageS3URL)
	if err != nil {
		return fmt.Errorf("dataplane: storage: %w", err)
	}
	sc := storage.Config{
		DB: d.db, Blobs: blobs, PublicURL: cfg.PublicURL, Logger: cfg.Logger,
		QuotaBytes: func(ctx context.Context, ref string) (int64, error) {
			t, err := d.tenants.Get(ctx, ref)
			if err != nil {
				return 0, err
			}
			return t.Limits.StorageBytes, nil
		},
		TenantActive: func(ctx context.Context, ref string) error {
			t, err := d.tenants.Get(ctx, ref)
			if err != nil {
				return err
			}
			if t.State != tenants.StateActive {
				return fmt.Errorf("project %s is %s", ref, t.State)
			}
			return nil
		},
	}
	if cfg.RegionSecret != "" {
		key, err := hkdf.Key(sha256.New, []byte(cfg.RegionSecret), []byte(cfg.Region), "sovereign data plane storage v1", 32)
		if err != nil {
			return fmt.Errorf("dataplane: derive storage key: %w", err)
		}
		sc.SigningSecret = key
	}
	svc, err := storage.New(sc)
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	p.tenantHooks = append(p.tenantHooks, svc.TenantChanged)
	d.api.Handle(dataplanev1connect.NewStorageServiceHandler(storage.NewHandler(svc), d.keyOpts))
	var users = storage.UsersFunc(nil)
	if d.auth != nil {
		users = d.auth.AuthenticateUser
	}
	storage.NewREST(svc, d.keys, users).Register(d.api)
	// Expired tus uploads and orphan blobs go every ten minutes.
	d.runs = append(d.runs, svc.NewJanitor(storage.JanitorConfig{}).Run)
	return nil
}
