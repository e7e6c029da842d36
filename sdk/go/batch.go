package sovereign

import (
	"context"
	"encoding/json"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Batch gathers up to [MaxBatchOps] record writes, over any collections, to
// run in one transaction: all apply or none does. Get one with
// [Client.Batch], add operations, and Run it:
//
//	res, err := client.Batch().
//		Create("posts", Post{Title: "a"}).
//		Update("posts", id, map[string]any{"n": 4}, sovereign.ExpectVersion(3)).
//		Delete("comments", cid).
//		Run(ctx)
//
// Records are converted as [CollectionRef] converts them. A Batch is not
// safe for concurrent use; the methods that add operations return the
// Batch, so that calls chain. An argument that cannot be sent (a record
// that does not convert) is reported by Run, and nothing is sent.
type Batch struct {
	c   *Client
	ops []*dataplanev1.BatchOp
	err error
}

// Batch returns an empty batch.
func (c *Client) Batch() *Batch { return &Batch{c: c} }

// Len returns the number of operations in the batch.
func (b *Batch) Len() int { return len(b.ops) }

func (b *Batch) add(op *dataplanev1.BatchOp, err error) *Batch {
	if err != nil && b.err == nil {
		b.err = invalidArgument("batch operation %d: %s", len(b.ops), errMessage(err))
	}
	b.ops = append(b.ops, op)
	return b
}

// Create adds an insert of record into collection.
func (b *Batch) Create(collection string, record any) *Batch {
	s, err := toStruct(record, encodeOpts{keepID: true})
	return b.add(&dataplanev1.BatchOp{Op: &dataplanev1.BatchOp_Create{Create: &dataplanev1.CreateRecordRequest{Collection: collection, Record: s}}}, err)
}

// Update adds a partial update (see [CollectionRef.Update]).
func (b *Batch) Update(collection, id string, patch any, opts ...WriteOption) *Batch {
	o := buildWriteOptions(opts)
	s, err := toStruct(patch, encodeOpts{})
	return b.add(&dataplanev1.BatchOp{Op: &dataplanev1.BatchOp_Update{Update: &dataplanev1.UpdateRecordRequest{
		Collection: collection, Id: id, Patch: s, ExpectedVersion: o.expectVersion}}}, err)
}

// Replace adds a replacement of every user field (see
// [CollectionRef.Replace]).
func (b *Batch) Replace(collection, id string, record any, opts ...WriteOption) *Batch {
	o := buildWriteOptions(opts)
	s, err := toStruct(record, encodeOpts{})
	return b.add(&dataplanev1.BatchOp{Op: &dataplanev1.BatchOp_Replace{Replace: &dataplanev1.ReplaceRecordRequest{
		Collection: collection, Id: id, Record: s, ExpectedVersion: o.expectVersion}}}, err)
}

// Delete adds a delete.
func (b *Batch) Delete(collection, id string, opts ...WriteOption) *Batch {
	o := buildWriteOptions(opts)
	return b.add(&dataplanev1.BatchOp{Op: &dataplanev1.BatchOp_Delete{Delete: &dataplanev1.DeleteRecordRequest{
		Collection: collection, Id: id, ExpectedVersion: o.expectVersion}}}, nil)
}

// Upsert adds an upsert (see [CollectionRef.Upsert]).
func (b *Batch) Upsert(collection string, record any, opts ...UpsertOption) *Batch {
	o := buildUpsertOptions(opts)
	s, err := toStruct(record, encodeOpts{keepID: true})
	if err == nil {
		if _, ok := s.Fields[FieldID]; !ok && o.onConflict == "" {
			err = invalidArgument("upsert into %s: the record has no id and no OnConflict field to match on", collection)
		}
	}
	return b.add(&dataplanev1.BatchOp{Op: &dataplanev1.BatchOp_Upsert{Upsert: &dataplanev1.UpsertRecordRequest{
		Collection: collection, Record: s, OnConflict: o.onConflict}}}, err)
}

// BatchResult is the outcome of one operation of a batch.
type BatchResult struct {
	// Record is the written record; nil for a delete.
	Record Record
	// Created is, for an upsert, whether it inserted.
	Created bool
	raw     []byte
}

// Decode decodes the written record into v (a pointer, e.g. to the struct of
// the collection's [CollectionRef]).
func (r BatchResult) Decode(v any) error {
	if r.raw == nil {
		return invalidArgument("batch result has no record (a delete)")
	}
	return json.Unmarshal(r.raw, v)
}

// Run sends the batch and returns one result per operation, in order. The
// batch carries one idempotency key across its retries, so a retried batch
// applies once.
//
// Errors: those of the single writes; the message names the index (from 0)
// of the operation that failed, and no operation was applied.
// [CodeInvalidArgument] before sending when the batch is empty, holds more
// than [MaxBatchOps] operations, or one could not be converted.
func (b *Batch) Run(ctx context.Context) ([]BatchResult, error) {
	switch {
	case b.err != nil:
		return nil, b.err
	case len(b.ops) == 0:
		return nil, invalidArgument("batch: no operations")
	case len(b.ops) > MaxBatchOps:
		return nil, invalidArgument("batch: %d operations, more than the %d one batch may hold", len(b.ops), MaxBatchOps)
	}
	m, err := unary(ctx, b.c.c, dataplanev1connect.RecordServiceBatchProcedure, callCreate,
		b.c.records.Batch, &dataplanev1.BatchRequest{Ops: b.ops})
	if err != nil {
		return nil, err
	}
	out := make([]BatchResult, len(m.GetResults()))
	for i, r := range m.GetResults() {
		out[i].Created = r.GetCreated()
		if r.GetRecord() != nil {
			raw, err := structJSON(r.GetRecord())
			if err != nil {
				return nil, err
			}
			out[i].raw = raw
			out[i].Record = Record(r.GetRecord().AsMap())
		}
	}
	return out, nil
}
