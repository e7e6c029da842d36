//go:build !unix

package childproc

import (
	"errors"
	"syscall"
)

// SysProcAttr is nil where there are no process groups.
func SysProcAttr(syscall.Signal) *syscall.SysProcAttr { return nil }

// KillGroup is not supported here; callers kill the process itself.
func KillGroup(int) error { return errors.ErrUnsupported }
