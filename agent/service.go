package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/keyward/keyward/protocol"
)

// This file holds what running as a service adds to the agent: the
// self-check behind the watchdog, and reloading settings on SIGHUP.

// selfCheck proves the agent still serves: it dials the agent's own socket
// at addr, runs a hello through the accept loop, the server and the
// agent, and asks the keyring for its state. It fails when any of them
// does not answer before ctx ends. It sends no secret and asks for none.
func selfCheck(ctx context.Context, addr string, a *Agent) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", addr)
	if err != nil {
		return fmt.Errorf("dial own socket: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	args, err := json.Marshal(protocol.HelloArgs{Version: protocol.Version, Client: "keyward-watchdog"})
	if err != nil {
		return err
	}
	body, err := json.Marshal(protocol.Request{ID: 1, Op: protocol.OpHello, Args: args})
	if err != nil {
		return err
	}
	if err := protocol.WriteFrame(c, body); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	frame, err := protocol.ReadFrame(c, nil)
	if err != nil {
		return fmt.Errorf("read hello reply: %w", err)
	}
	var reply protocol.Reply
	if err := json.Unmarshal(frame, &reply); err != nil {
		return fmt.Errorf("decode hello reply: %w", err)
	}
	if reply.Error != nil {
		return fmt.Errorf("hello: %s: %s", reply.Error.Code, reply.Error.Message)
	}
	var hello protocol.HelloResult
	if err := json.Unmarshal(reply.Result, &hello); err != nil || hello.Version != protocol.Version {
		return fmt.Errorf("hello: unexpected reply %.200s", reply.Result)
	}

	// The keyring answers too (its lock is not held forever).
	done := make(chan struct{})
	go func() { a.State(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("the keyring did not answer")
	}
}

// lockTimerSetter is an agent that can change its lock timers while it
// runs. A reload applies new lock_after and lock_idle values through it;
// an agent without it keeps the values it started with until restarted.
type lockTimerSetter interface {
	SetLockTimers(after, idle time.Duration)
}

// reloader re-reads the config file on SIGHUP and applies what changed.
// A file that fails to parse is rejected whole and the running settings
// are kept.
type reloader struct {
	path     string
	base     Settings        // flags and defaults, before the file
	pinned   map[string]bool // keys set by flags: they win over the file
	current  Settings
	level    *slog.LevelVar // the log handler's level; nil = fixed
	agent    any            // the running agent, for lockTimerSetter
	log      *slog.Logger
	notifier *notifier
}

// initial reads the config file at start. Unlike a reload, a bad file
// here is an error: the agent must not start on settings it was not given.
func (r *reloader) initial() (Settings, error) {
	r.current = r.base
	if r.path == "" {
		return r.current, nil
	}
	sf, err := LoadSettingsFile(r.path)
	if err != nil {
		return Settings{}, err
	}
	if sh := sf.Shadowed(r.pinned); len(sh) > 0 {
		r.log.Info("flags override the config file", "config", r.path, "keys", strings.Join(sh, ","))
	}
	r.current = sf.Over(r.base, r.pinned)
	if r.level != nil {
		r.level.Set(r.current.LogLevel)
	}
	return r.current, nil
}

// reload re-reads the file and applies it. It reports whether the new
// settings were taken. It never stops the agent: a bad file is logged
// with its line and reason, and the old settings stay.
func (r *reloader) reload(statusNow func() string) bool {
	if r.path == "" {
		r.log.Info("SIGHUP: no --config file to reload")
		return false
	}
	r.notifier.reloading()
	defer func() { r.notifier.ready(statusNow()) }()
	sf, err := LoadSettingsFile(r.path)
	if err != nil {
		r.log.Error("SIGHUP: configuration rejected; keeping the running settings", "err", err)
		return false
	}
	next := sf.Over(r.base, r.pinned)
	old := r.current
	if r.level != nil && next.LogLevel != old.LogLevel {
		r.level.Set(next.LogLevel)
	}
	timersChanged := next.LockAfter != old.LockAfter || next.LockIdle != old.LockIdle
	if timersChanged {
		if s, ok := r.agent.(lockTimerSetter); ok {
			s.SetLockTimers(next.LockAfter, next.LockIdle)
		} else {
			r.log.Warn("SIGHUP: lock_after and lock_idle take effect at the next restart; this agent cannot change its lock timers while running",
				"lock_after", next.LockAfter.String(), "lock_idle", next.LockIdle.String())
			next.LockAfter, next.LockIdle = old.LockAfter, old.LockIdle
		}
	}
	r.current = next
	r.log.Info("SIGHUP: configuration reloaded", "config", r.path,
		"lock_after", next.LockAfter.String(), "lock_idle", next.LockIdle.String(), "log_level", next.LogLevel.String(),
		"overridden_by_flags", strings.Join(sf.Shadowed(r.pinned), ","))
	return true
}

// startupCheckTimeout bounds the self-check before READY=1.
const startupCheckTimeout = 10 * time.Second
