package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinKeyLen is the least length of Config.SecretKey, in bytes.
const MinKeyLen = 32

// HKDF info strings: each use of Config.SecretKey gets its own key, so one
// platform secret can serve this package, package oauth and others
// without a ciphertext or hash of one being valid for another.
const (
	infoSeal     = "sovereign.dataplane.auth.mfa.totp-secret.v1"
	infoRecovery = "sovereign.dataplane.auth.mfa.recovery-code.v1"
)

// sealVersion is the first byte of every sealed value: the format, so that
// a later one (another key or cipher) can be told apart.
const sealVersion = 1

// keys holds what the package derives from Config.SecretKey.
type keys struct {
	// aead seals TOTP secrets: AES-256-GCM with a random 96-bit nonce
	// prefixed to the ciphertext.
	aead cipher.AEAD
	// recovery keys the HMAC that recovery codes are stored as.
	recovery []byte
}

func deriveKeys(secret []byte) (*keys, error) {
	if len(secret) < MinKeyLen {
		return nil, fmt.Errorf("mfa: SecretKey must be at least %d bytes, got %d", MinKeyLen, len(secret))
	}
	sealKey, err := hkdf.Key(sha256.New, secret, nil, infoSeal, 32)
	if err != nil {
		return nil, fmt.Errorf("mfa: derive key: %w", err)
	}
	recovery, err := hkdf.Key(sha256.New, secret, nil, infoRecovery, 32)
	if err != nil {
		return nil, fmt.Errorf("mfa: derive key: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("mfa: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("mfa: %w", err)
	}
	return &keys{aead: aead, recovery: recovery}, nil
}

// aad binds a sealed secret to its tenant and user: a ciphertext copied to
// another user's row does not open.
func aad(ref, userID string) []byte { return []byte(ref + "\x00" + userID) }

func (k *keys) seal(plain []byte, ref, userID string) []byte {
	return k.aead.Seal([]byte{sealVersion}, nil, plain, aad(ref, userID))
}

var errSealed = errors.New("mfa: stored secret does not open with the configured key")

func (k *keys) open(sealed []byte, ref, userID string) ([]byte, error) {
	if len(sealed) < 1 || sealed[0] != sealVersion {
		return nil, errSealed
	}
	plain, err := k.aead.Open(nil, nil, sealed[1:], aad(ref, userID))
	if err != nil {
		return nil, errSealed
	}
	return plain, nil
}

// recoveryHash is what a recovery code is stored as: HMAC-SHA256 under a
// key derived from Config.SecretKey, over the user id and the normalised
// code. A copy of the table alone does not allow checking guesses offline.
func (k *keys) recoveryHash(userID, code string) []byte {
	m := hmac.New(sha256.New, k.recovery)
	m.Write([]byte(userID))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}
