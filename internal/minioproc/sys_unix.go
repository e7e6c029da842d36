//go:build unix

package minioproc

import (
	"errors"
	"syscall"
)

// sysProcAttr puts the server in its own process group, so that a Ctrl-C on
// the terminal does not reach it (Stop ends it), and makes the kernel send it
// SIGTERM when this process dies (Linux).
func sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(a, syscall.SIGTERM)
	return a
}

// killGroup sends SIGKILL to the process group that pid leads.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
