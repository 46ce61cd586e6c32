package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// This file proves the rest of issue 8's first claim: another process of
// the agent's own uid can neither ptrace the agent nor read its memory,
// and a crash of the agent leaves no core file. Both come from
// agent.Harden: PR_SET_DUMPABLE 0 and RLIMIT_CORE 0.

// probeEnv makes the e2e test binary a probe: started as another user with
// KEYWARD_E2E_PROBE=PID:ADDR, it tries to reach process PID (ADDR is a
// mapped address in it, in hex) and prints one "name: result" line per
// attempt, then exits before TestMain (which would build keyward) runs.
const probeEnv = "KEYWARD_E2E_PROBE"

func init() {
	if arg := os.Getenv(probeEnv); arg != "" {
		os.Exit(probe(arg))
	}
}

// probe tries, as whatever user runs it, to attach to PID with ptrace, to
// read 16 bytes at ADDR through /proc/PID/mem and through
// process_vm_readv, and to read /proc/PID/maps and environ.
func probe(arg string) int {
	pidS, addrS, _ := strings.Cut(arg, ":")
	pid, err1 := strconv.Atoi(pidS)
	addr, err2 := strconv.ParseUint(addrS, 16, 64)
	if err1 != nil || err2 != nil {
		fmt.Println("usage: KEYWARD_E2E_PROBE=PID:ADDR")
		return 2
	}
	report := func(name string, err error) {
		var errno syscall.Errno
		switch {
		case err == nil:
			fmt.Printf("%s: ok\n", name)
		case errors.As(err, &errno):
			fmt.Printf("%s: %s\n", name, unix.ErrnoName(errno))
		default:
			fmt.Printf("%s: %v\n", name, err)
		}
	}
	// ptrace requests must come from the thread that attached.
	runtime.LockOSThread()
	err := syscall.PtraceAttach(pid)
	if err == nil {
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, syscall.WALL, nil)
		syscall.PtraceDetach(pid)
	}
	report("ptrace(PTRACE_ATTACH)", err)

	f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err == nil {
		_, err = f.ReadAt(make([]byte, 16), int64(addr))
		f.Close()
	}
	report("/proc/PID/mem", err)

	buf := make([]byte, 16)
	_, err = unix.ProcessVMReadv(pid, []unix.Iovec{{Base: &buf[0], Len: 16}}, []unix.RemoteIovec{{Base: uintptr(addr), Len: 16}}, 0)
	report("process_vm_readv", err)

	for _, name := range []string{"maps", "environ"} {
		_, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, name))
		report("/proc/PID/"+name, err)
	}
	return 0
}

// probeBinary copies this test binary where uid 65534 can run it.
func probeBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	dir := shortTempDir(t, "kw-probe-")
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "probe")
	src, err := os.Open(self)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
	return bin
}

// runProbe runs the probe as uid 65534 against pid and returns each
// attempt's result ("ok" or the errno's name).
func runProbe(t *testing.T, bin string, pid int, addr uint64) map[string]string {
	t.Helper()
	cmd := asUser(nobody, nobody, []string{fmt.Sprintf("%s=%d:%x", probeEnv, pid, addr)}, bin)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "probe: %s", out)
	res := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ": "); ok {
			res[k] = v
		}
	}
	require.Len(t, res, 5, "probe output: %s", out)
	return res
}

// mappedAddr returns the start of a readable mapping of pid, as root
// sees it: the first locked one (where the agent keeps its secrets) when
// locked is set.
func mappedAddr(t *testing.T, pid int, locked bool) uint64 {
	t.Helper()
	for _, r := range readRegions(t, pid) {
		if strings.HasPrefix(r.perms, "r") && r.rssKB > 0 && (!locked || r.has("lo")) {
			return r.start
		}
	}
	t.Fatalf("no readable mapping (locked: %v) in process %d", locked, pid)
	return 0
}

// procOwner returns the uid that owns the files in /proc/PID (such as
// mem): root for a process that is not dumpable, whatever its own uid (the
// directory itself keeps the process's uid).
func procOwner(t *testing.T, pid int) uint32 {
	t.Helper()
	fi, err := os.Stat(fmt.Sprintf("/proc/%d/mem", pid))
	require.NoError(t, err)
	return fi.Sys().(*syscall.Stat_t).Uid
}

