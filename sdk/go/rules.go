package sovereign

import (
	"context"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Rules are a collection's access rules: for each operation, an expression
// in the platform's expression language (that of filters) that must be true
// for a caller other than the service role (a secret key without a user
// token). In scope are auth (uid, role, aal, claims; auth.uid is "" for a
// caller with no signed-in user), record (the record the operation reads or
// writes) and request.
//
// A rule left nil denies that operation to everyone but the service role:
// the default is deny. "true" allows everyone holding the publishable key.
// The list rule also filters what queries return. Its JSON form is the REST
// body of GET and PUT /v1/collections/{name}/rules:
//
//	{"list": "auth.uid != ''", "view": "record.owner == auth.uid",
//	 "create": "auth.uid != ''", "update": "record.owner == auth.uid", "delete": "false"}
//
// In Go, new gives the pointers:
//
//	sovereign.Rules{View: new("record.owner == auth.uid")}
type Rules struct {
	List   *string `json:"list,omitempty"`
	View   *string `json:"view,omitempty"`
	Create *string `json:"create,omitempty"`
	Update *string `json:"update,omitempty"`
	Delete *string `json:"delete,omitempty"`
}

// Rules returns the collection's access rules. It needs the secret key.
// Errors: [CodeNotFound] (no such collection).
func (cs *Collections) Rules(ctx context.Context, collection string) (*Rules, error) {
	m, err := unary(ctx, cs.c.pub, dataplanev1connect.RulesServiceGetRulesProcedure, callRead, cs.c.rules.GetRules,
		&dataplanev1.GetRulesRequest{Collection: collection})
	if err != nil {
		return nil, err
	}
	return rulesOf(m.GetRules()), nil
}

// SetRules replaces all five of the collection's rules with r (a nil rule
// denies) and returns them as stored. Each rule is type-checked against the
// collection and compiled, with the row-level-security policies that
// enforce it, in one transaction: a rule with a mistake changes nothing. It
// needs the secret key, and is retried like a read (setting the same rules
// twice is setting them once).
//
// Errors: [CodeInvalidArgument] (a rule that does not parse or type-check,
// naming the rule and the position), [CodeNotFound] (no such collection).
func (cs *Collections) SetRules(ctx context.Context, collection string, r Rules) (*Rules, error) {
	m, err := unary(ctx, cs.c.pub, dataplanev1connect.RulesServiceSetRulesProcedure, callIdempotent, cs.c.rules.SetRules,
		&dataplanev1.SetRulesRequest{Collection: collection, Rules: r.proto()})
	if err != nil {
		return nil, err
	}
	return rulesOf(m.GetRules()), nil
}

func (r Rules) proto() *dataplanev1.Rules {
	return &dataplanev1.Rules{List: r.List, View: r.View, Create: r.Create, Update: r.Update, Delete: r.Delete}
}

func rulesOf(m *dataplanev1.Rules) *Rules {
	r := &Rules{}
	if m == nil {
		return r
	}
	if m.List != nil {
		r.List = new(m.GetList())
	}
	if m.View != nil {
		r.View = new(m.GetView())
	}
	if m.Create != nil {
		r.Create = new(m.GetCreate())
	}
	if m.Update != nil {
		r.Update = new(m.GetUpdate())
	}
	if m.Delete != nil {
		r.Delete = new(m.GetDelete())
	}
	return r
}
