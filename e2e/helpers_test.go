package e2e

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The helpers the Go end-to-end tests share. Scripts have their own
// commands in e2e_test.go.

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

// shortTempDir makes a directory under /tmp, removed when the test ends.
// t.TempDir's paths can outgrow a socket path's 108-byte limit.
func shortTempDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// raceQuiet stops a race-built keyward from sleeping 1 s at exit.
const raceQuiet = "GORACE=atexit_sleep_ms=10"

// cli runs keyward as this user with the given socket and stdin, and
// returns its combined output.
func cli(t *testing.T, sock, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(keywardBin, args...)
	cmd.Env = append(os.Environ(), "KEYWARD_SOCK="+sock, raceQuiet)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// initVault creates a vault at path with cheap KDF parameters.
func initVault(t *testing.T, path, passphrase string) {
	t.Helper()
	out, err := cli(t, "", passphrase+"\n", "init", "--vault", path, "--argon2-memory", "8", "--argon2-time", "1")
	require.NoError(t, err, out)
}

// agentProc is a running `keyward agent`.
type agentProc struct {
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, set before done closes
}

// signal sends sig to the agent.
func (a *agentProc) signal(sig os.Signal) error { return a.cmd.Process.Signal(sig) }

// wait waits for the agent to exit and returns its exit status.
func (a *agentProc) wait() error { <-a.done; return a.err }

// startAgent runs `keyward agent` on sock with vault (and extra flags), waits until it
// listens, and stops it (SIGINT, then SIGKILL) when the test ends.
func startAgent(t *testing.T, sock, vault string, extra ...string) *agentProc {
	t.Helper()
	a := &agentProc{logs: &lockedBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(keywardBin, append([]string{"agent", "--socket", sock, "--vault", vault}, extra...)...)
	a.cmd.Env = append(os.Environ(), raceQuiet)
	a.cmd.Stderr = a.logs
	require.NoError(t, a.cmd.Start())
	go func() { a.err = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.signal(syscall.SIGINT)
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	waitListening(t, sock, a.logs)
	return a
}

// waitListening waits up to 20 s for an agent to accept on sock.
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

// asUser returns a command that runs as uid:gid with a minimal environment.
func asUser(uid, gid uint32, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=/", raceQuiet}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	return cmd
}

// runAs runs keyward as uid:gid against sock and returns its exit code and
// stderr.
func runAs(t *testing.T, uid, gid uint32, sock string, args ...string) (int, string) {
	t.Helper()
	cmd := asUser(uid, gid, []string{"KEYWARD_SOCK=" + sock}, keywardBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	}
	require.NoError(t, err)
	return 0, stderr.String()
}

// agentPaths returns a socket and a vault path under dir.
func agentPaths(dir string) (sock, vault string) {
	return filepath.Join(dir, "run", "agent.sock"), filepath.Join(dir, "vault")
}
