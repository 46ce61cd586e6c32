package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Lock takes an exclusive, non-blocking flock(2) on path+".lock" (created
// 0600 if missing) so that two agents never write one vault. The lock lasts
// until release is called or the process exits. The lock file is never
// removed: removing it would let a third process lock a new inode while the
// second still waits on the old one.
func Lock(path string) (release func(), err error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("vault: lock %s: %w", name, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("vault: lock %s: %w: stop the other agent first, or point this one at another vault", name, ErrLockHeld)
		}
		return nil, fmt.Errorf("vault: lock %s: %w", name, err)
	}
	removeStaleTemps(path, time.Minute)
	var once sync.Once
	return func() {
		once.Do(func() {
			unix.Flock(int(f.Fd()), unix.LOCK_UN)
			f.Close()
		})
	}, nil
}

// removeStaleTemps deletes the temporary files an agent killed in the
// middle of an atomic write left beside the vault (each a complete copy of
// an old or new state), now that the lock says no other agent writes here.
// Files younger than minAge are left alone: a `keyward init` may be
// writing one this moment.
func removeStaleTemps(path string, minAge time.Duration) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	for _, pattern := range []string{"." + base + ".tmp-*", "." + base + ".nonces.tmp-*", "." + base + ".usage.tmp-*"} {
		matches, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, m := range matches {
			if fi, err := os.Lstat(m); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > minAge {
				os.Remove(m)
			}
		}
	}
}
