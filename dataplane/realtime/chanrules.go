package realtime

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/dataplane/caller"
	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/rules"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Channel rules: a project's own rules for the channels outside the fixed
// prefixes (public:, authenticated:, user:). Each rule names a prefix
// ("room:") and two expressions in the filter language, join and send,
// over auth.* and channel.name / channel.rest (the name after the prefix).
// The rule with the longest prefix that a channel's name starts with
// applies; with none, only the service role may use the channel. An empty
// expression allows the service role only.
//
// A member's rule is read when it joins and kept with its membership: its
// sends, presence and a new access token are checked against that rule,
// so a changed rule applies to later joins.
const (
	// MaxChannelRules is the most rules a project may have.
	MaxChannelRules = 100
	// MaxChannelPrefixLen is the longest prefix, in bytes.
	MaxChannelPrefixLen = 100
	// channelRulesTable holds the rules in the tenant's schema.
	channelRulesTable = "_channel_rules"
)

var validPrefix = regexp.MustCompile(`^[A-Za-z0-9:_.-]{1,99}:$`)

// reservedPrefixes have fixed rules (channelAllowed).
var reservedPrefixes = []string{PrefixPublic, PrefixAuthenticated, PrefixUser}

// ChannelRules stores projects' channel rules and serves RealtimeService.
// It is safe for concurrent use.
type ChannelRules struct {
	db  *tenantdb.DB
	env *filter.ChannelEnv
	now func() time.Time
}

var _ dataplanev1connect.RealtimeServiceHandler = (*ChannelRules)(nil)

// NewChannelRules returns the channel rules kept in db.
func NewChannelRules(db *tenantdb.DB) (*ChannelRules, error) {
	if db == nil {
		return nil, errors.New("realtime: NewChannelRules needs a database")
	}
	env, err := filter.NewChannelRuleEnv()
	if err != nil {
		return nil, err
	}
	return &ChannelRules{db: db, env: env, now: time.Now}, nil
}

// channelPolicy is the rule that applies to one channel, compiled; nil
// rules allow the service role only.
type channelPolicy struct {
	prefix     string
	join, send *filter.Rule
	rest       string
}

// allows says whether id may do act under the policy.
func (p *channelPolicy) allows(id tenantdb.Identity, name string, act action) error {
	r := p.join
	if act == actionSend {
		r = p.send
	}
	if r == nil {
		return refuse(connect.CodePermissionDenied, fmt.Sprintf("%s: the channel rule of %s allows only the project's secret key to %s", act, p.prefix, act))
	}
	a, err := rules.AuthOf(id, time.Now())
	ok := false
	if err == nil {
		ok, err = r.Eval(map[string]any{"name": name, "rest": p.rest}, a)
	}
	if err != nil {
		return refuse(connect.CodePermissionDenied, fmt.Sprintf("%s: the %s rule of %s cannot be evaluated for this caller: %v", act, act, p.prefix, err))
	}
	if !ok {
		return refuse(connect.CodePermissionDenied, fmt.Sprintf("%s: the %s rule of %s does not allow this caller on %s", act, act, p.prefix, name))
	}
	return nil
}

