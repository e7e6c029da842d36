package filter

import "github.com/sovereign-backend/sovereign/dataplane/schema"

// ChannelFields are what a realtime channel rule reads as
// channel.<field>: name (the whole channel name, "room:42") and rest
// (what follows the rule's prefix, "42" for the prefix "room:"), both
// text. The rule language compares strings but does not join them, so
// "only the user named in the channel" is channel.rest == auth.uid.
var ChannelFields = []schema.Field{
	{Name: "name", Type: schema.Text},
	{Name: "rest", Type: schema.Text},
}

// ChannelEnv is the environment of realtime channel rules: the rule
// language of NewRuleEnv, where the value the rule is about is named
// channel (channel.name, channel.rest) instead of record. It is safe for
// concurrent use.
type ChannelEnv struct{ a aliasEnv }

// NewChannelRuleEnv returns the environment of channel rules.
func NewChannelRuleEnv() (*ChannelEnv, error) {
	a, err := newAliasEnv("channel", ChannelFields, "channel rules read channel.name and channel.rest")
	if err != nil {
		return nil, err
	}
	return &ChannelEnv{a: a}, nil
}

// Rule compiles src as a channel rule. Rules about joining compile with
// MethodView, rules about sending with MethodCreate (what request.method
// reads); Eval takes the channel as {"name": …, "rest": …}.
func (c *ChannelEnv) Rule(src, method string) (*Rule, error) { return c.a.rule(src, method) }
