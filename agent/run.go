package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/awnumar/memguard"

	"github.com/keyward/keyward/agent/keyring"
	"github.com/keyward/keyward/agent/vault"
)

// RunConfig is what `keyward agent` needs to run.
type RunConfig struct {
	Config
	SocketPath string
	Server     ServerConfig
}

// minLockable is what the agent needs to be able to mlock to hold even a
// handful of secrets: the keyring's scratch pool and first chunk.
const minLockable = 64 << 10

// Run hardens the process, claims the vault and the socket, and serves
// until ctx is done or SIGINT/SIGTERM arrives; SIGUSR1 locks the agent.
// On the way out every secret is wiped (memguard.Purge) before returning.
func Run(ctx context.Context, cfg RunConfig) error {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
		cfg.Log = log
	}
	defer memguard.Purge()
	if err := Harden(); err != nil {
		return err
	}
	if err := keyring.MemlockCheck(minLockable); err != nil {
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

	ln, err := Listen(cfg.SocketPath)
	if err != nil {
		return err
	}
	a := New(cfg.Config)
	defer a.Close()

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		for {
			select {
			case <-usr1:
				a.LockNow("SIGUSR1")
			case <-ctx.Done():
				return
			}
		}
	}()

	if !vault.ErasesDerivation {
		log.Warn("this keyward was built without GOEXPERIMENT=runtimesecret: Argon2id leaves a copy of the passphrase on the heap after unlock; build with `make build`")
	}
	srv := NewServer(a, a.AuthorizePeer, log, cfg.Server)
	_, verr := os.Stat(cfg.VaultPath)
	log.Info("keyward agent listening", "socket", cfg.SocketPath, "vault", cfg.VaultPath,
		"vault_present", verr == nil, "pid", os.Getpid(), "version", Version)
	err = srv.Serve(ctx, ln)
	log.Info("keyward agent stopping: secrets wiped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
