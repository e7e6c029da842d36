package storage

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// Signed URL limits.
const (
	// DefaultSignedURLExpiry is a signed URL's life when none is asked.
	DefaultSignedURLExpiry = time.Hour
	// MaxSignedURLExpiry is the longest life of a signed URL.
	MaxSignedURLExpiry = 7 * 24 * time.Hour
)

var errNoSecret = errors.New("signed URLs need the region secret, which this data plane was not given")

func (s *Service) aead() (cipher.AEAD, error) {
	if len(s.cfg.SigningSecret) == 0 {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errNoSecret)
	}
	blk, err := aes.NewCipher(s.cfg.SigningSecret)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// signingKey returns the tenant's current signing key (kid, key), making
// one when there is none. With kid set, it returns that key only if it is
// current: rotation retires the old keys at once (no grace period), so
// every URL signed with them stops working.
func (s *Service) signingKey(ctx context.Context, ref, kid string) (string, []byte, error) {
	g, err := s.aead()
	if err != nil {
		return "", nil, err
	}
	var id string
	var sealed []byte
	err = s.tx(ctx, ref, func(q tenantdb.Querier, t tables) error {
		sql := `SELECT id, sealed FROM ` + t.key + ` WHERE current`
		args := []any{}
		if kid != "" {
			sql += ` AND id = $1`
			args = append(args, kid)
		}
		err := q.QueryRow(ctx, sql, args...).Scan(&id, &sealed)
		if errors.Is(err, pgx.ErrNoRows) && kid == "" {
			id, sealed, err = newSigningKey(ctx, q, t, g)
		}
		return err
	})
	if err != nil {
		return "", nil, err
	}
	ns := g.NonceSize()
	if len(sealed) < ns {
		return "", nil, errors.New("storage: sealed signing key too short")
	}
	key, err := g.Open(nil, sealed[:ns], sealed[ns:], []byte(ref+"/"+id))
	if err != nil {
		return "", nil, fmt.Errorf("storage: open signing key: %w", err)
	}
	return id, key, nil
}

func newSigningKey(ctx context.Context, q tenantdb.Querier, t tables, g cipher.AEAD) (string, []byte, error) {
	if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, tenantdb.LockKey(lockName(t.ref))+1); err != nil {
		return "", nil, err
	}
	var id string
	var sealed []byte
	err := q.QueryRow(ctx, `SELECT id, sealed FROM `+t.key+` WHERE current`).Scan(&id, &sealed)
	if err == nil {
		return id, sealed, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", nil, err
	}
	raw := make([]byte, 8)
	_, _ = rand.Read(raw)
	id = hex.EncodeToString(raw)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	nonce := make([]byte, g.NonceSize())
	_, _ = rand.Read(nonce)
	sealed = g.Seal(nonce, nonce, key, []byte(t.ref+"/"+id))
	if _, err := q.Exec(ctx, `UPDATE `+t.key+` SET current = false WHERE current`); err != nil {
		return "", nil, err
	}
	if _, err := q.Exec(ctx, `INSERT INTO `+t.key+` (id, sealed) VALUES ($1, $2)`, id, sealed); err != nil {
		return "", nil, err
	}
	return id, sealed, nil
}

// RotateSigningKey makes a new current signing key; URLs signed with the
// previous ones stop working at once. The service role only.
func (s *Service) RotateSigningKey(ctx context.Context) (string, error) {
	w, err := s.serviceCallerOf(ctx)
	if err != nil {
		return "", err
	}
	if _, err := s.aead(); err != nil {
		return "", err
	}
	err = s.tx(ctx, w.id.TenantRef, func(q tenantdb.Querier, t tables) error {
		_, err := q.Exec(ctx, `UPDATE `+t.key+` SET current = false WHERE current`)
		return err
	})
	if err != nil {
		return "", err
	}
	kid, _, err := s.signingKey(ctx, w.id.TenantRef, "")
	return kid, err
}

func mac(key []byte, method, ref, bucket, name string, expires int64, kid string) []byte {
	m := hmac.New(sha256.New, key)
	// Length-prefixed fields: no two different inputs read the same.
	for _, f := range []string{"sovereign-storage-v1", method, ref, bucket, name, strconv.FormatInt(expires, 10), kid} {
		fmt.Fprintf(m, "%d:%s", len(f), f)
	}
	return m.Sum(nil)
}

// SignURL returns a URL that lets anyone GET (and HEAD) or PUT one object
// until it expires; the service role only. expiresIn 0 means
// DefaultSignedURLExpiry.
func (s *Service) SignURL(ctx context.Context, bucket, name, method string, expiresIn time.Duration) (string, time.Time, error) {
	w, err := s.serviceCallerOf(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	if method != "GET" && method != "PUT" {
		return "", time.Time{}, invalidf("method must be GET or PUT, not %q", method)
	}
	if expiresIn == 0 {
		expiresIn = DefaultSignedURLExpiry
	}
	if expiresIn < time.Second || expiresIn > MaxSignedURLExpiry {
		return "", time.Time{}, invalidf("expires_in_seconds must be 1 to %d", int(MaxSignedURLExpiry/time.Second))
	}
	if err := CheckObjectName(name); err != nil {
		return "", time.Time{}, err
	}
	if _, err := s.bucket(ctx, w.id.TenantRef, bucket); err != nil {
		return "", time.Time{}, err
	}
	kid, key, err := s.signingKey(ctx, w.id.TenantRef, "")
	if err != nil {
		return "", time.Time{}, err
	}
	exp := s.cfg.Now().Add(expiresIn).Truncate(time.Second)
	sig := base64.RawURLEncoding.EncodeToString(mac(key, method, w.id.TenantRef, bucket, name, exp.Unix(), kid))
	q := url.Values{"method": {method}, "expires": {strconv.FormatInt(exp.Unix(), 10)}, "kid": {kid}, "sig": {sig}}
	path := "/v1/storage/signed/" + w.id.TenantRef + "/" + url.PathEscape(bucket) + "/" + escapeName(name)
	return strings.TrimRight(s.cfg.PublicURL, "/") + path + "?" + q.Encode(), exp, nil
}

// escapeName escapes each segment of an object name for a URL path.
func escapeName(name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func errSignature(msg string) error {
	return connect.NewError(connect.CodePermissionDenied, errors.New("signed URL "+msg))
}

// verifySigned checks a signed URL's query for method on ref's object;
// PermissionDenied when it is expired, tampered with or signed with a
// retired key.
func (s *Service) verifySigned(ctx context.Context, q url.Values, method, ref, bucket, name string) error {
	if q.Get("method") != method {
		return errSignature("is not for " + method)
	}
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil {
		return errSignature("has no valid expires")
	}
	if s.cfg.Now().Unix() > exp {
		return errSignature("has expired")
	}
	sig, err := base64.RawURLEncoding.DecodeString(q.Get("sig"))
	if err != nil {
		return errSignature("has a malformed signature")
	}
	kid := q.Get("kid")
	if kid == "" {
		return errSignature("has no kid")
	}
	_, key, err := s.signingKey(ctx, ref, kid)
	if errors.Is(err, pgx.ErrNoRows) {
		return errSignature("was signed with a retired key")
	}
	if err != nil {
		return err
	}
	if !hmac.Equal(sig, mac(key, method, ref, bucket, name, exp, kid)) {
		return errSignature("signature does not match")
	}
	return nil
}
