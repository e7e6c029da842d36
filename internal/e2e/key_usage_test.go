package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/internal/platformtest"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// A key's use on the data plane reaches the control plane with the next
// heartbeat and shows in the key list as last used; a key never used shows
// no last use.
func TestKeyListShowsLastUse(t *testing.T) {
	t.Parallel()
	p := platformtest.Start(t, platformtest.Options{HeartbeatInterval: 200 * time.Millisecond})
	ctx := context.Background()
	mc, pr := project(t, p)
	used, secret := secretKey(t, mc, pr, "used")
	idle, _ := secretKey(t, mc, pr, "idle")
	if !used.LastUsedAt.IsZero() {
		t.Fatalf("a new key shows last use %v", used.LastUsedAt)
	}

	// lastUse polls the key list until key shows a last use later than
	// after, and returns it and what the list says of idle.
	lastUse := func(key string, after time.Time) (time.Time, *sovereign.APIKey) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var got time.Time
			var idleNow *sovereign.APIKey
			for k, err := range mc.APIKeys(ctx, sovereign.ListAPIKeysParams{ProjectID: pr.ID}) {
				if err != nil {
					t.Fatalf("list keys: %v", err)
				}
				switch k.ID {
				case key:
					got = k.LastUsedAt
				case idle.ID:
					idleNow = k
				}
			}
			if got.After(after) {
				return got, idleNow
			}
			if time.Now().After(deadline) {
				t.Fatalf("the key list shows no use of key %s after %v (last use %v)", key, after, got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	dc := sovereign.NewClient(pr.DataPlaneURL, sovereign.WithAPIKey(secret))
	before := time.Now()
	if _, err := dc.CurrentProject(ctx); err != nil {
		t.Fatalf("data-plane call: %v", err)
	}
	called := time.Now()
	first, idleKey := lastUse(used.ID, time.Time{})
	// PostgreSQL keeps microseconds.
	if first.Before(before.Truncate(time.Microsecond)) || first.After(called) {
		t.Errorf("last use %v, want the call's time, between %v and %v", first, before, called)
	}
	if idleKey == nil || !idleKey.LastUsedAt.IsZero() {
		t.Errorf("the unused key is listed as %+v, want no last use", idleKey)
	}

	// A later use moves it forward.
	if _, err := dc.CurrentProject(ctx); err != nil {
		t.Fatalf("second data-plane call: %v", err)
	}
	if second, _ := lastUse(used.ID, first); second.After(time.Now()) {
		t.Errorf("last use %v is in the future", second)
	}
}
