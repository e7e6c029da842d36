package mfa

import (
	"strings"
	"testing"
	"time"
)

// Codes come from end users: whatever they send, normalisation yields
// either nothing or a code of exactly the accepted shape, and matching
// never panics.
func FuzzCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "abcde-fghij", "ABCDE FGHIJ", "", "１２３４５６", "12345\x00", "AAAAA-AAAAA-"} {
		f.Add(s)
	}
	secret := []byte("12345678901234567890")
	f.Fuzz(func(t *testing.T, code string) {
		if c, ok := normaliseTOTP(code); ok {
			if len(c) != Digits || strings.Trim(c, "0123456789") != "" {
				t.Fatalf("TOTP %q normalised to %q", code, c)
			}
			matchStep(secret, c, time.Unix(1_700_000_000, 0), nil)
		}
		if c, ok := normaliseRecovery(code); ok {
			if len(c) != recoveryLen || strings.Trim(c, base32Alphabet) != "" {
				t.Fatalf("recovery code %q normalised to %q", code, c)
			}
		}
	})
}
