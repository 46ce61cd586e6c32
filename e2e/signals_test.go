package e2e

import (
	"net"
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

// cli runs keyward with the given socket and stdin, returning its output.
func cli(t *testing.T, sock, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(keywardBin, args...)
	cmd.Env = append(os.Environ(), "KEYWARD_SOCK="+sock, "GORACE=atexit_sleep_ms=10")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func waitListening(t *testing.T, sock string, logs *lockedBuffer) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 20*time.Second, 20*time.Millisecond, "agent did not start: %s", logs.String())
}

// TestSignals: SIGUSR1 locks (the incident button for a supervisor),
// SIGTERM stops the agent cleanly and removes its socket, and after a
// SIGKILL the next agent replaces the stale socket and takes the vault.
func TestSignals(t *testing.T) {
	dir, err := os.MkdirTemp("", "kw-sig-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "run", "agent.sock")
	vault := filepath.Join(dir, "vault")
	const pass = "correct horse battery staple\n"
	out, err := cli(t, sock, pass, "init", "--vault", vault, "--argon2-memory", "8", "--argon2-time", "1")
	require.NoError(t, err, out)

	start := func() (*exec.Cmd, *lockedBuffer) {
		logs := &lockedBuffer{}
		agent := exec.Command(keywardBin, "agent", "--socket", sock, "--vault", vault)
		agent.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=10")
		agent.Stderr = logs
		require.NoError(t, agent.Start())
		t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
		waitListening(t, sock, logs)
		return agent, logs
	}

	agent, logs := start()
	out, err = cli(t, sock, pass, "unlock")
	require.NoError(t, err, out)
	require.NoError(t, agent.Process.Signal(syscall.SIGUSR1))
	require.Eventually(t, func() bool {
		out, err := cli(t, sock, "", "status", "--json")
		return err == nil && strings.Contains(out, `"locked": true`)
	}, 10*time.Second, 20*time.Millisecond, "SIGUSR1 locks the agent")
	assert.Eventually(t, func() bool { return strings.Contains(logs.String(), "reason=SIGUSR1") }, 5*time.Second, 10*time.Millisecond)

	require.NoError(t, agent.Process.Signal(syscall.SIGTERM))
	require.NoError(t, agent.Wait(), "SIGTERM is a clean exit (status 0): %s", logs.String())
	assert.Contains(t, logs.String(), "keyward agent stopping: secrets wiped")
	_, err = os.Lstat(sock)
	assert.ErrorIs(t, err, os.ErrNotExist, "the socket is removed")

	// A crash leaves the socket file behind; the next agent replaces it.
	agent, _ = start()
	require.NoError(t, agent.Process.Kill())
	agent.Wait()
	_, err = os.Lstat(sock)
	require.NoError(t, err, "SIGKILL leaves a stale socket")
	start()
	out, err = cli(t, sock, pass, "unlock")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Unlocked 0 credentials.")
}
