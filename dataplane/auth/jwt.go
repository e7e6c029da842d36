package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/caller"
)

// accessClaims are an access token's claims. aud is one string, the
// project's ref; a token whose aud is anything else (an array included) is
// refused.
type accessClaims struct {
	Issuer      string           `json:"iss"`
	Subject     string           `json:"sub"`
	Audience    string           `json:"aud"`
	ExpiresAt   *jwt.NumericDate `json:"exp,omitempty"`
	NotBefore   *jwt.NumericDate `json:"nbf,omitempty"`
	IssuedAt    *jwt.NumericDate `json:"iat,omitempty"`
	ID          string           `json:"jti,omitempty"`
	Role        string           `json:"role"`
	AAL         string           `json:"aal"`
	SessionID   string           `json:"sid"`
	Email       string           `json:"email,omitempty"`
	IsAnonymous bool             `json:"is_anonymous"`
}

func (c *accessClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *accessClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *accessClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *accessClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *accessClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *accessClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

// issueAccess signs an access token for u in session sid.
func (s *Service) issueAccess(ctx context.Context, ref string, u User, sid, aal string) (string, time.Time, error) {
	ks, err := s.keySetFor(ctx, ref)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	exp := now.Add(s.cfg.AccessTTL)
	c := &accessClaims{
		Issuer: Issuer(ref), Subject: u.ID, Audience: ref,
		ExpiresAt: jwt.NewNumericDate(exp), NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now),
		ID: uuid.NewString(), Role: u.Role, AAL: aal, SessionID: sid, Email: u.Email, IsAnonymous: u.Anonymous,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = ks.current.KID
	signed, err := t.SignedString(ks.private)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return signed, exp, nil
}

// Reasons an access token is refused, in its Unauthenticated error.
const (
	ReasonMalformed      = "invalid token: not a well-formed JWT"
	ReasonTooLong        = "invalid token: too long"
	ReasonAlgorithm      = "invalid token: unsupported signing algorithm (only EdDSA)"
	ReasonKeyHeader      = "invalid token: the header carries a key or key location (jku, jwk, x5u, x5c, x5t or crit), which is never honoured"
	ReasonType           = "invalid token: typ must be JWT"
	ReasonKID            = "invalid token: missing or malformed kid"
	ReasonUnknownKey     = "invalid token: unknown signing key"
	ReasonSignature      = "invalid token signature"
	ReasonExpired        = "token expired"
	ReasonNotYetValid    = "token not valid yet"
	ReasonIssuedInFuture = "token issued in the future"
	ReasonIssuer         = "invalid token issuer"
	ReasonAudience       = "invalid token audience: the token is for another project"
	ReasonNoExpiry       = "invalid token: no expiry (exp)"
	ReasonClaims         = "invalid token claims"
	ReasonSessionEnded   = "session ended: sign in again"
	ReasonUserDisabled   = "user disabled"
	ReasonRefreshToken   = "a refresh token is not an access token: exchange it at /v1/auth/token (grant_type refresh_token)"
	ReasonBearer         = "Authorization: Bearer holds neither a user's access token nor the project key"
)

// maxTokenLen bounds the access tokens read; ours are under 1 KiB.
const maxTokenLen = 8 << 10

var kidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// forbiddenHeaders name keys or key locations in a JOSE header. A verifier
// that honoured them would let the token pick its own key.
var forbiddenHeaders = []string{"jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit"}

// IsJWT reports whether s has a JWT's shape: three dot-separated parts.
func IsJWT(s string) bool { return strings.Count(s, ".") == 2 }

// VerifyAccessToken checks raw as an access token of project ref and
// returns its user. Refusals are *CredentialError with one of the Reason
// constants.
func (s *Service) VerifyAccessToken(ctx context.Context, ref, raw string) (caller.User, error) {
	if len(raw) > maxTokenLen {
		return caller.User{}, credErr(ReasonTooLong)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return caller.User{}, credErr(ReasonMalformed)
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return caller.User{}, credErr(ReasonMalformed)
	}
	var header map[string]any
	if err := json.Unmarshal(hb, &header); err != nil {
		return caller.User{}, credErr(ReasonMalformed)
	}
	for _, h := range forbiddenHeaders {
		if _, ok := header[h]; ok {
			return caller.User{}, credErr(ReasonKeyHeader)
		}
	}
	if alg, _ := header["alg"].(string); alg != algEdDSA {
		return caller.User{}, credErr(ReasonAlgorithm)
	}
	if typ, ok := header["typ"]; ok {
		if ts, _ := typ.(string); !strings.EqualFold(ts, "JWT") {
			return caller.User{}, credErr(ReasonType)
		}
	}
	kid, _ := header["kid"].(string)
	if !kidPattern.MatchString(kid) {
		return caller.User{}, credErr(ReasonKID)
	}
	key, err := s.publicKey(ctx, ref, kid)
	if err != nil {
		return caller.User{}, err
	}
	var c accessClaims
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{algEdDSA}),
		jwt.WithIssuer(Issuer(ref)),
		jwt.WithAudience(ref),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(s.cfg.Leeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithStrictDecoding(),
	)
	if _, err := p.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return key, nil }); err != nil {
		return caller.User{}, credErr(jwtReason(err))
	}
	if _, err := uuid.Parse(c.Subject); err != nil {
		return caller.User{}, credErr(ReasonClaims)
	}
	if _, err := uuid.Parse(c.SessionID); err != nil || (c.AAL != AAL1 && c.AAL != AAL2) {
		return caller.User{}, credErr(ReasonClaims)
	}
	st, err := s.sessionState(ctx, ref, c.SessionID)
	if err != nil {
		return caller.User{}, err
	}
	switch {
	case st.userID != c.Subject:
		return caller.User{}, credErr(ReasonClaims)
	case st.disabled:
		return caller.User{}, credErr(ReasonUserDisabled)
	case !st.live || !s.now().Before(st.expires):
		return caller.User{}, credErr(ReasonSessionEnded)
	}
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims bytes.Buffer
	if err := json.Compact(&claims, pb); err != nil {
		return caller.User{}, credErr(ReasonClaims)
	}
	return caller.User{ID: c.Subject, Role: roleName(st.role), AAL: c.AAL, SessionID: c.SessionID, Claims: claims.String()}, nil
}

