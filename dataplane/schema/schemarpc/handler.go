// Package schemarpc serves package schema's collections over Connect as
// sovereign.dataplane.v1.CollectionService: it turns messages into schema
// calls and schema's errors into Connect codes, and nothing else, so that
// package schema knows no transport.
//
// Errors: InvalidArgument for a bad definition or change (the message
// names the field, e.g. "fields[2].type: unknown type \"txt\"; use one of
// text, …"), NotFound for an unknown collection or relation target,
// AlreadyExists, FailedPrecondition when the records stand in the way of a
// change, PermissionDenied for a key that is not secret, ResourceExhausted
// past the collection limit, Unavailable when a table stayed locked by
// other work (nothing changed; retry), Internal for the rest (logged, never
// shown).
package schemarpc

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/dataplane/caller"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Handler implements CollectionService over a schema.Store. Mount it
// behind the keyauth interceptor, which puts the caller's key in the
// context.
type Handler struct {
	store *schema.Store
}

var _ dataplanev1connect.CollectionServiceHandler = (*Handler)(nil)

// errServiceOnly answers anyone but the service role: collections are
// managed, and read, on servers with the secret key.
var errServiceOnly = connect.NewError(connect.CodePermissionDenied,
	errors.New("collections are read and changed with the project's secret key (the service role) only, never with a publishable key or a user's token; apps reach records, through their access rules"))

// serviceIdentity is the caller's identity, which must be the service
// role's.
func serviceIdentity(ctx context.Context) (tenantdb.Identity, error) {
	id, err := caller.Identity(ctx)
	if err != nil {
		return id, err
	}
	if id.Role != tenantdb.RoleService {
		return tenantdb.Identity{}, errServiceOnly
	}
	return id, nil
}

// NewHandler returns the CollectionService handler over store.
func NewHandler(store *schema.Store) *Handler { return &Handler{store: store} }

