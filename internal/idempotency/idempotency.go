// Package idempotency makes a write safe to retry: a request that carries an
// Idempotency-Key header runs once, and a retry with the same key and the same
// body gets the first answer back (for TTL, 24 hours by default) instead of
// running again. The same key with a different body is an error; a retry
// while the first is still running is told to wait.
//
// Only successful answers are kept. A failed write leaves nothing behind
// (each plane guarantees that), so a retry after a failure simply runs again.
//
// Answers often carry secrets shown once (an API key, a session). The table
// never holds them readable: rows are found by a SHA-256 of the key, and the
// answer is sealed with AES-256-GCM under a key derived (HKDF) from the
// Idempotency-Key itself, which only the client knows.
package idempotency

import (
	"bytes"
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
)

// Header is the request header that carries the key.
const Header = "Idempotency-Key"

// MaxKeyLen is the longest key accepted, in bytes.
const MaxKeyLen = 255

// DefaultTTL is how long an answer is kept for replay.
const DefaultTTL = 24 * time.Hour

var validKey = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)

// Config configures a Store.
type Config struct {
	// Pool holds the table. Required.
	Pool *pgxpool.Pool
	// Table is the schema-qualified table name, e.g.
	// pgx.Identifier{"controlplane", "idempotency_keys"}, laid out as the
	// package documentation shows.
	// Required.
	Table pgx.Identifier
	// TTL is how long an answer is kept. Default DefaultTTL.
	TTL time.Duration
}

// Store keeps keys and first answers in PostgreSQL.
type Store struct {
	pool  *pgxpool.Pool
	table string
	ttl   time.Duration
}

// New returns a Store.
func New(cfg Config) *Store {
	if cfg.Pool == nil || len(cfg.Table) == 0 {
		panic("idempotency: Config.Pool and Config.Table are required") // startup misconfiguration
	}
	return &Store{pool: cfg.Pool, table: cfg.Table.Sanitize(), ttl: cmp.Or(cfg.TTL, DefaultTTL)}
}

// The table each plane creates in its own migrations:
//
//	CREATE TABLE <schema>.idempotency_keys (
//	    scope        text NOT NULL,
//	    key          text NOT NULL,
//	    procedure    text NOT NULL,
//	    request_hash bytea NOT NULL,
//	    response     bytea,            -- NULL while the first request runs
//	    created_at   timestamptz NOT NULL DEFAULT now(),
//	    expires_at   timestamptz NOT NULL,
//	    PRIMARY KEY (scope, key));

// Do runs fn once per (scope, key) when req carries an Idempotency-Key, and
// replays the first successful answer to retries. scope separates callers
// (an account, a project key): one caller's key never sees another's answer.
// Without the header it just runs fn.
func Do[Req, Res any](ctx context.Context, s *Store, scope string, req *connect.Request[Req], fn func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error)) (*connect.Response[Res], error) {
	key := req.Header().Get(Header)
	if key == "" {
		return fn(ctx, req)
	}
	if !validKey.MatchString(key) {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s must be 1 to %d printable ASCII characters without spaces", Header, MaxKeyLen))
	}
	// The request's message type names the RPC: every RPC here has its own.
	// (Spec().Procedure would be empty for requests built in process, such
	// as the REST face's, so a retry over the other transport would not
	// match.)
	m, ok := any(req.Msg).(proto.Message)
	if !ok {
		return nil, fmt.Errorf("idempotency: %T is not a protobuf message", req.Msg)
	}
	procedure := string(proto.MessageName(m))
	hash, err := requestHash(procedure, req.Msg)
	if err != nil {
		return nil, err
	}
	rowKey := sha256.Sum256([]byte(key))
	id := hex.EncodeToString(rowKey[:])
	inserted, err := s.claim(ctx, scope, id, procedure, hash)
	if err != nil {
		return nil, err
	}
	if !inserted {
		return replay[Res](ctx, s, scope, id, key, procedure, hash)
	}
	resp, err := fn(ctx, req)
	if err != nil {
		// Nothing was written; let a retry run again.
		if rerr := s.release(context.WithoutCancel(ctx), scope, id); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		return nil, err
	}
	body, merr := proto.MarshalOptions{Deterministic: true}.Marshal(any(resp.Msg).(proto.Message))
	if merr == nil {
		body, merr = seal(key, scope, body)
	}
	if merr == nil {
		merr = s.complete(context.WithoutCancel(ctx), scope, id, body)
	}
	if merr != nil {
		// The write is done; the answer just can't be kept. Release the key
		// rather than leave it pending forever.
		_ = s.release(context.WithoutCancel(ctx), scope, id)
	}
	return resp, nil
}

