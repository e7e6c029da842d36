package projects

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
)

// Job kinds, as River stores them.
const (
	KindProvision = "provision_project"
	KindPushState = "push_project_state"
	KindPushKeys  = "push_api_keys"
	KindPurge     = "purge_project"
)

// ProvisionArgs provisions a project's tenant, or updates its limits.
type ProvisionArgs struct {
	ProjectID string `json:"project_id"`
}

// Kind is the job's kind.
func (ProvisionArgs) Kind() string { return KindProvision }

// PushStateArgs pushes a project's state to its data plane.
type PushStateArgs struct {
	ProjectID string `json:"project_id"`
}

// Kind is the job's kind.
func (PushStateArgs) Kind() string { return KindPushState }

// PushKeysArgs pushes a project's changed keys to its data plane.
type PushKeysArgs struct {
	ProjectID string `json:"project_id"`
}

// Kind is the job's kind.
func (PushKeysArgs) Kind() string { return KindPushKeys }

// PurgeArgs purges a deleting project's tenant once its retention is over.
type PurgeArgs struct {
	ProjectID string `json:"project_id"`
}

// Kind is the job's kind.
func (PurgeArgs) Kind() string { return KindPurge }

// Worker defaults.
const (
	// DefaultRetryBase is the delay before a failed job's first retry.
	DefaultRetryBase = time.Second
	// DefaultRetryMax caps the delay between retries.
	DefaultRetryMax = 5 * time.Minute
)

// WorkerConfig configures the project workers.
type WorkerConfig struct {
	// Pool of the control plane's database. Required.
	Pool *pgxpool.Pool
	// Admin gives each region's AdminService client. Required.
	Admin AdminClients
	// RetryBase is the delay before a failed job's first retry; each
	// further retry waits twice as long, up to RetryMax, with ±20% jitter.
	// Default DefaultRetryBase (1 s).
	RetryBase time.Duration
	// RetryMax caps the delay between retries. Default DefaultRetryMax
	// (5 min).
	RetryMax time.Duration
	// Logger for failed attempts. Default slog.Default().
	Logger *slog.Logger
}

// AddWorkers registers the workers of the project jobs on w.
func AddWorkers(w *river.Workers, cfg WorkerConfig) error {
	if cfg.Pool == nil || cfg.Admin == nil {
		return errors.New("projects: WorkerConfig.Pool and Admin are required")
	}
	cfg.RetryBase = cmp.Or(cfg.RetryBase, DefaultRetryBase)
	cfg.RetryMax = cmp.Or(cfg.RetryMax, DefaultRetryMax)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	b := backoff{base: cfg.RetryBase, max: cfg.RetryMax}
	p := &pusher{pool: cfg.Pool, admin: cfg.Admin, logger: cfg.Logger}
	return errors.Join(
		river.AddWorkerSafely(w, &provisionWorker{backoff: b, p: p}),
		river.AddWorkerSafely(w, &pushStateWorker{backoff: b, p: p}),
		river.AddWorkerSafely(w, &pushKeysWorker{backoff: b, p: p}),
		river.AddWorkerSafely(w, &purgeWorker{backoff: b, p: p}),
	)
}

// backoff is exponential with jitter, capped.
type backoff struct{ base, max time.Duration }

func (b backoff) next(attempt int) time.Time {
	d := b.base
	for i := 1; i < attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	jitter := time.Duration(rand.Int64N(int64(d)/5*2+1)) - d/5
	return time.Now().Add(d + jitter)
}

// projectGone reports whether err says the project row does not exist (it
// cannot be deleted while jobs reference it, but a job outliving a restored
// database should end rather than retry forever).
func projectGone(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

type provisionWorker struct {
	river.WorkerDefaults[ProvisionArgs]
	backoff
	p *pusher
}

func (w *provisionWorker) NextRetry(job *river.Job[ProvisionArgs]) time.Time {
	return w.next(job.Attempt)
}

// Work provisions the tenant (or updates its limits), pushes the keys
// created meanwhile, and only then marks the project active. When the
// project was deleted while the call was under way, it sends the data plane
// the state that won.
func (w *provisionWorker) Work(ctx context.Context, job *river.Job[ProvisionArgs]) error {
	id := job.Args.ProjectID
	st := NewStore(w.p.pool)
	pr, err := st.projectForPush(ctx, id)
	if projectGone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !pr.State.Live() {
		return nil
	}
	err = w.p.provisionTenant(ctx, pr)
	if err == nil {
		err = w.p.pushKeys(ctx, id, keyPushOptions{provisioning: true})
	}
	if err != nil {
		msg := fmt.Sprintf("attempt %d: %s", job.Attempt, describe(err))
		w.p.logger.WarnContext(ctx, "provisioning failed; will retry", "project_id", id, "ref", pr.Ref, "attempt", job.Attempt, "err", err.Error())
		if serr := st.ProjectLastErrorSet(ctx, id, msg); serr != nil {
			return errors.Join(err, serr)
		}
		return err
	}
	activated, state, err := st.ProjectActivate(ctx, id)
	if err != nil || activated {
		return err
	}
	switch state {
	case StateDeleting:
		return w.p.pushState(ctx, id, true)
	case StateDeleted:
		return w.p.purgeTenant(ctx, pr)
	}
	return nil
}

type pushStateWorker struct {
	river.WorkerDefaults[PushStateArgs]
	backoff
	p *pusher
}

func (w *pushStateWorker) NextRetry(job *river.Job[PushStateArgs]) time.Time {
	return w.next(job.Attempt)
}

func (w *pushStateWorker) Work(ctx context.Context, job *river.Job[PushStateArgs]) error {
	err := w.p.pushState(ctx, job.Args.ProjectID, false)
	if projectGone(err) {
		return nil
	}
	return err
}

type pushKeysWorker struct {
	river.WorkerDefaults[PushKeysArgs]
	backoff
	p *pusher
}

func (w *pushKeysWorker) NextRetry(job *river.Job[PushKeysArgs]) time.Time {
	return w.next(job.Attempt)
}

func (w *pushKeysWorker) Work(ctx context.Context, job *river.Job[PushKeysArgs]) error {
	err := w.p.pushKeys(ctx, job.Args.ProjectID, keyPushOptions{})
	if projectGone(err) {
		return nil
	}
	return err
}

type purgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	backoff
	p *pusher
}

func (w *purgeWorker) NextRetry(job *river.Job[PurgeArgs]) time.Time {
	return w.next(job.Attempt)
}

// Work purges the tenant of a project still deleting once its purge time
// has come, then marks the project deleted.
func (w *purgeWorker) Work(ctx context.Context, job *river.Job[PurgeArgs]) error {
	id := job.Args.ProjectID
	st := NewStore(w.p.pool)
	pr, err := st.projectForPush(ctx, id)
	if projectGone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pr.State != StateDeleting {
		return nil
	}
	wait, err := st.projectPurgeWait(ctx, id)
	if err != nil {
		return err
	}
	if wait > 0 {
		return river.JobSnooze(wait)
	}
	if err := w.p.purgeTenant(ctx, pr); err != nil {
		return err
	}
	return st.ProjectMarkDeleted(ctx, id)
}
