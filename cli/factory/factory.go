// Package factory holds what every `sov` command needs from the outside
// world: its input and output streams, whether they are terminals, and how to
// reach the platform. Commands take a *Factory instead of reaching for
// globals, so tests run them against buffers and a real server.
package factory

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// Exit codes of `sov`, stable for scripts.
const (
	ExitOK       = 0
	ExitError    = 1 // anything else
	ExitUsage    = 2 // bad flags or arguments
	ExitAuth     = 3 // not logged in, or credentials refused
	ExitNotFound = 4 // the thing named does not exist
)

// Default platform URLs: those of `sovereign dev`.
const (
	DefaultAPIURL  = "http://127.0.0.1:7070"
	DefaultDataURL = "http://127.0.0.1:7071"
)

// IOStreams are a command's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutTTY is true when Out is a terminal: tables and relative times then,
	// tab-separated values and RFC 3339 otherwise.
	OutTTY bool
	// InTTY is true when In is a terminal; nothing prompts otherwise.
	InTTY bool
}

// System returns the process's own streams.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		OutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		InTTY:  term.IsTerminal(int(os.Stdin.Fd())),
	}
}

// Factory is passed to every command constructor.
type Factory struct {
	IO *IOStreams
	// APIURL is the control plane's base URL (--api-url, SOV_API_URL).
	APIURL string
	// DataURL is the data plane's base URL (--data-url, SOV_DATA_URL).
	DataURL string
	// Executable returns the path of the running `sov`, to find sibling
	// binaries such as `sovereign`.
	Executable func() (string, error)
}

// New returns a Factory on the process's streams and environment.
func New() *Factory {
	return &Factory{IO: System(), APIURL: DefaultAPIURL, DataURL: DefaultDataURL, Executable: os.Executable}
}

// ExitCoder is an error that chooses the process's exit code.
type ExitCoder interface {
	error
	ExitCode() int
}

type codedError struct {
	error
	code int
}

func (e codedError) ExitCode() int { return e.code }
func (e codedError) Unwrap() error { return e.error }

// WithExitCode marks err to end the process with code.
func WithExitCode(err error, code int) error {
	if err == nil {
		return nil
	}
	return codedError{err, code}
}

// UsageError is a mistake in flags or arguments (exit code 2).
func UsageError(format string, a ...any) error {
	return codedError{fmt.Errorf(format, a...), ExitUsage}
}

// ExitCode returns the code err asks for, ExitError by default.
func ExitCode(err error) int {
	var ec ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return ExitError
}

// PrintJSON writes v as indented JSON followed by a newline.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
