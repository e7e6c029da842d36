// Package passwords hashes and checks the passwords of the platform's people:
// the control plane's accounts and the data plane's end users. Hashes are
// argon2id in PHC string format; a Hasher bounds how many run at once, so a
// flood of sign-ins queues instead of exhausting memory and CPU. Check states
// the one password rule both planes apply.
package passwords

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

// The password rule, stated in every WeakError.
const (
	// MinLen and MaxLen bound a password's length in characters.
	MinLen = 10
	MaxLen = 128
	// A local part shorter than this is too common a substring to forbid.
	minLocalPartToForbid = 3
	// Rule is the rule in words.
	Rule = "a password needs 10 to 128 characters, not only letters and not only digits, and must not contain the name in your email address (the part before @)"
)

// WeakError says why a password breaks the rule; its message states the
// rule.
type WeakError struct {
	// What is wrong, e.g. "too short".
	What string
}

func (e *WeakError) Error() string { return "weak password, " + e.What + ": " + Rule }

// Check applies the password rule to password for the owner of email (which
// may be empty, for a user without one).
func Check(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinLen:
		return &WeakError{What: "too short"}
	case n > MaxLen:
		return &WeakError{What: "too long"}
	case all(password, unicode.IsLetter):
		return &WeakError{What: "only letters"}
	case all(password, unicode.IsDigit):
		return &WeakError{What: "only digits"}
	}
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	if utf8.RuneCountInString(local) >= minLocalPartToForbid && strings.Contains(strings.ToLower(password), local) {
		return &WeakError{What: "it contains the name in your email address"}
	}
	return nil
}

func all(s string, f func(rune) bool) bool {
	for _, r := range s {
		if !f(r) {
			return false
		}
	}
	return true
}

// Params are argon2id's cost parameters.
type Params struct {
	// Memory in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
}

// Default is OWASP's first recommended argon2id configuration (Password
// Storage Cheat Sheet): 19 MiB, 2 passes, 1 thread. Of OWASP's equivalent
// options it uses the least memory, which matters more on a small server
// hashing several passwords at once than the extra pass costs.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Validate refuses parameters too weak to be argon2id's.
func (p Params) Validate() error {
	if p.Memory < 8 || p.Time < 1 || p.Threads < 1 {
		return fmt.Errorf("invalid argon2 parameters %+v", p)
	}
	return nil
}

const (
	saltLen = 16
	keyLen  = 32
)

// ErrHashFormat means a stored hash is not one this package wrote.
var ErrHashFormat = errors.New("password hash: not an argon2id PHC string")

// Hasher hashes and verifies passwords with argon2id. A semaphore bounds how
// many run at once (each holds Memory KiB for its duration); waiting gives up
// with the caller's context. It is safe for concurrent use.
type Hasher struct {
	params Params
	sem    chan struct{}
}

// NewHasher returns a Hasher making new hashes with p, at most concurrency at
// once (at least 1).
func NewHasher(p Params, concurrency int) *Hasher {
	return &Hasher{params: p, sem: make(chan struct{}, max(concurrency, 1))}
}

// Acquire takes one of the Hasher's slots, waiting as long as ctx allows;
// Hash and Verify do it themselves. Exported for tests that fill the
// Hasher.
func (h *Hasher) Acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait to hash a password: %w", ctx.Err())
	}
}

// Release gives back a slot taken with Acquire.
func (h *Hasher) Release() { <-h.sem }

// Hash returns password's argon2id hash in PHC string format:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<hash> (unpadded
// standard base64).
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails
	if err := h.Acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.Memory, h.params.Threads, keyLen)
	h.Release()
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.params.Memory, h.params.Time, h.params.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string phc, using the
// parameters recorded in phc (so older hashes keep working after the
// defaults change). A phc this package did not write is ErrHashFormat.
func (h *Hasher) Verify(ctx context.Context, password, phc string) (bool, error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	if err := h.Acquire(ctx); err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	h.Release()
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func parsePHC(phc string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrHashFormat
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, ErrHashFormat
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, ErrHashFormat
	}
	// Bounds keep a corrupted row from asking for gigabytes.
	if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 16 || p.Threads < 1 {
		return p, nil, nil, ErrHashFormat
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, ErrHashFormat
	}
	return p, salt, key, nil
}
