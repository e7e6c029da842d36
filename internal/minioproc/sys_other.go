//go:build !unix

package minioproc

import (
	"errors"
	"syscall"
)

// sysProcAttr returns nil: process groups and death signals are Unix matters.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup returns an error, so that callers fall back to killing the
// process alone.
func killGroup(int) error { return errors.ErrUnsupported }
