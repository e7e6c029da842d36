package token

import (
	"strings"
	"testing"
)

func TestNewChecks(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range []string{PublishableKey, SecretKey, PersonalAccessToken, AccessToken, RefreshToken, MailToken, InvitationToken} {
		for range 100 {
			s := New(p)
			if err := Check(s, p); err != nil {
				t.Fatalf("%s: fresh token %q fails Check: %v", p, s, err)
			}
			if seen[s] {
				t.Fatalf("duplicate token %q", s)
			}
			seen[s] = true
		}
	}
}

func TestCheckRefuses(t *testing.T) {
	good := New(SecretKey)
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	cases := map[string]string{
		"empty":                 "",
		"other kind":            New(PublishableKey),
		"truncated":             good[:len(good)-1],
		"extended":              good + "a",
		"changed random char":   flip(len(SecretKey) + 3),
		"changed checksum char": flip(len(good) - 1),
		"non-base62":            good[:len(SecretKey)] + "-" + good[len(SecretKey)+1:],
		"prefix only":           SecretKey,
	}
	for name, s := range cases {
		if err := Check(s, SecretKey); err != ErrMalformed {
			t.Errorf("%s: Check(%q) = %v, want ErrMalformed", name, s, err)
		}
	}
}

func TestDisplayAndHash(t *testing.T) {
	s := New(PersonalAccessToken)
	d := Display(s, PersonalAccessToken)
	if !strings.HasPrefix(s, d) || len(d) != len(PersonalAccessToken)+DisplayLen {
		t.Fatalf("Display(%q) = %q", s, d)
	}
	if h := Hash(s); len(h) != 64 || h == Hash(New(PersonalAccessToken)) || strings.Contains(h, s) {
		t.Fatalf("Hash = %q", h)
	}
	if KindOf(s, SecretKey, PersonalAccessToken) != PersonalAccessToken || KindOf("x", SecretKey) != "" {
		t.Fatal("KindOf")
	}
}

func FuzzCheck(f *testing.F) {
	f.Add(New(SecretKey))
	f.Add("sov_sk_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if Check(s, SecretKey) == nil && !strings.HasPrefix(s, SecretKey) {
			t.Fatalf("accepted %q without the prefix", s)
		}
	})
}