// CreateCollection creates a collection.
func (h *Handler) CreateCollection(ctx context.Context, req *connect.Request[dataplanev1.CreateCollectionRequest]) (*connect.Response[dataplanev1.CreateCollectionResponse], error) {
	id, err := serviceIdentity(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetCollection() == nil {
		return nil, rpcerr.New(connect.CodeInvalidArgument, "collection: required")
	}
	c, err := h.store.Create(ctx, id, collectionFromProto(req.Msg.GetCollection()))
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	pc, err := collectionToProto(c)
	if err != nil {
		return nil, rpcerr.Internal(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.CreateCollectionResponse{Collection: pc}), nil
}

// GetCollection describes a collection.
func (h *Handler) GetCollection(ctx context.Context, req *connect.Request[dataplanev1.GetCollectionRequest]) (*connect.Response[dataplanev1.GetCollectionResponse], error) {
	id, err := serviceIdentity(ctx)
	if err != nil {
		return nil, err
	}
	c, err := h.store.Get(ctx, id, req.Msg.GetName())
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	pc, err := collectionToProto(c)
	if err != nil {
		return nil, rpcerr.Internal(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.GetCollectionResponse{Collection: pc}), nil
}

// ListCollections lists the project's collections by name.
func (h *Handler) ListCollections(ctx context.Context, _ *connect.Request[dataplanev1.ListCollectionsRequest]) (*connect.Response[dataplanev1.ListCollectionsResponse], error) {
	id, err := serviceIdentity(ctx)
	if err != nil {
		return nil, err
	}
	cs, err := h.store.List(ctx, id)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	out := &dataplanev1.ListCollectionsResponse{Collections: make([]*dataplanev1.Collection, 0, len(cs))}
	for _, c := range cs {
		pc, err := collectionToProto(c)
		if err != nil {
			return nil, rpcerr.Internal(ctx, err)
		}
		out.Collections = append(out.Collections, pc)
	}
	return connect.NewResponse(out), nil
}

// AlterCollection applies changes to a collection, all or nothing.
func (h *Handler) AlterCollection(ctx context.Context, req *connect.Request[dataplanev1.AlterCollectionRequest]) (*connect.Response[dataplanev1.AlterCollectionResponse], error) {
	id, err := serviceIdentity(ctx)
	if err != nil {
		return nil, err
	}
	ops := make([]schema.AlterOp, len(req.Msg.GetOps()))
	for i, op := range req.Msg.GetOps() {
		if ops[i], err = opFromProto(op); err != nil {
			return nil, rpcerr.New(connect.CodeInvalidArgument, fmt.Sprintf("ops[%d].%v", i, err))
		}
	}
	c, err := h.store.Alter(ctx, id, req.Msg.GetName(), ops)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	pc, err := collectionToProto(c)
	if err != nil {
		return nil, rpcerr.Internal(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.AlterCollectionResponse{Collection: pc}), nil
}

// DropCollection drops a collection and its records.
func (h *Handler) DropCollection(ctx context.Context, req *connect.Request[dataplanev1.DropCollectionRequest]) (*connect.Response[dataplanev1.DropCollectionResponse], error) {
	id, err := serviceIdentity(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.store.Drop(ctx, id, req.Msg.GetName()); err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&dataplanev1.DropCollectionResponse{}), nil
}

// ListSchemaChanges pages through the schema history, oldest first.
func (h *Handler) ListSchemaChanges(ctx context.Context, req *connect.Request[dataplanev1.ListSchemaChangesRequest]) (*connect.Response[dataplanev1.ListSchemaChangesResponse], error) {
	id, err := serviceIdentity(ctx)
	if err != nil {
		return nil, err
	}
	changes, next, err := h.store.History(ctx, id, schema.HistoryParams{
		Collection: req.Msg.GetCollection(),
		Limit:      int(req.Msg.GetLimit()),
		AfterID:    req.Msg.GetAfterId(),
	})
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	out := &dataplanev1.ListSchemaChangesResponse{NextAfterId: next, Changes: make([]*dataplanev1.SchemaChange, len(changes))}
	for i, c := range changes {
		out.Changes[i] = &dataplanev1.SchemaChange{
			Id:          c.ID,
			At:          timestamppb.New(c.At),
			Collection:  c.Collection,
			Kind:        string(c.Kind),
			Description: c.Description,
			Sql:         c.SQL,
		}
	}
	return connect.NewResponse(out), nil
}

// toConnect maps schema's errors to codes; anything else is internal.
func toConnect(ctx context.Context, err error) error {
	var (
		ie *schema.InputError
		pe *schema.PreconditionError
		ce *connect.Error
	)
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, schema.ErrNotFound):
		return rpcerr.New(connect.CodeNotFound, err.Error())
	case errors.As(err, &ie):
		return rpcerr.New(connect.CodeInvalidArgument, ie.Error())
	case errors.Is(err, schema.ErrAlreadyExists):
		return rpcerr.New(connect.CodeAlreadyExists, err.Error())
	case errors.As(err, &pe):
		return rpcerr.New(connect.CodeFailedPrecondition, pe.Error())
	case errors.Is(err, schema.ErrServiceOnly):
		return rpcerr.New(connect.CodePermissionDenied, err.Error())
	case errors.Is(err, schema.ErrTooManyCollections):
		return rpcerr.New(connect.CodeResourceExhausted, err.Error())
	case errors.Is(err, schema.ErrBusy):
		return rpcerr.New(connect.CodeUnavailable, err.Error())
	}
	return rpcerr.Internal(ctx, err)
}

func valueFromProto(v *structpb.Value) any {
	if v == nil {
		return nil
	}
	return v.AsInterface() // nil for null_value: no default
}

func fieldFromProto(f *dataplanev1.Field) schema.Field {
	return schema.Field{
		Name:       f.GetName(),
		Type:       schema.FieldType(f.GetType()),
		Required:   f.GetRequired(),
		Unique:     f.GetUnique(),
		Default:    valueFromProto(f.GetDefault()),
		Collection: f.GetCollection(),
		Dimensions: int(f.GetDimensions()),
	}
}

func indexFromProto(ix *dataplanev1.Index) schema.Index {
	return schema.Index{Name: ix.GetName(), Fields: ix.GetFields(), Unique: ix.GetUnique()}
}

func collectionFromProto(c *dataplanev1.Collection) schema.Collection {
	out := schema.Collection{Name: c.GetName()}
	for _, f := range c.GetFields() {
		out.Fields = append(out.Fields, fieldFromProto(f))
	}
	for _, ix := range c.GetIndexes() {
		out.Indexes = append(out.Indexes, indexFromProto(ix))
	}
	return out
}

// opFromProto converts one op; an op with none set converts to an empty
// AlterOp, which the Store refuses naming it. An empty drop_field or
// drop_index, which an AlterOp cannot express, is an error.
func opFromProto(op *dataplanev1.AlterOp) (schema.AlterOp, error) {
	switch o := op.GetOp().(type) {
	case *dataplanev1.AlterOp_AddField:
		f := fieldFromProto(o.AddField)
		return schema.AlterOp{AddField: &f}, nil
	case *dataplanev1.AlterOp_RenameField:
		return schema.AlterOp{RenameField: &schema.RenameField{From: o.RenameField.GetFrom(), To: o.RenameField.GetTo()}}, nil
	case *dataplanev1.AlterOp_DropField:
		if o.DropField == "" {
			return schema.AlterOp{}, errors.New("drop_field: name the field to drop")
		}
		return schema.AlterOp{DropField: o.DropField}, nil
	case *dataplanev1.AlterOp_SetRequired:
		return schema.AlterOp{SetRequired: &schema.SetRequired{Field: o.SetRequired.GetField(), Required: o.SetRequired.GetRequired()}}, nil
	case *dataplanev1.AlterOp_SetUnique:
		return schema.AlterOp{SetUnique: &schema.SetUnique{Field: o.SetUnique.GetField(), Unique: o.SetUnique.GetUnique()}}, nil
	case *dataplanev1.AlterOp_SetDefault:
		return schema.AlterOp{SetDefault: &schema.SetDefault{Field: o.SetDefault.GetField(), Default: valueFromProto(o.SetDefault.GetDefault())}}, nil
	case *dataplanev1.AlterOp_AddIndex:
		ix := indexFromProto(o.AddIndex)
		return schema.AlterOp{AddIndex: &ix}, nil
	case *dataplanev1.AlterOp_DropIndex:
		if o.DropIndex == "" {
			return schema.AlterOp{}, errors.New("drop_index: name the index to drop")
		}
		return schema.AlterOp{DropIndex: o.DropIndex}, nil
	}
	return schema.AlterOp{}, nil
}

func collectionToProto(c *schema.Collection) (*dataplanev1.Collection, error) {
	out := &dataplanev1.Collection{
		Name:      c.Name,
		Fields:    make([]*dataplanev1.Field, len(c.Fields)),
		Indexes:   make([]*dataplanev1.Index, len(c.Indexes)),
		CreatedAt: timestamppb.New(c.CreatedAt),
		UpdatedAt: timestamppb.New(c.UpdatedAt),
	}
	for i, f := range c.Fields {
		pf := &dataplanev1.Field{
			Name:       f.Name,
			Type:       string(f.Type),
			Required:   f.Required,
			Unique:     f.Unique,
			Collection: f.Collection,
			Dimensions: int32(f.Dimensions),
		}
		if f.Default != nil {
			v, err := structpb.NewValue(f.Default)
			if err != nil {
				return nil, fmt.Errorf("default of field %s: %w", f.Name, err)
			}
			pf.Default = v
		}
		out.Fields[i] = pf
	}
	for i, ix := range c.Indexes {
		out.Indexes[i] = &dataplanev1.Index{Name: ix.Name, Fields: ix.Fields, Unique: ix.Unique}
	}
	return out, nil
}
