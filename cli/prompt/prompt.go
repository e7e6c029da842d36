// Package prompt asks the person at the terminal. Commands call it only when
// stdin is a terminal (factory.IOStreams.InTTY); otherwise they fail and name
// the flag that gives the answer, so scripts and CI never hang on a prompt.
package prompt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/sovereign-backend/sovereign/cli/factory"
)

// Prompter asks questions. Commands hold one in their Options so tests can
// answer for the user.
type Prompter interface {
	// Input asks for a line of text.
	Input(label string) (string, error)
	// Password asks for a secret without echoing it.
	Password(label string) (string, error)
	// Confirm asks a yes/no question; anything but y or yes is no.
	Confirm(label string) (bool, error)
}

// New returns a Prompter that reads io.In and writes its questions to
// io.ErrOut, keeping stdout for the command's output.
func New(io *factory.IOStreams) Prompter {
	return &terminal{in: bufio.NewReader(io.In), file: fileOf(io.In), out: io.ErrOut}
}

func fileOf(r io.Reader) *os.File {
	if f, ok := r.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}

type terminal struct {
	in   *bufio.Reader
	file *os.File // set when In is a terminal, to read passwords unechoed
	out  io.Writer
}

func (t *terminal) line() (string, error) {
	s, err := t.in.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || s == "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no answer: input ended")
		}
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

func (t *terminal) Input(label string) (string, error) {
	fmt.Fprintf(t.out, "%s: ", label)
	s, err := t.line()
	return strings.TrimSpace(s), err
}

func (t *terminal) Password(label string) (string, error) {
	fmt.Fprintf(t.out, "%s: ", label)
	if t.file == nil {
		return t.line()
	}
	b, err := term.ReadPassword(int(t.file.Fd()))
	fmt.Fprintln(t.out)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(b), nil
}

func (t *terminal) Confirm(label string) (bool, error) {
	fmt.Fprintf(t.out, "%s [y/N]: ", label)
	s, err := t.line()
	if err != nil {
		return false, err
	}
	s = strings.ToLower(strings.TrimSpace(s))
	return s == "y" || s == "yes", nil
}

// NeedFlag is the error of a command that would prompt for what flag
// gives, with stdin not a terminal (exit code 2).
func NeedFlag(flag string) error {
	return factory.UsageError("%s is required when stdin is not a terminal", flag)
}

// ConfirmOrYes asks label unless yes is set; with stdin not a terminal it
// fails, naming --yes. A "no" is an error too, so the command stops.
func ConfirmOrYes(io *factory.IOStreams, p Prompter, yes bool, label string) error {
	if yes {
		return nil
	}
	if !io.InTTY {
		return NeedFlag("--yes")
	}
	ok, err := p.Confirm(label)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("canceled")
	}
	return nil
}

// ReadSecret reads a password or token from all of r (for --password-stdin),
// without its final newline.
func ReadSecret(r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", factory.UsageError("stdin is empty: pipe the password into --password-stdin")
	}
	return s, nil
}