// TestPtraceRefused runs the agent as uid 65534, unlocked and holding a
// secret, and a probe as the same uid: the probe may attach to and read an
// ordinary process of that uid (the control), but it cannot
// ptrace(PTRACE_ATTACH) the agent (EPERM), open its /proc/PID/mem
// (EACCES), read it with process_vm_readv (EPERM), nor read its maps and
// environment, because the agent is not dumpable.
func TestPtraceRefused(t *testing.T) {
	const pass = "kw-ptrace-vault-passphrase"
	a := startNobodyAgent(t, pass, nil)
	a.run(t, pass+"\n", "unlock")
	a.run(t, "kw-ptrace-secret-not-a-real-key\n", "add", "main", "--scheme", "binance", "--api-key", "k")
	bin := probeBinary(t)

	control := asUser(nobody, nobody, nil, "sleep", "60")
	require.NoError(t, control.Start())
	defer func() { control.Process.Kill(); control.Wait() }()
	// Let sleep exec and map itself.
	require.Eventually(t, func() bool {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", control.Process.Pid))
		return strings.HasSuffix(exe, "sleep")
	}, 5*time.Second, 10*time.Millisecond)
	ctl := runProbe(t, bin, control.Process.Pid, mappedAddr(t, control.Process.Pid, false))
	t.Logf("control (sleep, uid %d, dumpable): %v", nobody, ctl)
	for k, v := range ctl {
		if v != "ok" {
			t.Skipf("this machine refuses %s even on an ordinary process of the same uid (%s: seccomp, Yama or a sandbox), so the agent's own refusal cannot be told apart: %v", k, v, ctl)
		}
	}

	got := runProbe(t, bin, a.pid, mappedAddr(t, a.pid, true))
	t.Logf("agent (uid %d, PR_SET_DUMPABLE 0): %v", nobody, got)
	assert.Equal(t, "EPERM", got["ptrace(PTRACE_ATTACH)"], "a same-uid process attached to the agent with ptrace")
	assert.Equal(t, "EACCES", got["/proc/PID/mem"], "a same-uid process opened the agent's /proc/PID/mem")
	assert.Equal(t, "EPERM", got["process_vm_readv"], "a same-uid process read the agent's memory with process_vm_readv")
	assert.Equal(t, "EACCES", got["/proc/PID/maps"], "a same-uid process read the agent's memory map")
	assert.Equal(t, "EACCES", got["/proc/PID/environ"], "a same-uid process read the agent's environment")
	assert.Equal(t, uint32(0), procOwner(t, a.pid), "a non-dumpable process's /proc/PID/mem belongs to root")
	assert.Equal(t, uint32(nobody), procOwner(t, control.Process.Pid), "the control's /proc/PID/mem belongs to its uid")

	// The agent is unharmed and still serving.
	assert.Contains(t, a.run(t, "", "sign", "main", "GET", "https://api.binance.com/api/v3/account"), "signature=")
}

