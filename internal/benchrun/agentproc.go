package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/agent/scheme"
	"github.com/keyward/keyward/agent/vault"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/protocol"
)

// The agent under measurement: its directory, its vault (built in one
// batch), its user and memlock limit, and what /proc says about it.

// nobody is the uid and gid the agent runs as when the harness is root:
// RLIMIT_MEMLOCK binds only an unprivileged process.
const nobody = 65534

// Memlock limits the agent runs under.
const (
	memlockDefault = 8 << 20  // the common default RLIMIT_MEMLOCK
	memlockLow     = 64 << 10 // many containers' limit
)

// passphrase opens every vault of the run; fresh copies, since the vault
// wipes what it is given.
func passphrase() []byte { return []byte("keyward bench passphrase, not a secret") }

// agentProc is a running `keyward agent` with its own directory: the
// vault, the socket, the audit log.
type agentProc struct {
	*child
	dir, sock, vault string
}

// agentDir makes a directory for an agent, owned by the user it runs as.
func (h *harness) agentDir(name string) (string, error) {
	dir := filepath.Join(h.dir, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("agent directory: %w", err)
	}
	return dir, h.chownTree(dir)
}

// chownTree gives dir and everything in it to the agent's user.
func (h *harness) chownTree(dir string) error {
	if !h.asNobody {
		return nil
	}
	err := filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, nobody, nobody)
	})
	if err != nil {
		return fmt.Errorf("give %s to uid %d: %w", dir, nobody, err)
	}
	return nil
}

// startAgent runs `keyward agent` in dir (which holds, or will hold, the
// vault) with RLIMIT_MEMLOCK at memlock, as uid 65534 when the harness is
// root, and waits until it listens. The harness re-executes itself with
// -exec-memlock to set the limit and then exec the agent in place, so the
// child's pid is the agent's.
func (h *harness) startAgent(name, dir string, memlock int64) (*agentProc, error) {
	a := &agentProc{dir: dir, sock: filepath.Join(dir, "agent.sock"), vault: filepath.Join(dir, "vault")}
	args := []string{"-exec-memlock", strconv.FormatInt(memlock, 10), "--",
		h.keyward, "agent", "--socket", a.sock, "--vault", a.vault}
	env := []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + dir,
		// No policy file from the harness's user: the agent's defaults.
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"),
		"KEYWARD_SOCK=" + a.sock,
		"KEYWARD_VAULT=" + a.vault,
	}
	var cred *syscall.Credential
	if h.asNobody {
		cred = &syscall.Credential{Uid: nobody, Gid: nobody}
	}
	c, err := h.startChild(name, dir, h.self, args, env, cred)
	if err != nil {
		return nil, err
	}
	a.child = c
	if err := waitListening(a.sock, c); err != nil {
		c.stop()
		return nil, err
	}
	return a, nil
}

// explain adds to err, from a request to the agent, how the agent ended
// if it did, or the last lines of its log.
func (a *agentProc) explain(err error) error {
	if err == nil {
		return nil
	}
	select { // a connection closed under us: the agent may be dying
	case <-a.done:
	case <-time.After(time.Second):
	}
	if !a.alive() {
		return fmt.Errorf("%w; %w", err, a.exitError())
	}
	return fmt.Errorf("%w; the agent's last log lines: %s", err, lastLines(a.logs.String(), 3))
}

// dial connects the Go client to the agent.
func (a *agentProc) dial() (*client.Client, error) {
	c, err := client.Dial(a.sock)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.name, err)
	}
	return c, nil
}

// auditProblem returns what the agent's status says is wrong with its
// audit log ("" when nothing): records dropped because the writer could
// not keep up would make the agent look faster than it is.
func (a *agentProc) auditProblem(ctx context.Context) (string, error) {
	c, err := a.dial()
	if err != nil {
		return "", err
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: status: %w", a.name, err)
	}
	return st.AuditError, nil
}

// unlock unlocks the agent through the protocol and returns how long the
// call took and how many credentials it holds.
func (a *agentProc) unlock(ctx context.Context) (time.Duration, int, error) {
	c, err := a.dial()
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := c.Unlock(ctx, protocol.UnlockArgs{Passphrase: protocol.Secret(passphrase())})
	took := time.Since(start)
	if err != nil {
		return took, 0, fmt.Errorf("%s: unlock: %w", a.name, a.explain(err))
	}
	return took, res.Credentials, nil
}

// lock locks the agent.
func (a *agentProc) lock(ctx context.Context) error {
	c, err := a.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Lock(ctx); err != nil {
		return fmt.Errorf("%s: lock: %w", a.name, a.explain(err))
	}
	return nil
}

// procStatus reads /proc/PID/status fields measured in kB (VmRSS, VmLck,
// VmHWM, …), in bytes.
func procStatus(pid int) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, fmt.Errorf("read process status: %w", err)
	}
	return parseProcStatus(b), nil
}

func parseProcStatus(b []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(val), " ")
		if unit != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(num, 10, 64); err == nil {
			out[key] = n << 10
		}
	}
	return out
}

// mib is n bytes in MiB.
func mib(n int64) float64 { return float64(n) / (1 << 20) }

// buildVault creates a vault at path holding n Binance HMAC credentials
// named credName(0…n-1) with 64-byte secrets, the way the agent's add
// stores them (key_type hmac), written in one batch (vault.AddBatch).
func buildVault(path string, p vault.Params, n int) error {
	if err := vault.Create(path, passphrase(), p); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	f, err := vault.Open(path)
	if err != nil {
		return err
	}
	v, err := f.Unlock(passphrase(), func(vault.Record, int) ([]byte, error) {
		return nil, errors.New("a new vault has no records")
	})
	if err != nil {
		return err
	}
	defer v.Close()
	recs := make([]vault.Record, n)
	secrets := make([][]byte, n)
	for i := range n {
		recs[i] = vault.Record{
			Name: credName(i), Scheme: "binance", APIKey: fmt.Sprintf("bench-api-key-%d", i),
			Meta: map[string]string{scheme.MetaKeyType: scheme.KeyHMAC},
		}
		secrets[i] = randomSecret(64)
	}
	return v.AddBatch(recs, secrets)
}

// randomSecret returns n random letters and digits: an API secret's shape.
func randomSecret(n int) []byte {
	const set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = set[int(b[i])%len(set)]
	}
	return b
}

// newAgent makes a directory, a vault of n HMAC credentials in it, and
// starts an agent on it under memlock.
func (h *harness) newAgent(name string, n int, memlock int64) (*agentProc, error) {
	dir, err := h.agentDir(name)
	if err != nil {
		return nil, err
	}
	if err := buildVault(filepath.Join(dir, "vault"), h.kdf, n); err != nil {
		return nil, fmt.Errorf("%s: build vault: %w", name, err)
	}
	if err := h.chownTree(dir); err != nil {
		return nil, err
	}
	return h.startAgent(name, dir, memlock)
}

// runExecMemlock is the -exec-memlock mode: set RLIMIT_MEMLOCK (soft and
// hard) to limit, then exec argv in place of this process.
func runExecMemlock(limit int64, argv []string) error {
	if len(argv) == 0 {
		return errors.New("-exec-memlock: no command")
	}
	lim := unix.Rlimit{Cur: uint64(limit), Max: uint64(limit)}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		return fmt.Errorf("-exec-memlock: set RLIMIT_MEMLOCK to %d: %w (the hard limit may be lower)", limit, err)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("-exec-memlock: %w", err)
	}
	return syscall.Exec(path, argv, os.Environ())
}
