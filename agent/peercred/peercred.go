// Package peercred reads who is on the other end of a Unix socket from the
// kernel (SO_PEERCRED) and carries that identity in a context.
//
// The identity is read once, when a connection is accepted, and bound to
// the connection for its life. This package must never derive an identity
// from anything a peer says, and never treat a PID alone as one: the PID is
// kept for the log, because it may be reused once the peer exits.
package peercred

import (
	"context"
	"errors"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Cred is a peer's identity as the kernel recorded it at connect time.
type Cred struct {
	UID uint32
	GID uint32
	PID int32
	// Groups are the peer's supplementary groups when it connected
	// (SO_PEERGROUPS), nil when the kernel could not say.
	Groups []uint32
}

// InGroup reports whether gid is the peer's primary or a supplementary group.
func (c Cred) InGroup(gid uint32) bool {
	if c.GID == gid {
		return true
	}
	for _, g := range c.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

func (c Cred) String() string { return fmt.Sprintf("uid=%d gid=%d pid=%d", c.UID, c.GID, c.PID) }

// Get reads the credentials of the process that connected c: uid, gid and
// pid from SO_PEERCRED, and its supplementary groups from SO_PEERGROUPS.
// Groups is left nil, not guessed, when the kernel cannot report them
// (before Linux 4.13).
func Get(c *net.UnixConn) (Cred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("peercred: %w", err)
	}
	var ucred *unix.Ucred
	var groups []uint32
	var serr, gerr error
	if err := raw.Control(func(fd uintptr) {
		ucred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if serr == nil {
			groups, gerr = peerGroups(int(fd))
		}
	}); err != nil {
		return Cred{}, fmt.Errorf("peercred: %w", err)
	}
	if serr != nil {
		return Cred{}, fmt.Errorf("peercred: SO_PEERCRED: %w", serr)
	}
	if gerr != nil {
		return Cred{}, fmt.Errorf("peercred: SO_PEERGROUPS: %w", gerr)
	}
	return Cred{UID: ucred.Uid, GID: ucred.Gid, PID: ucred.Pid, Groups: groups}, nil
}

// soPeerGroups is SO_PEERGROUPS (Linux 4.13+, asm-generic/socket.h), which
// golang.org/x/sys/unix does not name.
const soPeerGroups = 59

// maxGroups bounds the buffer: the kernel's NGROUPS_MAX.
const maxGroups = 65536

// peerGroups reads the peer's supplementary groups as the kernel recorded
// them at connect time. It starts with room for 32 and retries with the
// size the kernel asks for on ERANGE. It returns nil, nil on a kernel
// without SO_PEERGROUPS: a missing list must never be read as "no groups"
// by a caller that grants access by group, and nil grants nothing.
func peerGroups(fd int) ([]uint32, error) {
	n := 32
	for {
		buf := make([]uint32, n)
		size := uint32(len(buf) * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, soPeerGroups,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch {
		case errno == 0:
			return buf[:size/4], nil
		case errno == unix.ENOPROTOOPT:
			return nil, nil
		case errno == unix.ERANGE && n < maxGroups:
			// The kernel wrote the size it needs into size.
			n = max(int(size/4), 2*n)
			n = min(n, maxGroups)
		default:
			return nil, errno
		}
	}
}

type ctxKey struct{}

// NewContext returns a context that carries cred.
func NewContext(ctx context.Context, cred Cred) context.Context {
	return context.WithValue(ctx, ctxKey{}, cred)
}

// ErrUnknown is returned by FromContext when ctx carries no identity.
var ErrUnknown = errors.New("peercred: the caller's identity is unknown")

// FromContext returns the identity carried by ctx, or ErrUnknown. A caller
// that gets ErrUnknown must deny.
func FromContext(ctx context.Context) (Cred, error) {
	c, ok := ctx.Value(ctxKey{}).(Cred)
	if !ok {
		return Cred{}, ErrUnknown
	}
	return c, nil
}
