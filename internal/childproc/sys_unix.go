//go:build unix

package childproc

import (
	"errors"
	"syscall"
)

// SysProcAttr puts the child in its own process group and makes the kernel
// send it deathSig when this process dies (Linux only).
func SysProcAttr(deathSig syscall.Signal) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(a, deathSig)
	return a
}

// KillGroup kills the process group led by pid with SIGKILL; a group that is
// already gone is not an error.
func KillGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
