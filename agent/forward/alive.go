package forward

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// alive reports whether an idle connection is still open and quiet: the
// venue has neither closed it nor sent anything unasked (a TLS alert). It
// polls the socket without waiting, so a connection the venue dropped
// while idle is not handed a request. It runs before every request on a
// kept-alive connection, so it allocates nothing: the raw connection and
// the poll callback are made once per connection.
func (c *conn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.rc == nil {
		sc, ok := c.raw.(syscall.Conn)
		if !ok {
			return true
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return false
		}
		c.rc = rc
		c.poll = func(fd uintptr) {
			// POLLIN is data or the venue's FIN; POLLRDHUP its shutdown;
			// POLLERR and POLLHUP are always reported.
			c.pfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}
			n, err := unix.Poll(c.pfd[:], 0)
			c.quiet = n == 0 && err == nil
		}
	}
	c.quiet = false
	// Control, not Read: an idle connection's deadline may have passed,
	// which does not make it dead.
	if err := c.rc.Control(c.poll); err != nil {
		return false
	}
	return c.quiet
}
