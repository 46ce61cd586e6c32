package agent

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Harden makes the process refuse to leave its memory anywhere: not
// dumpable (so a same-uid process can neither ptrace it nor read
// /proc/PID/mem) and no core files.
func Harden() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("agent: prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("agent: setrlimit(RLIMIT_CORE, 0): %w", err)
	}
	return nil
}
