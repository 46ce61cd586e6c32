package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// TestBadInput is issue 8's proof 5: malformed input across the protocol,
// the CLI, the vault file and the policy file, each row with the exact
// error it must get, and after each row a check that nothing was lost or
// changed: the vault's bytes, the agent serving a well-behaved client and
// still holding its credential, and the policy in force.
//
// One agent serves the whole table (it is the agent under attack), so the
// table stays fast. Rows that show a bug are kept with knownBug set: they
// skip, saying why, until the bug is fixed.
func TestBadInput(t *testing.T) {
	b := newBadEnv(t)
	t.Run("protocol", b.protocolRows)
	t.Run("cli", b.cliRows)
	t.Run("policy", b.policyRows)
	t.Run("vault", b.vaultRows)
}

const (
	badPass   = "correct horse battery staple"
	badSecret = "keyward-badinput-secret-not-a-real-key"
	// badWatcher is a uid the policy lets list "main"; it shows which
	// policy is in force.
	badWatcher = 65534
)

// goodPolicy lets this test (root, in-process) sign with main, and the
// watcher list it. Under a policy even root's use of credentials needs a
// grant; administration stays the owner's.
const goodPolicy = `version = 1

[[client]]
name = "table"
uid = 0

  [[client.grant]]
  credentials = ["main"]
  operations = ["sign", "list"]
  endpoints = ["GET /api/v3/account"]

[[client]]
name = "watcher"
uid = 65534

  [[client.grant]]
  credentials = ["main"]
  operations = ["list"]
`

type badEnv struct {
	dir, sock, vault, policy string
	agent                    *agentProc
	goodVault                []byte
}

func newBadEnv(t *testing.T) *badEnv {
	dir := shortTempDir(t, "kw-bad-")
	require.NoError(t, os.Chmod(dir, 0o755))
	sock, vault := agentPaths(dir)
	b := &badEnv{dir: dir, sock: sock, vault: vault, policy: filepath.Join(dir, "policy.toml")}
	require.NoError(t, os.WriteFile(b.policy, []byte(goodPolicy), 0o644))
	initVault(t, vault, badPass)
	b.agent = startAgent(t, sock, vault, "--policy", b.policy, "--no-audit")
	// The watcher, another uid, reaches the socket; the policy decides.
	require.NoError(t, os.Chmod(filepath.Dir(sock), 0o755))
	require.NoError(t, os.Chmod(sock, 0o666))
	out, err := cli(t, sock, badPass+"\n", "unlock")
	require.NoError(t, err, out)
	out, err = cli(t, sock, badSecret+"\n", "add", "main", "--scheme", "binance", "--api-key", "k1")
	require.NoError(t, err, out)
	b.goodVault, err = os.ReadFile(vault)
	require.NoError(t, err)
	b.healthy(t)
	return b
}

// healthy checks that nothing was lost or changed: the vault file holds
// the same bytes, the agent is unlocked with its one credential, a new
// well-behaved client gets a correct signature, and the good policy is
// in force.
func (b *badEnv) healthy(t *testing.T) {
	t.Helper()
	got, err := os.ReadFile(b.vault)
	require.NoError(t, err)
	require.True(t, bytes.Equal(got, b.goodVault), "the vault file changed")
	c, err := client.Dial(b.sock)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	require.NoError(t, err, "the agent no longer serves: %s", b.agent.logs.String())
	require.False(t, st.Locked, "the agent locked itself")
	require.Equal(t, 1, st.Credentials)
	signed, err := c.Sign(ctx, protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}})
	require.NoError(t, err)
	require.NoError(t, agenttest.VerifyBinance(badSecret, signed), "the credential's secret changed")
	require.Equal(t, "k1", signed.Headers["X-MBX-APIKEY"])
}

// ---- protocol: raw frames on the agent's socket ----

type frameRow struct {
	name string
	raw  []byte // written as is (header included)
	// The reply expected: id, code and exact message. noReply: the agent
	// answers nothing (the client gave up mid-frame).
	id      uint64
	code    protocol.Code
	msg     string
	noReply bool
	closed  bool   // the agent closes the connection after replying
	secret  string // must not appear in the reply
	// unclear: the agent's current answer is unclear (a bug to fix, not
	// to pin); the row skips, saying why, until it is fixed.
	unclear string
}

