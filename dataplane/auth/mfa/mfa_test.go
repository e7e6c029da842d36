package mfa_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/auth/mfa"
	"github.com/sovereign-backend/sovereign/dataplane/schema/schematest"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// clock is a settable clock for the Service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one test's tenant with a Service on a fake clock.
type env struct {
	t     *testing.T
	d     *schematest.Database
	id    tenantdb.Identity
	svc   *mfa.Service
	clock *clock
}

var testKey = bytes.Repeat([]byte{7}, 32)

// start is a fixed instant 15 seconds into a 30-second step.
var start = time.Date(2026, 3, 1, 12, 0, 15, 0, time.UTC)

func newEnv(t *testing.T) *env {
	t.Helper()
	_, d := schematest.New(t)
	c := &clock{t: start}
	svc, err := mfa.New(mfa.Config{SecretKey: testKey, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, d: d, id: d.Tenant(t), svc: svc, clock: c}
}

// tx runs fn in a service transaction of the env's tenant.
func (e *env) tx(fn func(q tenantdb.Querier) error) error {
	return e.d.DB.Tx(e.t.Context(), e.id, tenantdb.TxOptions{}, fn)
}

func (e *env) enroll(user string) (secret, uri string, codes []string) {
	e.t.Helper()
	err := e.tx(func(q tenantdb.Querier) error {
		var err error
		secret, uri, codes, err = e.svc.Enroll(e.t.Context(), q, user, user+"@example.com", "Acme")
		return err
	})
	if err != nil {
		e.t.Fatalf("enroll %s: %v", user, err)
	}
	return secret, uri, codes
}

func (e *env) verify(user, code string) (bool, error) {
	var ok bool
	err := e.tx(func(q tenantdb.Querier) error {
		var err error
		ok, err = e.svc.Verify(e.t.Context(), q, user, code)
		return err
	})
	return ok, err
}

func (e *env) mustVerify(user, code string, want bool) {
	e.t.Helper()
	ok, err := e.verify(user, code)
	if err != nil {
		e.t.Fatalf("verify %s %q: %v", user, code, err)
	}
	if ok != want {
		e.t.Fatalf("verify %s %q = %v, want %v", user, code, ok, want)
	}
}

func (e *env) enabled(user string) bool {
	e.t.Helper()
	var on bool
	err := e.d.DB.Tx(e.t.Context(), e.id, tenantdb.TxOptions{ReadOnly: true}, func(q tenantdb.Querier) error {
		var err error
		on, err = e.svc.Enabled(e.t.Context(), q, user)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return on
}

// hotp is RFC 4226 written out independently of the package's library, so
// the tests check the codes a real authenticator app would show.
func hotp(secret []byte, counter uint64) string {
	m := hmac.New(sha1.New, secret)
	_ = binary.Write(m, binary.BigEndian, counter)
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1_000_000)
}

func decodeSecret(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		t.Fatalf("secret %q is not base32: %v", s, err)
	}
	return b
}

// codeAt is the TOTP code of secret for the step k steps from the one
// holding now.
func codeAt(secret []byte, now time.Time, k int64) string {
	return hotp(secret, uint64(now.Unix()/30+k))
}

// The RFC 6238 appendix B vector (SHA-1, T = 59 s), cut to 6 digits, keeps
// the independent implementation honest.
func TestHOTPReference(t *testing.T) {
	t.Parallel()
	if got := hotp([]byte("12345678901234567890"), 59/30); got != "287082" {
		t.Fatalf("hotp = %s, want 287082 (94287082 cut to 6 digits)", got)
	}
}

// Proof: of codes for steps t−2…t+2 exactly three are accepted, those of
// t−1, t and t+1; a used code is refused. Each step is tried on a fresh
// factor (so no earlier success interferes), at the start, middle and end
// of a step; then all five on one factor in order.
func TestTOTPWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, at := range []time.Duration{-15 * time.Second, 0, 14*time.Second + 999*time.Millisecond} {
		e.clock.Add(at)
		accepted := 0
		for k := int64(-2); k <= 2; k++ {
			user := fmt.Sprintf("user-%d-%d", at, k)
			secret, _, _ := e.enroll(user)
			raw := decodeSecret(t, secret)
			ok, err := e.verify(user, codeAt(raw, e.clock.Now(), k))
			if err != nil {
				t.Fatal(err)
			}
			if ok != (k >= -1 && k <= 1) {
				t.Errorf("at %v, step t%+d: accepted = %v", e.clock.Now(), k, ok)
			}
			if ok {
				accepted++
				// A used code is refused.
				e.mustVerify(user, codeAt(raw, e.clock.Now(), k), false)
			}
		}
		if accepted != 3 {
			t.Errorf("at %v: %d of the codes for t-2…t+2 accepted, want exactly 3", e.clock.Now(), accepted)
		}
		e.clock.Add(-at)
	}

	secret, _, _ := e.enroll("sequence")
	raw := decodeSecret(t, secret)
	accepted := 0
	for k := int64(-2); k <= 2; k++ {
		ok, err := e.verify("sequence", codeAt(raw, e.clock.Now(), k))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			accepted++
		}
	}
	if accepted != 3 {
		t.Fatalf("one factor, steps t-2…t+2 in order: %d accepted, want 3", accepted)
	}
}

