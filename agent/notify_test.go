package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// notifySocket listens where $NOTIFY_SOCKET points, as systemd does, and
// returns the messages it receives.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kw-notify-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return msgs
}

func next(t *testing.T, msgs <-chan string) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no sd_notify message")
		return ""
	}
}

func TestNotifierMessages(t *testing.T) {
	msgs := notifySocket(t)
	n := newNotifier(testLog(t))
	require.True(t, n.enabled)
	n.ready("locked, 2 credentials in vault")
	assert.Equal(t, "READY=1\nSTATUS=locked, 2 credentials in vault", next(t, msgs))
	n.status("unlocked, 2 credentials")
	assert.Equal(t, "STATUS=unlocked, 2 credentials", next(t, msgs))
	n.watchdog()
	assert.Equal(t, "WATCHDOG=1", next(t, msgs))
	n.reloading()
	assert.Regexp(t, `^RELOADING=1\nMONOTONIC_USEC=[0-9]+$`, next(t, msgs))
	n.stopping()
	assert.Equal(t, "STOPPING=1\nSTATUS=stopping: wiping secrets", next(t, msgs))
}

func TestNotifierWithoutSocketIsSilent(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := newNotifier(testLog(t))
	assert.False(t, n.enabled)
	n.ready("x") // must not panic or block
}

// TestStatusText follows the agent through its states: locked (counting
// the vault's public records), unlocked, and with no vault at all.
func TestStatusText(t *testing.T) {
	a := newTestAgent(t)
	assert.Equal(t, "locked, 0 credentials in vault", statusText(a, a.cfg.VaultPath))
	_, err := a.Unlock(selfContext(), protocol.UnlockArgs{Passphrase: protocol.Secret(agenttest.Passphrase)})
	require.NoError(t, err)
	_, err = a.Add(selfContext(), protocol.AddArgs{Name: "main", Scheme: "binance", APIKey: "k", Secret: protocol.Secret("not-a-real-secret")})
	require.NoError(t, err)
	assert.Equal(t, "unlocked, 1 credential", statusText(a, a.cfg.VaultPath))
	a.LockNow("test")
	assert.Equal(t, "locked, 1 credential in vault", statusText(a, a.cfg.VaultPath))
	assert.Equal(t, "locked, no vault yet: run `keyward init`", statusText(a, filepath.Join(t.TempDir(), "none")))
}

// TestStateWatcherNeverBlocks: pokes while nobody reads collapse into one.
func TestStateWatcherNeverBlocks(t *testing.T) {
	w := newStateWatcher()
	for range 100 {
		w.poke()
	}
	assert.Len(t, w.changed, 1)
}

// TestWatchdogPingsOnlyWhileTheCheckPasses: pings arrive while the check
// passes, stop while it fails or hangs, and resume when it passes again.
func TestWatchdogPingsOnlyWhileTheCheckPasses(t *testing.T) {
	msgs := notifySocket(t)
	var mode atomic.Int32 // 0 pass, 1 fail, 2 hang
	check := func(ctx context.Context) error {
		switch mode.Load() {
		case 1:
			return errors.New("broken")
		case 2:
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond)
			return ctx.Err()
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		runWatchdog(ctx, 100*time.Millisecond, check, newNotifier(testLog(t)), testLog(t))
		close(done)
	}()
	defer func() { cancel(); <-done }()

	assert.Equal(t, "WATCHDOG=1", next(t, msgs))
	assert.Equal(t, "WATCHDOG=1", next(t, msgs))
	for _, m := range []int32{1, 2} {
		mode.Store(m)
		time.Sleep(120 * time.Millisecond) // let a ping in flight land
		drain(msgs)
		select {
		case got := <-msgs:
			t.Fatalf("mode %d: got %q while the self-check fails", m, got)
		case <-time.After(400 * time.Millisecond):
		}
	}
	mode.Store(0)
	assert.Equal(t, "WATCHDOG=1", next(t, msgs))
}

func drain(msgs <-chan string) {
	for {
		select {
		case <-msgs:
		default:
			return
		}
	}
}

// TestSelfCheckThroughTheSocket runs the real check against a served
// agent, then against a path where nothing listens.
func TestSelfCheckThroughTheSocket(t *testing.T) {
	a := newTestAgent(t)
	path := serve(t, a, ServerConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, selfCheck(ctx, path, a))

	require.NoError(t, os.Remove(path))
	err := selfCheck(ctx, path, a)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "dial own socket:"), err.Error())
}

// TestSelfCheckFailsWhenRefused: an agent that refuses the check's uid
// (here: an owner that is neither this uid nor root) fails the check.
func TestSelfCheckFailsWhenRefused(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root is always admitted")
	}
	a := New(Config{VaultPath: filepath.Join(t.TempDir(), "v"), OwnerUID: uint32(os.Getuid()) + 1, Log: testLog(t)})
	t.Cleanup(a.Close)
	path := serve(t, a, ServerConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	assert.Error(t, selfCheck(ctx, path, a))
}
