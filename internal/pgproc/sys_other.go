//go:build !unix

package pgproc

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
)

// account is unused where pgproc does not run.
type account struct{}

func runAs(string, bool) (*account, error) {
	return nil, fmt.Errorf("private PostgreSQL clusters on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func chown(string, *account) error { return nil }

func sysProcAttr(*account, syscall.Signal) *syscall.SysProcAttr { return nil }

func postgresRunning(int, string) bool { return true }
