package peercred

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dialEnv makes the test binary, started as a child, connect to the
// socket it names and wait for the parent to hang up.
const dialEnv = "PEERCRED_TEST_DIAL"

func TestMain(m *testing.M) {
	if path := os.Getenv(dialEnv); path != "" {
		c, err := net.Dial("unix", path)
		if err != nil {
			os.Stderr.WriteString("child dial: " + err.Error() + "\n")
			os.Exit(3)
		}
		io.Copy(io.Discard, c)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// acceptFromChild starts a copy of this test binary as uid:gid with the
// given supplementary groups, has it connect to a fresh socket, and
// returns the accepted connection.
func acceptFromChild(t *testing.T, uid, gid uint32, groups []uint32) *net.UnixConn {
	t.Helper()
	// The child runs as another user: the binary and the socket must be
	// reachable by it, and the go test build directory is 0700.
	dir, err := os.MkdirTemp("", "peercred-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	self, err := os.Executable()
	require.NoError(t, err)
	bin := filepath.Join(dir, "peercred.test")
	data, err := os.ReadFile(self)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))

	sock := filepath.Join(dir, "s.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	require.NoError(t, os.Chmod(sock, 0o666))

	child := exec.Command(bin, "-test.run=^$")
	child.Env = []string{dialEnv + "=" + sock}
	child.Stderr = os.Stderr
	child.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
	require.NoError(t, child.Start())
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })

	require.NoError(t, ln.SetDeadline(time.Now().Add(20*time.Second)))
	c, err := ln.AcceptUnix()
	require.NoError(t, err, "the child never connected")
	t.Cleanup(func() { c.Close() })
	return c
}

// TestGetReportsSupplementaryGroups: a peer of another uid that is in a
// supplementary group is seen in it (SO_PEERGROUPS), and InGroup finds
// both that group and its primary one, but not a group it is not in.
func TestGetReportsSupplementaryGroups(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("starting a peer with other groups needs root")
	}
	const nobody = 65534
	c := acceptFromChild(t, nobody, nobody, []uint32{4242, 4343})
	cred, err := Get(c)
	require.NoError(t, err)
	assert.Equal(t, uint32(nobody), cred.UID)
	assert.Equal(t, uint32(nobody), cred.GID)
	assert.ElementsMatch(t, []uint32{4242, 4343}, cred.Groups)
	assert.True(t, cred.InGroup(4242), "supplementary group")
	assert.True(t, cred.InGroup(nobody), "primary group")
	assert.False(t, cred.InGroup(0), "a group the peer is not in")
}

// TestGetManyGroupsRetriesOnERANGE: more groups than the first buffer
// holds makes the kernel answer ERANGE; Get retries with the size it asks
// for and returns every group.
func TestGetManyGroupsRetriesOnERANGE(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("starting a peer with other groups needs root")
	}
	var groups []uint32
	for g := uint32(20000); g < 20300; g++ {
		groups = append(groups, g)
	}
	c := acceptFromChild(t, 65534, 65534, groups)
	cred, err := Get(c)
	require.NoError(t, err)
	assert.ElementsMatch(t, groups, cred.Groups)
}

// TestGetNoSupplementaryGroups: a peer with none reports an empty list,
// and InGroup falls back to the primary group only.
func TestGetNoSupplementaryGroups(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("starting a peer with other groups needs root")
	}
	c := acceptFromChild(t, 65534, 65534, []uint32{})
	cred, err := Get(c)
	require.NoError(t, err)
	assert.Empty(t, cred.Groups)
	assert.False(t, cred.InGroup(4242))
}
