// Package peerid tells who is on the other end of a Unix socket in the
// terms a policy uses: uid, gid, supplementary groups (from the kernel's
// SO_PEERCRED and SO_PEERGROUPS, via peercred), the systemd unit the
// process runs in (from /proc/PID/cgroup) and its executable (from
// /proc/PID/exe).
//
// The identity is read once, at accept, and bound to the connection. A PID
// alone is never trusted: the process is pinned with a pidfd
// (SO_PEERPIDFD) before /proc is read, and the pidfd is checked again
// afterwards, so a process that exited and had its PID reused in between
// is detected and the unit and executable are left unknown rather than
// wrong. It must never guess: an unreadable field stays empty, and a
// policy that needs it does not match.
package peerid

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/agent/peercred"
)

// Identity is a connected peer as the policy sees it.
type Identity struct {
	peercred.Cred
	// Unit is the systemd unit the process ran in when it connected
	// ("grid-bot.service", or a user unit such as "bot.service" under
	// user@1000.service), empty when it runs in none or it could not be read.
	Unit string
	// UserUnit reports that Unit is a user manager's unit.
	UserUnit bool
	// Exe is the path of the process's executable when it connected, empty
	// when it could not be read (another uid's process, hidepid /proc…).
	Exe string
	// Pinned reports that the process was pinned with a pidfd while /proc
	// was read, so Unit and Exe are known to be the connecting process's.
	Pinned bool
}

// String describes the peer for logs and messages.
func (id Identity) String() string {
	s := id.Cred.String()
	if id.Unit != "" {
		s += " unit=" + id.Unit
	}
	if id.Exe != "" {
		s += " exe=" + id.Exe
	}
	return s
}

// Read fills an Identity for the process behind cred. pidfd is the pidfd
// from SO_PEERPIDFD, or -1 when the kernel has none (before Linux 6.5).
// procRoot is "/proc" except in tests.
func Read(cred peercred.Cred, pidfd int, procRoot string) Identity {
	id := Identity{Cred: cred}
	if cred.PID <= 0 {
		return id
	}
	dir := fmt.Sprintf("%s/%d", procRoot, cred.PID)
	unit, user := unitOf(dir + "/cgroup")
	exe, err := os.Readlink(dir + "/exe")
	if err != nil {
		exe = ""
	}
	if pidfd >= 0 {
		// The pidfd refers to the connecting process for as long as it
		// lives; if it is still alive now, what /proc said was about it.
		if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
			return id
		}
		id.Pinned = true
	}
	id.Unit, id.UserUnit, id.Exe = unit, user, strings.TrimSuffix(exe, " (deleted)")
	return id
}

// PeerPidfd returns the pidfd of the peer of the connected socket fd, or -1
// when the kernel does not provide one. The caller closes it.
func PeerPidfd(fd int) int {
	const soPeerPidfd = 77 // SO_PEERPIDFD, Linux 6.5
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, soPeerPidfd)
	if err != nil {
		return -1
	}
	return v
}

// unitOf reads a /proc/PID/cgroup file and returns the systemd unit in it.
func unitOf(path string) (unit string, user bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	return UnitFromCgroup(raw)
}

// UnitFromCgroup finds the systemd unit in the contents of a
// /proc/PID/cgroup file: the unified hierarchy's path ("0::/…") when it
// names one, else the name=systemd hierarchy's (a hybrid setup). Slices are
// skipped; under a user manager (user@UID.service) the user's own unit is
// returned with user set.
func UnitFromCgroup(raw []byte) (unit string, user bool) {
	var unified, named string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "0::"):
			unified = strings.TrimPrefix(line, "0::")
		default:
			if _, rest, ok := strings.Cut(line, ":name=systemd:"); ok {
				named = rest
			}
		}
	}
	if u, usr := unitFromPath(unified); u != "" {
		return u, usr
	}
	return unitFromPath(named)
}

// unitFromPath applies systemd's rule to one cgroup path: the first
// component that is not a slice is the unit; a user manager's unit
// (user@UID.service) is looked through to the user's own unit below it.
func unitFromPath(p string) (string, bool) {
	var manager string
	for _, c := range strings.Split(strings.Trim(p, "/"), "/") {
		if c == "" || strings.HasSuffix(c, ".slice") {
			continue
		}
		if !isUnitName(c) {
			break
		}
		if manager == "" && strings.HasPrefix(c, "user@") && strings.HasSuffix(c, ".service") {
			manager = c
			continue
		}
		return c, manager != ""
	}
	return manager, false
}

// isUnitName reports whether c looks like a systemd unit name.
func isUnitName(c string) bool {
	for _, suf := range []string{".service", ".scope", ".socket", ".mount", ".swap", ".target", ".timer", ".path", ".device"} {
		if strings.HasSuffix(c, suf) && len(c) > len(suf) {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// NewContext returns ctx carrying the connection's identity.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity NewContext stored, or, for a context
// that carries only kernel credentials (an in-process caller), an
// Identity of those alone.
func FromContext(ctx context.Context) (Identity, error) {
	if id, ok := ctx.Value(ctxKey{}).(Identity); ok {
		return id, nil
	}
	c, err := peercred.FromContext(ctx)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Cred: c}, nil
}
