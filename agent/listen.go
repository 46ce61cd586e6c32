package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrAlreadyRunning is returned by Listen when an agent answers on the
// socket path already.
var ErrAlreadyRunning = errors.New("another keyward agent is already running")

// Listen makes the agent's socket at path: its directory is created 0700
// when missing (an existing one must not be writable by others), a stale
// socket left by a dead agent is removed, and the socket is made 0600.
// A live agent on the path makes Listen fail with ErrAlreadyRunning.
func Listen(path string) (*net.UnixListener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: create socket directory %s: %w", dir, err)
	}
	if err := checkSocketDir(dir); err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("agent: listen on %s: %w", path, ErrAlreadyRunning)
		}
		return nil, fmt.Errorf("agent: listen on %s: %w", path, err)
	}
	// The directory is 0700, so nobody else can reach the socket in the
	// moment between bind and chmod.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("agent: chmod socket %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	return ln, nil
}

// checkSocketDir refuses a directory where another user could replace the
// socket with one of their own.
func checkSocketDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("agent: socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("agent: socket directory %s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if st.Uid != uint32(os.Geteuid()) && st.Uid != 0 {
			return fmt.Errorf("agent: socket directory %s belongs to uid %d, not to this user (uid %d): choose another --socket", dir, st.Uid, os.Geteuid())
		}
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("agent: socket directory %s is writable by others (mode %04o): run `chmod 700 %s` or choose another --socket", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// removeStale removes a socket that no agent answers on any more.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: socket path: %w", err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("agent: %s exists and is not a socket: remove it or choose another --socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("agent: %s: %w (stop it first, or start this one with another --socket)", path, ErrAlreadyRunning)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("agent: probe existing socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("agent: remove stale socket %s: %w", path, err)
	}
	return nil
}
