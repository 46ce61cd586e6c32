package forward

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// alive reports whether an idle connection is still open and quiet: the
// venue has neither closed it nor sent anything unasked (a TLS alert). It
// peeks at the socket without blocking, so a connection the venue dropped
// while idle is not handed a request.
func (c *conn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		alive = errors.Is(err, unix.EAGAIN)
		return true // never wait
	})
	return err == nil && alive
}
