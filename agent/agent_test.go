package agent

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/agent/peercred"
	"github.com/keyward/keyward/agent/vault"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// cheapKDF keeps tests fast; the default parameters cost ~64 MiB a try.
var cheapKDF = vault.Params{Time: 1, MemoryKiB: 64, Threads: 1}

// testLog returns a logger that writes to the test's log.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// newTestAgent returns a locked agent over a new, empty vault that
// agenttest.Passphrase opens.
func newTestAgent(t *testing.T) *Agent {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vault")
	require.NoError(t, vault.Create(path, []byte(agenttest.Passphrase), cheapKDF))
	a := New(Config{VaultPath: path, Log: testLog(t), OwnerUID: uint32(os.Getuid())})
	t.Cleanup(a.Close)
	return a
}

// selfContext is the context of a call made by this process's own uid.
func selfContext() context.Context {
	return peercred.NewContext(context.Background(), peercred.Cred{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), PID: int32(os.Getpid())})
}

func TestConformanceInProcess(t *testing.T) {
	agenttest.Run(t, func(t *testing.T) (protocol.Agent, context.Context) {
		return newTestAgent(t), selfContext()
	})
}

// serve runs a server for a on a fresh socket and returns its path.
func serve(t testing.TB, a *Agent, cfg ServerConfig) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kw-agent-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s", "agent.sock")
	ln, err := Listen(path)
	require.NoError(t, err)
	srv := NewServer(a, a.AuthorizePeer, testLog(t), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return path
}

func TestConformanceOverSocket(t *testing.T) {
	agenttest.Run(t, func(t *testing.T) (protocol.Agent, context.Context) {
		path := serve(t, newTestAgent(t), ServerConfig{})
		c, err := client.Dial(path)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c, context.Background()
	})
}

func TestUnknownCallerIsDenied(t *testing.T) {
	a := newTestAgent(t)
	_, err := a.Status(context.Background())
	require.Equal(t, protocol.CodeDenied, protocol.CodeOf(err))
	ctx := peercred.NewContext(context.Background(), peercred.Cred{UID: 4242})
	_, err = a.List(ctx)
	require.Equal(t, protocol.CodeDenied, protocol.CodeOf(err))
	require.ErrorContains(t, err, "uid 4242 may not list")
}

func TestListenRefusesLiveAgentAndReplacesStaleSocket(t *testing.T) {
	a := newTestAgent(t)
	path := serve(t, a, ServerConfig{})
	_, err := Listen(path)
	require.ErrorIs(t, err, ErrAlreadyRunning)

	// A socket file nobody listens on is stale and gets replaced.
	stale := filepath.Join(filepath.Dir(path), "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	require.NoError(t, err)
	ln.SetUnlinkOnClose(false)
	ln.Close()
	_, err = os.Stat(stale)
	require.NoError(t, err, "the stale socket file is left behind")
	ln2, err := Listen(stale)
	require.NoError(t, err)
	ln2.Close()

	notSock := filepath.Join(filepath.Dir(path), "file")
	require.NoError(t, os.WriteFile(notSock, nil, 0o600))
	_, err = Listen(notSock)
	require.ErrorContains(t, err, "exists and is not a socket")
}

func TestListenRefusesWritableDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	require.NoError(t, os.Mkdir(dir, 0o777))
	require.NoError(t, os.Chmod(dir, 0o777))
	_, err := Listen(filepath.Join(dir, "agent.sock"))
	require.ErrorContains(t, err, "is writable by others (mode 0777): run `chmod 700")
}

// TestIdleLockWipesAndRefuses runs the agent with a tiny idle limit: it
// locks by itself, refuses to sign, and unlocks again with the passphrase.
func TestIdleLockWipesAndRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault")
	require.NoError(t, vault.Create(path, []byte(agenttest.Passphrase), cheapKDF))
	a := New(Config{VaultPath: path, Log: testLog(t), OwnerUID: uint32(os.Getuid()), LockIdle: 20 * time.Millisecond})
	defer a.Close()
	ctx := selfContext()
	_, err := a.Unlock(ctx, protocol.UnlockArgs{Passphrase: protocol.Secret(agenttest.Passphrase)})
	require.NoError(t, err)
	_, err = a.Add(ctx, protocol.AddArgs{Name: "main", Scheme: "binance", APIKey: "k", Secret: protocol.Secret("idle-test-secret")})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		st, err := a.Status(ctx)
		return err == nil && st.Locked
	}, 10*time.Second, 5*time.Millisecond, "the agent locks itself when idle")
	_, err = a.Sign(ctx, protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}})
	assert.Equal(t, protocol.CodeLocked, protocol.CodeOf(err))
	_, err = a.Add(ctx, protocol.AddArgs{Name: "other", Scheme: "binance", APIKey: "k", Secret: protocol.Secret("s")})
	assert.Equal(t, protocol.CodeLocked, protocol.CodeOf(err), "the vault's data key went with the lock")

	res, err := a.Unlock(ctx, protocol.UnlockArgs{Passphrase: protocol.Secret(agenttest.Passphrase)})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Credentials)
}
