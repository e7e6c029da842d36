package sovereign

import (
	"context"
	"time"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// MaxChannelRules is the most channel rules a project holds.
const MaxChannelRules = 100

// ChannelRule says who may use the broadcast channels whose names start
// with Prefix. Its JSON form is the REST body of
// GET /v1/realtime/channel-rules:
//
//	{"prefix": "room:", "join": "auth.uid != \"\"", "send": "channel.rest == auth.uid",
//	 "created_at": "…", "updated_at": "…"}
//
// The prefixes public: (anyone with the project's key), authenticated: (any
// signed-in user) and user: (user:<uid> and user:<uid>:… for that user
// alone) have fixed rules and cannot be given others, nor can prefixes
// starting with them. Any other channel takes the rule with the longest
// prefix its name starts with; a channel no rule covers is the service
// role's alone (a secret key without a user token), which may use every
// channel whatever the rules say.
type ChannelRule struct {
	// Prefix is 2 to 100 characters of A-Z a-z 0-9 : _ . - ending in ":",
	// such as "room:" or "game:lobby:".
	Prefix string `json:"prefix"`
	// Join is the rule for joining a channel, and so for receiving its
	// broadcasts and presence: an expression in the platform's expression
	// language (that of filters) with auth (uid, role, aal, claims; auth.uid
	// is "" without a signed-in user), channel.name and channel.rest (the
	// name after the prefix) in scope. Empty: the service role only.
	// "true": anyone holding the project's key.
	Join string `json:"join,omitempty"`
	// Send is the rule for broadcasting and for sharing a presence state,
	// like Join. A member must have joined first.
	Send string `json:"send,omitempty"`
	// CreatedAt and UpdatedAt are set by the platform.
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// ChannelRules manages a project's channel rules: who may join, and who
// may send on, the realtime broadcast channels of each name prefix. Get it
// with [Client.ChannelRules]. Every call needs the secret key, and runs as
// the service role even when a user is signed in.
//
// A member's rules are read when it joins: a changed or deleted rule
// applies to later joins, not to members already in a channel. Record
// change subscriptions are not governed here: they obey the collection's
// view rule.
type ChannelRules struct {
	c *Client
}

// ChannelRules returns the client's channel rules.
func (c *Client) ChannelRules() *ChannelRules {
	return &ChannelRules{c: c}
}

// Set creates the rule of rule.Prefix, or replaces it (both Join and Send:
// an empty one is the service role's alone), and returns the rule as
// stored; created is true when the prefix had no rule before. CreatedAt and
// UpdatedAt of rule are ignored. Setting the same rule twice is setting it
// once, so it is retried like a read.
//
// Errors: [CodeInvalidArgument] (a bad prefix, a reserved one, or a rule
// that does not parse or type-check, naming it and the position),
// [CodeResourceExhausted] (the project has [MaxChannelRules] rules
// already).
func (r *ChannelRules) Set(ctx context.Context, rule ChannelRule) (stored *ChannelRule, created bool, err error) {
	res, err := unary(ctx, r.c.pub, dataplanev1connect.RealtimeServiceSetChannelRuleProcedure, callIdempotent,
		r.c.realtime.SetChannelRule, &dataplanev1.SetChannelRuleRequest{Rule: rule.proto()})
	if err != nil {
		return nil, false, err
	}
	return channelRuleOf(res.GetRule()), res.GetCreated(), nil
}

// List returns every channel rule of the project, by prefix.
func (r *ChannelRules) List(ctx context.Context) ([]ChannelRule, error) {
	res, err := unary(ctx, r.c.pub, dataplanev1connect.RealtimeServiceListChannelRulesProcedure, callRead,
		r.c.realtime.ListChannelRules, &dataplanev1.ListChannelRulesRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]ChannelRule, 0, len(res.GetRules()))
	for _, m := range res.GetRules() {
		out = append(out, *channelRuleOf(m))
	}
	return out, nil
}

// Delete removes the rule of prefix: its channels fall to a shorter
// prefix's rule, or to the service role alone. It is retried when the
// platform is unavailable; a retry of a delete that took effect answers
// NotFound.
//
// Errors: [CodeNotFound] (the prefix has no rule).
func (r *ChannelRules) Delete(ctx context.Context, prefix string) error {
	_, err := unary(ctx, r.c.pub, dataplanev1connect.RealtimeServiceDeleteChannelRuleProcedure, callIdempotent,
		r.c.realtime.DeleteChannelRule, &dataplanev1.DeleteChannelRuleRequest{Prefix: prefix})
	return err
}

func (r ChannelRule) proto() *dataplanev1.ChannelRule {
	return &dataplanev1.ChannelRule{Prefix: r.Prefix, Join: r.Join, Send: r.Send}
}

func channelRuleOf(m *dataplanev1.ChannelRule) *ChannelRule {
	if m == nil {
		return nil
	}
	return &ChannelRule{Prefix: m.GetPrefix(), Join: m.GetJoin(), Send: m.GetSend(),
		CreatedAt: timeOf(m.GetCreatedAt()), UpdatedAt: timeOf(m.GetUpdatedAt())}
}
