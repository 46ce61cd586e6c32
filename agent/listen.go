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
	return listen(path, -1)
}

// ListenGroup is Listen for an agent that shares its socket with a group
// (--group, when no service manager passed a socket): the directory it
// creates is 0750 and the socket 0660, both of group gid. The group's
// members can then reach the socket; what they may do is still decided
// per connection from the credentials the kernel reports. It never opens
// the socket to others, and never changes an existing directory's mode.
func ListenGroup(path string, gid uint32) (*net.UnixListener, error) {
	return listen(path, int(gid))
}

// listen makes the socket; gid < 0 means private to the agent's user.
func listen(path string, gid int) (*net.UnixListener, error) {
	dir := filepath.Dir(path)
	dirMode, sockMode := os.FileMode(0o700), os.FileMode(0o600)
	if gid >= 0 {
		dirMode, sockMode = 0o750, 0o660
	}
	created, err := mkdirOwned(dir, dirMode, gid)
	if err != nil {
		return nil, err
	}
	if err := checkSocketDir(dir); err != nil {
		return nil, err
	}
	if gid >= 0 && !created {
		if err := checkGroupReach(dir, gid); err != nil {
			return nil, err
		}
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
	// The directory is 0700 (or 0750 for the group the socket is for), so
	// nobody else can reach the socket in the moment between bind and chmod.
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("agent: give socket %s to group %d: %w (the agent must be root or a member of that group)", path, gid, err)
		}
	}
	if err := os.Chmod(path, sockMode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("agent: chmod socket %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	return ln, nil
}

// mkdirOwned creates dir (and its parents) with mode, the last one given
// to group gid when gid >= 0. created reports whether dir was made here.
func mkdirOwned(dir string, mode os.FileMode, gid int) (created bool, err error) {
	if _, err := os.Stat(dir); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return false, fmt.Errorf("agent: create socket directory %s: %w", dir, err)
	}
	if gid >= 0 {
		if err := os.Chown(dir, -1, gid); err != nil {
			return true, fmt.Errorf("agent: give socket directory %s to group %d: %w (the agent must be root or a member of that group)", dir, gid, err)
		}
		// MkdirAll applies the umask; the group needs to traverse.
		if err := os.Chmod(dir, mode); err != nil {
			return true, fmt.Errorf("agent: chmod socket directory %s: %w", dir, err)
		}
	}
	return true, nil
}

// checkGroupReach says what to fix when an existing socket directory keeps
// the group the socket is shared with from reaching it.
func checkGroupReach(dir string, gid int) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("agent: socket directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if fi.Mode().Perm()&0o001 != 0 || (int(st.Gid) == gid && fi.Mode().Perm()&0o010 != 0) {
		return nil
	}
	return fmt.Errorf("agent: socket directory %s (mode %04o, group %d) keeps group %d out: run `chgrp %d %s && chmod 750 %s`, or choose another --socket", dir, fi.Mode().Perm(), st.Gid, gid, gid, dir, dir)
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
