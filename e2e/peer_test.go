package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startAgent initialises a vault and runs `keyward agent` on a socket in
// dir, stopping it with SIGINT when the test ends.
func startAgent(t *testing.T, dir string) (sock string, logs *lockedBuffer) {
	t.Helper()
	sock = filepath.Join(dir, "run", "agent.sock")
	vault := filepath.Join(dir, "vault")
	initCmd := exec.Command(keywardBin, "init", "--vault", vault, "--argon2-memory", "8", "--argon2-time", "1")
	initCmd.Stdin = strings.NewReader("correct horse battery staple\n")
	out, err := initCmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	logs = &lockedBuffer{}
	agent := exec.Command(keywardBin, "agent", "--socket", sock, "--vault", vault)
	agent.Stderr = logs
	require.NoError(t, agent.Start())
	t.Cleanup(func() {
		agent.Process.Signal(syscall.SIGINT)
		agent.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return sock, logs
		}
		require.True(t, time.Now().Before(deadline), "agent did not start: %s", logs.String())
		time.Sleep(20 * time.Millisecond)
	}
}

// runAs runs keyward as uid:gid against sock and returns its exit code and
// stderr.
func runAs(t *testing.T, uid, gid uint32, sock string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(keywardBin, args...)
	cmd.Env = []string{"KEYWARD_SOCK=" + sock, "PATH=/usr/bin:/bin", "HOME=/"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	}
	require.NoError(t, err)
	return 0, stderr.String()
}

// TestOtherUIDIsRefused runs the client as another user. The socket's
// directory (0700) keeps it out first; and where the filesystem is opened
// up by mistake, the agent still refuses it by the uid the kernel reports.
func TestOtherUIDIsRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("switching the client to another uid needs root")
	}
	const nobody = 65534
	dir, err := os.MkdirTemp("", "kw-peer-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	sock, logs := startAgent(t, dir)

	fi, err := os.Stat(filepath.Dir(sock))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "socket directory")
	fi, err = os.Stat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "socket")

	code, stderr := runAs(t, nobody, nobody, sock, "status")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "permission denied", "the filesystem refuses first")

	// Open the filesystem up, as a careless deployment might.
	require.NoError(t, os.Chmod(filepath.Dir(sock), 0o755))
	require.NoError(t, os.Chmod(sock, 0o666))
	code, stderr = runAs(t, nobody, nobody, sock, "status")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "keyward: error: uid 65534 may not use this agent: only uid 0 (the agent's owner) and root may connect")
	assert.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "connection refused") && strings.Contains(logs.String(), "uid=65534")
	}, 5*time.Second, 20*time.Millisecond, "the refusal is logged with the uid: %s", logs.String())

	code, stderr = runAs(t, 0, 0, sock, "status")
	assert.Equal(t, 0, code, stderr)
}

// asUser returns a command that runs as uid:gid with a minimal environment.
func asUser(uid, gid uint32, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=/"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	return cmd
}

// TestUnprivilegedAgent runs the agent as an ordinary user, where
// RLIMIT_MEMLOCK applies: with the common 8 MiB limit a whole session
// works, and with a tiny limit the agent refuses to start with a message
// that says how to raise it, instead of crashing or hanging in memguard.
func TestUnprivilegedAgent(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("running the agent as another user needs root")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	const nobody = 65534
	dir, err := os.MkdirTemp("", "kw-nobody-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chown(dir, nobody, nobody))
	require.NoError(t, os.Chmod(dir, 0o700))
	env := []string{"KEYWARD_SOCK=" + filepath.Join(dir, "run", "agent.sock"), "KEYWARD_VAULT=" + filepath.Join(dir, "vault")}

	// Too little lockable memory: a clear refusal.
	low := asUser(nobody, nobody, env, prlimit, "--memlock=16384:16384", "--", keywardBin, "agent")
	out, err := low.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, string(out), "keyward: error: keyring: cannot lock")
	assert.Contains(t, string(out), "RLIMIT_MEMLOCK is 16 KiB")
	assert.Contains(t, string(out), "LimitMEMLOCK=")

	// The usual limit: a whole session as the unprivileged user.
	init := asUser(nobody, nobody, env, keywardBin, "init", "--argon2-memory", "8", "--argon2-time", "1")
	init.Stdin = strings.NewReader("correct horse battery staple\n")
	out, err = init.CombinedOutput()
	require.NoError(t, err, "%s", out)

	logs := &lockedBuffer{}
	agent := asUser(nobody, nobody, env, prlimit, "--memlock=8388608:8388608", "--", keywardBin, "agent")
	agent.Stderr = logs
	require.NoError(t, agent.Start())
	t.Cleanup(func() { agent.Process.Signal(syscall.SIGINT); agent.Wait() })
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", filepath.Join(dir, "run", "agent.sock"))
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 20*time.Second, 20*time.Millisecond, "agent did not start: %s", logs.String())

	step := func(stdin string, args ...string) string {
		cmd := asUser(nobody, nobody, env, keywardBin, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "keyward %v: %s\nagent: %s", args, out, logs.String())
		return string(out)
	}
	step("correct horse battery staple\n", "unlock")
	step("nobody-test-secret-not-real\n", "add", "main", "--scheme", "binance", "--api-key", "k1")
	assert.Contains(t, step("", "sign", "main", "GET", "https://api.binance.com/api/v3/account"), "signature=")
	// Hardened: not dumpable, so another process of the same uid can
	// neither read the agent's memory nor its environment, and no core.
	// The control is an ordinary process of that uid, which it can read.
	control := asUser(nobody, nobody, nil, "sleep", "30")
	require.NoError(t, control.Start())
	defer func() { control.Process.Kill(); control.Wait() }()
	out, err = asUser(nobody, nobody, nil, "head", "-c", "1", fmt.Sprintf("/proc/%d/environ", control.Process.Pid)).CombinedOutput()
	require.NoError(t, err, "control: a same-uid process is readable: %s", out)

	pid := agent.Process.Pid // prlimit execs keyward in place
	for _, f := range []string{"mem", "environ"} {
		peek := asUser(nobody, nobody, nil, "head", "-c", "1", fmt.Sprintf("/proc/%d/%s", pid, f))
		out, err := peek.CombinedOutput()
		assert.Error(t, err, "a same-uid process read /proc/%d/%s", pid, f)
		assert.Contains(t, string(out), "Permission denied", f)
	}
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	require.NoError(t, err)
	assert.Regexp(t, `Max core file size\s+0\s+0\s+bytes`, string(limits))
	assert.Regexp(t, `Max locked memory\s+8388608\s+8388608\s+bytes`, string(limits))

	status := step("", "status")
	assert.Regexp(t, `state:\s+unlocked`, status)
	assert.Regexp(t, `locked memory:\s+[0-9.]+ KiB of 8\.0 MiB`, status)
}
