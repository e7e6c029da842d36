package accounts

import (
	"errors"

	"github.com/sovereign-backend/sovereign/internal/passwords"
)

// Password rule, stated in every weak-password error (package passwords
// holds it, shared with the data plane's end users).
const (
	maxPasswordLen = passwords.MaxLen
	passwordRule   = passwords.Rule
)

// checkPassword applies the password rule for an account with email.
func checkPassword(password, email string) error {
	var we *passwords.WeakError
	if err := passwords.Check(password, email); errors.As(err, &we) {
		return &InputError{Field: "password", Reason: we.Error()}
	}
	return nil
}

// Argon2Params are argon2id's cost parameters.
type Argon2Params = passwords.Params

// DefaultArgon2 is OWASP's first recommended argon2id configuration: 19 MiB,
// 2 passes, 1 thread (see passwords.Default).
var DefaultArgon2 = passwords.Default

// hasher hashes and verifies passwords with argon2id, a bounded number at
// once.
type hasher = passwords.Hasher

func newHasher(p Argon2Params, concurrency int) *hasher { return passwords.NewHasher(p, concurrency) }
