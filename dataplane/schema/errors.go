package schema

import (
	"errors"
	"fmt"
)

// Errors a caller can act on. Anything else a Store returns is internal.
var (
	// ErrNotFound: no collection of that name in the tenant's project (also
	// wrapped by the *InputError of a relation whose target is missing).
	ErrNotFound = errors.New("collection not found")
	// ErrAlreadyExists: Create found a collection of that name.
	ErrAlreadyExists = errors.New("collection already exists")
	// ErrServiceOnly: a schema change was asked for by an identity other
	// than the service role (a secret key).
	ErrServiceOnly = errors.New("schema changes need a secret API key")
	// ErrTooManyCollections: Create would pass StoreConfig.MaxCollections.
	ErrTooManyCollections = errors.New("too many collections")
	// ErrBusy: the collection's table stayed locked by other work for
	// longer than StoreConfig.LockTimeout; nothing changed and a retry may
	// succeed.
	ErrBusy = errors.New("the collection is busy with other work; nothing changed, retry shortly")
)

// InputError says which part of a definition or change is wrong and why.
// Field is a path into the request as the wire names it: "name",
// "fields[2].type", "indexes[0].fields[1]", "ops[1].add_field.default".
type InputError struct {
	Field  string
	Reason string
	// Err, when set, classifies the error further: ErrNotFound for a
	// relation whose target collection does not exist.
	Err error
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Unwrap returns e.Err.
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(field, format string, args ...any) *InputError {
	return &InputError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// PreconditionError says that the data in a collection, or another
// collection, keeps a change from being made: e.g. records without a value
// for a field that is to become required. Nothing was changed.
type PreconditionError struct {
	// Field is the path of the change at fault, as in InputError; may be "".
	Field  string
	Reason string
}

func (e *PreconditionError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}
