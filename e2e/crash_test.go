package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	mathrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// Crash safety (issue 8, proof 3): the agent is killed with SIGKILL at
// random moments while the CLI adds, rotates, removes and re-keys, and the
// vault must survive every kill.

// soak reports whether the long variants run (make soak).
func soak() bool { return os.Getenv("KEYWARD_SOAK") != "" }

// envInt reads a count from the environment, or returns def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "%s=%q", name, v)
	require.GreaterOrEqual(t, n, 0, "%s=%q", name, v)
	return n
}

// testSeed returns the seed of a test's random choices: $KEYWARD_SEED when
// set (to replay a failure), else a fresh one. It is logged, and every
// failure message of the crash test repeats it.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	if v := os.Getenv("KEYWARD_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "KEYWARD_SEED=%q", v)
		return s
	}
	var b [8]byte
	rand.Read(b[:])
	s := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	return s >> 1 // fits an int64 too, for readers of the log
}

// cred is what the vault must hold for one credential.
type cred struct {
	APIKey  string
	Secret  string
	Version uint32
}

// vaultState is everything an operation may change: the passphrase and
// the credentials by name.
type vaultState struct {
	Pass  string
	Creds map[string]cred
}

func (s vaultState) clone() vaultState {
	return vaultState{Pass: s.Pass, Creds: maps.Clone(s.Creds)}
}

// crashOp is one CLI command to interrupt: its arguments and stdin, and
// the state the vault holds if it completes (before is the state if it
// does not).
type crashOp struct {
	kind          string // add, rotate, rm, passwd
	args          []string
	stdin         string
	before, after vaultState
}

func (o crashOp) String() string { return strings.Join(o.args, " ") }

// randomToken returns n random hex characters from rng.
func randomToken(rng *mathrand.Rand, n int) string {
	b := make([]byte, (n+1)/2)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return hex.EncodeToString(b)[:n]
}

// nextCrashOp picks an operation on s: add while there are few credentials,
// otherwise rotate, remove or change the passphrase.
func nextCrashOp(rng *mathrand.Rand, s vaultState, serial int) crashOp {
	names := slices.Sorted(maps.Keys(s.Creds))
	kinds := []string{"add", "add", "rotate", "rotate", "rm", "passwd"}
	switch {
	case len(names) == 0:
		kinds = []string{"add"}
	case len(names) >= 6:
		kinds = []string{"rotate", "rotate", "rm", "rm", "passwd"}
	}
	op := crashOp{kind: kinds[rng.IntN(len(kinds))], before: s, after: s.clone()}
	switch op.kind {
	case "add":
		name := fmt.Sprintf("c%d", serial)
		c := cred{APIKey: "key-" + randomToken(rng, 12), Secret: "sec-" + randomToken(rng, 40), Version: 1}
		op.args = []string{"add", name, "--scheme", "binance", "--api-key", c.APIKey}
		op.stdin = c.Secret + "\n"
		op.after.Creds[name] = c
	case "rotate":
		name := names[rng.IntN(len(names))]
		c := cred{APIKey: "key-" + randomToken(rng, 12), Secret: "sec-" + randomToken(rng, 40), Version: s.Creds[name].Version + 1}
		op.args = []string{"rotate", name, "--api-key", c.APIKey}
		op.stdin = c.Secret + "\n"
		op.after.Creds[name] = c
	case "rm":
		name := names[rng.IntN(len(names))]
		op.args = []string{"rm", name}
		delete(op.after.Creds, name)
	case "passwd":
		op.after.Pass = "pass-" + randomToken(rng, 16)
		op.args = []string{"passwd"}
		op.stdin = s.Pass + "\n" + op.after.Pass + "\n"
	}
	return op
}

// cliResult is how a CLI run ended.
type cliResult struct {
	stdout, stderr string
	err            error
	took           time.Duration
}

// startCLI starts keyward with args against sock and vault; the returned
// function waits for it.
func startCLI(t *testing.T, sock, vault, stdin string, args ...string) func() cliResult {
	t.Helper()
	cmd := exec.Command(keywardBin, args...)
	cmd.Env = append(os.Environ(), "KEYWARD_SOCK="+sock, "KEYWARD_VAULT="+vault, raceQuiet)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	require.NoError(t, cmd.Start())
	return func() cliResult {
		err := cmd.Wait()
		return cliResult{stdout.String(), stderr.String(), err, time.Since(start)}
	}
}