// reserved reports whether name starts with a prefix of fixed rules.
func reserved(name string) bool {
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func channelRulesOf(ref string) string { return tenantdb.Table(ref, channelRulesTable) }

// policy returns the rule of tenant ref that applies to channel name, nil
// when none does (or name has fixed rules).
func (cr *ChannelRules) policy(ctx context.Context, ref, name string) (*channelPolicy, error) {
	if cr == nil || reserved(name) {
		return nil, nil
	}
	var prefix, join, send string
	found := false
	err := cr.db.Read(ctx, service(ref), func(rows pgx.Rows) error {
		if rows.Next() {
			found = true
			return rows.Scan(&prefix, &join, &send)
		}
		return nil
	}, `SELECT prefix, join_rule, send_rule FROM `+channelRulesOf(ref)+
		` WHERE left($1, length(prefix)) = prefix ORDER BY length(prefix) DESC LIMIT 1`, name)
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "42P01" {
		return nil, nil // the project never set a rule
	}
	if err != nil {
		return nil, fmt.Errorf("realtime: read channel rules: %w", err)
	}
	if !found {
		return nil, nil
	}
	p := &channelPolicy{prefix: prefix, rest: strings.TrimPrefix(name, prefix)}
	if p.join, err = cr.compile(join, filter.MethodView); err != nil {
		return nil, fmt.Errorf("realtime: stored join rule of %s: %w", prefix, err)
	}
	if p.send, err = cr.compile(send, filter.MethodCreate); err != nil {
		return nil, fmt.Errorf("realtime: stored send rule of %s: %w", prefix, err)
	}
	return p, nil
}

// compile compiles a rule; "" is nil (service role only).
func (cr *ChannelRules) compile(src, method string) (*filter.Rule, error) {
	if src == "" {
		return nil, nil
	}
	return cr.env.Rule(src, method)
}

func invalidRule(format string, args ...any) error {
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, args...))
}

// checkPrefix validates a rule's prefix.
func checkPrefix(p string) error {
	switch {
	case p == "":
		return invalidRule("prefix is required, such as \"room:\"")
	case len(p) > MaxChannelPrefixLen || !validPrefix.MatchString(p):
		return invalidRule("prefix %q: must be 2 to %d characters of A-Z a-z 0-9 : _ . - ending in \":\"", p, MaxChannelPrefixLen)
	case reserved(p):
		return invalidRule("prefix %q: channels public:…, authenticated:… and user:… have fixed rules", p)
	}
	return nil
}

// ensureTable makes the rules table in the transaction when it is missing.
func ensureTable(ctx context.Context, q tenantdb.Querier, ref string) error {
	t := channelRulesOf(ref)
	_, err := tenantdb.EnsureTables(ctx, q, "sovereign.dataplane.realtime.channel_rules."+ref, `
CREATE TABLE IF NOT EXISTS `+t+` (
    prefix     text PRIMARY KEY,
    join_rule  text NOT NULL DEFAULT '',
    send_rule  text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE `+t+` ENABLE ROW LEVEL SECURITY;
ALTER TABLE `+t+` FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS service_all ON `+t+`;
CREATE POLICY service_all ON `+t+` USING (`+serviceOnlySQL+`) WITH CHECK (`+serviceOnlySQL+`);`, t)
	if err != nil {
		return fmt.Errorf("realtime: channel rules table: %w", err)
	}
	return nil
}

const serviceOnlySQL = `current_setting('sovereign.role', true) = 'service'`

func scanRule(row pgx.Row) (*dataplanev1.ChannelRule, bool, error) {
	var (
		r        dataplanev1.ChannelRule
		created  bool
		cat, uat time.Time
	)
	if err := row.Scan(&r.Prefix, &r.Join, &r.Send, &cat, &uat, &created); err != nil {
		return nil, false, err
	}
	r.CreatedAt, r.UpdatedAt = timestamppb.New(cat), timestamppb.New(uat)
	return &r, created, nil
}

