package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOtherUIDIsRefused runs the client as another user. The socket's
// directory (0700) keeps it out first; and where the filesystem is opened
// up by mistake, the agent still refuses it by the uid the kernel reports.
func TestOtherUIDIsRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("switching the client to another uid needs root")
	}
	const nobody = 65534
	dir := shortTempDir(t, "kw-peer-")
	require.NoError(t, os.Chmod(dir, 0o755))
	sock, vault := agentPaths(dir)
	initVault(t, vault, "correct horse battery staple")
	logs := startAgent(t, sock, vault).logs

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
	dir := shortTempDir(t, "kw-nobody-")
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
	waitListening(t, filepath.Join(dir, "run", "agent.sock"), logs)

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