// listVaultFile runs `keyward list --json` with no agent on sock, so the
// CLI reads the vault file itself, and returns what it lists.
func listVaultFile(t *testing.T, sock, vault string) ([]protocol.CredentialInfo, error) {
	t.Helper()
	r := startCLI(t, sock, vault, "", "list", "--json")()
	if r.err != nil {
		return nil, fmt.Errorf("keyward list without an agent: %v: %s", r.err, r.stderr)
	}
	if !strings.Contains(r.stderr, "read the vault file") {
		return nil, fmt.Errorf("keyward list asked an agent instead of reading the file: %s", r.stderr)
	}
	var res protocol.ListResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		return nil, fmt.Errorf("keyward list --json: %v: %q", err, r.stdout)
	}
	return res.Credentials, nil
}

// matchesListing reports whether a listing shows exactly the names, API
// keys and versions of s, and the Kraken key that is never changed.
func matchesListing(s vaultState, list []protocol.CredentialInfo) bool {
	if len(list) != len(s.Creds)+1 {
		return false
	}
	for _, c := range list {
		if c.Name == nonceCred {
			continue
		}
		want, ok := s.Creds[c.Name]
		if !ok || c.APIKey != want.APIKey || c.Version != want.Version {
			return false
		}
	}
	return true
}

// crashRig is one vault and the agent serving it, restarted after each kill.
type crashRig struct {
	t           *testing.T
	sock, vault string
	agent       *agentProc
	bot         *client.Client
	lastNonce   uint64 // the highest Kraken nonce the agent handed out
	nonceMu     sync.Mutex
}

// nonceCred is a Kraken credential present throughout, so that signing
// makes the agent write VAULT.nonces (and VAULT.usage) around the kills.
const nonceCred = "nonce-kraken"

// start runs a new agent on the rig's vault and unlocks it with the first
// of passes that the vault accepts; it returns that passphrase.
func (r *crashRig) start(passes ...string) (string, error) {
	a, err := launchAgent(r.t, r.sock, r.vault)
	r.agent = a
	if err != nil {
		return "", err
	}
	c, err := client.Dial(r.sock)
	if err != nil {
		return "", err
	}
	r.bot = c
	for _, p := range passes {
		_, err = c.Unlock(context.Background(), protocol.UnlockArgs{Passphrase: protocol.Secret(p)})
		if err == nil {
			return p, nil
		}
		if !client.IsWrongPassphrase(err) {
			return "", fmt.Errorf("unlock: %w", err)
		}
	}
	return "", fmt.Errorf("unlock: no passphrase of %q opens the vault: %w", passes, err)
}

// launchAgent is startAgent, but it returns an error instead of failing,
// so the caller can name the seed and the kill; if the agent is not
// listening within 20 s, the error says whether it exited, or where it
// is stuck (its state and kernel stack, read from /proc).
func launchAgent(t *testing.T, sock, vault string) (*agentProc, error) {
	t.Helper()
	a := &agentProc{logs: &lockedBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(keywardBin, "agent", "--socket", sock, "--vault", vault)
	a.cmd.Env = append(os.Environ(), raceQuiet)
	a.cmd.Stderr = a.logs
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { a.err = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		<-a.done
	})
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case <-a.done:
			return a, fmt.Errorf("the agent exited at start: %v: %s", a.err, a.logs.String())
		default:
		}
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return a, nil
		}
	}
	pid := a.cmd.Process.Pid
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	stack, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stack", pid))
	wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
	return a, fmt.Errorf("the agent (pid %d) is not listening after 20 s; log: %q\nwchan: %s\nkernel stack:\n%s\n/proc status:\n%s",
		pid, a.logs.String(), wchan, stack, status)
}

// kill sends SIGKILL to the agent and waits until it is gone (and its
// flock on VAULT.lock with it).
func (r *crashRig) kill() {
	r.bot.Close()
	r.agent.cmd.Process.Kill()
	r.agent.wait()
}

// signKraken signs one Kraken request and checks that its nonce is above
// every nonce handed out before, across restarts.
func (r *crashRig) signKraken(ctx context.Context) error {
	req, err := r.bot.Sign(ctx, protocol.SignArgs{Credential: nonceCred, HTTPRequest: protocol.HTTPRequest{
		Method: "POST", URL: "https://api.kraken.com/0/private/Balance",
	}})
	if err != nil {
		return err
	}
	form, err := url.ParseQuery(req.Body)
	if err != nil {
		return fmt.Errorf("kraken body %q: %v", req.Body, err)
	}
	n, err := strconv.ParseUint(form.Get("nonce"), 10, 64)
	if err != nil {
		return fmt.Errorf("kraken body %q has no nonce", req.Body)
	}
	r.nonceMu.Lock()
	defer r.nonceMu.Unlock()
	if n <= r.lastNonce {
		return fmt.Errorf("nonce went backwards: %d after %d", n, r.lastNonce)
	}
	r.lastNonce = n
	return nil
}

