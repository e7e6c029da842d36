package projects

import (
	"testing"
	"time"
)

func TestNewRef(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		r := newRef()
		if !refPattern.MatchString(r) {
			t.Fatalf("ref %q", r)
		}
		if seen[r] {
			t.Fatalf("ref %q twice", r)
		}
		seen[r] = true
		for _, c := range r {
			counts[c]++
		}
	}
	if len(counts) != 36 {
		t.Errorf("refs use %d distinct characters, want all 36", len(counts))
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := backoff{base: time.Second, max: time.Minute}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 7: time.Minute, 1000: time.Minute} {
		d := time.Until(b.next(attempt))
		if d < want*7/10 || d > want*13/10 {
			t.Errorf("attempt %d waits %v, want about %v", attempt, d, want)
		}
	}
}

func FuzzPageToken(f *testing.F) {
	f.Add(pageToken{Org: "0190f0c4-5a3b-7c2d-8e9f-0a1b2c3d4e5f", CreatedAt: 1700000000000000, ID: "0190f0c4-5a3b-7c2d-8e9f-0a1b2c3d4e5f"}.encode())
	f.Add("")
	f.Add("eyJvIjoxfQ")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := decodePageToken(s)
		if err != nil {
			return
		}
		again, err := decodePageToken(tok.encode())
		if err != nil || again != tok {
			t.Fatalf("round trip of %+v: %+v, %v", tok, again, err)
		}
	})
}

func TestParseProjectKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]projectKey{
		"abcdefgh1234":                         {Ref: "abcdefgh1234"},
		"0190F0C4-5A3B-7C2D-8E9F-0A1B2C3D4E5F": {ID: "0190f0c4-5a3b-7c2d-8e9f-0a1b2c3d4e5f"},
	} {
		got, err := parseProjectKey("id", in)
		if err != nil || got != want {
			t.Errorf("parseProjectKey(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "ABCDEFGH1234", "abc", "abcdefgh12345", "x' OR 1=1 --"} {
		if _, err := parseProjectKey("id", bad); err == nil {
			t.Errorf("parseProjectKey(%q) accepted", bad)
		}
	}
}