// fr frames a body with its true length.
func fr(body string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// hdr is a bare length header.
func hdr(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

func (b *badEnv) protocolRows(t *testing.T) {
	ops := fmt.Sprint(protocol.Operations())
	rows := []frameRow{
		{name: "length 0", raw: hdr(0), code: protocol.CodeBadFrame, closed: true,
			msg: "protocol: empty frame (length 0); closing the connection"},
		{name: "length over 1 MiB", raw: hdr(1<<20 + 1), code: protocol.CodeBadFrame, closed: true,
			msg: "protocol: frame of 1048577 bytes is over the 1048576-byte limit; closing the connection"},
		{name: "length 0xffffffff", raw: hdr(0xffffffff), code: protocol.CodeBadFrame, closed: true,
			msg: "protocol: frame of 4294967295 bytes is over the 1048576-byte limit; closing the connection"},
		{name: "short header then hang-up", raw: []byte{0, 0}, noReply: true},
		{name: "body shorter than its length then hang-up", raw: append(hdr(100), `{"id":1,"op":"unlock","args":{"passphrase":"c2Vj`...), noReply: true},
		{name: "not JSON", raw: fr(`hello agent`), code: protocol.CodeBadFrame, closed: true,
			msg: "frame is not a JSON request object: invalid JSON at byte 1"},
		{name: "JSON array", raw: fr(`[1,2,3]`), code: protocol.CodeBadFrame, closed: true,
			msg: "frame is not a JSON request object: expected a JSON object"},
		{name: "JSON string", raw: fr(`"status"`), code: protocol.CodeBadFrame, closed: true,
			msg: "frame is not a JSON request object: expected a JSON object"},
		{name: "trailing garbage after the object", raw: fr(`{"id":1,"op":"status"} x`), code: protocol.CodeBadFrame, closed: true,
			msg: "frame is not a JSON request object: invalid JSON at byte 24"},
		{name: "two objects in one frame", raw: fr(`{"id":1,"op":"status"}{"id":2,"op":"status"}`), code: protocol.CodeBadFrame, closed: true,
			msg: "frame is not a JSON request object: invalid JSON at byte 23"},
		{name: "id is a string", raw: fr(`{"id":"1","op":"status"}`), code: protocol.CodeBadFrame, closed: true,
			msg: `frame is not a JSON request object: field "id" must be a JSON number`},
		{name: "id is negative", raw: fr(`{"id":-1,"op":"status"}`), code: protocol.CodeBadFrame, closed: true,
			msg: `frame is not a JSON request object: field "id" must be a JSON number`},
		{name: "op is a number", raw: fr(`{"id":1,"op":7}`), code: protocol.CodeBadFrame, closed: true,
			msg: `frame is not a JSON request object: field "op" must be a JSON string`},
		{name: "no op", raw: fr(`{"id":3}`), id: 3, code: protocol.CodeBadRequest,
			msg: `request 3 has no "op"`},
		{name: "unknown op", raw: fr(`{"id":4,"op":"dump_secrets"}`), id: 4, code: protocol.CodeUnsupported,
			msg: `unknown operation "dump_secrets": this agent speaks ` + ops},
		{name: "op in the wrong case", raw: fr(`{"id":5,"op":"STATUS"}`), id: 5, code: protocol.CodeUnsupported,
			msg: `unknown operation "STATUS": this agent speaks ` + ops},
		{name: "unknown field in sign args", raw: fr(`{"id":6,"op":"sign","args":{"credential":"main","method":"GET","url":"https://api.binance.com/api/v3/account","timestmp":1}}`), id: 6, code: protocol.CodeBadRequest,
			msg: `bad "sign" arguments: json: unknown field "timestmp"`},
		{name: "sign url is a number", raw: fr(`{"id":7,"op":"sign","args":{"credential":"main","method":"GET","url":42}}`), id: 7, code: protocol.CodeBadRequest,
			msg: `bad "sign" arguments: field "url" must be a JSON string`},
		{name: "sign args is an array", raw: fr(`{"id":8,"op":"sign","args":["main","GET"]}`), id: 8, code: protocol.CodeBadRequest,
			msg: `bad "sign" arguments: expected a JSON object`},
		{name: "sign headers is a list", raw: fr(`{"id":9,"op":"sign","args":{"credential":"main","method":"GET","url":"https://api.binance.com/api/v3/account","headers":["A: b"]}}`), id: 9, code: protocol.CodeBadRequest,
			msg: `bad "sign" arguments: field "headers" must be a JSON object`},
		{name: "sign for a foreign host", raw: fr(`{"id":10,"op":"sign","args":{"credential":"main","method":"GET","url":"https://evil.example/api/v3/account"}}`), id: 10, code: protocol.CodeDenied,
			msg: "credential \"main\" signs only for binance hosts (api.binance.com, api-gcp.binance.com, api1.binance.com, api2.binance.com, api3.binance.com, api4.binance.com, testnet.binance.vision, demo-api.binance.com, fapi.binance.com, dapi.binance.com, testnet.binancefuture.com, demo-fapi.binance.com, demo-dapi.binance.com), not evil.example: add other hosts with `keyward add --host`"},
		{name: "sign an unknown credential (the policy names it not)", raw: fr(`{"id":11,"op":"sign","args":{"credential":"nosuch","method":"GET","url":"https://api.binance.com/api/v3/account"}}`), id: 11, code: protocol.CodeDenied,
			msg: "client \"table\" has no grant for credential \"nosuch\" (rule: client \"table\" (line 3))"},
		{name: "remove name is a number", raw: fr(`{"id":12,"op":"remove","args":{"name":1}}`), id: 12, code: protocol.CodeBadRequest,
			msg: `bad "remove" arguments: field "name" must be a JSON string`},
		{name: "hello version is a string", raw: fr(`{"id":13,"op":"hello","args":{"version":"1"}}`), id: 13, code: protocol.CodeBadRequest,
			msg: `bad "hello" arguments: field "version" must be a JSON number`},
		{name: "unlock passphrase with a JSON escape", raw: fr(`{"id":14,"op":"unlock","args":{"passphrase":"Y29ycmVj\/dCBob3JzZQ=="}}`), id: 14, code: protocol.CodeBadRequest,
			secret: "dCBob3JzZQ", msg: `bad "unlock" arguments: protocol: a secret must be a plain base64 string without JSON escapes`},
		{name: "add secret with a unicode escape", raw: fr(`{"id":15,"op":"add","args":{"name":"x","scheme":"binance","api_key":"k","secret":"\u0061\u0032\u0056\u0035\u0064\u0032\u0046\u0079\u005a\u0043\u0031\u007a"}}`), id: 15, code: protocol.CodeBadRequest,
			secret: `\u0061\u0032`, msg: `bad "add" arguments: protocol: a secret must be a plain base64 string without JSON escapes`},
		{name: "add secret not base64", raw: fr(`{"id":16,"op":"add","args":{"name":"x","scheme":"binance","api_key":"k","secret":"plain-text-secret!"}}`), id: 16, code: protocol.CodeBadRequest,
			secret: "plain-text-secret", msg: `bad "add" arguments: protocol: a secret must be standard base64 (RFC 4648, with padding)`},
		{name: "add secret without padding", raw: fr(`{"id":17,"op":"add","args":{"name":"x","scheme":"binance","api_key":"k","secret":"c2VjcmV0cw"}}`), id: 17, code: protocol.CodeBadRequest,
			secret: "c2VjcmV0cw", msg: `bad "add" arguments: protocol: a secret must be standard base64 (RFC 4648, with padding)`},
		{name: "add secret is a number", raw: fr(`{"id":18,"op":"add","args":{"name":"x","scheme":"binance","api_key":"k","secret":12345678}}`), id: 18, code: protocol.CodeBadRequest,
			msg: `bad "add" arguments: protocol: a secret must be a base64 string`},
		{name: "add without a secret", raw: fr(`{"id":19,"op":"add","args":{"name":"x","scheme":"binance","api_key":"k","secrett":"c2VjcmV0LXZhbHVl"}}`), id: 19, code: protocol.CodeBadRequest,
			secret: "c2VjcmV0LXZhbHVl", msg: "credential \"x\" needs a secret"},
		{name: "add sets meta.key_type", raw: fr(`{"id":20,"op":"add","args":{"name":"x","scheme":"binance","api_key":"k","secret":"c2VjcmV0LXZhbHVl","meta":{"key_type":"rsa"}}}`), id: 20, code: protocol.CodeBadRequest,
			secret: "c2VjcmV0LXZhbHVl", msg: "metadata \"key_type\" is the agent's: it records the key type it finds in the secret"},
		{name: "add a bad name", raw: fr(`{"id":21,"op":"add","args":{"name":"../main","scheme":"binance","api_key":"k","secret":"c2VjcmV0LXZhbHVl"}}`), id: 21, code: protocol.CodeBadRequest,
			secret: "c2VjcmV0LXZhbHVl", msg: "credential name starts with '.' at position 1: use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit"},
		{name: "passwd without the new passphrase", raw: fr(`{"id":22,"op":"passwd","args":{"passphrase":"Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ=="}}`), id: 22, code: protocol.CodeBadRequest,
			secret: "Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ", msg: "passwd needs the current and the new passphrase"},
		{name: "rotate secret with an escape", raw: fr(`{"id":23,"op":"rotate","args":{"name":"main","secret":"bmV3\nc2VjcmV0"}}`), id: 23, code: protocol.CodeBadRequest,
			msg: `bad "rotate" arguments: protocol: a secret must be a plain base64 string without JSON escapes`},
		{name: "unlock args is a string", raw: fr(`{"id":24,"op":"unlock","args":"Y29ycmVjdCBob3JzZQ=="}`), id: 24, code: protocol.CodeBadRequest,
			secret: "Y29ycmVjdCBob3JzZQ", msg: `bad "unlock" arguments: expected a JSON object`},
		{name: "deeply nested args", raw: fr(`{"id":25,"op":"hello","args":{"client":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`), code: protocol.CodeBadFrame, closed: true,
			msg: "frame is not a JSON request object: JSON nested deeper than 10000 levels"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if r.unclear != "" {
				t.Skip("unclear error (issue 8, bad input): " + r.unclear)
			}
			b.sendFrame(t, r)
			b.healthy(t)
		})
	}
}

func (b *badEnv) sendFrame(t *testing.T, r frameRow) {
	t.Helper()
	nc, err := net.Dial("unix", b.sock)
	require.NoError(t, err)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = nc.Write(r.raw)
	require.NoError(t, err)
	if r.noReply {
		nc.(*net.UnixConn).CloseWrite()
		_, err := protocol.ReadFrame(nc, nil)
		require.ErrorIs(t, err, io.EOF, "the agent answered a request it never received whole")
		return
	}
	body, err := protocol.ReadFrame(nc, nil)
	require.NoError(t, err)
	var reply protocol.Reply
	require.NoError(t, json.Unmarshal(body, &reply), "%s", body)
	require.NotNil(t, reply.Error, "want an error reply, got %s", body)
	assert.Equal(t, r.id, reply.ID)
	assert.Equal(t, r.code, reply.Error.Code)
	assert.Equal(t, r.msg, reply.Error.Message)
	if r.secret != "" {
		assert.NotContains(t, string(body), r.secret, "the reply quotes the secret")
	}
	if r.closed {
		_, err := protocol.ReadFrame(nc, nil)
		assert.ErrorIs(t, err, io.EOF, "the agent kept the connection open")
	}
}

// ---- the CLI ----

type cliRow struct {
	name  string
	args  []string
	stdin string
	code  int
	// stderr is the whole of stderr, with the test's directory written $DIR.
	stderr string
	// created: a path (under $DIR) the command must not have created.
	created string
	unclear string // see frameRow.unclear
}

func (b *badEnv) cliRows(t *testing.T) {
	require.NoError(t, os.WriteFile(filepath.Join(b.dir, "empty"), nil, 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(b.dir, "adir"), 0o700))
	const hint = "keyward: hint: run `keyward help` for usage\n"
	rows := []cliRow{
		{name: "unknown command", args: []string{"unlcok"}, code: 2,
			stderr: "keyward: error: unknown command \"unlcok\"\n" + hint},
		{name: "unknown flag", args: []string{"status", "--verbose"}, code: 2,
			stderr: "keyward: error: status: flag provided but not defined: -verbose\n" + hint},
		{name: "add without args", args: []string{"add"}, code: 2,
			stderr: "keyward: error: usage: keyward add NAME --scheme SCHEME --api-key ID\n" + hint},
		{name: "add without --api-key", args: []string{"add", "x", "--scheme", "binance"}, code: 2,
			stderr: "keyward: error: usage: keyward add NAME --scheme SCHEME --api-key ID (both flags are required)\n" + hint},
		{name: "add with a name that looks like a flag", args: []string{"add", "-x", "--scheme", "binance", "--api-key", "k"}, code: 2,
			stderr: "keyward: error: add: flag provided but not defined: -x\nkeyward: hint: run `keyward help` for usage\n"},
		{name: "add --meta without =", args: []string{"add", "x", "--scheme", "binance", "--api-key", "k", "--meta", "novalue"}, code: 2,
			stderr: "keyward: error: --meta \"novalue\": write KEY=VALUE\n" + hint},
		{name: "add with both secrets on stdin", args: []string{"add", "x", "--scheme", "okx", "--api-key", "k", "--secret-file", "-", "--passphrase-file", "-"}, code: 2,
			stderr: "keyward: error: --secret-file - and --passphrase-file - cannot both read stdin: put one in a file, or give the secret then the passphrase on stdin without either flag\n" + hint},
		{name: "add --secret-file missing", args: []string{"add", "x", "--scheme", "binance", "--api-key", "k", "--secret-file", "$DIR/nosuch"}, code: 1,
			stderr: "keyward: error: api secret or private key file: open $DIR/nosuch: no such file or directory\n"},
		{name: "add --secret-file a directory", args: []string{"add", "x", "--scheme", "binance", "--api-key", "k", "--secret-file", "$DIR/adir"}, code: 1,
			stderr: "keyward: error: api secret or private key file: read $DIR/adir: is a directory\n"},
		{name: "add --secret-file empty", args: []string{"add", "x", "--scheme", "binance", "--api-key", "k", "--secret-file", "$DIR/empty"}, code: 1,
			stderr: "keyward: error: api secret or private key file $DIR/empty is empty\n"},
		{name: "add --passphrase-file for a scheme without one", args: []string{"add", "x", "--scheme", "binance", "--api-key", "k", "--passphrase-file", "$DIR/empty"}, code: 1,
			stderr: "keyward: error: binance keys have no passphrase: leave out --passphrase-file\n"},
		{name: "add with empty stdin", args: []string{"add", "x", "--scheme", "binance", "--api-key", "k"}, code: 1,
			stderr: "keyward: error: api secret or private key is empty\nkeyward: hint: write it on stdin (a PEM key whole, anything else as one line), or run from a terminal to be asked\n"},
		{name: "add a secret of the wrong shape", args: []string{"add", "x", "--scheme", "binance", "--api-key", "k"}, stdin: "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n", code: 1,
			stderr: "keyward: error: binance: the PKCS#1 RSA private key does not parse\n"},
		{name: "unlock with empty stdin", args: []string{"unlock"}, code: 1,
			stderr: "keyward: error: vault passphrase is empty\nkeyward: hint: write it as one line on stdin, or run from a terminal to be asked\n"},
		{name: "unlock takes no args", args: []string{"unlock", "now"}, code: 2,
			stderr: "keyward: error: usage: keyward unlock \n" + hint},
		{name: "rm without a name", args: []string{"rm"}, code: 2,
			stderr: "keyward: error: usage: keyward rm NAME\n" + hint},
		{name: "sign without a URL", args: []string{"sign", "main", "GET"}, code: 2,
			stderr: "keyward: error: usage: keyward sign NAME METHOD URL [--body BODY] [--header 'Name: value']\n" + hint},
		{name: "sign a relative URL", args: []string{"sign", "main", "GET", "/api/v3/account"}, code: 1,
			stderr: "keyward: error: url \"/api/v3/account\" is not an absolute URL\n"},
		{name: "sign --header without a colon", args: []string{"sign", "main", "GET", "https://api.binance.com/api/v3/account", "--header", "X-Foo"}, code: 2,
			stderr: "keyward: error: --header \"X-Foo\": write it as 'Name: value'\n" + hint},
		{name: "rotate --secret-file missing", args: []string{"rotate", "main", "--secret-file", "$DIR/nosuch"}, code: 1,
			stderr: "keyward: error: new api secret or private key file: open $DIR/nosuch: no such file or directory\n"},
		{name: "rotate an unknown credential", args: []string{"rotate", "nosuch", "--secret-file", "$DIR/empty"}, code: 1,
			stderr: "keyward: error: no credential named \"nosuch\"\nkeyward: hint: see `keyward list`\n"},
		{name: "passwd with empty stdin", args: []string{"passwd"}, code: 1,
			stderr: "keyward: error: current vault passphrase is empty\nkeyward: hint: write it as one line on stdin, or run from a terminal to be asked\n"},
		{name: "agent --lock-after not a duration", args: []string{"agent", "--socket", "$DIR/s2", "--vault", "$DIR/v2", "--lock-after", "banana"}, code: 2,
			stderr: "keyward: error: agent: invalid value \"banana\" for flag -lock-after: write a duration with its unit, such as 8h, 30m or 90s (0 for never)\nkeyward: hint: run `keyward help` for usage\n"},
		{name: "agent --lock-idle without a unit", args: []string{"agent", "--socket", "$DIR/s2", "--vault", "$DIR/v2", "--lock-idle", "30"}, code: 2,
			stderr: "keyward: error: agent: invalid value \"30\" for flag -lock-idle: write a duration with its unit, such as 8h, 30m or 90s (0 for never)\nkeyward: hint: run `keyward help` for usage\n"},
		{name: "agent --lock-after negative", args: []string{"agent", "--socket", "$DIR/s2", "--vault", "$DIR/v2", "--lock-after", "-5m"}, code: 2,
			stderr: "keyward: error: --lock-after and --lock-idle take a positive duration such as 8h or 30m\n" + hint},
		{name: "agent --log-level unknown", args: []string{"agent", "--socket", "$DIR/s2", "--vault", "$DIR/v2", "--log-level", "loud"}, code: 2,
			stderr: "keyward: error: --log-level \"loud\": use debug, info, warn or error\n" + hint},
		{name: "agent --group unknown", args: []string{"agent", "--socket", "$DIR/s2", "--vault", "$DIR/v2", "--group", "kw-no-such-group"}, code: 2,
			stderr: "keyward: error: --group kw-no-such-group: no such group (create it with `groupadd kw-no-such-group`, or give a group number)\n" + hint},
		{name: "agent --policy missing", args: []string{"agent", "--socket", "$DIR/s2", "--vault", "$DIR/v2", "--policy", "$DIR/nosuch.toml"}, code: 1,
			stderr: "keyward: error: policy: open $DIR/nosuch.toml: no such file or directory\nkeyward: hint: check it with `keyward policy check $DIR/nosuch.toml`\n"},
		{name: "agent on the running agent's vault", args: []string{"agent", "--socket", "$DIR/s2", "--vault", "$DIR/vault", "--no-audit"}, code: 1,
			stderr: "keyward: error: vault: lock $DIR/vault.lock: vault is in use by another keyward agent: stop the other agent first, or point this one at another vault\n"},
		{name: "init --argon2-memory 0", args: []string{"init", "--vault", "$DIR/v3", "--argon2-memory", "0"}, stdin: "pass\n", code: 1,
			stderr: "keyward: error: vault: create $DIR/v3: argon2id memory m=0 KiB is out of range [64, 4194304]\n", created: "v3"},
		{name: "init --argon2-time not a number", args: []string{"init", "--vault", "$DIR/v3", "--argon2-time", "three"}, code: 2,
			stderr: "keyward: error: init: invalid value \"three\" for flag -argon2-time: parse error\nkeyward: hint: run `keyward help` for usage\n", created: "v3"},
		{name: "init over the vault", args: []string{"init", "--vault", "$DIR/vault"}, stdin: "pass\n", code: 1,
			stderr: "keyward: error: a vault exists already at $DIR/vault; nothing was changed\nkeyward: hint: to start over, move that file away first; to change its passphrase, run `keyward passwd`\n"},
		{name: "init takes no passphrase flag", args: []string{"init", "--vault", "$DIR/v3", "--passphrase", "x"}, code: 2,
			stderr: "keyward: error: init: flag provided but not defined: -passphrase\n" + hint, created: "v3"},
		{name: "policy without a subcommand", args: []string{"policy"}, code: 2,
			stderr: "keyward: error: usage: keyward policy check [FILE] | explain --uid U [--unit UNIT] CRED METHOD URL | catalogue\n" + hint},
		{name: "policy explain without --uid", args: []string{"policy", "explain", "main", "GET", "https://api.binance.com/"}, code: 2,
			stderr: "keyward: error: usage: keyward policy explain --uid U [--unit UNIT] [--exe PATH] CRED METHOD URL\n" + hint},
		{name: "policy explain --uid not a number", args: []string{"policy", "explain", "--uid", "bot", "main", "GET", "https://api.binance.com/"}, code: 2,
			stderr: "keyward: error: policy: invalid value \"bot\" for flag -uid: parse error\nkeyward: hint: run `keyward help` for usage\n"},
		{name: "audit unknown subcommand", args: []string{"audit", "check"}, code: 2,
			stderr: "keyward: error: unknown audit command \"check\": use `keyward audit verify` or `keyward audit tail`\n" + hint},
		{name: "audit verify -n", args: []string{"audit", "verify", "-n", "3"}, code: 2,
			stderr: "keyward: error: keyward audit verify does not take -n (tail does)\n" + hint},
		{name: "audit tail -n not a number", args: []string{"audit", "tail", "-n", "many"}, code: 2,
			stderr: "keyward: error: audit: invalid value \"many\" for flag -n: parse error\nkeyward: hint: run `keyward help` for usage\n"},
		{name: "audit verify a missing log", args: []string{"audit", "verify", "--log", "$DIR/nosuch.log"}, code: 1,
			stderr: "keyward: error: no audit log at $DIR/nosuch.log\nkeyward: hint: the agent writes it while it runs with auditing on; give another file with --log PATH or KEYWARD_AUDIT_LOG\n"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if r.unclear != "" {
				t.Skip("unclear error (issue 8, bad input): " + r.unclear)
			}
			args := make([]string, len(r.args))
			for i, a := range r.args {
				args[i] = strings.ReplaceAll(a, "$DIR", b.dir)
			}
			code, _, stderr := b.runCLI(t, r.stdin, args...)
			assert.Equal(t, r.code, code, "exit code; stderr: %s", stderr)
			assert.Equal(t, r.stderr, strings.ReplaceAll(stderr, b.dir, "$DIR"))
			if r.created != "" {
				assert.NoFileExists(t, filepath.Join(b.dir, r.created))
			}
			b.healthy(t)
		})
	}
}

