package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSignals: SIGUSR1 locks (the incident button for a supervisor),
// SIGTERM stops the agent cleanly and removes its socket, and after a
// SIGKILL the next agent replaces the stale socket and takes the vault.
func TestSignals(t *testing.T) {
	sock, vault := agentPaths(shortTempDir(t, "kw-sig-"))
	const pass = "correct horse battery staple\n"
	initVault(t, vault, strings.TrimSpace(pass))

	agent := startAgent(t, sock, vault)
	logs := agent.logs
	out, err := cli(t, sock, pass, "unlock")
	require.NoError(t, err, out)
	require.NoError(t, agent.signal(syscall.SIGUSR1))
	require.Eventually(t, func() bool {
		out, err := cli(t, sock, "", "status", "--json")
		return err == nil && strings.Contains(out, `"locked": true`)
	}, 10*time.Second, 20*time.Millisecond, "SIGUSR1 locks the agent")
	assert.Eventually(t, func() bool { return strings.Contains(logs.String(), "reason=SIGUSR1") }, 5*time.Second, 10*time.Millisecond)

	require.NoError(t, agent.signal(syscall.SIGTERM))
	require.NoError(t, agent.wait(), "SIGTERM is a clean exit (status 0): %s", logs.String())
	assert.Contains(t, logs.String(), "keyward agent stopping: secrets wiped")
	_, err = os.Lstat(sock)
	assert.ErrorIs(t, err, os.ErrNotExist, "the socket is removed")

	// A crash leaves the socket file behind; the next agent replaces it.
	agent = startAgent(t, sock, vault)
	require.NoError(t, agent.signal(syscall.SIGKILL))
	agent.wait()
	_, err = os.Lstat(sock)
	require.NoError(t, err, "SIGKILL leaves a stale socket")
	startAgent(t, sock, vault)
	out, err = cli(t, sock, pass, "unlock")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Unlocked 0 credentials.")
}
