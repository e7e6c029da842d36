package oauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinKeyLen is the least length of Config.SecretKey, in bytes.
const MinKeyLen = 32

// infoSeal is the HKDF info of the key that seals client secrets: one
// platform secret can serve several packages, each with its own key.
const infoSeal = "sovereign.dataplane.auth.oauth.client-secret.v1"

// sealVersion is the first byte of a sealed value, naming its format.
const sealVersion = 1

// sealer seals client secrets with AES-256-GCM (random 96-bit nonce
// prefixed), bound to the tenant and provider name.
type sealer struct{ aead cipher.AEAD }

func newSealer(secret []byte) (*sealer, error) {
	if len(secret) < MinKeyLen {
		return nil, fmt.Errorf("oauth: SecretKey must be at least %d bytes, got %d", MinKeyLen, len(secret))
	}
	key, err := hkdf.Key(sha256.New, secret, nil, infoSeal, 32)
	if err != nil {
		return nil, fmt.Errorf("oauth: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func aad(ref, provider string) []byte { return []byte(ref + "\x00" + provider) }

func (s *sealer) seal(plain, ref, provider string) []byte {
	return s.aead.Seal([]byte{sealVersion}, nil, []byte(plain), aad(ref, provider))
}

var errSealed = errors.New("oauth: stored client secret does not open with the configured key")

func (s *sealer) open(sealed []byte, ref, provider string) (string, error) {
	if len(sealed) < 1 || sealed[0] != sealVersion {
		return "", errSealed
	}
	plain, err := s.aead.Open(nil, nil, sealed[1:], aad(ref, provider))
	if err != nil {
		return "", errSealed
	}
	return string(plain), nil
}