// corePattern reads /proc/sys/kernel/core_pattern.
func corePattern(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/core_pattern")
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// listDir returns the names in dir ("" lists nothing).
func listDir(dir string) map[string]bool {
	names := map[string]bool{}
	if dir == "" {
		return names
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names
}

// coreFiles returns the entries of dir that look like core files: named
// "core…" or new since before.
func coreFiles(dir string, before map[string]bool) []string {
	var found []string
	for name := range listDir(dir) {
		if strings.HasPrefix(name, "core") || before != nil && !before[name] {
			found = append(found, name)
		}
	}
	return found
}

// TestNoCoreOnCrash crashes the agent, unlocked and holding a secret, with
// SIGSEGV and with SIGABRT, under GOTRACEBACK=crash (so that the Go
// runtime dies by the signal's default action, which dumps core, instead
// of exiting with status 2) and with RLIMIT_CORE raised to unlimited
// before it starts: the agent lowers the limit to 0 itself, the kernel
// reports no core dumped (WCOREDUMP), and no core file appears in its
// working directory nor where core_pattern points. A control process of
// the same uid, crashed the same way in the same kind of directory, shows
// whether this machine writes core files at all.
func TestNoCoreOnCrash(t *testing.T) {
	const pass = "kw-core-vault-passphrase"
	const secret = "kw-core-secret-not-a-real-key"
	if os.Getuid() != 0 {
		t.Skip("running the agent as another user needs root")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	pattern := corePattern(t)
	// Where a core file would go besides the working directory: the
	// directory of an absolute plain pattern.
	patternDir := ""
	if strings.HasPrefix(pattern, "/") {
		patternDir = filepath.Dir(pattern)
	}

	// The control: a dumpable process of the same uid, allowed cores.
	ctlDir := shortTempDir(t, "kw-core-ctl-")
	require.NoError(t, os.Chown(ctlDir, nobody, nobody))
	ctlBefore := listDir(patternDir)
	control := asUser(nobody, nobody, nil, prlimit, "--core=unlimited:unlimited", "--", "sleep", "60")
	control.Dir = ctlDir
	require.NoError(t, control.Start())
	require.Eventually(t, func() bool {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", control.Process.Pid))
		return strings.HasSuffix(exe, "sleep")
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, control.Process.Signal(syscall.SIGSEGV))
	control.Wait()
	ctlWS := control.ProcessState.Sys().(syscall.WaitStatus)
	ctlCores := append(coreFiles(ctlDir, nil), coreFiles(patternDir, ctlBefore)...)
	t.Logf("core_pattern %q; control (sleep, RLIMIT_CORE unlimited) killed by %v: core dumped %v, core files %v", pattern, ctlWS.Signal(), ctlWS.CoreDump(), ctlCores)
	if !ctlWS.CoreDump() {
		t.Logf("this machine writes no core even for the control: only the agent's own settings (RLIMIT_CORE 0, not dumpable) are checked, not the kernel's behaviour")
	}

	for _, sig := range []syscall.Signal{syscall.SIGSEGV, syscall.SIGABRT} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			a := startNobodyAgent(t, pass, []string{"GOTRACEBACK=crash"}, "--core=unlimited:unlimited")
			a.run(t, pass+"\n", "unlock")
			a.run(t, secret+"\n", "add", "main", "--scheme", "binance", "--api-key", "k")
			assert.Contains(t, a.run(t, "", "sign", "main", "GET", "https://api.binance.com/api/v3/account"), "signature=")

			limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", a.pid))
			require.NoError(t, err)
			assert.Regexp(t, `Max core file size\s+0\s+0\s+bytes`, string(limits), "the agent lowers RLIMIT_CORE itself, from unlimited")
			assert.Equal(t, uint32(0), procOwner(t, a.pid), "the agent is not dumpable (its /proc/PID/mem belongs to root)")

			dirBefore := listDir(a.dir)
			patBefore := listDir(patternDir)
			require.NoError(t, a.cmd.Process.Signal(sig))
			select {
			case <-a.done:
			case <-time.After(20 * time.Second):
				t.Fatalf("the agent did not die of %v: %s", sig, a.logs.String())
			}
			ws := a.state.Sys().(syscall.WaitStatus)
			t.Logf("agent after %v: signaled %v (%v), exit status %d, core dumped %v", sig, ws.Signaled(), ws.Signal(), ws.ExitStatus(), ws.CoreDump())
			assert.True(t, ws.Signaled(), "under GOTRACEBACK=crash the agent dies by a signal's default action: %v", ws)
			assert.False(t, ws.CoreDump(), "the kernel dumped the agent's core")
			assert.Empty(t, coreFiles(a.dir, dirBefore), "a core file in the agent's working directory")
			assert.Empty(t, coreFiles(patternDir, patBefore), "a core file where core_pattern points")
			assert.Contains(t, a.logs.String(), "goroutine ", "the runtime printed its crash report")
			assert.NotContains(t, a.logs.String(), secret, "the crash report holds the secret")
			assert.NotContains(t, a.logs.String(), pass, "the crash report holds the passphrase")
		})
	}
}
