package agent

import (
	"fmt"
	"net"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// Activated returns the listening socket a service manager passed to this
// process (systemd's LISTEN_FDS protocol, as keyward.socket does), or nil
// when none was passed and the agent must make its own.
//
// Exactly one socket is accepted, and it must be a listening Unix stream
// socket: any other arrangement is a unit file mistake, reported with
// what to change. It never falls back to making a socket of its own when
// sockets were passed but unusable, so a broken unit cannot silently
// serve on a path nobody configured. The LISTEN_* variables are cleared so
// they are not inherited.
func Activated() (*net.UnixListener, error) {
	ls, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("agent: socket activation: %w", err)
	}
	return pickActivated(ls)
}

// pickActivated checks what activation.Listeners returned: nothing (not
// activated), or exactly one Unix stream listener. A nil entry is a socket
// that net.FileListener could not use as a stream listener (a datagram or
// sequential-packet socket, or a descriptor that is not a socket).
func pickActivated(ls []net.Listener) (*net.UnixListener, error) {
	switch len(ls) {
	case 0:
		return nil, nil
	case 1:
	default:
		for _, l := range ls {
			if l != nil {
				l.Close()
			}
		}
		return nil, fmt.Errorf("agent: socket activation passed %d sockets, and keyward serves exactly one: give keyward.socket a single ListenStream= line", len(ls))
	}
	switch l := ls[0].(type) {
	case nil:
		return nil, fmt.Errorf("agent: socket activation passed a file descriptor that is not a listening stream socket: keyward.socket needs ListenStream=/run/keyward/agent.sock (not ListenFIFO=, ListenSpecial= or ListenNetlink=)")
	case *net.UnixListener:
		if n := l.Addr().Network(); n != "unix" {
			l.Close()
			return nil, fmt.Errorf("agent: socket activation passed a %s socket, and keyward speaks only on a Unix stream socket: use ListenStream=, not ListenDatagram= or ListenSequentialPacket=", n)
		}
		if err := checkListening(l); err != nil {
			l.Close()
			return nil, err
		}
		// The service manager owns the socket's path: the agent must
		// never unlink it on exit, or the next activation would find
		// nothing to connect to.
		l.SetUnlinkOnClose(false)
		return l, nil
	default:
		addr := l.Addr()
		l.Close()
		return nil, fmt.Errorf("agent: socket activation passed a %s socket (%s), and keyward listens only on a Unix socket: use ListenStream=/run/keyward/agent.sock, never a port", addr.Network(), addr)
	}
}

// checkListening refuses a socket that is not listening: with Accept=yes,
// systemd passes one connection instead of the listening socket.
func checkListening(l *net.UnixListener) error {
	raw, err := l.SyscallConn()
	if err != nil {
		return fmt.Errorf("agent: socket activation: %w", err)
	}
	var listening int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		listening, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	}); err != nil {
		return fmt.Errorf("agent: socket activation: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("agent: socket activation: SO_ACCEPTCONN: %w", serr)
	}
	if listening == 0 {
		return fmt.Errorf("agent: socket activation passed a connected socket, not a listening one: set Accept=no in keyward.socket")
	}
	return nil
}
