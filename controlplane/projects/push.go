package projects

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/controlplane/plans"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// AdminClients gives the AdminService client of a region's data plane
// (regions.Regions does).
type AdminClients interface {
	AdminClient(ctx context.Context, region string) (dataplanev1connect.AdminServiceClient, error)
}

// pusher brings a region's data plane in step with the control plane's
// records. Every method is idempotent and safe to call concurrently: pushes
// of one kind for one project are serialized by an advisory lock held while
// the current record is read and sent, so the last push always carries the
// latest record.
type pusher struct {
	pool   *pgxpool.Pool
	admin  AdminClients
	logger *slog.Logger
}

var tenantStates = map[State]dataplanev1.TenantState{
	StateActive:   dataplanev1.TenantState_TENANT_STATE_ACTIVE,
	StatePaused:   dataplanev1.TenantState_TENANT_STATE_PAUSED,
	StateDeleting: dataplanev1.TenantState_TENANT_STATE_DELETING,
}

// isNotFound reports whether the data plane answered NotFound.
func isNotFound(err error) bool { return connect.CodeOf(err) == connect.CodeNotFound }

// pushState sends the project's current state to its data plane unless that
// version was sent already (or force is set). A provisioning project has
// nothing to send yet (the provisioning job sends what changed meanwhile); a
// deleted one is the purge job's. A tenant the data plane does not know
// needs no DELETING: it was never provisioned, and the provisioning job
// re-sends the state should its call land later.
func (p *pusher) pushState(ctx context.Context, projectID string, force bool) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		st := NewStore(tx)
		if err := st.pushLock(ctx, "state", projectID); err != nil {
			return err
		}
		pr, err := st.projectForPush(ctx, projectID)
		if err != nil {
			return err
		}
		want, ok := tenantStates[pr.State]
		if !ok || (!force && pr.PushedVersion >= pr.Version) {
			return nil
		}
		admin, err := p.adminClient(ctx, pr.Region)
		if err != nil {
			return err
		}
		_, err = admin.SetTenantState(ctx, connect.NewRequest(&dataplanev1.SetTenantStateRequest{Ref: pr.Ref, State: want}))
		if err != nil && !(pr.State == StateDeleting && isNotFound(err)) {
			return fmt.Errorf("set tenant %s %s: %w", pr.Ref, want, err)
		}
		return st.projectStatePushed(ctx, projectID, pr.Version)
	})
}

// maxKeysPerPush is how many key records one PutApiKeys call carries (the
// data plane takes up to 1000).
const maxKeysPerPush = 500

// keyPushOptions tune pushKeys.
type keyPushOptions struct {
	// provisioning pushes the keys of a project that is still
	// provisioning: the provisioning job does so once the tenant exists.
	provisioning bool
}

// pushKeys sends the project's keys whose latest version has not reached the
// data plane. A provisioning project's keys wait for the provisioning job.
func (p *pusher) pushKeys(ctx context.Context, projectID string, opts keyPushOptions) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		st := NewStore(tx)
		if err := st.pushLock(ctx, "keys", projectID); err != nil {
			return err
		}
		pr, err := st.projectForPush(ctx, projectID)
		if err != nil {
			return err
		}
		if (pr.State == StateProvisioning && !opts.provisioning) || pr.State == StateDeleted {
			return nil
		}
		keys, err := st.keysUnpushed(ctx, projectID)
		if err != nil || len(keys) == 0 {
			return err
		}
		admin, err := p.adminClient(ctx, pr.Region)
		if err != nil {
			return err
		}
		for batch := range slices.Chunk(keys, maxKeysPerPush) {
			req := &dataplanev1.PutApiKeysRequest{Keys: make([]*dataplanev1.ApiKeyRecord, len(batch))}
			for i, k := range batch {
				rec := &dataplanev1.ApiKeyRecord{Id: k.ID, TenantRef: pr.Ref, Kind: k.Kind, Hash: k.Hash}
				if k.ExpiresAt != nil {
					rec.ExpiresAt = timestamppb.New(*k.ExpiresAt)
				}
				if k.RevokedAt != nil {
					rec.RevokedAt = timestamppb.New(*k.RevokedAt)
				}
				req.Keys[i] = rec
			}
			if _, err := admin.PutApiKeys(ctx, connect.NewRequest(req)); err != nil {
				return fmt.Errorf("put %d api key(s) of tenant %s: %w", len(batch), pr.Ref, err)
			}
		}
		// On a failure nothing is recorded and every batch is sent again:
		// PutApiKeys is an idempotent upsert.
		return st.keysPushed(ctx, keys)
	})
}

