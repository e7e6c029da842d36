package rest

import (
	"encoding/json"
	"net/http"
	"net/url"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

func (a *API) listCollections(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	res, err := call(w, r, a.cfg.Collections.ListCollections, &dataplanev1.ListCollectionsRequest{})
	if err != nil {
		return err
	}
	cols, err := rawProtos(marshalOptions, res.GetCollections())
	if err != nil {
		return err
	}
	a.writeJSON(w, r, http.StatusOK, struct {
		Collections []json.RawMessage `json:"collections"`
	}{cols})
	return nil
}

func (a *API) createCollection(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	col := &dataplanev1.Collection{}
	if err := readBody(w, r, MaxCollectionBytes, col); err != nil {
		return err
	}
	res, err := call(w, r, a.cfg.Collections.CreateCollection, &dataplanev1.CreateCollectionRequest{Collection: col})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/collections/"+url.PathEscape(res.GetCollection().GetName()))
	a.writeProto(w, r, http.StatusCreated, res.GetCollection())
	return nil
}

func (a *API) getCollection(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	res, err := call(w, r, a.cfg.Collections.GetCollection, &dataplanev1.GetCollectionRequest{Name: r.PathValue("name")})
	if err != nil {
		return err
	}
	a.writeProto(w, r, http.StatusOK, res.GetCollection())
	return nil
}

// alterCollection takes AlterCollectionRequest without its name, which the
// path gives: {"ops": [{"add_field": {...}}, {"rename_field": {...}}]}.
func (a *API) alterCollection(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	req := &dataplanev1.AlterCollectionRequest{}
	if err := readBody(w, r, MaxCollectionBytes, req); err != nil {
		return err
	}
	name := r.PathValue("name")
	if req.Name != "" && req.Name != name {
		return invalid("the body names collection %q but the path %q; leave name out of the body", req.Name, name)
	}
	req.Name = name
	res, err := call(w, r, a.cfg.Collections.AlterCollection, req)
	if err != nil {
		return err
	}
	a.writeProto(w, r, http.StatusOK, res.GetCollection())
	return nil
}

func (a *API) dropCollection(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	if _, err := call(w, r, a.cfg.Collections.DropCollection, &dataplanev1.DropCollectionRequest{Name: r.PathValue("name")}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
