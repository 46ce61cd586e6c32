package agent

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func unixListener(t *testing.T, network string) net.Listener {
	t.Helper()
	dir, err := os.MkdirTemp("", "kw-act-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen(network, filepath.Join(dir, "s.sock"))
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestPickActivated: what systemd passed decides between "not activated",
// the one Unix stream listener, and an error that says what to change in
// the unit.
func TestPickActivated(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer tcp.Close()

	cases := []struct {
		name    string
		ls      []net.Listener
		wantErr string
	}{
		{"not activated", nil, ""},
		{"one unix listener", []net.Listener{unixListener(t, "unix")}, ""},
		{"two", []net.Listener{unixListener(t, "unix"), unixListener(t, "unix")}, "passed 2 sockets, and keyward serves exactly one: give keyward.socket a single ListenStream= line"},
		{"not a socket", []net.Listener{nil}, "not a listening stream socket: keyward.socket needs ListenStream="},
		{"tcp", []net.Listener{tcp}, "passed a tcp socket (127.0.0.1:"},
		{"seqpacket", []net.Listener{unixListener(t, "unixpacket")}, "passed a unixpacket socket"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := pickActivated(tc.ls)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Nil(t, ln)
				return
			}
			require.NoError(t, err)
			if len(tc.ls) == 0 {
				assert.Nil(t, ln)
			} else {
				assert.Same(t, tc.ls[0], ln)
			}
		})
	}
}

// TestPickActivatedKeepsSocketFile: closing the listener systemd passed
// must leave its path for the next activation.
func TestPickActivatedKeepsSocketFile(t *testing.T) {
	// A listener rebuilt from a file descriptor, as activation does.
	orig := unixListener(t, "unix").(*net.UnixListener)
	path := orig.Addr().String()
	f, err := orig.File()
	require.NoError(t, err)
	fl, err := net.FileListener(f)
	require.NoError(t, err)
	f.Close()
	ln, err := pickActivated([]net.Listener{fl})
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	orig.SetUnlinkOnClose(false)
	_, err = os.Lstat(path)
	assert.NoError(t, err, "the activated socket's file is still there")
}

// TestPickActivatedRefusesConnectedSocket: with Accept=yes systemd passes
// one connection, not the listening socket.
func TestPickActivatedRefusesConnectedSocket(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer syscall.Close(fds[1])
	f := os.NewFile(uintptr(fds[0]), "conn")
	defer f.Close()
	fl, err := net.FileListener(f)
	require.NoError(t, err, "Go makes a listener of any stream socket")
	_, err = pickActivated([]net.Listener{fl})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a connected socket, not a listening one: set Accept=no")
}
