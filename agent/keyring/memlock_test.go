package keyring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestMemlockMessage(t *testing.T) {
	const mib = 1 << 20
	st := memlockState{limit: 8 * mib, locked: 8283750}
	err := st.check(1258291)
	require.ErrorIs(t, err, ErrMemlock)
	assert.Equal(t, "keyring: cannot lock 1.2 MiB more: RLIMIT_MEMLOCK is 8 MiB and 7.9 MiB is locked; raise it (LimitMEMLOCK= in the unit, `ulimit -l`)", err.Error())

	assert.NoError(t, st.check(8*mib-8283750))
	assert.NoError(t, memlockState{limit: 1, locked: 5, unlimited: true}.check(1<<40))
	assert.Error(t, memlockState{limit: 64 << 10}.check(64<<10+1))

	assert.Equal(t, "512 B", fmtBytes(512))
	assert.Equal(t, "64 KiB", fmtBytes(64<<10))
	assert.Equal(t, "1.5 GiB", fmtBytes(3<<29))
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tkeyward\nVmLck:\t     132 kB\nVmPin:\t       0 kB\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n"
	lck, capEff := parseStatus([]byte(status))
	assert.Equal(t, int64(132*1024), lck)
	assert.NotZero(t, capEff&(1<<capIPCLock))
	_, capEff = parseStatus([]byte("CapEff:\t0000000000000000\n"))
	assert.Zero(t, capEff&(1<<capIPCLock))
}

func vmLck(t testing.TB) int64 {
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	n, _ := parseStatus(status)
	return n
}

// TestUnlock100kFitsIn8MiB: 100,000 HMAC credentials with 64-byte secrets
// grow this process's locked memory (VmLck, as the kernel counts it against
// RLIMIT_MEMLOCK) by no more than the default 8 MiB.
func TestUnlock100kFitsIn8MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("100k credentials")
	}
	before := vmLck(t)
	k := newKeyring(t, Options{})
	start := time.Now()
	require.NoError(t, k.Unlock(100_000, 100_000*64, loadN(100_000, 64, nil)))
	took := time.Since(start)
	grown := vmLck(t) - before
	t.Logf("unlock 100k x 64 B: %v; VmLck +%s; MemStats %+v", took, fmtBytes(grown), k.MemStats())
	assert.LessOrEqual(t, grown, int64(8<<20))
	assert.LessOrEqual(t, k.MemStats().LockedBytes, int64(8<<20))
	assert.Equal(t, 100_000, k.Len())
	assert.Equal(t, secretFor(99_999, 64), useSecret(t, k, credName(99_999)))
	k.Lock("test")
	assert.LessOrEqual(t, vmLck(t)-before, int64(pageRound(scratchSlots()*ScratchSize)), "Lock gives the arena back")
}

// The subprocess tests run this test binary again as uid 65534 (no
// CAP_IPC_LOCK) with RLIMIT_MEMLOCK lowered, and read what it prints.
const (
	helperEnv        = "KEYRING_TEST_HELPER"
	helperMemlockEnv = "KEYRING_TEST_MEMLOCK"
)

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("run by the subprocess tests")
	}
	limit, err := strconv.ParseUint(os.Getenv(helperMemlockEnv), 10, 64)
	if err == nil {
		err = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: limit, Max: limit})
	}
	if err != nil {
		fmt.Println("SETUP", err)
		os.Exit(3)
	}
	st := readMemlock()
	fmt.Printf("UID %d UNLIMITED %v LIMIT %d VMLCK %d\n", os.Getuid(), st.unlimited, st.limit, st.locked)
	switch mode {
	case "tiny":
		helperTiny()
	case "100k":
		helper100k()
	}
	os.Exit(0)
}