// runCLI runs keyward with the agent's socket and vault and returns its
// exit code, stdout and stderr. A command that is still running after 10 s
// (an agent that started when it should have refused) is killed.
func (b *badEnv) runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, keywardBin, args...)
	cmd.Env = append(os.Environ(), "KEYWARD_SOCK="+b.sock, "KEYWARD_VAULT="+b.vault, "KEYWARD_POLICY="+filepath.Join(b.dir, "no-default-policy.toml"),
		"KEYWARD_AUDIT_LOG="+filepath.Join(b.dir, "audit.log"), raceQuiet)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "keyward %v did not exit", args)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String(), errb.String()
	}
	require.NoError(t, err)
	return 0, out.String(), errb.String()
}

// ---- the policy file ----

type policyRow struct {
	name string
	src  string
	// problems is what `keyward policy check` prints on stdout, one
	// "FILE:LINE: message" per line, with the file written $F.
	problems string
	unclear  string // see frameRow.unclear
}

func (b *badEnv) policyRows(t *testing.T) {
	head := "version = 1\n[[client]]\nname = \"bot\"\nuid = 1000\n  [[client.grant]]\n  credentials = [\"main\"]\n"
	rows := []policyRow{
		{name: "TOML syntax error", src: goodPolicy + "bogus = [\n", problems: "$F:19: unexpected EOF; expected value\n"},
		{name: "unknown top-level key", src: "version = 1\ncolour = \"red\"\n", problems: "$F:2: unknown key \"colour\" (check its spelling and the table it is in)\n"},
		{name: "misspelt grant key", src: head + "  operations = [\"list\"]\n  endpoint = [\"GET /api/v3/account\"]\n", problems: "$F:8: unknown key \"client.grant.endpoint\" (check its spelling and the table it is in)\n"},
		{name: "version 2", src: strings.Replace(goodPolicy, "version = 1", "version = 2", 1), problems: "$F: version = 2: this agent reads version = 1 policies; put `version = 1` at the top\n"},
		{name: "no version", src: strings.Replace(goodPolicy, "version = 1", "", 1), problems: "$F: version = 0: this agent reads version = 1 policies; put `version = 1` at the top\n"},
		{name: "version is a string", src: strings.Replace(goodPolicy, "version = 1", "version = \"1\"", 1), problems: "$F:1: version: incompatible types: TOML value has type string; it must be a number without quotes\n"},
		{name: "empty file", src: "", problems: "$F: version = 0: this agent reads version = 1 policies; put `version = 1` at the top\n"},
		{name: "rate without a unit", src: head + "  operations = [\"list\"]\n  rate = \"10\"\n", problems: "$F:8: rate \"10\": write COUNT/UNIT, e.g. \"10/s\", \"600/m\", \"1000/h\"\n"},
		{name: "rate per fortnight", src: head + "  operations = [\"list\"]\n  rate = \"10/fortnight\"\n", problems: "$F:8: rate \"10/fortnight\": the unit is s, m or h\n"},
		{name: "rate is a number", src: head + "  operations = [\"list\"]\n  rate = 10\n", problems: "$F:8: rate \"10\": write COUNT/UNIT, e.g. \"10/s\", \"600/m\", \"1000/h\"\n"},
		{name: "negative burst", src: head + "  operations = [\"list\"]\n  rate = \"1/s\"\n  burst = -1\n", problems: "$F:5: burst -1 is negative\n"},
		{name: "burst without rate", src: head + "  operations = [\"list\"]\n  burst = 5\n", problems: "$F:5: burst without rate: give rate too, e.g. rate = \"10/s\"\n"},
		{name: "endpoint without a method", src: head + "  operations = [\"sign\"]\n  endpoints = [\"/api/v3/order\"]\n", problems: "$F:5: client \"bot\" grant 1: endpoint \"/api/v3/order\": write \"METHOD /path\", e.g. \"POST /api/v3/order\"\n"},
		{name: "endpoint with an unknown method", src: head + "  operations = [\"sign\"]\n  endpoints = [\"FETCH /api/v3/order\"]\n", problems: "$F:5: client \"bot\" grant 1: endpoint \"FETCH /api/v3/order\": method \"FETCH\" is not one of GET, POST, PUT, DELETE, PATCH, WS, *\n"},
		{name: "endpoint path not absolute", src: head + "  operations = [\"sign\"]\n  endpoints = [\"GET api/v3/order\"]\n", problems: "$F:5: client \"bot\" grant 1: endpoint \"GET api/v3/order\": the path starts with / and has no query string\n"},
		{name: "sign without endpoints", src: head + "  operations = [\"sign\"]\n", problems: "$F:5: client \"bot\" grant 1: grants sign but names no endpoints: list them as \"METHOD /path\" (\"*\" matches one path segment, \"**\" the rest; e.g. \"POST /api/v3/order\")\n"},
		{name: "administration granted to a bot", src: head + "  operations = [\"add\"]\n", problems: "$F:5: client \"bot\" grant 1: operation \"add\" is not one a bot may be granted (sign, forward, list); administration is the owner's alone\n"},
		{name: "negative uid", src: strings.Replace(goodPolicy, "uid = 65534", "uid = -1", 1), problems: "$F:12: client \"watcher\": uid -1 is not a user id\n"},
		{name: "client matches no one", src: strings.Replace(goodPolicy, "uid = 65534", "", 1), problems: "$F:12: client \"watcher\" matches no one: give at least uid/user or gid/group (unit and exe narrow a uid or group; they are not identities on their own)\n"},
		{name: "client without a grant", src: "version = 1\n[[client]]\nname = \"bot\"\nuid = 1000\n", problems: "$F:2: client \"bot\" has no [[client.grant]]: it could do nothing; add a grant or remove the client\n"},
		{name: "unit not in full", src: strings.Replace(goodPolicy, "uid = 65534", "uid = 65534\nunit = \"grid-bot\"", 1), problems: "$F:12: client \"watcher\": unit \"grid-bot\" is not a unit name: write it in full, like \"grid-bot.service\"\n"},
		{name: "exe not absolute", src: strings.Replace(goodPolicy, "uid = 65534", "uid = 65534\nexe = \"python3\"", 1), problems: "$F:12: client \"watcher\": exe \"python3\" must be an absolute path (what /proc/PID/exe shows, e.g. /usr/bin/python3.11)\n"},
		{name: "max_quantity negative", src: head + "  operations = [\"sign\"]\n  endpoints = [\"POST /api/v3/order\"]\n  max_quantity = \"-1\"\n", problems: "$F:5: client \"bot\" grant 1: max_quantity: \"-1\" is not a positive decimal number (write it as a string, e.g. \"0.5\")\n"},
		{name: "max_notional a float", src: head + "  operations = [\"sign\"]\n  endpoints = [\"POST /api/v3/order\"]\n  max_notional = 5000.0\n", problems: "$F:9: client.grant.max_notional: incompatible types: TOML value has type float64; it must be a string in quotes\n"},
		{name: "malformed credential pattern", src: strings.Replace(goodPolicy, `["main"]`, `["main["]`, 1), problems: "$F:7: client \"table\" grant 1: credential pattern \"main[\" is malformed\n"},
		{name: "duplicate client name", src: goodPolicy + strings.TrimPrefix(goodPolicy, "version = 1\n"), problems: "$F:20: client \"table\" is named twice; names must be unique\n$F:29: client \"watcher\" is named twice; names must be unique\n"},
		{name: "rotation_period not a duration", src: "version = 1\n[defaults]\nrotation_period = \"soon\"\n", problems: "$F:3: duration \"soon\": write e.g. \"90d\", \"12h\"\n"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if r.unclear != "" {
				t.Skip("unclear error (issue 8, bad input): " + r.unclear)
			}
			f := filepath.Join(b.dir, "bad-policy.toml")
			require.NoError(t, os.WriteFile(f, []byte(r.src), 0o600))
			code, stdout, stderr := b.runCLI(t, "", "policy", "check", f)
			stdout = strings.ReplaceAll(stdout, f, "$F")
			assert.Equal(t, 1, code)
			assert.Equal(t, r.problems, stdout)
			n := strings.Count(stdout, "\n")
			assert.Equal(t, fmt.Sprintf("keyward: error: %s has %d problem(s); the agent would refuse it and keep the policy in force\n", f, n), stderr)

			// The agent refuses the same content on reload, says why in
			// status, and keeps the policy in force.
			b.writePolicy(t, r.src)
			want := reloadError(b.policy, r.problems)
			var got string
			require.Eventually(t, func() bool { got = b.policyError(t); return got == want },
				10*time.Second, 20*time.Millisecond, "policy_error never became %q", want)
			b.watcherSeesMain(t)
			b.healthy(t)
		})
	}
	b.writePolicy(t, goodPolicy)
	require.Eventually(t, func() bool { return b.policyError(t) == "" }, 10*time.Second, 20*time.Millisecond)
	b.watcherSeesMain(t)
}

