// Package fault holds the control plane's domain errors: a kind that says
// what went wrong in terms a caller can act on, and a message for a person.
// Domain packages return them; handlers turn them into Connect codes with
// package faultrpc. Any other error is internal and never reaches a client.
package fault

import (
	"errors"
	"fmt"
)

// Kind classifies an Error.
type Kind uint8

// Kinds of domain error.
const (
	// Invalid is bad input: a field is missing, malformed or out of range.
	Invalid Kind = iota + 1
	// NotFound is a resource that does not exist or that the caller may not
	// know exists.
	NotFound
	// PermissionDenied is a caller whose role is below what the action needs.
	PermissionDenied
	// AlreadyExists is a create or rename that collides with a live resource.
	AlreadyExists
	// FailedPrecondition is an action the resource's current state forbids.
	FailedPrecondition
	// Unauthenticated is a caller without valid credentials.
	Unauthenticated
)

// Error is a domain error. Its message is meant for the caller.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// New returns an *Error of kind with a formatted message.
func New(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of the first *Error in err's chain.
func KindOf(err error) (Kind, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, true
	}
	return 0, false
}
