package vault

import (
	"errors"
	"fmt"
	"os"
	"sync"

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
	var once sync.Once
	return func() {
		once.Do(func() {
			unix.Flock(int(f.Fd()), unix.LOCK_UN)
			f.Close()
		})
	}, nil
}
