// Package rulesrpc serves package rules over Connect as
// sovereign.dataplane.v1.RulesService: it turns messages into rules calls
// and their errors into Connect codes, and nothing else, so that package
// rules knows no transport.
//
// Errors: InvalidArgument for a rule that does not compile (the message
// names the rule and the position: "view: line 1, column 8: unknown field
// \"ownr\"") or a bad collection name, NotFound for an unknown collection,
// PermissionDenied for any key but a secret one, Unavailable when the
// table stayed locked by other work (nothing changed; retry), Internal for
// the rest (logged, never shown).
package rulesrpc

import (
	"context"
	"errors"
	"strconv"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/caller"
	"github.com/sovereign-backend/sovereign/dataplane/rules"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Handler implements RulesService over a rules.Service. Mount it behind
// the keyauth interceptor, which puts the caller's key in the context.
type Handler struct {
	svc *rules.Service
}

var _ dataplanev1connect.RulesServiceHandler = (*Handler)(nil)

// NewHandler returns the RulesService handler over svc.
func NewHandler(svc *rules.Service) *Handler { return &Handler{svc: svc} }

// GetRules returns a collection's rules.
func (h *Handler) GetRules(ctx context.Context, req *connect.Request[dataplanev1.GetRulesRequest]) (*connect.Response[dataplanev1.GetRulesResponse], error) {
	id, err := caller.Identity(ctx)
	if err != nil {
		return nil, err
	}
	set, err := h.svc.Get(ctx, id, req.Msg.GetCollection())
	if err != nil {
		return nil, toConnect(ctx, req.Msg.GetCollection(), err)
	}
	return connect.NewResponse(&dataplanev1.GetRulesResponse{Rules: toProto(set)}), nil
}

// SetRules replaces a collection's rules.
func (h *Handler) SetRules(ctx context.Context, req *connect.Request[dataplanev1.SetRulesRequest]) (*connect.Response[dataplanev1.SetRulesResponse], error) {
	id, err := caller.Identity(ctx)
	if err != nil {
		return nil, err
	}
	r := req.Msg.GetRules()
	set := rules.Set{}
	if r != nil {
		set = rules.Set{List: r.List, View: r.View, Create: r.Create, Update: r.Update, Delete: r.Delete}
	}
	out, err := h.svc.Set(ctx, id, req.Msg.GetCollection(), set)
	if err != nil {
		return nil, toConnect(ctx, req.Msg.GetCollection(), err)
	}
	return connect.NewResponse(&dataplanev1.SetRulesResponse{Rules: toProto(out)}), nil
}

func toProto(s rules.Set) *dataplanev1.Rules {
	return &dataplanev1.Rules{List: s.List, View: s.View, Create: s.Create, Update: s.Update, Delete: s.Delete}
}

func toConnect(ctx context.Context, name string, err error) error {
	var (
		re *rules.Error
		ie *schema.InputError
		ce *connect.Error
	)
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.As(err, &re):
		return rpcerr.New(connect.CodeInvalidArgument, re.Error())
	case errors.Is(err, rules.ErrServiceOnly):
		return rpcerr.New(connect.CodePermissionDenied, err.Error())
	case errors.Is(err, schema.ErrNotFound):
		return rpcerr.New(connect.CodeNotFound, "collection "+strconv.Quote(name)+" not found")
	case errors.As(err, &ie):
		return rpcerr.New(connect.CodeInvalidArgument, ie.Error())
	case errors.Is(err, schema.ErrBusy):
		return rpcerr.New(connect.CodeUnavailable, err.Error())
	}
	return rpcerr.Internal(ctx, err)
}