func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ReasonMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return ReasonSignature
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ReasonNoExpiry
	case errors.Is(err, jwt.ErrTokenExpired):
		return ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return ReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonIssuedInFuture
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ReasonIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ReasonAudience
	}
	return ReasonClaims
}

// publicKey finds kid among ref's published keys, reading them again once
// when kid is unknown and the cached set is more than a second old (a key
// another node just made).
func (s *Service) publicKey(ctx context.Context, ref, kid string) (ed25519.PublicKey, error) {
	ks, err := s.keySetFor(ctx, ref)
	if err != nil {
		return nil, err
	}
	if k, ok := ks.byKID[kid]; ok {
		return k.public, nil
	}
	if s.now().Sub(ks.loaded) > time.Second {
		if ks, err = s.loadKeys(ctx, ref); err != nil {
			return nil, err
		}
		if k, ok := ks.byKID[kid]; ok {
			return k.public, nil
		}
	}
	return nil, credErr(ReasonUnknownKey)
}

// sessionState reads what a node needs to know about session sid: from the
// cache while the invalidation feed is live, else from the database.
func (s *Service) sessionState(ctx context.Context, ref, sid string) (sessionState, error) {
	now := s.now()
	key := sessionKey{ref, sid}
	if st, ok := s.sessions.Get(key, now); ok {
		return st, nil
	}
	gen := s.sessions.Generation()
	if err := s.ensureTables(ctx, ref); err != nil {
		return sessionState{}, err
	}
	var st sessionState
	found := false
	err := s.db.Read(ctx, service(ref), func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				revoked  *time.Time
				disabled *time.Time
				role     *string
			)
			if err := rows.Scan(&st.userID, &revoked, &st.expires, &disabled, &role); err != nil {
				return err
			}
			found = true
			st.live = revoked == nil
			st.disabled = disabled != nil
			if role != nil {
				st.role = *role
			}
		}
		return rows.Err()
	}, "SELECT s.user_id::text, s.revoked_at, s.expires_at, u.disabled_at, u.role FROM "+table(ref, sessionsTable)+" s JOIN "+
		table(ref, usersTable)+" u ON u.id = s.user_id WHERE s.id = $1", sid)
	if err != nil {
		return sessionState{}, fmt.Errorf("read session: %w", err)
	}
	if !found {
		return sessionState{}, credErr(ReasonSessionEnded)
	}
	s.sessions.Put(key, st, gen, now)
	return st, nil
}
