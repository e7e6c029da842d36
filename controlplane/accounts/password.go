package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password rule, stated in every weak-password error.
const (
	minPasswordLen = 10
	maxPasswordLen = 128
	// A local part shorter than this is too common a substring to forbid.
	minLocalPartToForbid = 3
	passwordRule         = "a password needs 10 to 128 characters, not only letters and not only digits, and must not contain the name in your email address (the part before @)"
)

// checkPassword applies the password rule for an account with email.
func checkPassword(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < minPasswordLen:
		return weak("too short")
	case n > maxPasswordLen:
		return weak("too long")
	case all(password, unicode.IsLetter):
		return weak("only letters")
	case all(password, unicode.IsDigit):
		return weak("only digits")
	}
	local, _, _ := strings.Cut(email, "@")
	if utf8.RuneCountInString(local) >= minLocalPartToForbid && strings.Contains(strings.ToLower(password), local) {
		return weak("it contains the name in your email address")
	}
	return nil
}

func weak(what string) error {
	return &InputError{Field: "password", Reason: "weak password, " + what + ": " + passwordRule}
}

func all(s string, f func(rune) bool) bool {
	for _, r := range s {
		if !f(r) {
			return false
		}
	}
	return true
}

// Argon2Params are argon2id's cost parameters.
type Argon2Params struct {
	// Memory in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
}

// DefaultArgon2 is OWASP's first recommended argon2id configuration (Password
// Storage Cheat Sheet): 19 MiB, 2 passes, 1 thread. Of OWASP's equivalent
// options it uses the least memory, which matters more on a small server
// hashing several passwords at once than the extra pass costs.
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// errHashFormat means a stored hash is not one this package wrote.
var errHashFormat = errors.New("password hash: not an argon2id PHC string")

// hasher hashes and verifies passwords with argon2id. A semaphore bounds how
// many run at once (each holds Memory KiB for its duration), so a flood of
// logins queues instead of exhausting memory and CPU; waiting gives up with
// the caller's context.
type hasher struct {
	params Argon2Params
	sem    chan struct{}
}

func newHasher(p Argon2Params, concurrency int) *hasher {
	return &hasher{params: p, sem: make(chan struct{}, concurrency)}
}

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait to hash a password: %w", ctx.Err())
	}
}

func (h *hasher) release() { <-h.sem }

// Hash returns password's argon2id hash in PHC string format:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<hash> (unpadded
// standard base64).
func (h *hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.Memory, h.params.Threads, keyLen)
	h.release()
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.params.Memory, h.params.Time, h.params.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string phc, using the
// parameters recorded in phc (so older hashes keep working after the
// defaults change).
func (h *hasher) Verify(ctx context.Context, password, phc string) (bool, error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	h.release()
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func parsePHC(phc string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errHashFormat
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errHashFormat
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errHashFormat
	}
	// Bounds keep a corrupted row from asking for gigabytes.
	if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 16 || p.Threads < 1 {
		return p, nil, nil, errHashFormat
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errHashFormat
	}
	return p, salt, key, nil
}
