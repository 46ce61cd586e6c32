package peerid

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/agent/peercred"
)

func TestUnitFromCgroup(t *testing.T) {
	cases := []struct {
		name, in string
		unit     string
		user     bool
	}{
		{"system service, unified", "0::/system.slice/grid-bot.service\n", "grid-bot.service", false},
		{"templated service", "0::/system.slice/system-bot.slice/bot@eth.service\n", "bot@eth.service", false},
		{"user unit", "0::/user.slice/user-1000.slice/user@1000.service/app.slice/bot.service\n", "bot.service", true},
		{"user manager itself", "0::/user.slice/user-1000.slice/user@1000.service/init.scope\n", "init.scope", true},
		{"login session scope", "0::/user.slice/user-1000.slice/session-3.scope\n", "session-3.scope", false},
		{"root cgroup", "0::/\n", "", false},
		{"container without systemd", "0::/kubepods/besteffort/pod123/abc\n", "", false},
		{"hybrid: name=systemd", "9:name=systemd:/system.slice/mm.service\n4:memory:/x\n0::/\n", "mm.service", false},
		{"unified wins over named", "1:name=systemd:/system.slice/a.service\n0::/system.slice/b.service\n", "b.service", false},
		{"garbage", "not a cgroup file", "", false},
		{"empty", "", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, user := UnitFromCgroup([]byte(c.in))
			assert.Equal(t, c.unit, u)
			assert.Equal(t, c.user, user)
		})
	}
}

// TestReadRealPeer connects a real child process and reads its identity
// through the kernel, pinned with a pidfd.
func TestReadRealPeer(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	defer ln.Close()

	// A real other process: this test binary, running TestHelperClient.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperClient$")
	cmd.Env = append(os.Environ(), "PEERID_HELPER_SOCK="+sock)
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()

	c, err := ln.Accept()
	require.NoError(t, err)
	defer c.Close()
	uc := c.(*net.UnixConn)
	cred, err := peercred.Get(uc)
	require.NoError(t, err)
	raw, err := uc.SyscallConn()
	require.NoError(t, err)
	pidfd := -1
	require.NoError(t, raw.Control(func(fd uintptr) { pidfd = PeerPidfd(int(fd)) }))
	if pidfd >= 0 {
		defer unix.Close(pidfd)
	}
	id := Read(cred, pidfd, "/proc")
	assert.Equal(t, int32(cmd.Process.Pid), id.PID)
	self, err := os.Executable()
	require.NoError(t, err)
	assert.Equal(t, self, id.Exe)
	if pidfd >= 0 {
		assert.True(t, id.Pinned)
	}

	// Once the process is gone, the pidfd says so and nothing is claimed.
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	if pidfd >= 0 {
		gone := Read(cred, pidfd, "/proc")
		assert.Empty(t, gone.Exe)
		assert.Empty(t, gone.Unit)
		assert.False(t, gone.Pinned)
	}
}

// TestHelperClient is the child of TestReadRealPeer: it connects and waits.
func TestHelperClient(t *testing.T) {
	sock := os.Getenv("PEERID_HELPER_SOCK")
	if sock == "" {
		t.Skip("helper process only")
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		os.Exit(2)
	}
	defer c.Close()
	select {}
}

// TestReadUnitFromFakeProc reads the unit and exe from a /proc-like tree.
func TestReadUnitFromFakeProc(t *testing.T) {
	root := t.TempDir()
	pdir := filepath.Join(root, strconv.Itoa(4242))
	require.NoError(t, os.MkdirAll(pdir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(pdir, "cgroup"), []byte("0::/system.slice/grid-bot.service\n"), 0o644))
	require.NoError(t, os.Symlink("/usr/bin/python3.11", filepath.Join(pdir, "exe")))
	id := Read(peercred.Cred{UID: 1001, GID: 1001, PID: 4242}, -1, root)
	assert.Equal(t, "grid-bot.service", id.Unit)
	assert.Equal(t, "/usr/bin/python3.11", id.Exe)
	assert.False(t, id.Pinned)
	assert.Contains(t, id.String(), "unit=grid-bot.service")

	none := Read(peercred.Cred{UID: 1, PID: 999999}, -1, root)
	assert.Empty(t, none.Unit)
	assert.Empty(t, none.Exe)
}
