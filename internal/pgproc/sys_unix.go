//go:build unix

package pgproc

import (
	"errors"
	"fmt"
	"github.com/sovereign-backend/sovereign/internal/childproc"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// account is the unprivileged user that initdb and postgres run as when this
// process is root.
type account struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32 // supplementary groups, including gid
}

// runAs returns the account to run PostgreSQL as, or nil when this process is
// not root and PostgreSQL simply runs as this process's user. For an existing
// cluster that is the owner of dir; for a new one the postgres system user,
// or nobody when there is none.
func runAs(dir string, exists bool) (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var acct *account
	if exists {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid == 0 {
			return nil, fmt.Errorf("%s is owned by root, and PostgreSQL refuses to run as root; chown it to an unprivileged user", dir)
		}
		acct = &account{name: "uid " + strconv.FormatUint(uint64(st.Uid), 10), uid: st.Uid, gid: st.Gid}
		if u, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10)); err == nil {
			if a, err := accountOf(u); err == nil {
				acct = a
			}
		}
	} else {
		u, err := user.Lookup("postgres")
		if errors.As(err, new(user.UnknownUserError)) {
			u, err = user.Lookup("nobody")
		}
		if err != nil {
			return nil, fmt.Errorf("find an unprivileged user to run PostgreSQL as: %w", err)
		}
		if acct, err = accountOf(u); err != nil {
			return nil, err
		}
	}
	if err := checkTraversable(dir, acct); err != nil {
		return nil, err
	}
	return acct, nil
}

func accountOf(u *user.User) (*account, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", u.Username, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", u.Username, u.Gid, err)
	}
	acct := &account{name: u.Username, uid: uint32(uid), gid: uint32(gid), groups: []uint32{uint32(gid)}}
	ids, _ := u.GroupIds() // without them the user keeps only its primary group
	for _, id := range ids {
		if g, err := strconv.ParseUint(id, 10, 32); err == nil && !slices.Contains(acct.groups, uint32(g)) {
			acct.groups = append(acct.groups, uint32(g))
		}
	}
	return acct, nil
}

// checkTraversable checks that acct can enter every directory above dir,
// going by the permission bits (ACLs are not consulted).
func checkTraversable(dir string, acct *account) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		var ok bool
		switch {
		case st.Uid == acct.uid:
			ok = st.Mode&0o100 != 0
		case slices.Contains(acct.groups, st.Gid):
			ok = st.Mode&0o010 != 0
		default:
			ok = st.Mode&0o001 != 0
		}
		if !ok {
			return fmt.Errorf("%w: this process is root, PostgreSQL refuses to run as root and so runs as user %q, which cannot enter %s (mode %v, owner uid %d); use a Dir outside %s, e.g. under %s, or allow it in (chmod o+x %s)",
				ErrDirNotTraversable, acct.name, d, fi.Mode().Perm(), st.Uid, d, os.TempDir(), d)
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}

// chown gives path to acct; with a nil acct it does nothing.
func chown(path string, acct *account) error {
	if acct == nil {
		return nil
	}
	return os.Lchown(path, int(acct.uid), int(acct.gid))
}

// sysProcAttr puts the child in its own process group, so that a Ctrl-C on
// the terminal does not reach it (Stop ends it), makes the kernel send it
// deathSig when this process dies (Linux), and runs it as acct when not nil.
func sysProcAttr(acct *account, deathSig syscall.Signal) *syscall.SysProcAttr {
	a := childproc.SysProcAttr(deathSig)
	if acct != nil {
		a.Credential = &syscall.Credential{Uid: acct.uid, Gid: acct.gid, Groups: acct.groups}
	}
	return a
}

// postgresRunning reports whether pid is a live postgres serving dir. Where
// /proc cannot tell (another platform, no permission), any live process
// counts, which errs on the side of not starting a second server.
func postgresRunning(pid int, dir string) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	proc := "/proc/" + strconv.Itoa(pid)
	comm, err := os.ReadFile(proc + "/comm")
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) || !procExists()
	}
	if name := strings.TrimSpace(string(comm)); name != "postgres" && name != "postmaster" {
		return false
	}
	// The postmaster's working directory is its data directory.
	cwd, err := os.Readlink(proc + "/cwd")
	if err != nil {
		return true
	}
	want, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return true
	}
	return cwd == want
}

func procExists() bool {
	_, err := os.Stat("/proc/self")
	return err == nil
}
