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
	"time"

	"golang.org/x/term"

	"github.com/sovereign-backend/sovereign/cli/credentials"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
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
	// APIURL is the control plane's base URL from --api-url or SOV_API_URL;
	// empty means the profile's, else DefaultAPIURL. Read it through
	// Endpoints.
	APIURL string
	// DataURL is the data plane's base URL from --data-url or SOV_DATA_URL;
	// empty means the profile's, else DefaultDataURL.
	DataURL string
	// Profile names the credentials profile (--profile, SOV_PROFILE).
	Profile string
	// ConfigDir returns the directory of the credentials file.
	ConfigDir func() (string, error)
	// Executable returns the path of the running `sov`, to find sibling
	// binaries such as `sovereign`.
	Executable func() (string, error)
	// Now is the clock, for relative times and token expiry.
	Now func() time.Time
	// ClientOptions are added to every SDK client the factory makes (tests
	// shorten retries with them).
	ClientOptions []sovereign.Option
}

// New returns a Factory on the process's streams and environment.
func New() *Factory {
	return &Factory{
		IO: System(), Profile: credentials.DefaultProfile, ConfigDir: credentials.DefaultDir,
		Executable: os.Executable, Now: time.Now,
	}
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

// ExitCode returns the exit code for err: the one it asks for, else the
// one its platform error code maps to (auth 3, not found 4), else
// ExitError. This is the one place where platform errors become exit codes.
func ExitCode(err error) int {
	var ec ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	if code, ok := sovereign.ErrorCode(err); ok {
		switch code {
		case sovereign.CodeUnauthenticated, sovereign.CodePermissionDenied:
			return ExitAuth
		case sovereign.CodeNotFound:
			return ExitNotFound
		}
	}
	return ExitError
}

// NotFoundError is a thing named on the command line that does not exist
// (exit code 4).
func NotFoundError(format string, a ...any) error {
	return codedError{fmt.Errorf(format, a...), ExitNotFound}
}

// PrintJSON writes v as indented JSON followed by a newline.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// NonNil returns s, or an empty slice when s is nil, so that an empty list
// prints as [] in JSON rather than null.
func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
