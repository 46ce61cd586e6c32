package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/agent/audit"
)

// writeAuditLog writes n request records and returns the log's path.
func writeAuditLog(t *testing.T, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "audit.log")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l, err := audit.Open(audit.Options{Path: path})
	require.NoError(t, err)
	for i := 1; i <= n; i++ {
		r := audit.Record{
			Time:   t0.Add(time.Duration(i) * time.Second),
			Client: audit.Client{UID: 1000, GID: 1000, PID: 4242, Unit: "bot-a.service", Exe: "/usr/bin/python3"},
			Op:     "sign", Credential: "binance-main", Method: "POST", Host: "api.binance.com", Path: "/api/v3/order",
			Params: audit.ParamsHash("symbol=BTCUSDT", ""), Decision: audit.Allow, Rule: "bot-a", LatencyUS: 52,
		}
		if i == n {
			r.Decision, r.Rule, r.Reason = audit.Deny, "withdrawals", "withdrawals are refused unless a rule names them\x1b[2J"
		}
		require.NoError(t, l.Append(r))
	}
	require.NoError(t, l.Close())
	return path
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(&ui{stdin: os.Stdin, stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestAuditVerify(t *testing.T) {
	path := writeAuditLog(t, t.TempDir(), 5)

	code, out, errs := runCLI(t, "audit", "verify", "--log", path)
	require.Equal(t, exitOK, code, errs)
	assert.Regexp(t, `^intact: 5 records \(seq 1 to 5\) in 1 file; head [0-9a-f]{64}\n$`, out)

	code, out, _ = runCLI(t, "audit", "verify", "--json", "--log", path)
	require.Equal(t, exitOK, code)
	var rep audit.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.True(t, rep.OK)
	assert.Equal(t, 5, rep.Records)

	// Edit record 3.
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(b), "\n")
	lines[2] = strings.Replace(lines[2], `"decision":"allow"`, `"decision":"deny"`, 1)
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600))

	code, out, errs = runCLI(t, "audit", "verify", "--log", path)
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, out)
	assert.Contains(t, errs, "keyward: error: audit log is not intact: "+path+" line 3: record 3: hash does not match its contents (edited)\n")
	assert.Contains(t, errs, "keyward: hint: keep a copy of the log files")
	assert.Contains(t, errs, "keyward: hint: the log was changed after it was written")

	code, out, _ = runCLI(t, "audit", "verify", "--json", "--log", path)
	assert.Equal(t, exitFailure, code)
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.False(t, rep.OK)
	assert.Equal(t, 3, rep.Problem.Line)
	assert.Equal(t, audit.KindEdited, rep.Problem.Kind)

	code, _, errs = runCLI(t, "audit", "verify", "--log", filepath.Join(t.TempDir(), "none.log"))
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errs, "keyward: error: no audit log at ")
	assert.Contains(t, errs, "keyward: hint: ")
}

func TestAuditUsage(t *testing.T) {
	for _, args := range [][]string{
		{"audit"},
		{"audit", "show"},
		{"audit", "verify", "-n", "3"},
		{"audit", "verify", "--follow"},
		{"audit", "tail", "extra", "args"},
	} {
		code, _, errs := runCLI(t, args...)
		assert.Equal(t, exitUsage, code, "%v: %s", args, errs)
		assert.Contains(t, errs, "keyward: error: ", "%v", args)
	}
}

func TestAuditTail(t *testing.T) {
	path := writeAuditLog(t, t.TempDir(), 5)

	code, out, errs := runCLI(t, "audit", "tail", "--log", path, "-n", "2")
	require.Equal(t, exitOK, code, errs)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 2)
	assert.Regexp(t, `^2026-03-01T12:00:04\.000Z  allow  uid=1000 pid=4242 bot-a\.service\s+sign\s+binance-main\s+POST api\.binance\.com/api/v3/order\s+bot-a$`, lines[0])
	assert.Regexp(t, `^2026-03-01T12:00:05\.000Z  deny   uid=1000 pid=4242 bot-a\.service .*  withdrawals: withdrawals are refused unless a rule names them\?\[2J$`, lines[1],
		"control characters a bot chose do not reach the terminal")
	assert.Equal(t, strings.Index(lines[0], "binance-main"), strings.Index(lines[1], "binance-main"), "columns align")

	code, out, _ = runCLI(t, "audit", "tail", "--json", "--log", path, "-n", "-1")
	require.Equal(t, exitOK, code)
	file, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(file), out, "--json prints the records exactly as stored (and hashed)")

	// The default path: $KEYWARD_AUDIT_LOG, else beside the vault.
	t.Setenv("KEYWARD_AUDIT_LOG", path)
	code, out, _ = runCLI(t, "audit", "tail")
	require.Equal(t, exitOK, code)
	assert.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 5)
	t.Setenv("KEYWARD_AUDIT_LOG", "")
	t.Setenv("KEYWARD_VAULT", filepath.Join(filepath.Dir(path), "vault"))
	assert.Equal(t, path, auditLogPath())

	code, _, errs = runCLI(t, "audit", "tail", "--log", filepath.Join(t.TempDir(), "none.log"))
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errs, "no audit log at")
}

func TestFormatRecordAlertAndStart(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	alert := formatRecord(audit.Record{Type: audit.TypeAlert, Time: at, Client: audit.Client{UID: 1000, PID: 9, Exe: "/opt/bot/run"},
		Rule: audit.RuleDenyBurst, Reason: "20 requests denied in the last 10s"})
	assert.Regexp(t, `^2026-03-01T12:00:00\.000Z  ALERT  uid=1000 pid=9 run\s+-\s+-\s+-\s+deny-burst: 20 requests denied in the last 10s$`, alert)
	start := formatRecord(audit.Record{Type: audit.TypeStart, Time: at, Reason: "a new chain starts here"})
	assert.Regexp(t, `^2026-03-01T12:00:00\.000Z  start  -\s+-\s+-\s+-\s+a new chain starts here$`, start)
	fwd := formatRecord(audit.Record{Type: audit.TypeRequest, Time: at, Decision: audit.Allow, Op: "forward", Status: 429})
	assert.Contains(t, fwd, "(status 429)")
}
