package rest

import (
	"encoding/json"
	"errors"
	"net/http"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// MaxChannelRuleBytes caps the body of PUT /v1/realtime/channel-rules/{prefix}:
// two rules of filter.MaxLen bytes each fit with room to spare.
const MaxChannelRuleBytes = 32 << 10

// AddChannelRules adds the realtime channel-rule routes, served by h (the
// data plane's RealtimeService handler):
//
//	GET    /v1/realtime/channel-rules           ListChannelRules → {"rules": [...]}
//	PUT    /v1/realtime/channel-rules/{prefix}  SetChannelRule, body {"join": "...", "send": "..."}
//	                                            → the rule; 201 when new, 200 when replaced
//	DELETE /v1/realtime/channel-rules/{prefix}  DeleteChannelRule → 204
//
// The prefix in the path is the rule's, ":" included (it needs no
// escaping). Call it before Register.
func (a *API) AddChannelRules(h dataplanev1connect.RealtimeServiceHandler) error {
	if h == nil {
		return errors.New("rest: AddChannelRules needs a RealtimeService handler")
	}
	for _, rt := range []route{
		{"GET /v1/realtime/channel-rules", func(w http.ResponseWriter, r *http.Request) error { return a.listChannelRules(w, r, h) }},
		{"PUT /v1/realtime/channel-rules/{prefix}", func(w http.ResponseWriter, r *http.Request) error { return a.setChannelRule(w, r, h) }},
		{"DELETE /v1/realtime/channel-rules/{prefix}", func(w http.ResponseWriter, r *http.Request) error { return a.deleteChannelRule(w, r, h) }},
	} {
		a.routes = append(a.routes, rt)
		a.probe.Handle(rt.pattern, http.NotFoundHandler())
	}
	return nil
}

func (a *API) listChannelRules(w http.ResponseWriter, r *http.Request, h dataplanev1connect.RealtimeServiceHandler) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	res, err := call(w, r, h.ListChannelRules, &dataplanev1.ListChannelRulesRequest{})
	if err != nil {
		return err
	}
	rules, err := rawProtos(marshalOptions, res.GetRules())
	if err != nil {
		return err
	}
	a.writeJSON(w, r, http.StatusOK, struct {
		Rules []json.RawMessage `json:"rules"`
	}{rules})
	return nil
}

func (a *API) setChannelRule(w http.ResponseWriter, r *http.Request, h dataplanev1connect.RealtimeServiceHandler) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	rule := &dataplanev1.ChannelRule{}
	if err := readBody(w, r, MaxChannelRuleBytes, rule); err != nil {
		return err
	}
	if rule.GetPrefix() != "" && rule.GetPrefix() != r.PathValue("prefix") {
		return invalid("prefix: the body's %q differs from the path's %q; leave it out of the body", rule.GetPrefix(), r.PathValue("prefix"))
	}
	if rule.GetCreatedAt() != nil || rule.GetUpdatedAt() != nil {
		return invalid("created_at and updated_at are set by the server; leave them out")
	}
	rule.Prefix = r.PathValue("prefix")
	res, err := call(w, r, h.SetChannelRule, &dataplanev1.SetChannelRuleRequest{Rule: rule})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.GetCreated() {
		status = http.StatusCreated
	}
	a.writeProto(w, r, status, res.GetRule())
	return nil
}

func (a *API) deleteChannelRule(w http.ResponseWriter, r *http.Request, h dataplanev1connect.RealtimeServiceHandler) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	if _, err := call(w, r, h.DeleteChannelRule, &dataplanev1.DeleteChannelRuleRequest{Prefix: r.PathValue("prefix")}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
