package keyring

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// capIPCLock is CAP_IPC_LOCK's bit in /proc/self/status CapEff.
const capIPCLock = 14

// memlockState is what the kernel will let this process lock.
type memlockState struct {
	limit     int64 // RLIMIT_MEMLOCK soft limit in bytes; meaningless when unlimited
	locked    int64 // VmLck: bytes this process has locked now
	unlimited bool  // RLIM_INFINITY or CAP_IPC_LOCK
}

// readMemlock reads RLIMIT_MEMLOCK and /proc/self/status. If /proc cannot
// be read it assumes nothing is locked and no capability is held: the
// limit is still enforced, only less precisely.
func readMemlock() memlockState {
	var st memlockState
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		st.unlimited = err == nil
	} else {
		st.limit = int64(min(rl.Cur, uint64(1<<62)))
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return st
	}
	locked, capEff := parseStatus(status)
	st.locked = locked
	if capEff&(1<<capIPCLock) != 0 {
		st.unlimited = true
	}
	return st
}

// parseStatus extracts VmLck (in bytes) and CapEff from /proc/PID/status.
func parseStatus(status []byte) (vmLck int64, capEff uint64) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "VmLck":
			n, unit, _ := strings.Cut(val, " ")
			kb, err := strconv.ParseInt(n, 10, 64)
			if err == nil && strings.TrimSpace(unit) == "kB" {
				vmLck = kb * 1024
			}
		case "CapEff":
			capEff, _ = strconv.ParseUint(val, 16, 64)
		}
	}
	return vmLck, capEff
}

// check reports whether need more bytes can be locked.
func (st memlockState) check(need int64) error {
	if st.unlimited || st.locked+need <= st.limit {
		return nil
	}
	return &memlockError{need: need, limit: st.limit, locked: st.locked}
}

// memlockError says how much could not be locked and how to fix it.
type memlockError struct{ need, limit, locked int64 }

func (e *memlockError) Error() string {
	return fmt.Sprintf("keyring: cannot lock %s more: RLIMIT_MEMLOCK is %s and %s is locked; raise it (LimitMEMLOCK= in the unit, `ulimit -l`)",
		fmtBytes(e.need), fmtBytes(e.limit), fmtBytes(e.locked))
}

func (e *memlockError) Unwrap() error { return ErrMemlock }

// fmtBytes prints a size for people: 512 B, 64 KiB, 1.2 MiB.
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB", "TiB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + suffix
}

// pageRound rounds n up to whole pages, the unit mlock works in: memguard
// locks the page-rounded inner region of every buffer.
func pageRound(n int) int {
	ps := os.Getpagesize()
	return (n + ps - 1) &^ (ps - 1)
}

// MemlockCheck reports, at start, whether min more bytes can be locked by
// this process; the error (wrapping ErrMemlock) says how to raise the limit.
func MemlockCheck(min int64) error {
	return readMemlock().check(min)
}