func requestHash(procedure string, msg any) ([]byte, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("idempotency: %T is not a protobuf message", msg)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("idempotency: marshal request: %w", err)
	}
	sum := sha256.Sum256(append([]byte(procedure+"\x00"), b...))
	return sum[:], nil
}

// claim records the key as in progress; false when it was already there
// (and not expired).
func (s *Store) claim(ctx context.Context, scope, key, procedure string, hash []byte) (bool, error) {
	// An expired row is replaced, so a key may be reused after TTL.
	tag, err := s.pool.Exec(ctx, `INSERT INTO `+s.table+` (scope, key, procedure, request_hash, expires_at)
		VALUES ($1, $2, $3, $4, now() + $5::interval)
		ON CONFLICT (scope, key) DO UPDATE
		SET procedure = EXCLUDED.procedure, request_hash = EXCLUDED.request_hash,
		    response = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
		WHERE `+s.table+`.expires_at < now()`,
		scope, key, procedure, hash, s.ttl.String())
	if err != nil {
		return false, fmt.Errorf("idempotency: claim key: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func replay[Res any](ctx context.Context, s *Store, scope, id, key, procedure string, hash []byte) (*connect.Response[Res], error) {
	var (
		gotProcedure string
		gotHash      []byte
		body         []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT procedure, request_hash, response FROM `+s.table+` WHERE scope = $1 AND key = $2`,
		scope, id).Scan(&gotProcedure, &gotHash, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, connect.NewError(connect.CodeAborted, fmt.Errorf("the request with this %s was just released; retry", Header))
	}
	if err != nil {
		return nil, fmt.Errorf("idempotency: look up key: %w", err)
	}
	if gotProcedure != procedure || !bytes.Equal(gotHash, hash) {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("this %s was already used with a different request; use a new key for a new request", Header))
	}
	if body == nil {
		return nil, connect.NewError(connect.CodeAborted, fmt.Errorf("a request with this %s is still in progress; retry in a moment", Header))
	}
	plain, err := open(key, scope, body)
	if err != nil {
		return nil, err
	}
	var res Res
	if err := proto.Unmarshal(plain, any(&res).(proto.Message)); err != nil {
		return nil, fmt.Errorf("idempotency: unmarshal kept answer: %w", err)
	}
	resp := connect.NewResponse(&res)
	resp.Header().Set("Idempotent-Replayed", "true")
	return resp, nil
}

func (s *Store) complete(ctx context.Context, scope, key string, body []byte) error {
	_, err := s.pool.Exec(ctx, `UPDATE `+s.table+` SET response = $3 WHERE scope = $1 AND key = $2`, scope, key, body)
	if err != nil {
		return fmt.Errorf("idempotency: keep answer: %w", err)
	}
	return nil
}

func (s *Store) release(ctx context.Context, scope, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM `+s.table+` WHERE scope = $1 AND key = $2 AND response IS NULL`, scope, key)
	if err != nil {
		return fmt.Errorf("idempotency: release key: %w", err)
	}
	return nil
}

// Pool is the pool the store uses.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Purge deletes expired keys and returns how many. Planes call it
// periodically.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM `+s.table+` WHERE expires_at < now()`)
	if err != nil {
		return 0, fmt.Errorf("idempotency: purge: %w", err)
	}
	return tag.RowsAffected(), nil
}

// sealKey derives the AES-256 key that seals one answer.
func sealKey(key, scope string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, []byte(key), []byte(scope), "sovereign idempotency answer v1", 32)
	if err != nil {
		return nil, fmt.Errorf("idempotency: derive key: %w", err)
	}
	return k, nil
}

func aead(key, scope string) (cipher.AEAD, error) {
	k, err := sealKey(key, scope)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("idempotency: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal encrypts an answer: nonce || ciphertext.
func seal(key, scope string, plain []byte) ([]byte, error) {
	a, err := aead(key, scope)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, a.NonceSize())
	_, _ = rand.Read(nonce)
	return a.Seal(nonce, nonce, plain, nil), nil
}

func open(key, scope string, sealed []byte) ([]byte, error) {
	a, err := aead(key, scope)
	if err != nil {
		return nil, err
	}
	if len(sealed) < a.NonceSize() {
		return nil, errors.New("idempotency: kept answer is truncated")
	}
	plain, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], nil)
	if err != nil {
		return nil, fmt.Errorf("idempotency: open kept answer: %w", err)
	}
	return plain, nil
}

// PurgeEvery calls s.Purge every interval until ctx ends, logging failures.
func PurgeEvery(ctx context.Context, s *Store, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
				logger.Warn("purge idempotency keys", "err", err.Error())
			}
		}
	}
}
