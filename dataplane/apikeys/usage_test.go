package apikeys_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// usageOf drains k and indexes the result by key id, failing on a key
// drained twice.
func usageOf(t *testing.T, k *apikeys.Keys) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	for _, u := range k.DrainUsage() {
		if _, dup := out[u.KeyID]; dup {
			t.Fatalf("key %s drained twice", u.KeyID)
		}
		out[u.KeyID] = u.LastUsedAt
	}
	return out
}

// Successful authentications, cached or not, are recorded with their
// latest time; refusals are not. A drain empties the record.
func TestUsageRecordedAndDrained(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k := f.keys(t, apikeys.Config{})
	run(t, k)
	a, recA := f.newKey(t, k, token.SecretKey)
	b, recB := f.newKey(t, k, token.PublishableKey)
	revoked, recR := f.newKey(t, k, token.SecretKey)
	recR.RevokedAt = time.Now()
	if err := k.Put(t.Context(), []apikeys.Record{recR}); err != nil {
		t.Fatal(err)
	}
	if got := k.DrainUsage(); len(got) != 0 {
		t.Fatalf("usage before any authentication: %v", got)
	}

	start := time.Now()
	for _, key := range []string{a, b, a} { // a twice: the second from the cache
		if _, err := k.Authenticate(t.Context(), key); err != nil {
			t.Fatal(err)
		}
	}
	lastA := time.Now()
	for _, key := range []string{revoked, token.New(token.SecretKey), "sov_sk_malformed"} {
		if _, err := k.Authenticate(t.Context(), key); err == nil {
			t.Fatalf("%s authenticated", key)
		}
	}

	got := usageOf(t, k)
	if len(got) != 2 {
		t.Fatalf("usage %v, want keys %s and %s only", got, recA.ID, recB.ID)
	}
	if at, ok := got[recA.ID]; !ok || at.Before(got[recB.ID]) || at.Before(start) || at.After(lastA) {
		t.Errorf("key a last used %v (b %v); want its second use, between %v and %v", at, got[recB.ID], start, lastA)
	}
	if at, ok := got[recB.ID]; !ok || at.Before(start) {
		t.Errorf("key b last used %v, want after %v", at, start)
	}
	if again := k.DrainUsage(); len(again) != 0 {
		t.Errorf("second drain: %v, want nothing", again)
	}
}

// Usage put back after a failed heartbeat is drained again, and a key used
// meanwhile keeps its latest use, whichever side it came from.
func TestUsageRestore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k := f.keys(t, apikeys.Config{})
	key, rec := f.newKey(t, k, token.SecretKey)
	if _, err := k.Authenticate(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	drained := k.DrainUsage()
	if len(drained) != 1 || drained[0].KeyID != rec.ID {
		t.Fatalf("drained %v", drained)
	}
	// Used again while the heartbeat carrying drained was failing.
	if _, err := k.Authenticate(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	older := time.Now().Add(-time.Hour)
	newer := time.Now().Add(time.Hour)
	k.RestoreUsage(append(drained,
		apikeys.Usage{KeyID: "other", LastUsedAt: older},
		apikeys.Usage{KeyID: "other", LastUsedAt: newer}, // duplicates keep the later
	))
	got := usageOf(t, k)
	if len(got) != 2 || !got["other"].Equal(newer) {
		t.Fatalf("after restore: %v", got)
	}
	if !got[rec.ID].After(drained[0].LastUsedAt) {
		t.Errorf("key last used %v, want the use after the drain (later than %v)", got[rec.ID], drained[0].LastUsedAt)
	}

	// Restoring something older than a use recorded since does not hide it.
	if _, err := k.Authenticate(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	k.RestoreUsage([]apikeys.Usage{{KeyID: rec.ID, LastUsedAt: older}})
	if got := usageOf(t, k); !got[rec.ID].After(older) {
		t.Errorf("an older restored use replaced a newer one: %v", got[rec.ID])
	}
	k.RestoreUsage(nil)
	if got := k.DrainUsage(); len(got) != 0 {
		t.Errorf("restoring nothing gave %v", got)
	}
}

// Past UsageLimit keys the oldest uses are dropped and the newest kept,
// whether they come from authentications or from RestoreUsage.
func TestUsageBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const limit = 8
	k := f.keys(t, apikeys.Config{UsageLimit: limit})

	base := time.Now().Add(-time.Hour)
	var restored []apikeys.Usage
	for i := range 3 * limit {
		restored = append(restored, apikeys.Usage{KeyID: fmt.Sprintf("k%02d", i), LastUsedAt: base.Add(time.Duration(i) * time.Second)})
	}
	k.RestoreUsage(restored)
	got := usageOf(t, k)
	if len(got) == 0 || len(got) > limit {
		t.Fatalf("%d uses held, want 1 to %d", len(got), limit)
	}
	for _, u := range restored[len(restored)-len(got):] {
		if at, ok := got[u.KeyID]; !ok || !at.Equal(u.LastUsedAt) {
			t.Errorf("%s: held %v, want the newest %d uses kept (%v)", u.KeyID, at, len(got), u.LastUsedAt)
		}
	}

	// Authentications: the key used last is always among those held.
	keys := make([]string, 0, limit+2)
	ids := make([]string, 0, limit+2)
	for range limit + 2 {
		key, rec := f.newKey(t, k, token.SecretKey)
		keys, ids = append(keys, key), append(ids, rec.ID)
	}
	for _, key := range keys {
		if _, err := k.Authenticate(t.Context(), key); err != nil {
			t.Fatal(err)
		}
	}
	got = usageOf(t, k)
	if len(got) == 0 || len(got) > limit {
		t.Fatalf("%d uses held, want 1 to %d", len(got), limit)
	}
	for id := range got {
		if i := slices.Index(ids, id); i < len(ids)-len(got) {
			t.Errorf("key #%d held while a newer one was dropped: %v", i, got)
		}
	}
}
