package passwords

import (
	"context"
	"errors"
	"strings"
	"testing"
)

const goodPW = "correct horse battery"

// TestHash covers the default (production) parameters.
func TestHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := NewHasher(Default, 2)
	phc, err := h.Hash(ctx, goodPW)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", phc)
	}
	if again, _ := h.Hash(ctx, goodPW); again == phc {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{goodPW: true, goodPW + " ": false, "": false} {
		ok, err := h.Verify(ctx, pw, phc)
		if err != nil || ok != want {
			t.Errorf("Verify(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	// A hash made with other parameters still verifies.
	cheap := NewHasher(Params{Memory: 64, Time: 1, Threads: 1}, 1)
	old, _ := cheap.Hash(ctx, goodPW)
	if ok, err := h.Verify(ctx, goodPW, old); !ok || err != nil {
		t.Fatalf("Verify of a cheaper hash = %v, %v", ok, err)
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if _, err := h.Verify(ctx, goodPW, bad); !errors.Is(err, ErrHashFormat) {
			t.Errorf("Verify against %q: %v, want ErrHashFormat", bad, err)
		}
	}
}

// TestHashWaitRespectsContext fills the semaphore and checks a waiting hash
// gives up with its context.
func TestHashWaitRespectsContext(t *testing.T) {
	t.Parallel()
	h := NewHasher(Params{Memory: 64, Time: 1, Threads: 1}, 1)
	if err := h.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, goodPW); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with a full semaphore and a canceled context: %v", err)
	}
	if _, err := h.Verify(ctx, goodPW, "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with a full semaphore and a canceled context: %v", err)
	}
	h.Release()
	if _, err := h.Hash(context.Background(), goodPW); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		password, email string
		ok              bool
	}{
		{"correct horse battery", "ada@example.com", true},
		{"ünïcödé-pässwörd", "ada@example.com", true},
		{"123456789", "ada@example.com", false},
		{"abcdefghijkl", "ada@example.com", false},
		{"ÄÖÜäöüßéèê", "ada@example.com", false},
		{"01234567890123", "ada@example.com", false},
		{"my ADA password 1", "ada@example.com", false},
		{"my ada password 1", "ADA@example.com", false},
		{"my ab password 1", "ab@example.com", true}, // a 2-letter name is not forbidden
		{"correct horse battery", "", true},
		{strings.Repeat("ab1", 43), "", false},
	}
	for _, tt := range tests {
		err := Check(tt.password, tt.email)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%q, %q) = %v, want ok=%v", tt.password, tt.email, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), Rule) {
			t.Errorf("error %q does not state the rule", err)
		}
	}
	if err := (Params{Memory: 1}).Validate(); err == nil {
		t.Error("Validate accepted 1 KiB")
	}
	if err := Default.Validate(); err != nil {
		t.Error(err)
	}
}
