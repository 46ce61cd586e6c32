package scheme

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ccxt, the npm package pinned in testdata/ccxt/package-lock.json, is the
// reference signer: a differential test builds requests with ccxt's sign()
// (clock frozen, real test secrets), strips what the agent adds, signs the
// rest with the scheme under test and compares the whole signed request.
//
// `make test` installs the package (npm ci) and sets KEYWARD_REQUIRE_CCXT=1,
// so in CI a missing ccxt is a failure, not a skip.

// ccxtCase is one call of exchange.sign(path, api, method, params, headers, body).
type ccxtCase struct {
	Exchange    string            `json:"exchange"`
	Config      map[string]any    `json:"config,omitempty"`  // constructor options
	Options     map[string]any    `json:"options,omitempty"` // merged into exchange.options
	Credentials map[string]string `json:"credentials"`       // apiKey, secret, password, privateKey, walletAddress…
	NowMS       int64             `json:"now_ms"`
	Nonce       any               `json:"nonce,omitempty"` // overrides exchange.nonce()
	UUID        string            `json:"uuid,omitempty"`  // overrides exchange.uuid*()
	Path        string            `json:"path"`
	API         any               `json:"api"` // "private" or ["private", "spot"]…
	Method      string            `json:"method"`
	Params      json.RawMessage   `json:"params,omitempty"` // an object; key order is kept
	Headers     map[string]string `json:"headers,omitempty"`
	Body        any               `json:"body,omitempty"`
}

// ccxtResult is ccxt's signed request, or the error it threw.
type ccxtResult struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Error   string            `json:"error"`
}

// ccxtSign runs every case through ccxt in one node process.
func ccxtSign(t testing.TB, cases []ccxtCase) []ccxtResult {
	t.Helper()
	var res []ccxtResult
	runCCXTScript(t, "sign.mjs", cases, &res)
	require.Len(t, res, len(cases))
	return res
}

// runCCXTScript runs a Node script of testdata/ccxt with the pinned ccxt:
// in goes to its stdin as JSON, and its stdout is decoded into out. It
// skips when ccxt is not installed, or fails under KEYWARD_REQUIRE_CCXT.
func runCCXTScript(t testing.TB, script string, in, out any) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "ccxt"))
	require.NoError(t, err)
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "ccxt", "package.json"))
	if nodeErr != nil || modErr != nil {
		msg := "ccxt is not installed: run `npm ci --prefix agent/scheme/testdata/ccxt` (make test does)"
		if os.Getenv("KEYWARD_REQUIRE_CCXT") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	raw, err := json.Marshal(in)
	require.NoError(t, err)
	cmd := exec.Command("node", filepath.Join(dir, script))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	require.NoError(t, err, "node %s: %s", script, stderr.String())
	require.NoError(t, json.Unmarshal(stdout, out))
}

// TestCCXTHarness proves the harness itself: ccxt's Binance HMAC signature
// for a fixed request must verify with crypto/hmac, and the frozen clock
// must reach the request.
func TestCCXTHarness(t *testing.T) {
	res := ccxtSign(t, []ccxtCase{{
		Exchange:    "binance",
		Credentials: map[string]string{"apiKey": "k", "secret": "ccxt-harness-secret"},
		NowMS:       1700000000123,
		Path:        "account", API: "private", Method: "GET",
		Params: json.RawMessage(`{"omitZeroBalances":"true"}`),
	}, {
		Exchange: "nosuchexchange", Credentials: map[string]string{}, Path: "x", API: "public", Method: "GET",
	}})
	require.Empty(t, res[0].Error)
	require.Contains(t, res[0].URL, "timestamp=1700000000123&omitZeroBalances=true")
	verifyBinance(t, []byte("ccxt-harness-secret"), Request{Method: res[0].Method, URL: res[0].URL, Body: res[0].Body})
	require.True(t, strings.Contains(res[1].Error, "nosuchexchange"), res[1].Error)
}
