// Package token makes and checks the platform's bearer secrets: API keys
// (sov_pk_…, sov_sk_…), personal access tokens (sov_pat_…), session tokens
// (sov_at_…, sov_rt_…) and single-use tokens for mail links.
//
// A token is its kind's prefix, 32 base62 characters of randomness (190
// bits) and a 6-character base62 CRC-32 of everything before it. The
// checksum lets a mistyped or truncated token be refused without a database
// look-up, and lets secret scanners recognise ours. Only Hash(token) is ever
// stored.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"strings"
)

// Kinds of token, by prefix.
const (
	PublishableKey      = "sov_pk_"
	SecretKey           = "sov_sk_"
	PersonalAccessToken = "sov_pat_"
	AccessToken         = "sov_at_"
	RefreshToken        = "sov_rt_"
	MailToken           = "sov_mt_"
	InvitationToken     = "sov_inv_"
)

const (
	alphabet    = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	randomLen   = 32
	checksumLen = 6
	// DisplayLen is how many characters after the prefix Display keeps.
	DisplayLen = 4
)

// ErrMalformed is returned for a string that is not a token of the kind
// asked for: wrong prefix, wrong length, a character outside base62, or a
// checksum that does not match.
var ErrMalformed = errors.New("malformed token")

// New returns a fresh token of the kind named by prefix.
func New(prefix string) string {
	var b strings.Builder
	b.Grow(len(prefix) + randomLen + checksumLen)
	b.WriteString(prefix)
	// Rejection sampling keeps every character uniform over the alphabet.
	buf := make([]byte, 64)
	for n := 0; n < randomLen; {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails
		for _, c := range buf {
			if c < 248 && n < randomLen { // 248 = 4*62
				b.WriteByte(alphabet[c%62])
				n++
			}
		}
	}
	b.WriteString(checksum(b.String()))
	return b.String()
}

// Check reports whether s is a well-formed token of the kind named by prefix.
func Check(s, prefix string) error {
	if len(s) != len(prefix)+randomLen+checksumLen || !strings.HasPrefix(s, prefix) {
		return ErrMalformed
	}
	body := s[len(prefix):]
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(alphabet, body[i]) < 0 {
			return ErrMalformed
		}
	}
	head := s[:len(s)-checksumLen]
	if checksum(head) != s[len(s)-checksumLen:] {
		return ErrMalformed
	}
	return nil
}

// KindOf returns the prefix of s among prefixes, or "" when s starts with
// none of them. It does not check the token.
func KindOf(s string, prefixes ...string) string {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return p
		}
	}
	return ""
}

// Hash is what is stored in place of a token: SHA-256, hex. Tokens carry 190
// bits of randomness, so a fast hash is enough; no salt or slow hash is
// needed (unlike passwords).
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Display is the part of a token safe to show in lists: its prefix and the
// first DisplayLen characters after it.
func Display(s, prefix string) string {
	if len(s) < len(prefix)+DisplayLen {
		return prefix
	}
	return s[:len(prefix)+DisplayLen]
}

func checksum(s string) string {
	v := crc32.ChecksumIEEE([]byte(s))
	out := make([]byte, checksumLen)
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return string(out)
}
