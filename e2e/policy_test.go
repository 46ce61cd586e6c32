package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// cgroupRoot returns a cgroup hierarchy this test may make units in: the
// unified one (cgroup v2, or v2 inside a hybrid setup) or systemd's named
// v1 hierarchy. "" when there is none (the test then skips, saying why).
func cgroupRoot(t *testing.T) string {
	for _, dir := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup", "/sys/fs/cgroup/systemd"} {
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
			continue
		}
		probe := filepath.Join(dir, fmt.Sprintf("kw-probe-%d.slice", os.Getpid()))
		if os.Mkdir(probe, 0o755) == nil {
			os.Remove(probe)
			return dir
		}
	}
	return ""
}

// unit makes a cgroup that reads, to the kernel and to keyward, as the
// systemd unit name (under a test slice), and removes it at the end.
func unit(t *testing.T, root, name string) string {
	slice := filepath.Join(root, fmt.Sprintf("kwtest-%d.slice", os.Getpid()))
	dir := filepath.Join(slice, name)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Cleanup(func() {
		os.Remove(dir)
		os.Remove(slice)
	})
	return dir
}

// inUnit runs keyward as uid inside the cgroup dir (the process moves
// itself in, as root, then drops to uid with setpriv and execs keyward),
// and returns its exit code, stdout and stderr.
func inUnit(t *testing.T, cgroup string, uid uint32, sock string, args ...string) (int, string, string) {
	t.Helper()
	script := `set -e; [ -z "$KW_CGROUP" ] || echo $$ > "$KW_CGROUP/cgroup.procs"; exec setpriv --reuid="$KW_UID" --regid="$KW_UID" --clear-groups "$@"`
	cmd := exec.Command("sh", append([]string{"-c", script, "sh", keywardBin}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/", raceQuiet, "KEYWARD_SOCK=" + sock, "KW_CGROUP=" + cgroup, fmt.Sprintf("KW_UID=%d", uid)}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, out.String(), errb.String()
}

// TestPolicyRealProcesses runs bots as other uids inside real cgroups
// named like systemd units, against the real agent with a policy file:
// allow, default deny, another unit of the same uid, order size limits,
// withdrawal refusal, no administration, list filtering, hot reload of a
// good and a broken file, and the audit log's record of it all.
func TestPolicyRealProcesses(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("running bots as other uids in cgroups needs root")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	root := cgroupRoot(t)
	if root == "" {
		t.Skip("no writable cgroup hierarchy to make a unit in")
	}
	const bot, stranger = 65534, 65533
	gridUnit := fmt.Sprintf("kw-grid-%d.service", os.Getpid())
	grid := unit(t, root, gridUnit)

	dir := shortTempDir(t, "kw-pol-")
	require.NoError(t, os.Chmod(dir, 0o755))
	sock, vault := agentPaths(dir)
	polFile := filepath.Join(dir, "policy.toml")
	policy := func(extra string) string {
		return fmt.Sprintf(`version = 1
[[client]]
name = "grid"
uid = %d
unit = %q
  [[client.grant]]
  credentials = ["binance-main"]
  operations = ["sign", "list"]
  endpoints = ["GET /api/v3/account", "POST /api/v3/order"%s]
  max_quantity = "1"
[[client]]
name = "watcher"
uid = %d
  [[client.grant]]
  credentials = ["binance-main"]
  operations = ["list"]
`, bot, gridUnit, extra, bot)
	}
	require.NoError(t, os.WriteFile(polFile, []byte(policy("")), 0o644))
	auditLog := filepath.Join(dir, "audit.log")
	initVault(t, vault, "correct horse battery staple")
	agent := startAgent(t, sock, vault, "--policy", polFile, "--audit-log", auditLog)
	require.NoError(t, os.Chmod(filepath.Dir(sock), 0o755))
	require.NoError(t, os.Chmod(sock, 0o666))

	_, err := cli(t, sock, "correct horse battery staple\n", "unlock")
	require.NoError(t, err)
	for _, name := range []string{"binance-main", "binance-treasury"} {
		out, err := cli(t, sock, "e2e-policy-secret-"+name+"\n", "add", name, "--scheme", "binance", "--api-key", "key-"+name)
		require.NoError(t, err, out)
	}

	signed := func(stdout string) *protocol.HTTPRequest {
		var r protocol.HTTPRequest
		require.NoError(t, json.Unmarshal([]byte(stdout), &r), stdout)
		return &r
	}

	// Allowed: the grid bot, in its unit, places a small order.
	code, out, errs := inUnit(t, grid, bot, sock, "sign", "binance-main", "POST", "https://api.binance.com/api/v3/order", "--body", "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.5&price=100")
	require.Equal(t, 0, code, errs)
	assert.NoError(t, agenttest.VerifyBinance("e2e-policy-secret-binance-main", signed(out)))

	// Too large an order.
	code, _, errs = inUnit(t, grid, bot, sock, "sign", "binance-main", "POST", "https://api.binance.com/api/v3/order", "--body", "symbol=BTCUSDT&quantity=5&price=100")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "above grant 1's max_quantity 1")

	// A withdrawal, even from the granted bot.
	code, _, errs = inUnit(t, grid, bot, sock, "sign", "binance-main", "POST", "https://api.binance.com/sapi/v1/capital/withdraw/apply", "--body", "coin=BTC&address=bc1qexample&amount=1")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "withdrawal endpoint")

	// The other credential: denied with the same words as a missing one.
	_, _, errT := inUnit(t, grid, bot, sock, "sign", "binance-treasury", "GET", "https://api.binance.com/api/v3/account")
	_, _, errN := inUnit(t, grid, bot, sock, "sign", "binance-nosuch", "GET", "https://api.binance.com/api/v3/account")
	assert.Contains(t, errT, "has no grant for credential")
	assert.Equal(t, errT, strings.ReplaceAll(errN, "binance-nosuch", "binance-treasury"))

	// The same uid outside the unit is the watcher: it may list, not sign,
	// and sees only its credential.
	code, _, errs = inUnit(t, "", bot, sock, "sign", "binance-main", "GET", "https://api.binance.com/api/v3/account")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `client "watcher"`)
	code, out, errs = inUnit(t, "", bot, sock, "list")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "binance-main")
	assert.NotContains(t, out, "binance-treasury")

	// Bots do not administer.
	code, _, errs = inUnit(t, grid, bot, sock, "lock")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "may use credentials but not lock")

	// A uid the policy does not name is refused at the door.
	code, _, errs = inUnit(t, "", stranger, sock, "status")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "no client in the policy matches")

	// Hot reload: a good edit applies to new requests...
	open := []string{"sign", "binance-main", "GET", "https://api.binance.com/api/v3/openOrders?symbol=BTCUSDT"}
	code, _, _ = inUnit(t, grid, bot, sock, open...)
	assert.Equal(t, 1, code, "openOrders is not granted yet")
	require.NoError(t, os.WriteFile(polFile+".new", []byte(policy(`, "GET /api/v3/openOrders"`)), 0o644))
	require.NoError(t, os.Rename(polFile+".new", polFile))
	require.Eventually(t, func() bool {
		code, _, _ := inUnit(t, grid, bot, sock, open...)
		return code == 0
	}, 10*time.Second, 100*time.Millisecond, "the new policy never applied: %s", agent.logs.String())

	// ...and a broken one is refused with its line, in the log and in
	// status, while the policy in force stays.
	require.NoError(t, os.WriteFile(polFile, []byte(policy(`, "GET /api/v3/openOrders"`)+"\nbogus = [\n"), 0o644))
	require.Eventually(t, func() bool {
		out, _ := cli(t, sock, "", "status", "--json")
		return strings.Contains(out, `"policy_error"`)
	}, 10*time.Second, 100*time.Millisecond)
	out, _ = cli(t, sock, "", "status")
	assert.Regexp(t, `policy error: +policy .*policy.toml: line \d+`, out)
	code, _, errs = inUnit(t, grid, bot, sock, open...)
	assert.Equal(t, 0, code, "the old policy stays in force: %s", errs)
	assert.Contains(t, agent.logs.String(), "policy refused; the previous policy stays in force")

	// The audit log has it all, with the unit, and verifies.
	out, err = cli(t, sock, "", "audit", "verify", "--log", auditLog)
	require.NoError(t, err, out)
	raw, err := os.ReadFile(auditLog)
	require.NoError(t, err)
	log := string(raw)
	assert.Contains(t, log, gridUnit)
	assert.Contains(t, log, `"decision":"deny"`)
	assert.Contains(t, log, `"decision":"allow"`)
	assert.Contains(t, log, "max_quantity")
	assert.NotContains(t, log, "e2e-policy-secret")
	assert.NotContains(t, log, "bc1qexample", "parameters are hashed, never written")
}

