// Package projects holds projects (the platform's tenants) and their API
// keys, and keeps each region's data plane in step with them.
//
// A project lives in one region. Creating it records it in state
// provisioning and, in the same transaction, enqueues a River job that calls
// the region's AdminService.ProvisionTenant with the limits of the
// organization's plan; only when that call has succeeded (and the project's
// keys have been pushed) does the project become active, so a
// half-provisioned project is never reported active. Failures are retried
// with backoff and the last one is kept in the project for GetProject to
// show.
//
// States: provisioning → active ⇄ paused; any of these → deleting (data
// kept for Config.Retention) → deleted (the tenant purged). Every state
// change and every key change is pushed to the data plane twice over: once
// synchronously right after the commit, so that in the normal case the data
// plane has changed when the call returns, and by a backstop job enqueued in
// the same transaction, which repeats the push (if it is still needed) until
// it succeeds. Pushes of one project are serialized and always send the
// current state, so a slow, stale push can never overwrite a newer one.
package projects

import (
	"crypto/rand"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/sovereign-backend/sovereign/controlplane/fault"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// State is a project's lifecycle state.
type State string

// States.
const (
	StateProvisioning State = "provisioning"
	StateActive       State = "active"
	StatePaused       State = "paused"
	StateDeleting     State = "deleting"
	StateDeleted      State = "deleted"
)

// Live reports whether a project in state s is not being deleted.
func (s State) Live() bool {
	return s == StateProvisioning || s == StateActive || s == StatePaused
}

// Project is a project as its members see it.
type Project struct {
	ID             string
	Ref            string
	OrganizationID string
	Name           string
	Region         string
	State          State
	// DataPlaneURL is the public URL of the region's data plane.
	DataPlaneURL string
	CreatedAt    time.Time
	// PurgeAt is when a deleting project's data is dropped; zero otherwise.
	PurgeAt time.Time
	// LastError says why provisioning has not finished; empty otherwise.
	LastError string
}

// KeyKind is publishable or secret.
type KeyKind string

// Key kinds.
const (
	KindPublishable KeyKind = "publishable"
	KindSecret      KeyKind = "secret"
)

// prefix is the token prefix of the kind.
func (k KeyKind) prefix() string {
	if k == KindSecret {
		return token.SecretKey
	}
	return token.PublishableKey
}

// Key is an API key without its secret.
type Key struct {
	ID        string
	ProjectID string
	Name      string
	Kind      KeyKind
	// Prefix is the key's first characters (token.Display).
	Prefix     string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: does not expire
	LastUsedAt time.Time // zero: never reported used
	RevokedAt  time.Time // zero: not revoked
}

// RefLen is the length of a project ref.
const RefLen = 12

const refAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

var refPattern = regexp.MustCompile(`^[a-z0-9]{12}$`)

// newRef returns a random ref: RefLen characters of [a-z0-9] (62 bits).
func newRef() string {
	out := make([]byte, 0, RefLen)
	buf := make([]byte, 32)
	for len(out) < RefLen {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails
		for _, c := range buf {
			// 252 = 7*36: rejection sampling keeps the characters uniform.
			if c < 252 && len(out) < RefLen {
				out = append(out, refAlphabet[c%36])
			}
		}
	}
	return string(out)
}

// projectKey is a project named by id or by ref.
type projectKey struct {
	ID  string
	Ref string
}

// parseProjectKey reads a project id (UUID) or ref.
func parseProjectKey(field, s string) (projectKey, error) {
	if refPattern.MatchString(s) {
		return projectKey{Ref: s}, nil
	}
	if id, err := uuid.Parse(s); err == nil && s != "" {
		return projectKey{ID: id.String()}, nil
	}
	return projectKey{}, fault.New(fault.Invalid, "%s: give a project id or its 12-character ref", field)
}

// maxKeyTTL bounds an API key's lifetime.
const maxKeyTTL = 10 * 365 * 24 * time.Hour