// checkSigns signs with every credential of s and checks that each
// signature verifies under the secret s says it has, with s's API key.
// (The Kraken key is left to the bot in interrupt, so that its first
// signature, which writes VAULT.nonces, races the kill.)
func (r *crashRig) checkSigns(s vaultState) error {
	for name, c := range s.Creds {
		req, err := r.bot.Sign(context.Background(), protocol.SignArgs{Credential: name, HTTPRequest: protocol.HTTPRequest{
			Method: "GET", URL: "https://api.binance.com/api/v3/account?omitZeroBalances=true",
		}})
		if err != nil {
			return fmt.Errorf("sign with %s: %w", name, err)
		}
		if err := agenttest.VerifyBinance(c.Secret, req); err != nil {
			return fmt.Errorf("%s does not sign with the secret of its version %d: %w", name, c.Version, err)
		}
		if got := req.Headers["X-MBX-APIKEY"]; got != c.APIKey {
			return fmt.Errorf("%s signs with API key %q, want %q", name, got, c.APIKey)
		}
	}
	return nil
}

// crashOutcome is what one kill left behind.
type crashOutcome struct {
	acked, applied bool
}

// interrupt runs op with the CLI and kills the agent after delay, while a
// bot signs with the nonce credential; then it checks the vault from the
// file and through a new agent, and returns which state it holds.
func (r *crashRig) interrupt(op crashOp, delay time.Duration) (crashOutcome, cliResult, error) {
	ctx, stopBot := context.WithCancel(context.Background())
	botDone := make(chan error, 1)
	go func() {
		for {
			if err := r.signKraken(ctx); err != nil {
				if strings.Contains(err.Error(), "backwards") {
					botDone <- err
				} else {
					botDone <- nil // the agent died under it
				}
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	wait := startCLI(r.t, r.sock, r.vault, op.stdin, op.args...)
	time.Sleep(delay)
	r.kill()
	res := wait()
	stopBot()
	if err := <-botDone; err != nil {
		return crashOutcome{}, res, err
	}
	out := crashOutcome{acked: res.err == nil}

	list, err := listVaultFile(r.t, r.sock, r.vault)
	if err != nil {
		return out, res, fmt.Errorf("the vault file does not open after the kill: %w", err)
	}
	switch {
	case matchesListing(op.after, list) && (op.kind == "passwd" || !matchesListing(op.before, list)):
		out.applied = true
	case matchesListing(op.before, list):
	default:
		return out, res, fmt.Errorf("the vault lists neither the old nor the new state: %+v", list)
	}
	passes := []string{op.before.Pass}
	if op.kind == "passwd" {
		passes = []string{op.after.Pass, op.before.Pass}
	}
	pass, err := r.start(passes...)
	if err != nil {
		return out, res, fmt.Errorf("a new agent cannot open the vault after the kill: %w", err)
	}
	if op.kind == "passwd" {
		out.applied = pass == op.after.Pass
	}
	if out.acked && !out.applied {
		return out, res, errors.New("the CLI reported success, but the vault holds the old state")
	}
	state := op.before
	if out.applied {
		state = op.after
	}
	if err := r.checkSigns(state); err != nil {
		return out, res, err
	}
	return out, res, nil
}

// killTiming chooses when to kill during one kind of operation.
type killTiming struct {
	window           time.Duration // the longest acknowledged run, and half again
	lastOld, lastNew time.Duration // the latest delays that left the old and the new state
}

// draw returns a delay: uniform over the window, or, every other time,
// over the span between lastOld and lastNew (widened by a millisecond
// each side), where the commit happens.
func (k *killTiming) draw(rng *mathrand.Rand) time.Duration {
	lo, hi := time.Duration(0), k.window
	if rng.IntN(2) == 0 {
		lo, hi = min(k.lastOld, k.lastNew)-time.Millisecond, max(k.lastOld, k.lastNew)+time.Millisecond
		lo = max(lo, 0)
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
}

// learn records what a kill after delay left.
func (k *killTiming) learn(delay time.Duration, out crashOutcome, took time.Duration) {
	if out.applied {
		k.lastNew = delay
	} else {
		k.lastOld = delay
	}
	if out.acked && took*3/2 > k.window {
		k.window = took * 3 / 2 // a slower machine, or a busy moment
	}
}

// tempFiles counts the temporary files of atomic writes in dir (the
// vault's, the nonce file's and the usage file's).
func tempFiles(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, ".vault*.tmp*"))
	return len(m)
}

// TestCrashSIGKILLDuringVaultChanges proves the vault's crash safety: the
// agent is killed with SIGKILL at a random moment (seeded, logged) while
// `keyward add`, `rotate`, `rm` or `passwd` runs, and a bot signs with a
// Kraken key (so the nonce and usage side files are being written too).
// After every kill the vault file opens without an agent (`keyward list`),
// a new agent takes the vault lock and unlocks it, and the vault holds
// exactly the state before or after the interrupted operation: names, API
// keys, versions, the passphrase, and each record signs with the secret of
// its version. An operation the CLI acknowledged (exit 0) is never lost,
// and Kraken nonces never go backwards across a kill.
//
// make test: about 100 kills; make soak (KEYWARD_SOAK=1): 2,000;
// KEYWARD_CRASH_KILLS=N sets the count, KEYWARD_SEED replays a run.
func TestCrashSIGKILLDuringVaultChanges(t *testing.T) {
	kills := 100
	if soak() {
		kills = 2000
	}
	kills = envInt(t, "KEYWARD_CRASH_KILLS", kills)
	seed := testSeed(t)
	t.Logf("seed %d (replay with KEYWARD_SEED=%d), %d kills", seed, seed, kills)
	rng := mathrand.New(mathrand.NewPCG(seed, seed^0x6b657977617264))

	dir := shortTempDir(t, "kw-crash-")
	sock, vault := agentPaths(dir)
	state := vaultState{Pass: "pass-" + randomToken(rng, 16), Creds: map[string]cred{}}
	initVault(t, vault, state.Pass)
	r := &crashRig{t: t, sock: sock, vault: vault}
	_, err := r.start(state.Pass)
	require.NoError(t, err)
	krakenSecret := make([]byte, 64)
	rand.Read(krakenSecret)
	_, err = r.bot.Add(context.Background(), protocol.AddArgs{Name: nonceCred, Scheme: "kraken", APIKey: "kraken-key",
		Secret: protocol.Secret(base64.StdEncoding.EncodeToString(krakenSecret))})
	require.NoError(t, err)

	// Each kind of operation is timed once without a kill. Half the kills
	// then land uniformly within 1.5 times the longest run seen of that
	// kind (before the request, during the write, after the reply); the
	// other half between the latest delay that left the old state and the
	// latest that left the new one, where the write happens.
	timing := map[string]*killTiming{}
	serial := 0
	for _, kind := range []string{"add", "rotate", "passwd", "rm"} {
		var op crashOp
		for op.kind != kind {
			op = nextCrashOp(rng, state, serial)
		}
		serial++
		res := startCLI(t, sock, vault, op.stdin, op.args...)()
		require.NoError(t, res.err, "%s: %s", op, res.stderr)
		timing[kind] = &killTiming{window: res.took * 3 / 2, lastOld: 0, lastNew: res.took}
		state = op.after
	}

	counts := map[string]*[3]int{} // per kind: acknowledged, applied without ack, not applied
	midWrite := 0
	start := time.Now()
	for i := range kills {
		op := nextCrashOp(rng, state, serial)
		serial++
		kt := timing[op.kind]
		delay := kt.draw(rng)
		tmpsBefore := tempFiles(dir)
		out, res, err := r.interrupt(op, delay)
		require.NoError(t, err, "seed %d (replay with KEYWARD_SEED=%d), kill %d: `keyward %s` killed after %v; CLI exit: %v, took %v\nstdout: %s\nstderr: %s\nagent log:\n%s",
			seed, seed, i, op, delay, res.err, res.took, res.stdout, res.stderr, r.agent.logs.String())
		if out.applied {
			state = op.after
		}
		kt.learn(delay, out, res.took)
		if tempFiles(dir) > tmpsBefore {
			midWrite++ // the kill came between the temporary file's creation and its rename
		}
		c := counts[op.kind]
		if c == nil {
			c = new([3]int)
			counts[op.kind] = c
		}
		switch {
		case out.acked:
			c[0]++
		case out.applied:
			c[1]++
		default:
			c[2]++
		}
	}
	r.kill()
	took := time.Since(start)
	for _, kind := range slices.Sorted(maps.Keys(counts)) {
		c := counts[kind]
		t.Logf("%-6s acknowledged %3d, applied but killed before the reply %3d, not applied %3d", kind, c[0], c[1], c[2])
	}
	t.Logf("%d kills in %v (%v each); %d landed inside an atomic write (a temporary file was left behind, and nothing removes it); %d credentials at the end",
		kills, took.Round(time.Millisecond), (took / time.Duration(kills)).Round(time.Millisecond), midWrite, len(state.Creds))
}