// TestPolicyRateLimitAndAuditTamperingRealProcesses: a bot past its rate
// is refused with when to retry, and an edited audit log is caught by
// `keyward audit verify` at the edited line.
func TestPolicyRateLimitAndAuditTamperingRealProcesses(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("running bots as other uids needs root")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	const bot = 65534
	dir := shortTempDir(t, "kw-rate-")
	require.NoError(t, os.Chmod(dir, 0o755))
	sock, vault := agentPaths(dir)
	polFile := filepath.Join(dir, "policy.toml")
	require.NoError(t, os.WriteFile(polFile, []byte(fmt.Sprintf(`version = 1
[[client]]
name = "slow-bot"
uid = %d
rate = "1/h"
burst = 3
  [[client.grant]]
  credentials = ["binance-main"]
  operations = ["sign"]
  endpoints = ["GET /api/v3/account"]
`, bot)), 0o644))
	auditLog := filepath.Join(dir, "audit.log")
	initVault(t, vault, "correct horse battery staple")
	startAgent(t, sock, vault, "--policy", polFile, "--audit-log", auditLog)
	require.NoError(t, os.Chmod(filepath.Dir(sock), 0o755))
	require.NoError(t, os.Chmod(sock, 0o666))
	_, err := cli(t, sock, "correct horse battery staple\n", "unlock")
	require.NoError(t, err)
	out, err := cli(t, sock, "e2e-rate-secret-0001\n", "add", "binance-main", "--scheme", "binance", "--api-key", "k")
	require.NoError(t, err, out)

	acct := []string{"sign", "binance-main", "GET", "https://api.binance.com/api/v3/account"}
	for i := range 3 {
		code, _, errs := inUnit(t, "", bot, sock, acct...)
		require.Equal(t, 0, code, "request %d: %s", i+1, errs)
	}
	code, _, errs := inUnit(t, "", bot, sock, acct...)
	assert.Equal(t, 1, code)
	assert.Regexp(t, `client "slow-bot"'s rate 1/h is used up: retry in \d+m`, errs)

	// Edit one record of the real log: verify names it.
	require.Eventually(t, func() bool {
		raw, _ := os.ReadFile(auditLog)
		return strings.Count(string(raw), "\n") >= 4
	}, 5*time.Second, 50*time.Millisecond, "the audit records reach the file within the sync interval")
	out, err = cli(t, sock, "", "audit", "verify", "--log", auditLog)
	require.NoError(t, err, out)
	raw, err := os.ReadFile(auditLog)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(raw), "\n")
	require.Greater(t, len(lines), 3)
	lines[2] = strings.Replace(lines[2], `"decision":"allow"`, `"decision":"deny"`, 1)
	require.NoError(t, os.WriteFile(auditLog, []byte(strings.Join(lines, "")), 0o600))
	out, err = cli(t, sock, "", "audit", "verify", "--log", auditLog)
	require.Error(t, err)
	assert.Contains(t, out, "line 3")
	assert.Contains(t, out, "edited")
}
