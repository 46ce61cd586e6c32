package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/keyward/keyward/agent/vault"
)

// notifier tells a service manager about the agent's life over systemd's
// sd_notify protocol ($NOTIFY_SOCKET, a unixgram socket): READY=1 once
// serving, STATUS= lines, WATCHDOG=1 pings, RELOADING=1 and STOPPING=1.
// Without $NOTIFY_SOCKET every call does nothing.
//
// A message must never carry a secret or a passphrase: the service
// manager shows STATUS= to anyone who runs `systemctl status`.
type notifier struct {
	log     *slog.Logger
	enabled bool

	mu     sync.Mutex // guards failed
	failed bool       // a send failed already; later failures log at debug
}

// newNotifier returns a notifier for $NOTIFY_SOCKET, which it leaves set:
// every message is sent afresh, as sd_notify does.
func newNotifier(log *slog.Logger) *notifier {
	return &notifier{log: log, enabled: os.Getenv("NOTIFY_SOCKET") != ""}
}

// send sends one message. A failure is logged, never fatal: the agent
// serves its bots whether or not the service manager hears it.
func (n *notifier) send(state string) {
	if !n.enabled {
		return
	}
	_, err := daemon.SdNotify(false, state)
	if err == nil {
		return
	}
	n.mu.Lock()
	first := !n.failed
	n.failed = true
	n.mu.Unlock()
	if first {
		n.log.Warn("cannot notify the service manager", "notify_socket", os.Getenv("NOTIFY_SOCKET"), "err", err)
	} else {
		n.log.Debug("cannot notify the service manager", "err", err)
	}
}

// ready says the agent serves, with its state.
func (n *notifier) ready(status string) { n.send(daemon.SdNotifyReady + "\nSTATUS=" + status) }

// status updates the one-line state `systemctl status` shows.
func (n *notifier) status(status string) { n.send("STATUS=" + status) }

// watchdog is one keep-alive ping.
func (n *notifier) watchdog() { n.send(daemon.SdNotifyWatchdog) }

// reloading starts a configuration reload; ready ends it.
func (n *notifier) reloading() {
	n.send(daemon.SdNotifyReloading + "\n" + strings.TrimSpace(daemon.SdNotifyMonotonicUsec()))
}

// stopping says the agent is shutting down and wiping its secrets.
func (n *notifier) stopping() {
	n.send(daemon.SdNotifyStopping + "\nSTATUS=stopping: wiping secrets")
}

// statusText describes the agent's state in one line for STATUS=, such as
// "unlocked, 3 credentials" or "locked, 3 credentials in vault". While
// locked the count comes from the vault file's public records; it never
// opens a sealed one.
func statusText(a *Agent, vaultPath string) string {
	locked, n := a.State()
	if !locked {
		return "unlocked, " + plural(n, "credential")
	}
	f, err := vault.Open(vaultPath)
	switch {
	case errors.Is(err, vault.ErrNotExist):
		return "locked, no vault yet: run `keyward init`"
	case err != nil:
		// Vault errors name paths and problems, never secret material.
		return "locked, vault unreadable: " + err.Error()
	}
	return "locked, " + plural(f.Len(), "credential") + " in vault"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// stateWatcher turns the agent's OnStateChange calls, which must not
// block, into STATUS= updates sent from its own goroutine.
type stateWatcher struct {
	changed chan struct{}
}

func newStateWatcher() *stateWatcher { return &stateWatcher{changed: make(chan struct{}, 1)} }

// poke records that the state changed. It never blocks: the agent calls
// it with its own lock held.
func (w *stateWatcher) poke() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// run sends a STATUS= line after each change until ctx is done.
func (w *stateWatcher) run(ctx context.Context, n *notifier, a *Agent, vaultPath string) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.changed:
			n.status(statusText(a, vaultPath))
		}
	}
}

// watchdogInterval reads $WATCHDOG_USEC (and $WATCHDOG_PID, when set, must
// be this process): 0 when the service manager wants no pings.
func watchdogInterval() (time.Duration, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0, fmt.Errorf("agent: watchdog: %w", err)
	}
	return d, nil
}

// runWatchdog pings WATCHDOG=1 every half interval until ctx is done, each
// time only after check passes within a quarter interval. A failing or
// hanging check skips the ping, so a wedged agent is restarted by the
// service manager instead of being kept alive by a timer that still runs.
// It never runs two checks at once.
func runWatchdog(ctx context.Context, interval time.Duration, check func(context.Context) error, n *notifier, log *slog.Logger) {
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	var running sync.Mutex
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !running.TryLock() {
			log.Error("watchdog: the previous self-check has not returned; not pinging")
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, interval/4)
		errc := make(chan error, 1)
		go func() { defer running.Unlock(); errc <- check(cctx) }()
		var err error
		select {
		case err = <-errc:
		case <-cctx.Done():
			err = fmt.Errorf("no answer within %s", interval/4)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			log.Error("watchdog: self-check failed; not pinging the service manager", "err", err)
			failing = true
		default:
			if failing {
				log.Info("watchdog: self-check passes again")
				failing = false
			}
			n.watchdog()
		}
	}
}