// SetChannelRule creates or replaces the rule of a prefix.
func (cr *ChannelRules) SetChannelRule(ctx context.Context, req *connect.Request[dataplanev1.SetChannelRuleRequest]) (*connect.Response[dataplanev1.SetChannelRuleResponse], error) {
	id, err := caller.Service(ctx)
	if err != nil {
		return nil, err
	}
	ref := id.TenantRef
	in := req.Msg.GetRule()
	if in == nil {
		return nil, invalidRule("rule is required")
	}
	if err := checkPrefix(in.GetPrefix()); err != nil {
		return nil, err
	}
	if _, err := cr.compile(in.GetJoin(), filter.MethodView); err != nil {
		return nil, invalidRule("join: %v", err)
	}
	if _, err := cr.compile(in.GetSend(), filter.MethodCreate); err != nil {
		return nil, invalidRule("send: %v", err)
	}
	var (
		out     *dataplanev1.ChannelRule
		created bool
	)
	err = cr.db.Tx(ctx, service(ref), tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		if err := ensureTable(ctx, q, ref); err != nil {
			return err
		}
		t := channelRulesOf(ref)
		// The lock makes the count and the insert one step: concurrent
		// sets cannot pass the limit together.
		if _, err := q.Exec(ctx, "LOCK TABLE "+t+" IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("realtime: lock channel rules: %w", err)
		}
		var n int
		var exists bool
		if err := q.QueryRow(ctx, `SELECT count(*), coalesce(bool_or(prefix = $1), false) FROM `+t, in.GetPrefix()).Scan(&n, &exists); err != nil {
			return fmt.Errorf("realtime: count channel rules: %w", err)
		}
		if !exists && n >= MaxChannelRules {
			return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("a project has at most %d channel rules; delete one first", MaxChannelRules))
		}
		var err error
		out, created, err = scanRule(q.QueryRow(ctx, `INSERT INTO `+t+` AS r (prefix, join_rule, send_rule) VALUES ($1, $2, $3)
			ON CONFLICT (prefix) DO UPDATE SET join_rule = EXCLUDED.join_rule, send_rule = EXCLUDED.send_rule, updated_at = clock_timestamp()
			RETURNING r.prefix, r.join_rule, r.send_rule, r.created_at, r.updated_at, (r.xmax = 0)`,
			in.GetPrefix(), in.GetJoin(), in.GetSend()))
		return err
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&dataplanev1.SetChannelRuleResponse{Rule: out, Created: created}), nil
}

// ListChannelRules returns the project's rules by prefix.
func (cr *ChannelRules) ListChannelRules(ctx context.Context, _ *connect.Request[dataplanev1.ListChannelRulesRequest]) (*connect.Response[dataplanev1.ListChannelRulesResponse], error) {
	id, err := caller.Service(ctx)
	if err != nil {
		return nil, err
	}
	ref := id.TenantRef
	out := &dataplanev1.ListChannelRulesResponse{Rules: []*dataplanev1.ChannelRule{}}
	err = cr.db.Read(ctx, service(ref), func(rows pgx.Rows) error {
		for rows.Next() {
			r, _, err := scanRule(rows)
			if err != nil {
				return err
			}
			out.Rules = append(out.Rules, r)
		}
		return rows.Err()
	}, `SELECT prefix, join_rule, send_rule, created_at, updated_at, false FROM `+channelRulesOf(ref)+` ORDER BY prefix COLLATE "C"`)
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "42P01" {
		err = nil // no rule was ever set
	}
	if err != nil {
		return nil, fmt.Errorf("realtime: list channel rules: %w", err)
	}
	return connect.NewResponse(out), nil
}

// DeleteChannelRule deletes the rule of a prefix.
func (cr *ChannelRules) DeleteChannelRule(ctx context.Context, req *connect.Request[dataplanev1.DeleteChannelRuleRequest]) (*connect.Response[dataplanev1.DeleteChannelRuleResponse], error) {
	id, err := caller.Service(ctx)
	if err != nil {
		return nil, err
	}
	ref := id.TenantRef
	p := req.Msg.GetPrefix()
	if p == "" {
		return nil, invalidRule("prefix is required")
	}
	var deleted bool
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM `+channelRulesOf(ref)+` WHERE prefix = $1`, p)
	err = cr.db.Batch(ctx, service(ref), b, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		deleted = tag.RowsAffected() == 1
		return err
	})
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "42P01" {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("realtime: delete channel rule: %w", err)
	}
	if !deleted {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no channel rule for prefix %q", p))
	}
	return connect.NewResponse(&dataplanev1.DeleteChannelRuleResponse{}), nil
}
