package rest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

// Query parameters of GET /v1/collections/{name}/records.
var (
	queryScalars = []string{"filter", "limit", "cursor", "count"}
	queryLists   = []string{"sort", "fields", "expand"}
)

// queryAnswer is the answer of a query: records is never null, and total
// and total_estimated are there only when a count was asked for (total as a
// JSON number, where protojson would write an int64 as a string).
type queryAnswer struct {
	Records        []json.RawMessage `json:"records"`
	NextCursor     string            `json:"next_cursor"`
	Total          *int64            `json:"total,omitempty"`
	TotalEstimated *bool             `json:"total_estimated,omitempty"`
}

func (a *API) queryRecords(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, queryScalars, queryLists...); err != nil {
		return err
	}
	q := r.URL.Query()
	req := &dataplanev1.QueryRecordsRequest{
		Collection: r.PathValue("name"),
		Filter:     q.Get("filter"),
		Sort:       list(q["sort"]),
		Cursor:     q.Get("cursor"),
		Fields:     list(q["fields"]),
		Expand:     list(q["expand"]),
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return invalid("limit must be a whole number from 1 to 1000, got %q", v)
		}
		req.Limit = int32(n)
	}
	switch v := q.Get("count"); v {
	case "":
	case "none":
		req.Count = dataplanev1.CountMode_COUNT_MODE_NONE
	case "exact":
		req.Count = dataplanev1.CountMode_COUNT_MODE_EXACT
	case "estimated":
		req.Count = dataplanev1.CountMode_COUNT_MODE_ESTIMATED
	default:
		return invalid("count must be exact, estimated or none, got %q", v)
	}
	res, err := call(w, r, a.cfg.Records.QueryRecords, req)
	if err != nil {
		return err
	}
	recs, err := rawProtos(marshalOptions, res.GetRecords())
	if err != nil {
		return err
	}
	ans := queryAnswer{Records: recs, NextCursor: res.GetNextCursor()}
	if req.Count == dataplanev1.CountMode_COUNT_MODE_EXACT || req.Count == dataplanev1.CountMode_COUNT_MODE_ESTIMATED {
		total, est := res.GetTotal(), res.GetTotalEstimated()
		ans.Total, ans.TotalEstimated = &total, &est
	}
	a.writeJSON(w, r, http.StatusOK, ans)
	return nil
}

func (a *API) createRecord(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	rec := &structpb.Struct{}
	if err := readBody(w, r, a.cfg.MaxRecordBytes, rec); err != nil {
		return err
	}
	name := r.PathValue("name")
	res, err := call(w, r, a.cfg.Records.CreateRecord, &dataplanev1.CreateRecordRequest{Collection: name, Record: rec})
	if err != nil {
		return err
	}
	if id := res.GetRecord().GetFields()["id"].GetStringValue(); id != "" {
		w.Header().Set("Location", "/v1/collections/"+url.PathEscape(name)+"/records/"+url.PathEscape(id))
	}
	a.writeRecord(w, r, http.StatusCreated, res.GetRecord())
	return nil
}

func (a *API) getRecord(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil, "fields", "expand"); err != nil {
		return err
	}
	q := r.URL.Query()
	res, err := call(w, r, a.cfg.Records.GetRecord, &dataplanev1.GetRecordRequest{
		Collection: r.PathValue("name"),
		Id:         r.PathValue("id"),
		Fields:     list(q["fields"]),
		Expand:     list(q["expand"]),
	})
	if err != nil {
		return err
	}
	a.writeRecord(w, r, http.StatusOK, res.GetRecord())
	return nil
}

// updateRecord changes the fields the body gives (null clears one).
func (a *API) updateRecord(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	version, err := expectedVersion(r.Header)
	if err != nil {
		return err
	}
	patch := &structpb.Struct{}
	if err := readBody(w, r, a.cfg.MaxRecordBytes, patch); err != nil {
		return err
	}
	res, err := call(w, r, a.cfg.Records.UpdateRecord, &dataplanev1.UpdateRecordRequest{
		Collection: r.PathValue("name"), Id: r.PathValue("id"), Patch: patch, ExpectedVersion: version,
	})
	if err != nil {
		return err
	}
	a.writeRecord(w, r, http.StatusOK, res.GetRecord())
	return nil
}

// putRecord replaces the record, or with ?upsert=true creates it when there
// is none (201) and replaces it when there is (200).
func (a *API) putRecord(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, []string{"upsert"}); err != nil {
		return err
	}
	upsert := false
	if v := r.URL.Query().Get("upsert"); v != "" {
		var err error
		if upsert, err = strconv.ParseBool(v); err != nil {
			return invalid("upsert must be true or false, got %q", v)
		}
	}
	version, err := expectedVersion(r.Header)
	if err != nil {
		return err
	}
	if upsert && version != 0 {
		return invalid("If-Match cannot be combined with upsert=true: an upsert does not check the version")
	}
	rec := &structpb.Struct{}
	if err := readBody(w, r, a.cfg.MaxRecordBytes, rec); err != nil {
		return err
	}
	name, id := r.PathValue("name"), r.PathValue("id")
	if !upsert {
		res, err := call(w, r, a.cfg.Records.ReplaceRecord, &dataplanev1.ReplaceRecordRequest{
			Collection: name, Id: id, Record: rec, ExpectedVersion: version,
		})
		if err != nil {
			return err
		}
		a.writeRecord(w, r, http.StatusOK, res.GetRecord())
		return nil
	}
	// UpsertRecord finds the record by the id in its body, which the path
	// gives here.
	if v, ok := rec.GetFields()["id"]; ok && v.GetStringValue() != id {
		got, _ := protojson.Marshal(v)
		return invalid("the body's id %s differs from the path's %q; leave id out of the body", got, id)
	}
	if rec.Fields == nil {
		rec.Fields = map[string]*structpb.Value{}
	}
	rec.Fields["id"] = structpb.NewStringValue(id)
	res, err := call(w, r, a.cfg.Records.UpsertRecord, &dataplanev1.UpsertRecordRequest{Collection: name, Record: rec})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.GetCreated() {
		status = http.StatusCreated
	}
	a.writeRecord(w, r, status, res.GetRecord())
	return nil
}

func (a *API) deleteRecord(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	version, err := expectedVersion(r.Header)
	if err != nil {
		return err
	}
	if _, err := call(w, r, a.cfg.Records.DeleteRecord, &dataplanev1.DeleteRecordRequest{
		Collection: r.PathValue("name"), Id: r.PathValue("id"), ExpectedVersion: version,
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// batchMarshal writes false and empty values too, so that every result of a
// batch has the same shape ("created": false included).
var batchMarshal = protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}

func (a *API) batch(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	req := &dataplanev1.BatchRequest{}
	if err := readBody(w, r, a.cfg.MaxBatchBytes, req); err != nil {
		return err
	}
	res, err := call(w, r, a.cfg.Records.Batch, req)
	if err != nil {
		return err
	}
	results, err := rawProtos(batchMarshal, res.GetResults())
	if err != nil {
		return err
	}
	a.writeJSON(w, r, http.StatusOK, struct {
		Results []json.RawMessage `json:"results"`
	}{results})
	return nil
}

// writeRecord answers a record with its version as ETag.
func (a *API) writeRecord(w http.ResponseWriter, r *http.Request, status int, rec *structpb.Struct) {
	setETag(w, rec)
	a.writeProto(w, r, status, rec)
}
