package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/awnumar/memguard"

	"github.com/keyward/keyward/agent/keyring"
	"github.com/keyward/keyward/agent/vault"
)

// RunConfig is what `keyward agent` needs to run.
type RunConfig struct {
	Config
	// SocketPath is where the agent makes its socket when no service
	// manager passed it one (socket activation).
	SocketPath string
	Server     ServerConfig

	// ConfigFile is an optional settings file (see Settings), read at
	// start and again on SIGHUP; "" for none.
	ConfigFile string
	// Pinned names the settings (KeyLockAfter, …) that flags set: they
	// win over ConfigFile.
	Pinned map[string]bool
	// LogLevel is the log handler's level, which the config file and
	// SIGHUP may change; nil leaves the level fixed.
	LogLevel *slog.LevelVar

	// UnlockFile names a file holding the vault passphrase: the agent
	// unlocks with it at start and wipes its copy. "" for none.
	UnlockFile string
	// CredentialsDir is systemd's $CREDENTIALS_DIRECTORY: when it holds
	// CredentialName and UnlockFile is "", the agent unlocks from it.
	CredentialsDir string
}

// minLockable is what the agent needs to be able to mlock to hold even a
// handful of secrets: the keyring's scratch pool and first chunk.
const minLockable = 64 << 10

// Run hardens the process, claims the vault and the socket (the one a
// service manager passed, else its own), unlocks when told to, and serves
// until ctx is done or SIGINT/SIGTERM arrives. SIGUSR1 locks the agent;
// SIGHUP reloads ConfigFile and the policy (which is also watched). Under systemd it reports READY=1, STATUS=,
// WATCHDOG=1 and STOPPING=1. On the way out every secret is wiped
// (memguard.Purge) before returning; a socket it was passed is left in
// place for the service manager.
func Run(ctx context.Context, cfg RunConfig) error {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
		cfg.Log = log
	}
	defer memguard.Purge()
	// Catch every signal first: SIGHUP's default action would kill an
	// agent that is still reading its vault.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := Harden(); err != nil {
		return err
	}
	if err := keyring.MemlockCheck(minLockable); err != nil {
		return err
	}
	notify := newNotifier(log)
	wdInterval, err := watchdogInterval()
	if err != nil {
		return err
	}
	rl := &reloader{
		path: cfg.ConfigFile, pinned: cfg.Pinned, level: cfg.LogLevel, log: log, notifier: notify,
		base: Settings{LockAfter: cfg.LockAfter, LockIdle: cfg.LockIdle, LogLevel: levelOf(cfg.LogLevel)},
	}
	settings, err := rl.initial()
	if err != nil {
		return err
	}
	cfg.LockAfter, cfg.LockIdle = settings.LockAfter, settings.LockIdle
	unlockPath, unlockOrigin, err := unlockSource(cfg.UnlockFile, cfg.CredentialsDir)
	if err != nil {
		return err
	}

	if err := os.MkdirAll(filepath.Dir(cfg.VaultPath), 0o700); err != nil {
		return fmt.Errorf("agent: create vault directory: %w", err)
	}
	release, err := vault.Lock(cfg.VaultPath)
	if err != nil {
		return err
	}
	defer release()

	ln, activated, err := listener(cfg.SocketPath, cfg.UseGroups, log)
	if err != nil {
		return err
	}
	defer ln.Close()
	addr := ln.Addr().String()

	watch := newStateWatcher()
	userHook := cfg.OnStateChange
	cfg.OnStateChange = func() {
		watch.poke()
		if userHook != nil {
			userHook()
		}
	}
	a := New(cfg.Config)
	defer a.Close()
	rl.agent = a

	if !vault.ErasesDerivation {
		log.Warn("this keyward was built without GOEXPERIMENT=runtimesecret: Argon2id leaves a copy of the passphrase on the heap after unlock, and asymmetric key expansions and forward mode's clear secrets (bearer, Alpaca, OANDA) are not erased from it either; build with `make build`")
	}
	if unlockPath != "" {
		n, err := unlockAtStart(ctx, a, cfg.OwnerUID, unlockPath, unlockOrigin)
		if err != nil {
			return err
		}
		log.Info("unlocked at start", "from", unlockOrigin, "credentials", n)
	}

	var stopping sync.Once
	sayStopping := func() { stopping.Do(notify.stopping) }
	defer sayStopping()
	context.AfterFunc(ctx, sayStopping)
	go handleSignals(ctx, sigs, a, rl, func() string { return statusText(a, cfg.VaultPath) })
	go a.Maintain(ctx)
	if cfg.Policy != nil {
		go func() {
			if err := cfg.Policy.Watch(ctx); err != nil {
				log.Warn("cannot watch the policy file; SIGHUP reloads it", "file", cfg.Policy.Path(), "err", err)
			}
		}()
		log.Info("policy in force", "file", cfg.Policy.Path())
	}
	go watch.run(ctx, notify, a, cfg.VaultPath)

	srv := NewServer(a, a.AuthorizePeer, log, cfg.Server)
	_, verr := os.Stat(cfg.VaultPath)
	log.Info("keyward agent listening", "socket", addr, "activated", activated, "vault", cfg.VaultPath,
		"vault_present", verr == nil, "pid", os.Getpid(), "version", Version)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	if notify.enabled || wdInterval > 0 {
		if err := startupCheck(ctx, addr, a, served); err != nil {
			return err
		}
		notify.ready(statusText(a, cfg.VaultPath))
	}
	if wdInterval > 0 {
		log.Info("watchdog enabled", "interval", wdInterval.String(), "ping_every", (wdInterval / 2).String())
		go runWatchdog(ctx, wdInterval, func(ctx context.Context) error { return selfCheck(ctx, addr, a) }, notify, log)
	}

	err = <-served
	sayStopping()
	log.Info("keyward agent stopping: secrets wiped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// listener returns the socket systemd passed, or, only when none was
// passed, makes the agent's own at path: shared with the first of
// useGroups when there is one, else private. activated says which.
func listener(path string, useGroups []uint32, log *slog.Logger) (ln *net.UnixListener, activated bool, err error) {
	ln, err = Activated()
	if err != nil {
		return nil, false, err
	}
	if ln != nil {
		if got := ln.Addr().String(); path != "" && got != path {
			log.Debug("serving on the socket the service manager passed, not the default path", "socket", got, "path", path)
		}
		return ln, true, nil
	}
	if len(useGroups) > 0 {
		ln, err = ListenGroup(path, useGroups[0])
	} else {
		ln, err = Listen(path)
	}
	return ln, false, err
}

// startupCheck runs the self-check once before READY=1, so the service
// manager hears "ready" only when a client would be served. A failure is
// fatal: a service that cannot reach its own socket would be reported
// healthy while every bot fails.
func startupCheck(ctx context.Context, addr string, a *Agent, served <-chan error) error {
	cctx, cancel := context.WithTimeout(ctx, startupCheckTimeout)
	defer cancel()
	if err := selfCheck(cctx, addr, a); err != nil {
		select {
		case serr := <-served:
			return fmt.Errorf("agent: serving on %s failed: %w", addr, serr)
		default:
		}
		return fmt.Errorf("agent: self-check before READY=1: %w: check that the agent can connect to its own socket %s", err, addr)
	}
	return nil
}

// handleSignals locks on SIGUSR1 and reloads the config file on SIGHUP
// until ctx is done.
func handleSignals(ctx context.Context, sigs <-chan os.Signal, a *Agent, rl *reloader, statusNow func() string) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-sigs:
			switch s {
			case syscall.SIGUSR1:
				a.LockNow("SIGUSR1")
			case syscall.SIGHUP:
				rl.reload(statusNow)
				a.ReloadPolicy()
			}
		}
	}
}

func levelOf(v *slog.LevelVar) slog.Level {
	if v == nil {
		return slog.LevelInfo
	}
	return v.Level()
}
