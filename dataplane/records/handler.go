package records

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sovereign-backend/sovereign/dataplane/caller"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/idempotency"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Handler is the RecordService: it turns Connect requests into Service
// calls for the caller's identity (package caller) and Service errors into
// Connect codes.
type Handler struct {
	svc  *Service
	idem *idempotency.Store
}

var _ dataplanev1connect.RecordServiceHandler = (*Handler)(nil)

// NewHandler returns the RecordService over svc. Writes that carry an
// Idempotency-Key header are replayed from idem (a store on the table
// dataplane.idempotency_keys); keys are scoped to the project, so any of its
// API keys retrying a write gets the first answer. A nil idem turns replay
// off.
//
// Mount it behind the keyauth interceptor, with a read limit that allows a
// batch (e.g. connect.WithReadMaxBytes(64 << 20)): the per-record limit is
// the Service's.
func NewHandler(svc *Service, idem *idempotency.Store) dataplanev1connect.RecordServiceHandler {
	return &Handler{svc: svc, idem: idem}
}

// idempotent runs fn through the idempotency store, scoped to the tenant.
func idempotent[Req, Res any](ctx context.Context, h *Handler, id tenantdb.Identity, req *connect.Request[Req], fn func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error)) (*connect.Response[Res], error) {
	if h.idem == nil {
		return fn(ctx, req)
	}
	return idempotency.Do(ctx, h.idem, "tenant:"+id.TenantRef, req, fn)
}

// CreateRecord implements dataplanev1connect.RecordServiceHandler.
func (h *Handler) CreateRecord(ctx context.Context, req *connect.Request[dataplanev1.CreateRecordRequest]) (*connect.Response[dataplanev1.CreateRecordResponse], error) {
	id, err := caller.Identity(ctx)
	if err != nil {
		return nil, err
	}
	return idempotent(ctx, h, id, req, func(ctx context.Context, req *connect.Request[dataplanev1.CreateRecordRequest]) (*connect.Response[dataplanev1.CreateRecordResponse], error) {
		rec, err := h.svc.Create(ctx, id, CreateParams{Collection: req.Msg.GetCollection(), Record: req.Msg.GetRecord().AsMap()})
		if err != nil {
			return nil, connectError(ctx, err)
		}
		out, err := recordStruct(ctx, rec)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(&dataplanev1.CreateRecordResponse{Record: out}), nil
	})
}

// GetRecord implements dataplanev1connect.RecordServiceHandler.
func (h *Handler) GetRecord(ctx context.Context, req *connect.Request[dataplanev1.GetRecordRequest]) (*connect.Response[dataplanev1.GetRecordResponse], error) {
	id, err := caller.Identity(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	rec, err := h.svc.Get(ctx, id, GetParams{Collection: m.GetCollection(), ID: m.GetId(), Fields: m.GetFields(), Expand: m.GetExpand()})
	if err != nil {
		return nil, connectError(ctx, err)
	}
	out, err := recordStruct(ctx, rec)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&dataplanev1.GetRecordResponse{Record: out}), nil
}

// UpdateRecord implements dataplanev1connect.RecordServiceHandler.
func (h *Handler) UpdateRecord(ctx context.Context, req *connect.Request[dataplanev1.UpdateRecordRequest]) (*connect.Response[dataplanev1.UpdateRecordResponse], error) {
	id, err := caller.Identity(ctx)
	if err != nil {
		return nil, err
	}
	return idempotent(ctx, h, id, req, func(ctx context.Context, req *connect.Request[dataplanev1.UpdateRecordRequest]) (*connect.Response[dataplanev1.UpdateRecordResponse], error) {
		rec, err := h.svc.Update(ctx, id, updateParams(req.Msg))
		if err != nil {
			return nil, connectError(ctx, err)
		}
		out, err := recordStruct(ctx, rec)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(&dataplanev1.UpdateRecordResponse{Record: out}), nil
	})
}

// ReplaceRecord implements dataplanev1connect.RecordServiceHandler.
func (h *Handler) ReplaceRecord(ctx context.Context, req *connect.Request[dataplanev1.ReplaceRecordRequest]) (*connect.Response[dataplanev1.ReplaceRecordResponse], error) {
	id, err := caller.Identity(ctx)
	if err != nil {
		return nil, err
	}
	return idempotent(ctx, h, id, req, func(ctx context.Context, req *connect.Request[dataplanev1.ReplaceRecordRequest]) (*connect.Response[dataplanev1.ReplaceRecordResponse], error) {
		rec, err := h.svc.Replace(ctx, id, replaceParams(req.Msg))
		if err != nil {
			return nil, connectError(ctx, err)
		}
		out, err := recordStruct(ctx, rec)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(&dataplanev1.ReplaceRecordResponse{Record: out}), nil
	})
}

