package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// SigningKey describes one of a project's signing keys (never its private
// half).
type SigningKey struct {
	KID string
	// Alg is "EdDSA".
	Alg       string
	CreatedAt time.Time
	// RetiredAt is when another key became current; zero for the current
	// key.
	RetiredAt time.Time
	Current   bool
	public    ed25519.PublicKey
}

// keySet is a project's published keys and its current private key.
type keySet struct {
	current *SigningKey
	private ed25519.PrivateKey
	byKID   map[string]*SigningKey
	keys    []*SigningKey
	loaded  time.Time
}

// keyCache holds key sets by tenant.
type keyCache struct {
	mu sync.Mutex
	m  map[string]*keySet
}

func newKeyCache() *keyCache { return &keyCache{m: make(map[string]*keySet)} }

func (c *keyCache) get(ref string) *keySet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[ref]
}

func (c *keyCache) put(ref string, ks *keySet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[ref] = ks
}

func (c *keyCache) drop(ref string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, ref)
}

func (c *keyCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

const algEdDSA = "EdDSA"

// publishWindow is how long a retired key stays published and accepted:
// until every token it signed has expired.
func (s *Service) publishWindow() time.Duration { return s.cfg.AccessTTL + s.cfg.Leeway }

// seal encrypts plain under key with AES-256-GCM, bound to aad:
// nonce || ciphertext.
func seal(key, plain []byte, aad string) []byte {
	block, _ := aes.NewCipher(key) // a 32-byte key never fails
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	return gcm.Seal(nonce, nonce, plain, []byte(aad))
}

func open(key, sealed []byte, aad string) ([]byte, error) {
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("sealed value too short")
	}
	return gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], []byte(aad))
}

func keyAAD(ref, kid string) string { return "sovereign auth signing key\x00" + ref + "\x00" + kid }

// keySetFor returns ref's keys: cached when younger than KeyCacheTTL,
// otherwise read (and, on the project's first use, made).
func (s *Service) keySetFor(ctx context.Context, ref string) (*keySet, error) {
	if ks := s.keys.get(ref); ks != nil && s.now().Sub(ks.loaded) < s.cfg.KeyCacheTTL && ks.current != nil {
		return ks, nil
	}
	return s.loadKeys(ctx, ref)
}

// loadKeys reads ref's published keys, making the first one when there is
// none, and caches them.
func (s *Service) loadKeys(ctx context.Context, ref string) (*keySet, error) {
	if err := s.ensureTables(ctx, ref); err != nil {
		return nil, err
	}
	ks, err := s.readKeys(ctx, ref)
	if err != nil {
		return nil, err
	}
	if ks.current == nil {
		err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
			if _, err := q.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(ref)); err != nil {
				return err
			}
			var n int
			if err := q.QueryRow(ctx, "SELECT count(*) FROM "+table(ref, keysTable)+" WHERE retired_at IS NULL").Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			_, err := s.insertKey(ctx, q, ref)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("make signing key: %w", err)
		}
		if ks, err = s.readKeys(ctx, ref); err != nil {
			return nil, err
		}
		if ks.current == nil {
			return nil, errors.New("make signing key: none is current")
		}
	}
	s.keys.put(ref, ks)
	return ks, nil
}

func (s *Service) readKeys(ctx context.Context, ref string) (*keySet, error) {
	now := s.now()
	ks := &keySet{byKID: make(map[string]*SigningKey), loaded: now}
	err := s.db.Read(ctx, service(ref), func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				k       SigningKey
				pub     []byte
				sealed  []byte
				retired *time.Time
			)
			if err := rows.Scan(&k.KID, &k.Alg, &pub, &sealed, &k.CreatedAt, &retired); err != nil {
				return err
			}
			if len(pub) != ed25519.PublicKeySize || k.Alg != algEdDSA {
				return fmt.Errorf("signing key %s is not an Ed25519 key", k.KID)
			}
			k.public = pub
			if retired == nil {
				seed, err := open(s.keyKey, sealed, keyAAD(ref, k.KID))
				if err != nil || len(seed) != ed25519.SeedSize {
					return fmt.Errorf("decrypt signing key %s (was Config.KeySecret changed?): %v", k.KID, err)
				}
				k.Current = true
				ks.current = &k
				ks.private = ed25519.NewKeyFromSeed(seed)
			} else {
				k.RetiredAt = *retired
			}
			ks.byKID[k.KID] = &k
			ks.keys = append(ks.keys, &k)
		}
		return rows.Err()
	}, "SELECT kid, alg, public_key, private_key, created_at, retired_at FROM "+table(ref, keysTable)+
		" WHERE retired_at IS NULL OR retired_at > $1 ORDER BY retired_at IS NULL DESC, retired_at DESC, created_at DESC, kid", now.Add(-s.publishWindow()))
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	return ks, nil
}

// insertKey makes a new current key in q's transaction.
func (s *Service) insertKey(ctx context.Context, q tenantdb.Querier, ref string) (SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, err
	}
	kid := newKID()
	now := s.now()
	_, err = q.Exec(ctx, "INSERT INTO "+table(ref, keysTable)+" (kid, alg, public_key, private_key, created_at) VALUES ($1, $2, $3, $4, $5)",
		kid, algEdDSA, []byte(pub), seal(s.keyKey, priv.Seed(), keyAAD(ref, kid)), now)
	if err != nil {
		return SigningKey{}, err
	}
	return SigningKey{KID: kid, Alg: algEdDSA, CreatedAt: now, Current: true, public: pub}, nil
}

// newKID is a random key id: 16 bytes, base64url.
func newKID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// RotateSigningKey makes a new signing key current for ref. The previous
// key stays published and accepted until the tokens it signed have expired,
// so nobody is signed out.
func (s *Service) RotateSigningKey(ctx context.Context, ref string) (SigningKey, error) {
	var k SigningKey
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		if _, err := q.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(ref)); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, "UPDATE "+table(ref, keysTable)+" SET retired_at = $1 WHERE retired_at IS NULL", s.now()); err != nil {
			return err
		}
		var err error
		k, err = s.insertKey(ctx, q, ref)
		return err
	})
	if err != nil {
		return SigningKey{}, fmt.Errorf("rotate signing key: %w", err)
	}
	s.announce(ctx, invalidation{Tenant: ref, Keys: true})
	return k, nil
}

// ListSigningKeys returns ref's published keys, newest first (making the
// first key if there is none yet).
func (s *Service) ListSigningKeys(ctx context.Context, ref string) ([]SigningKey, error) {
	ks, err := s.loadKeys(ctx, ref)
	if err != nil {
		return nil, err
	}
	out := make([]SigningKey, 0, len(ks.keys))
	for _, k := range ks.keys {
		out = append(out, *k)
	}
	return out, nil
}

// jwk is one JSON Web Key (RFC 8037 for Ed25519).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS returns ref's JSON Web Key Set: the public half of every key whose
// tokens may still be valid, the current one first.
func (s *Service) JWKS(ctx context.Context, ref string) ([]byte, error) {
	ks, err := s.keySetFor(ctx, ref)
	if err != nil {
		return nil, err
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, k := range ks.keys {
		set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.public), Kid: k.KID, Alg: algEdDSA, Use: "sig"})
	}
	return json.Marshal(set)
}
