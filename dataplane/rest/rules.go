package rest

import (
	"errors"
	"net/http"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// MaxRulesBytes caps the body of PUT /v1/collections/{name}/rules: five
// rules of filter.MaxLen bytes each fit with room to spare.
const MaxRulesBytes = 64 << 10

// AddRules adds the access-rules routes, served by h (the data plane's
// RulesService handler):
//
//	GET /v1/collections/{name}/rules  GetRules → {"list": "...", "view": "...", ...}
//	PUT /v1/collections/{name}/rules  SetRules, body the same object → the rules as stored
//
// A rule left out (or null) denies its operation to all but the service
// role. Call it before Register.
func (a *API) AddRules(h dataplanev1connect.RulesServiceHandler) error {
	if h == nil {
		return errors.New("rest: AddRules needs a RulesService handler")
	}
	for _, rt := range []route{
		{"GET /v1/collections/{name}/rules", func(w http.ResponseWriter, r *http.Request) error { return a.getRules(w, r, h) }},
		{"PUT /v1/collections/{name}/rules", func(w http.ResponseWriter, r *http.Request) error { return a.setRules(w, r, h) }},
	} {
		a.routes = append(a.routes, rt)
		a.probe.Handle(rt.pattern, http.NotFoundHandler())
	}
	return nil
}

func (a *API) getRules(w http.ResponseWriter, r *http.Request, h dataplanev1connect.RulesServiceHandler) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	res, err := call(w, r, h.GetRules, &dataplanev1.GetRulesRequest{Collection: r.PathValue("name")})
	if err != nil {
		return err
	}
	a.writeProto(w, r, http.StatusOK, res.GetRules())
	return nil
}

func (a *API) setRules(w http.ResponseWriter, r *http.Request, h dataplanev1connect.RulesServiceHandler) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	rules := &dataplanev1.Rules{}
	if err := readBody(w, r, MaxRulesBytes, rules); err != nil {
		return err
	}
	res, err := call(w, r, h.SetRules, &dataplanev1.SetRulesRequest{Collection: r.PathValue("name"), Rules: rules})
	if err != nil {
		return err
	}
	a.writeProto(w, r, http.StatusOK, res.GetRules())
	return nil
}