// A code is good once, and once a step's code is used no earlier step's
// is; a later one still is.
func TestReplayRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret, _, _ := e.enroll("alice")
	raw := decodeSecret(t, secret)
	now := e.clock.Now()
	e.mustVerify("alice", codeAt(raw, now, 0), true)
	e.mustVerify("alice", codeAt(raw, now, 0), false)
	e.mustVerify("alice", codeAt(raw, now, -1), false)
	// Spaces are ignored, as apps show "123 456".
	c := codeAt(raw, now, 1)
	e.mustVerify("alice", c[:3]+" "+c[3:], true)
	e.mustVerify("alice", c, false)
	// Thirty seconds on, the step after is the next good code.
	e.clock.Add(30 * time.Second)
	e.mustVerify("alice", codeAt(raw, e.clock.Now(), 1), true)
}

// Concurrent verifications of one code: exactly one wins (the losers are
// failures, and past five of them ErrThrottled).
func TestConcurrentVerifyOneWinner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret, _, _ := e.enroll("bob")
	code := codeAt(decodeSecret(t, secret), e.clock.Now(), 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Go(func() {
			ok, err := e.verify("bob", code)
			if err != nil && !errors.Is(err, mfa.ErrThrottled) {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				wins++
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent verifications of one code accepted, want 1", wins)
	}
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret, _, codes := e.enroll("carol")
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes, want 10", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 11 || c[5] != '-' || strings.Trim(strings.ReplaceAll(c, "-", ""), "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" || seen[c] {
			t.Fatalf("recovery code %q: want XXXXX-XXXXX in base32, all distinct", c)
		}
		seen[c] = true
	}
	// Not before the factor is active.
	e.mustVerify("carol", codes[0], false)
	e.mustVerify("carol", codeAt(decodeSecret(t, secret), e.clock.Now(), 0), true)
	// Case, spaces and dashes do not matter; each code works once.
	e.mustVerify("carol", strings.ToLower(strings.ReplaceAll(codes[0], "-", " ")), true)
	e.mustVerify("carol", codes[0], false)
	e.mustVerify("carol", codes[1], true)
	e.mustVerify("carol", "AAAAA-AAAAA", false)

	// The table holds keyed hashes: neither the codes nor their plain
	// SHA-256; and the TOTP secret is not in the factors table in any
	// form a reader could use. Read as the superuser, past RLS.
	raw := decodeSecret(t, secret)
	rows, err := e.d.Pool.Query(t.Context(), "SELECT code_hash, used_at IS NOT NULL FROM "+tenantdb.Table(e.id.TenantRef, "_auth_recovery_codes")+" WHERE user_id = 'carol'")
	if err != nil {
		t.Fatal(err)
	}
	var hashes [][]byte
	used := 0
	for rows.Next() {
		var h []byte
		var u bool
		if err := rows.Scan(&h, &u); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
		if u {
			used++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(hashes) != 10 || used != 2 {
		t.Fatalf("%d stored codes with %d used, want 10 with 2", len(hashes), used)
	}
	for _, h := range hashes {
		if len(h) != sha256.Size {
			t.Fatalf("stored code is %d bytes, want a %d-byte hash", len(h), sha256.Size)
		}
		for _, c := range codes {
			plain := strings.ReplaceAll(c, "-", "")
			sum := sha256.Sum256([]byte(plain))
			if bytes.Contains(h, []byte(plain)) || bytes.Equal(h, sum[:]) {
				t.Fatalf("recovery code %s is stored in plain text or as its plain SHA-256", c)
			}
		}
	}
	var sealed []byte
	if err := e.d.Pool.QueryRow(t.Context(), "SELECT secret FROM "+tenantdb.Table(e.id.TenantRef, "_auth_mfa_factors")+" WHERE user_id = 'carol'").Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, raw) || bytes.Contains(sealed, []byte(secret)) {
		t.Fatal("the TOTP secret is stored in plain text")
	}

	// The same secret under another key does not open: Verify fails
	// rather than accepting anything.
	other, err := mfa.New(mfa.Config{SecretKey: bytes.Repeat([]byte{8}, 32), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	err = e.tx(func(q tenantdb.Querier) error {
		_, err := other.Verify(t.Context(), q, "carol", codeAt(raw, e.clock.Now(), 1))
		return err
	})
	if err == nil {
		t.Fatal("a factor sealed under another key verified")
	}
}

// Five consecutive failures lock the factor for five minutes: even the
// right code is ErrThrottled until then, and accepted after.
func TestThrottling(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret, _, codes := e.enroll("dave")
	raw := decodeSecret(t, secret)
	e.mustVerify("dave", codeAt(raw, e.clock.Now(), 0), true)

	// Four failures, then a success: the count starts again.
	for range 4 {
		e.mustVerify("dave", "000000", false)
	}
	e.clock.Add(30 * time.Second)
	e.mustVerify("dave", codeAt(raw, e.clock.Now(), 0), true)
	// Five failures of any kind: wrong, malformed, a replay.
	for _, bad := range []string{"000000", "not a code", codeAt(raw, e.clock.Now(), 0), "ZZZZZ-ZZZZZ", strings.Repeat("1", 100)} {
		e.mustVerify("dave", bad, false)
	}
	for _, good := range []string{codeAt(raw, e.clock.Now(), 1), codes[0]} {
		if ok, err := e.verify("dave", good); !errors.Is(err, mfa.ErrThrottled) || ok {
			t.Fatalf("during the lockout: ok = %v, err = %v; want ErrThrottled", ok, err)
		}
	}
	e.clock.Add(5*time.Minute - time.Millisecond)
	if _, err := e.verify("dave", codeAt(raw, e.clock.Now(), 0)); !errors.Is(err, mfa.ErrThrottled) {
		t.Fatalf("just before the lockout ends: err = %v, want ErrThrottled", err)
	}
	e.clock.Add(time.Millisecond)
	e.mustVerify("dave", codeAt(raw, e.clock.Now(), 0), true)
	// After the lockout the count starts from zero.
	for range 4 {
		e.mustVerify("dave", "000000", false)
	}
	e.mustVerify("dave", codes[0], true)
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()

	// Nothing enrolled yet, not even the tables: Enabled works in a
	// read-only transaction and says no; Verify says not enrolled.
	if e.enabled("erin") {
		t.Fatal("enabled before enrolment")
	}
	if _, err := e.verify("erin", "123456"); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Fatalf("verify before enrolment: %v, want ErrNotEnrolled", err)
	}

	secret1, uri, _ := e.enroll("erin")
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	qv := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Acme:erin@example.com" ||
		qv.Get("secret") != secret1 || qv.Get("issuer") != "Acme" || qv.Get("algorithm") != "SHA1" ||
		qv.Get("digits") != "6" || qv.Get("period") != "30" {
		t.Fatalf("otpauth URI %s", uri)
	}
	if n := len(decodeSecret(t, secret1)); n != 20 {
		t.Fatalf("secret of %d bytes, want 20", n)
	}
	if e.enabled("erin") {
		t.Fatal("a pending factor counts as enabled")
	}
	if _, err := e.verify("frank", "123456"); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Fatalf("verify of another user: %v, want ErrNotEnrolled", err)
	}

	// Enrolling again while pending replaces the secret.
	secret2, _, _ := e.enroll("erin")
	if secret2 == secret1 {
		t.Fatal("re-enrolment kept the secret")
	}
	e.mustVerify("erin", codeAt(decodeSecret(t, secret1), e.clock.Now(), 0), false)
	e.mustVerify("erin", codeAt(decodeSecret(t, secret2), e.clock.Now(), 0), true)
	if !e.enabled("erin") {
		t.Fatal("not enabled after the first accepted code")
	}

	err = e.tx(func(q tenantdb.Querier) error {
		_, _, _, err := e.svc.Enroll(ctx, q, "erin", "erin@example.com", "Acme")
		return err
	})
	if !errors.Is(err, mfa.ErrAlreadyEnrolled) {
		t.Fatalf("enrol while active: %v, want ErrAlreadyEnrolled", err)
	}

	if err := e.tx(func(q tenantdb.Querier) error { return e.svc.Disable(ctx, q, "erin") }); err != nil {
		t.Fatal(err)
	}
	if e.enabled("erin") {
		t.Fatal("enabled after Disable")
	}
	var left int
	if err := e.d.Pool.QueryRow(ctx, "SELECT count(*) FROM "+tenantdb.Table(e.id.TenantRef, "_auth_recovery_codes")+" WHERE user_id = 'erin'").Scan(&left); err != nil || left != 0 {
		t.Fatalf("recovery codes after Disable: %d (%v)", left, err)
	}
	e.enroll("erin")

	for _, bad := range []struct{ user, label, issuer string }{
		{"", "a", "b"}, {"u", "", "b"}, {"u", "a", ""}, {"u", "a:b", "c"}, {"u", "a", "b:c"},
		{strings.Repeat("u", 129), "a", "b"}, {"u", strings.Repeat("a", 129), "b"},
	} {
		err := e.tx(func(q tenantdb.Querier) error {
			_, _, _, err := e.svc.Enroll(ctx, q, bad.user, bad.label, bad.issuer)
			return err
		})
		if !errors.Is(err, mfa.ErrInvalidArgument) {
			t.Errorf("enroll(%q, %q, %q): %v, want ErrInvalidArgument", bad.user, bad.label, bad.issuer, err)
		}
	}
}

// The tables belong to the tenant's role, have forced row-level security,
// and answer only the service role; another tenant does not see them.
func TestIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	secret, _, _ := e.enroll("gina")
	e.mustVerify("gina", codeAt(decodeSecret(t, secret), e.clock.Now(), 0), true)

	for _, table := range []string{"_auth_mfa_factors", "_auth_recovery_codes"} {
		var owner string
		var rls, forced bool
		err := e.d.Pool.QueryRow(ctx, `SELECT pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
			tenantdb.Schema(e.id.TenantRef), table).Scan(&owner, &rls, &forced)
		if err != nil {
			t.Fatal(err)
		}
		if owner != tenantdb.Schema(e.id.TenantRef) || !rls || !forced {
			t.Errorf("%s: owner %s, rls %v, forced %v", table, owner, rls, forced)
		}
	}

	// Any other role of the same tenant: the package refuses, and the
	// table's policy shows no rows even to a direct query.
	anon := e.id
	anon.Role = tenantdb.RoleAnon
	err := e.d.DB.Tx(ctx, anon, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		if _, err := e.svc.Enabled(ctx, q, "gina"); !errors.Is(err, mfa.ErrNotTenantTx) {
			t.Errorf("Enabled as anon: %v, want ErrNotTenantTx", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{tenantdb.RoleAnon, tenantdb.RoleAuthenticated} {
		id := e.id
		id.Role, id.UserID = role, "gina"
		var n int
		err := e.d.DB.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
			return q.QueryRow(ctx, "SELECT count(*) FROM "+tenantdb.Table(e.id.TenantRef, "_auth_mfa_factors")).Scan(&n)
		})
		if err != nil || n != 0 {
			t.Errorf("as %s: %d rows (%v), want 0", role, n, err)
		}
	}

	// Another tenant of the same database has its own, empty tables.
	other := e.d.Tenant(t)
	var on bool
	err = e.d.DB.Tx(ctx, other, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		var err error
		on, err = e.svc.Enabled(ctx, q, "gina")
		return err
	})
	if err != nil || on {
		t.Fatalf("other tenant: enabled = %v (%v)", on, err)
	}
}

// Concurrent first uses in a fresh tenant all succeed: table creation
// takes turns under the advisory lock.
func TestConcurrentFirstUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			err := e.tx(func(q tenantdb.Querier) error {
				_, _, _, err := e.svc.Enroll(t.Context(), q, fmt.Sprintf("u%d", i), "label", "Acme")
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestConfig(t *testing.T) {
	t.Parallel()
	if _, err := mfa.New(mfa.Config{SecretKey: make([]byte, 31)}); err == nil {
		t.Fatal("a 31-byte key was accepted")
	}
	if _, err := mfa.New(mfa.Config{SecretKey: testKey, Lockout: -1}); err == nil {
		t.Fatal("a negative lockout was accepted")
	}
}