// reloadError is the agent's policy_error for a file whose problems
// `keyward policy check` printed as problems ("$F:LINE: msg" lines).
func reloadError(file, problems string) string {
	var parts []string
	for l := range strings.SplitSeq(strings.TrimSuffix(problems, "\n"), "\n") {
		l = strings.TrimPrefix(l, "$F")
		if n, msg, ok := strings.Cut(strings.TrimPrefix(l, ":"), ": "); ok && n != "" && strings.Trim(n, "0123456789") == "" {
			parts = append(parts, "line "+n+": "+msg)
		} else {
			parts = append(parts, strings.TrimPrefix(l, ": "))
		}
	}
	return "policy " + file + ": " + strings.Join(parts, "; ")
}

// writePolicy replaces the agent's policy file as an editor does.
func (b *badEnv) writePolicy(t *testing.T, src string) {
	tmp := b.policy + ".new"
	require.NoError(t, os.WriteFile(tmp, []byte(src), 0o644))
	require.NoError(t, os.Rename(tmp, b.policy))
}

func (b *badEnv) policyError(t *testing.T) string {
	c, err := client.Dial(b.sock)
	require.NoError(t, err)
	defer c.Close()
	st, err := c.Status(context.Background())
	require.NoError(t, err)
	return st.PolicyError
}