// DeleteRecord implements dataplanev1connect.RecordServiceHandler.
func (h *Handler) DeleteRecord(ctx context.Context, req *connect.Request[dataplanev1.DeleteRecordRequest]) (*connect.Response[dataplanev1.DeleteRecordResponse], error) {
	id, err := caller.Identity(ctx)
	if err != nil {
		return nil, err
	}
	return idempotent(ctx, h, id, req, func(ctx context.Context, req *connect.Request[dataplanev1.DeleteRecordRequest]) (*connect.Response[dataplanev1.DeleteRecordResponse], error) {
		if err := h.svc.Delete(ctx, id, deleteParams(req.Msg)); err != nil {
			return nil, connectError(ctx, err)
		}
		return connect.NewResponse(&dataplanev1.DeleteRecordResponse{}), nil
	})
}

// UpsertRecord implements dataplanev1connect.RecordServiceHandler.
func (h *Handler) UpsertRecord(ctx context.Context, req *connect.Request[dataplanev1.UpsertRecordRequest]) (*connect.Response[dataplanev1.UpsertRecordResponse], error) {
	id, err := caller.Identity(ctx)
	if err != nil {
		return nil, err
	}
	return idempotent(ctx, h, id, req, func(ctx context.Context, req *connect.Request[dataplanev1.UpsertRecordRequest]) (*connect.Response[dataplanev1.UpsertRecordResponse], error) {
		rec, created, err := h.svc.Upsert(ctx, id, upsertParams(req.Msg))
		if err != nil {
			return nil, connectError(ctx, err)
		}
		out, err := recordStruct(ctx, rec)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(&dataplanev1.UpsertRecordResponse{Record: out, Created: created}), nil
	})
}

