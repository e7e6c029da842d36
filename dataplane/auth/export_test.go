package auth

import (
	"context"

	"github.com/golang-jwt/jwt/v5"
)

// SignForTest signs claims with ref's current key and kid, adding header's
// entries to the JOSE header: forged tokens that only the checks after the
// signature can refuse.
func (s *Service) SignForTest(ctx context.Context, ref string, header, claims map[string]any) (string, error) {
	ks, err := s.keySetFor(ctx, ref)
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims(claims))
	t.Header["kid"] = ks.current.KID
	for k, v := range header {
		t.Header[k] = v
	}
	return t.SignedString(ks.private)
}