// watcherSeesMain checks that the good policy is in force: the watcher
// uid may list, and sees main.
func (b *badEnv) watcherSeesMain(t *testing.T) {
	t.Helper()
	cmd := asUser(badWatcher, badWatcher, []string{"KEYWARD_SOCK=" + b.sock}, keywardBin, "list", "--json")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	var res protocol.ListResult
	require.NoError(t, json.Unmarshal(out, &res), "%s", out)
	require.Len(t, res.Credentials, 1)
	require.Equal(t, "main", res.Credentials[0].Name)
}

// ---- the vault file ----

type vaultRow struct {
	name string
	// damage turns the good file into the bad one (resum: then recompute
	// the sum line so the checks behind it are reached).
	damage func(good []byte) []byte
	resum  bool
	mode   os.FileMode // 0: 0600
	// place puts something other than a regular file at the path.
	place    func(t *testing.T, path string)
	code     protocol.Code
	msg      string // exact, with the vault's path written $V
	knownBug string
}

func (b *badEnv) vaultRows(t *testing.T) {
	line := func(good []byte, n int) (int, int) { // byte range of line n (1-based), newline excluded
		start := 0
		for i := 1; i < n; i++ {
			start += bytes.IndexByte(good[start:], '\n') + 1
		}
		return start, start + bytes.IndexByte(good[start:], '\n')
	}
	flip := func(n, at int) func([]byte) []byte { // flip a bit in line n, at byte `at` from its end
		return func(g []byte) []byte {
			out := bytes.Clone(g)
			_, end := line(g, n)
			out[end-at] ^= 0x01
			return out
		}
	}
	swap := func(n, at int) func([]byte) []byte { // change a base64 character in line n, `at` bytes from its end, to another valid one
		return func(g []byte) []byte {
			out := bytes.Clone(g)
			_, end := line(g, n)
			if out[end-at] == 'A' {
				out[end-at] = 'B'
			} else {
				out[end-at] = 'A'
			}
			return out
		}
	}
	notB64 := func(n, at int) func([]byte) []byte { // put a non-base64 character in line n, `at` bytes from its end
		return func(g []byte) []byte {
			out := bytes.Clone(g)
			_, end := line(g, n)
			out[end-at] = '!'
			return out
		}
	}
	replace := func(old, new string) func([]byte) []byte {
		return func(g []byte) []byte { return bytes.Replace(g, []byte(old), []byte(new), 1) }
	}
	rows := []vaultRow{
		{name: "empty", damage: func([]byte) []byte { return nil }, code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: the file is empty"},
		{name: "truncated mid-line", damage: func(g []byte) []byte { return g[:200] }, code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: the file is truncated (it does not end with a newline)"},
		{name: "truncated before the sum line", damage: func(g []byte) []byte { s, _ := line(g, 6); return g[:s] }, code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 5: expected the sum line (the file is truncated or damaged)"},
		{name: "bit flipped in the magic", damage: flip(1, 16), code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 1: not a keyward vault (it does not start with \"keyward-vault \")"},
		{name: "bit flipped in the kdf line", damage: flip(2, 3), code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 6: checksum mismatch: the file was damaged (a changed byte or a truncation)"},
		{name: "bit flipped in the key line", damage: flip(3, 3), code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 6: checksum mismatch: the file was damaged (a changed byte or a truncation)"},
		{name: "bit flipped in the record", damage: flip(4, 5), code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 6: checksum mismatch: the file was damaged (a changed byte or a truncation)"},
		{name: "bit flipped in the mac", damage: flip(5, 3), code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 6: checksum mismatch: the file was damaged (a changed byte or a truncation)"},
		{name: "bit flipped in the sum", damage: flip(6, 3), code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 6: checksum mismatch: the file was damaged (a changed byte or a truncation)"},
		{name: "kdf line edited, sum recomputed", damage: replace(" t=1 ", " t=x "), resum: true, code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 2: kdf: t= must be a decimal number"},
		{name: "kdf salt edited, sum recomputed", damage: swap(2, 3), resum: true, code: protocol.CodeWrongPassphrase, msg: "wrong passphrase: the vault was not unlocked"},
		{name: "key line made invalid base64, sum recomputed", damage: notB64(3, 3), resum: true, code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 3: wrapped key: invalid base64"},
		{name: "wrapped key edited, sum recomputed", damage: swap(3, 20), resum: true, code: protocol.CodeWrongPassphrase, msg: "wrong passphrase: the vault was not unlocked"},
		{name: "sealed secret edited, sum recomputed", damage: swap(4, 20), resum: true, code: protocol.CodeVault, msg: "vault: unlock $V: vault file failed authentication: it was modified outside keyward: the file MAC does not match (a record was added, removed, reordered or edited)"},
		{name: "record sealed text made invalid base64, sum recomputed", damage: notB64(4, 5), resum: true, code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 4: record: sealed: invalid base64"},
		{name: "record name edited, sum recomputed", damage: replace(`"name":"main"`, `"name":"mail"`), resum: true, code: protocol.CodeVault, msg: "vault: unlock $V: vault file failed authentication: it was modified outside keyward: the file MAC does not match (a record was added, removed, reordered or edited)"},
		{name: "record not canonical, sum recomputed", damage: replace(`{"name":"main"`, `{ "name":"main"`), resum: true, code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 4: record: not in canonical form (field order, spacing, escapes or a duplicate or unknown field)"},
		{name: "record duplicated, sum recomputed", damage: func(g []byte) []byte {
			s, e := line(g, 4)
			return append(append(bytes.Clone(g[:e+1]), g[s:e+1]...), g[e+1:]...)
		}, resum: true, code: protocol.CodeVault, msg: "vault: open $V: vault file failed authentication: it was modified outside keyward: line 5: record \"main\" is out of order or duplicated (keyward keeps records sorted by name)"},
		{name: "mac edited, sum recomputed", damage: swap(5, 10), resum: true, code: protocol.CodeVault, msg: "vault: unlock $V: vault file failed authentication: it was modified outside keyward: the file MAC does not match (a record was added, removed, reordered or edited)"},
		{name: "newer version", damage: replace("keyward-vault v1", "keyward-vault v2"), resum: true, code: protocol.CodeVault, msg: "vault: open $V: unsupported vault format: vault format v2 is newer than this keyward (v1): upgrade keyward"},
		{name: "version v0", damage: replace("keyward-vault v1", "keyward-vault v0"), resum: true, code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 1: expected \"keyward-vault v1\""},
		{name: "unknown kdf", damage: replace("kdf argon2id", "kdf scrypt"), resum: true, code: protocol.CodeVault, msg: "vault: open $V: unsupported vault format: key derivation \"scrypt\" is not supported by this keyward: upgrade keyward"},
		{name: "CRLF line ends", damage: func(g []byte) []byte { return bytes.ReplaceAll(g, []byte("\n"), []byte("\r\n")) }, code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 6: expected the sum line (the file is truncated or damaged)"},
		{name: "blank line added, sum recomputed", damage: func(g []byte) []byte {
			_, e := line(g, 3)
			return append(append(bytes.Clone(g[:e+1]), '\n'), g[e+1:]...)
		}, resum: true, code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 4: expected a record line"},
		{name: "data after the sum line", damage: func(g []byte) []byte { return append(bytes.Clone(g), "extra\n"...) }, code: protocol.CodeVault, msg: "vault: open $V: vault file is damaged: line 7: expected the sum line (the file is truncated or damaged)"},
		{name: "mode 0644", mode: 0o644, code: protocol.CodeVault, msg: "vault: open $V: vault file permissions are too open: mode 0644 lets other users access it: run `chmod 600 $V`"},
		{name: "mode 0660", mode: 0o660, code: protocol.CodeVault, msg: "vault: open $V: vault file permissions are too open: mode 0660 lets other users access it: run `chmod 600 $V`"},
		{name: "missing", place: func(t *testing.T, p string) {}, code: protocol.CodeNoVault, msg: "there is no vault at $V: create one with `keyward init`"},
		{name: "a directory", place: func(t *testing.T, p string) { require.NoError(t, os.Mkdir(p, 0o700)) }, code: protocol.CodeVault, msg: "vault: open $V: the vault path is not a regular file: it is a directory; point the agent at the vault file itself (--vault or KEYWARD_VAULT)"},
		{name: "a symlink to the vault", place: func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p+".target", nil, 0o600))
			require.NoError(t, os.Symlink(p+".target", p))
		}, code: protocol.CodeVault, msg: "vault: open $V: the vault path is not a regular file: it is a symbolic link; point the agent at the vault file itself (--vault or KEYWARD_VAULT)"},
		{name: "a FIFO", place: func(t *testing.T, p string) { require.NoError(t, syscall.Mkfifo(p, 0o600)) }, code: protocol.CodeVault, msg: "vault: open $V: the vault path is not a regular file: it is a named pipe (FIFO); point the agent at the vault file itself (--vault or KEYWARD_VAULT)"},
	}
	c, err := client.Dial(b.sock)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if r.knownBug != "" {
				t.Skip("known bug (issue 8, bad input): " + r.knownBug)
			}
			require.NoError(t, c.Lock(ctx))
			require.NoError(t, os.Rename(b.vault, b.vault+".good"))
			var bad []byte
			switch {
			case r.place != nil:
				r.place(t, b.vault)
			default:
				bad = b.goodVault
				if r.damage != nil {
					bad = r.damage(b.goodVault)
					if r.resum {
						bad = resumVault(bad)
					}
				}
				mode := r.mode
				if mode == 0 {
					mode = 0o600
				}
				require.NoError(t, os.WriteFile(b.vault, bad, 0o600))
				require.NoError(t, os.Chmod(b.vault, mode))
			}
			_, err := c.Unlock(ctx, protocol.UnlockArgs{Passphrase: []byte(badPass)})
			var pe *protocol.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, r.code, pe.Code)
			assert.Equal(t, r.msg, strings.ReplaceAll(pe.Message, b.vault, "$V"))
			assert.NotContains(t, pe.Message, badPass)
			if r.place == nil {
				after, err := os.ReadFile(b.vault)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(bad, after), "the agent rewrote the damaged file")
				fi, err := os.Stat(b.vault)
				require.NoError(t, err)
				want := r.mode
				if want == 0 {
					want = 0o600
				}
				assert.Equal(t, want, fi.Mode().Perm(), "the agent changed the file's mode")
			}
			// Put the good file back: it unlocks with its credential.
			require.NoError(t, os.RemoveAll(b.vault))
			os.Remove(b.vault + ".target")
			require.NoError(t, os.Rename(b.vault+".good", b.vault))
			res, err := c.Unlock(ctx, protocol.UnlockArgs{Passphrase: []byte(badPass)})
			require.NoError(t, err)
			require.Equal(t, 1, res.Credentials)
			b.healthy(t)
		})
	}
}

// resumVault recomputes a vault's closing sum line, as cmdResum does.
func resumVault(b []byte) []byte {
	i := bytes.LastIndex(b, []byte("\nsum "))
	if i < 0 {
		return b
	}
	body := bytes.Clone(b[:i+1])
	sum := sha256.Sum256(body)
	return append(body, "sum "+hex.EncodeToString(sum[:])+"\n"...)
}