// provisionTenant calls ProvisionTenant with the limits of the
// organization's plan.
func (p *pusher) provisionTenant(ctx context.Context, pr projectPush) error {
	plan, ok := plans.Lookup(pr.Plan)
	if !ok {
		return fmt.Errorf("organization plan %q is not known", pr.Plan)
	}
	admin, err := p.adminClient(ctx, pr.Region)
	if err != nil {
		return err
	}
	_, err = admin.ProvisionTenant(ctx, connect.NewRequest(&dataplanev1.ProvisionTenantRequest{
		Ref: pr.Ref,
		Limits: &dataplanev1.TenantLimits{
			Plan:                      plan.Name,
			RequestsPerSecond:         plan.Limits.RequestsPerSecond,
			DatabaseBytes:             plan.Limits.DatabaseBytes,
			StorageBytes:              plan.Limits.StorageBytes,
			RealtimeConnections:       plan.Limits.RealtimeConnections,
			RealtimeSubscriptions:     plan.Limits.RealtimeSubscriptions,
			RealtimeMessagesPerSecond: plan.Limits.RealtimeMessagesPerSecond,
			RealtimePayloadBytes:      plan.Limits.RealtimePayloadBytes,
		},
	}))
	if err != nil {
		return fmt.Errorf("provision tenant %s: %w", pr.Ref, err)
	}
	return nil
}

// purgeTenant makes sure the tenant is DELETING and purges it. A tenant the
// data plane does not know is already gone.
func (p *pusher) purgeTenant(ctx context.Context, pr projectPush) error {
	admin, err := p.adminClient(ctx, pr.Region)
	if err != nil {
		return err
	}
	_, err = admin.SetTenantState(ctx, connect.NewRequest(&dataplanev1.SetTenantStateRequest{
		Ref: pr.Ref, State: dataplanev1.TenantState_TENANT_STATE_DELETING,
	}))
	switch {
	case isNotFound(err):
		return nil
	case connect.CodeOf(err) == connect.CodeFailedPrecondition:
		// Already purged (a retry after the purge went through): PurgeTenant
		// of a purged tenant succeeds; of any other state it says why not.
	case err != nil:
		return fmt.Errorf("set tenant %s deleting: %w", pr.Ref, err)
	}
	_, err = admin.PurgeTenant(ctx, connect.NewRequest(&dataplanev1.PurgeTenantRequest{Ref: pr.Ref}))
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("purge tenant %s: %w", pr.Ref, err)
	}
	return nil
}

// noAdminClient is a region the control plane cannot call: no secret is
// configured for it, or its data plane never registered. Its message is
// safe to show to the project's members.
type noAdminClient struct{ err error }

func (e *noAdminClient) Error() string { return e.err.Error() }
func (e *noAdminClient) Unwrap() error { return e.err }

func (p *pusher) adminClient(ctx context.Context, region string) (dataplanev1connect.AdminServiceClient, error) {
	c, err := p.admin.AdminClient(ctx, region)
	if err != nil {
		return nil, &noAdminClient{err: err}
	}
	return c, nil
}

// describe turns a failed attempt into a line a project's members may read:
// the data plane's code and message (its errors are meant for clients), or
// a summary that leaks no addresses or SQL.
func describe(err error) string {
	var na *noAdminClient
	if errors.As(err, &na) {
		return truncate(na.Error(), 300)
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		switch ce.Code() {
		case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeUnknown, connect.CodeCanceled:
			return fmt.Sprintf("the region's data plane did not answer (%s)", ce.Code())
		}
		return fmt.Sprintf("the region's data plane answered %s: %s", ce.Code(), truncate(ce.Message(), 300))
	}
	return "the control plane failed to reach the region (see its logs)"
}