func helperTiny() {
	fmt.Printf("CHECK %v\n", MemlockCheck(1<<20))
	k := New(Options{})
	err := k.Unlock(1000, 64_000, loadN(1000, 64, nil))
	fmt.Printf("UNLOCK %v ISMEMLOCK %v LOCKED %v\n", err, errors.Is(err, ErrMemlock), k.Locked())
	if err := k.Unlock(4, 256, loadN(4, 64, nil)); err != nil {
		fmt.Printf("SMALL %v\n", err)
		return
	}
	n := 0
	for ; n < 5000; n++ {
		if err = k.Add(Credential{Name: fmt.Sprintf("add-%d", n)}, secretFor(n, 64)); err != nil {
			break
		}
	}
	fmt.Printf("ADDED %d ERR %v ISMEMLOCK %v\n", n, err, errors.Is(err, ErrMemlock))
	uerr := k.Use("add-0", func(_ Credential, secret, _ []byte) error {
		if string(secret) != string(secretFor(0, 64)) {
			return errors.New("wrong secret")
		}
		return nil
	})
	fmt.Printf("USE %v\n", uerr)
	k.Close()
	fmt.Println("DONE")
}

func helper100k() {
	k := New(Options{})
	start := time.Now()
	err := k.Unlock(100_000, 100_000*64, loadN(100_000, 64, nil))
	took := time.Since(start)
	fmt.Printf("UNLOCK %v TOOK %v LOCKEDBYTES %d VMLCK %d\n", err, took, k.MemStats().LockedBytes, readMemlock().locked)
	k.Close()
	fmt.Println("DONE")
}

// runHelper runs TestHelperProcess as uid/gid 65534 with RLIMIT_MEMLOCK at
// memlock bytes. The test binary is copied somewhere that user can read.
func runHelper(t *testing.T, mode string, memlock int64) string {
	if os.Getuid() != 0 {
		t.Skip("needs root to start the helper as an unprivileged user")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "keyring-helper-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "keyring.test")
	copyFile(t, exe, bin)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestHelperProcess$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperMemlockEnv+"="+strconv.FormatInt(memlock, 10))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, ctx.Err(), "helper hung:\n%s", out)
	require.NoError(t, err, "helper failed:\n%s", out)
	t.Logf("helper %s:\n%s", mode, out)
	return string(out)
}

func copyFile(t *testing.T, from, to string) {
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}

func line(t *testing.T, out, prefix string) string {
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, prefix+" ") {
			return strings.TrimSpace(l)
		}
	}
	t.Fatalf("no %s line in:\n%s", prefix, out)
	return ""
}

// TestMemlockTooLowIsAClearError: as a user without CAP_IPC_LOCK and with
// RLIMIT_MEMLOCK at 64 KiB, unlocking more than fits, and adding until the
// limit, return ErrMemlock with advice instead of memguard's panic or hang.
func TestMemlockTooLowIsAClearError(t *testing.T) {
	out := runHelper(t, "tiny", 64<<10)
	assert.Contains(t, line(t, out, "UID"), "UID 65534 UNLIMITED false LIMIT 65536")
	check := line(t, out, "CHECK")
	assert.Contains(t, check, "keyring: cannot lock 1 MiB more: RLIMIT_MEMLOCK is 64 KiB and")
	assert.Contains(t, check, "LimitMEMLOCK=")
	unlock := line(t, out, "UNLOCK")
	assert.Contains(t, unlock, "keyring: cannot lock")
	assert.Contains(t, unlock, "ISMEMLOCK true LOCKED true")
	added := line(t, out, "ADDED")
	assert.Contains(t, added, "ISMEMLOCK true")
	assert.Contains(t, added, "RLIMIT_MEMLOCK is 64 KiB")
	assert.Equal(t, "USE <nil>", line(t, out, "USE"))
	assert.Contains(t, out, "DONE")
	assert.NotContains(t, out, "panic")
}

// TestUnlock100kAsUnprivilegedUser: the 100k target holds under the default
// 8 MiB RLIMIT_MEMLOCK for a user without CAP_IPC_LOCK.
func TestUnlock100kAsUnprivilegedUser(t *testing.T) {
	if testing.Short() {
		t.Skip("100k credentials")
	}
	out := runHelper(t, "100k", 8<<20)
	assert.Contains(t, line(t, out, "UID"), "UID 65534 UNLIMITED false")
	assert.True(t, strings.HasPrefix(line(t, out, "UNLOCK"), "UNLOCK <nil> "), out)
	assert.Contains(t, out, "DONE")
}