// QueryRecords implements dataplanev1connect.RecordServiceHandler.
func (h *Handler) QueryRecords(ctx context.Context, req *connect.Request[dataplanev1.QueryRecordsRequest]) (*connect.Response[dataplanev1.QueryRecordsResponse], error) {
	id, err := caller.Identity(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	var count CountMode
	switch m.GetCount() {
	case dataplanev1.CountMode_COUNT_MODE_UNSPECIFIED, dataplanev1.CountMode_COUNT_MODE_NONE:
		count = CountNone
	case dataplanev1.CountMode_COUNT_MODE_EXACT:
		count = CountExact
	case dataplanev1.CountMode_COUNT_MODE_ESTIMATED:
		count = CountEstimated
	default:
		return nil, rpcerr.New(connect.CodeInvalidArgument, fmt.Sprintf("count: unknown mode %d; use none, exact or estimated", m.GetCount()))
	}
	res, err := h.svc.Query(ctx, id, QueryParams{
		Collection: m.GetCollection(), Filter: m.GetFilter(), Sort: m.GetSort(), Limit: int(m.GetLimit()),
		Cursor: m.GetCursor(), Fields: m.GetFields(), Expand: m.GetExpand(), Count: count,
	})
	if err != nil {
		return nil, connectError(ctx, err)
	}
	out := &dataplanev1.QueryRecordsResponse{NextCursor: res.NextCursor, Total: res.Total, TotalEstimated: res.TotalEstimated}
	for _, r := range res.Records {
		st, err := recordStruct(ctx, r)
		if err != nil {
			return nil, err
		}
		out.Records = append(out.Records, st)
	}
	return connect.NewResponse(out), nil
}

// Batch implements dataplanev1connect.RecordServiceHandler.
func (h *Handler) Batch(ctx context.Context, req *connect.Request[dataplanev1.BatchRequest]) (*connect.Response[dataplanev1.BatchResponse], error) {
	id, err := caller.Identity(ctx)
	if err != nil {
		return nil, err
	}
	return idempotent(ctx, h, id, req, func(ctx context.Context, req *connect.Request[dataplanev1.BatchRequest]) (*connect.Response[dataplanev1.BatchResponse], error) {
		ops := make([]Op, len(req.Msg.GetOps()))
		for i, o := range req.Msg.GetOps() {
			switch {
			case o.GetCreate() != nil:
				c := o.GetCreate()
				ops[i].Create = &CreateParams{Collection: c.GetCollection(), Record: c.GetRecord().AsMap()}
			case o.GetUpdate() != nil:
				p := updateParams(o.GetUpdate())
				ops[i].Update = &p
			case o.GetReplace() != nil:
				p := replaceParams(o.GetReplace())
				ops[i].Replace = &p
			case o.GetDelete() != nil:
				p := deleteParams(o.GetDelete())
				ops[i].Delete = &p
			case o.GetUpsert() != nil:
				p := upsertParams(o.GetUpsert())
				ops[i].Upsert = &p
			}
		}
		res, err := h.svc.Batch(ctx, id, ops)
		if err != nil {
			return nil, connectError(ctx, err)
		}
		out := &dataplanev1.BatchResponse{Results: make([]*dataplanev1.BatchResult, len(res))}
		for i, r := range res {
			br := &dataplanev1.BatchResult{Created: r.Created}
			if r.Record != nil {
				if br.Record, err = recordStruct(ctx, r.Record); err != nil {
					return nil, err
				}
			}
			out.Results[i] = br
		}
		return connect.NewResponse(out), nil
	})
}

func updateParams(m *dataplanev1.UpdateRecordRequest) UpdateParams {
	return UpdateParams{Collection: m.GetCollection(), ID: m.GetId(), Patch: m.GetPatch().AsMap(), ExpectedVersion: m.GetExpectedVersion()}
}

func replaceParams(m *dataplanev1.ReplaceRecordRequest) ReplaceParams {
	return ReplaceParams{Collection: m.GetCollection(), ID: m.GetId(), Record: m.GetRecord().AsMap(), ExpectedVersion: m.GetExpectedVersion()}
}

func deleteParams(m *dataplanev1.DeleteRecordRequest) DeleteParams {
	return DeleteParams{Collection: m.GetCollection(), ID: m.GetId(), ExpectedVersion: m.GetExpectedVersion()}
}

func upsertParams(m *dataplanev1.UpsertRecordRequest) UpsertParams {
	return UpsertParams{Collection: m.GetCollection(), Record: m.GetRecord().AsMap(), OnConflict: m.GetOnConflict()}
}

// Code is the Connect code of a Kind.
func (k Kind) Code() connect.Code {
	switch k {
	case KindInvalid:
		return connect.CodeInvalidArgument
	case KindNotFound:
		return connect.CodeNotFound
	case KindConflict:
		return connect.CodeAborted
	case KindExists:
		return connect.CodeAlreadyExists
	case KindTooLarge:
		return connect.CodeResourceExhausted
	case KindReferenced:
		return connect.CodeFailedPrecondition
	case KindDenied:
		return connect.CodePermissionDenied
	}
	return connect.CodeInternal
}

// connectError maps a Service error to what the client sees: *Error to its
// code and message (wrapped, so that in-process callers such as the REST
// face can still match ErrTooLarge and the like with errors.Is), anything
// else to a logged internal error.
func connectError(ctx context.Context, err error) error {
	var re *Error
	if errors.As(err, &re) {
		return connect.NewError(re.Kind.Code(), re)
	}
	return rpcerr.Internal(ctx, err)
}

// recordStruct is rec as a Struct.
func recordStruct(ctx context.Context, rec Record) (*structpb.Struct, error) {
	st := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(rec))}
	for k, v := range rec {
		pv, err := structValue(v)
		if err != nil {
			return nil, rpcerr.Internal(ctx, fmt.Errorf("records: field %s: %w", k, err))
		}
		st.Fields[k] = pv
	}
	return st, nil
}

// structValue converts a Record value: timestamps become RFC 3339 strings
// in UTC with microseconds, integers JSON numbers.
func structValue(v any) (*structpb.Value, error) {
	switch x := v.(type) {
	case nil:
		return structpb.NewNullValue(), nil
	case string:
		return structpb.NewStringValue(x), nil
	case bool:
		return structpb.NewBoolValue(x), nil
	case int64:
		return structpb.NewNumberValue(float64(x)), nil
	case int:
		return structpb.NewNumberValue(float64(x)), nil
	case float64:
		return structpb.NewNumberValue(x), nil
	case time.Time:
		return structpb.NewStringValue(x.UTC().Format(TimeFormat)), nil
	case []float32:
		l := &structpb.ListValue{Values: make([]*structpb.Value, len(x))}
		for i, f := range x {
			l.Values[i] = structpb.NewNumberValue(float64(f))
		}
		return structpb.NewListValue(l), nil
	case []any:
		l := &structpb.ListValue{Values: make([]*structpb.Value, len(x))}
		for i, e := range x {
			ev, err := structValue(e)
			if err != nil {
				return nil, err
			}
			l.Values[i] = ev
		}
		return structpb.NewListValue(l), nil
	case Record:
		return structValue(map[string]any(x))
	case map[string]any:
		st := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(x))}
		for k, e := range x {
			ev, err := structValue(e)
			if err != nil {
				return nil, err
			}
			st.Fields[k] = ev
		}
		return structpb.NewStructValue(st), nil
	}
	return nil, fmt.Errorf("cannot encode %T", v)
}
