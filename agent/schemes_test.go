package agent

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/agent/vault"
	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// These tests run schemes through the agent: what the agent adds around
// a scheme (passphrases packed beside the secret, key types recorded,
// nonces kept across restarts, WebSocket messages), each checked with an
// independent computation.

func unlocked(t *testing.T, a *Agent) {
	t.Helper()
	_, err := a.Unlock(selfContext(), protocol.UnlockArgs{Passphrase: protocol.Secret(agenttest.Passphrase)})
	require.NoError(t, err)
}

// TestPassphraseTravelsPackedAndSignedWith adds an OKX key with its
// passphrase and signs: the passphrase header carries it, the signature
// verifies with crypto/hmac, and the vault holds it sealed.
func TestPassphraseTravelsPackedAndSignedWith(t *testing.T) {
	a := newTestAgent(t)
	unlocked(t, a)
	ctx := selfContext()
	const secret, pass = "okx-test-secret-0123456789", "okx-test-pass-9"
	_, err := a.Add(ctx, protocol.AddArgs{Name: "okx", Scheme: "okx", APIKey: "okx-key", Secret: protocol.Secret(secret)})
	require.Error(t, err, "OKX keys need their passphrase")
	assert.Contains(t, err.Error(), "passphrase")

	info, err := a.Add(ctx, protocol.AddArgs{Name: "okx", Scheme: "okx", APIKey: "okx-key", Secret: protocol.Secret(secret), Passphrase: protocol.Secret(pass)})
	require.NoError(t, err)
	assert.Equal(t, "hmac", info.Meta["key_type"])

	out, err := a.Sign(ctx, protocol.SignArgs{Credential: "okx", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://www.okx.com/api/v5/account/balance?ccy=BTC"}})
	require.NoError(t, err)
	assert.Equal(t, pass, out.Headers["OK-ACCESS-PASSPHRASE"])
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(out.Headers["OK-ACCESS-TIMESTAMP"] + "GET/api/v5/account/balance?ccy=BTC"))
	assert.Equal(t, base64.StdEncoding.EncodeToString(m.Sum(nil)), out.Headers["OK-ACCESS-SIGN"])

	// After a restart (a new agent over the same vault) it still works.
	a.Close()
	b := New(Config{VaultPath: a.cfg.VaultPath, Log: testLog(t), OwnerUID: a.cfg.OwnerUID})
	t.Cleanup(b.Close)
	unlocked(t, b)
	again, err := b.Sign(ctx, protocol.SignArgs{Credential: "okx", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://www.okx.com/api/v5/account/balance?ccy=BTC"}})
	require.NoError(t, err)
	assert.Equal(t, pass, again.Headers["OK-ACCESS-PASSPHRASE"])

	raw, err := os.ReadFile(a.cfg.VaultPath)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), pass)
	assert.NotContains(t, string(raw), secret)
}

// krakenNonce reads the nonce of a signed Kraken request and checks its
// API-Sign with an independent HMAC-SHA512.
func krakenNonce(t *testing.T, secret []byte, out *protocol.HTTPRequest) string {
	t.Helper()
	var nonce string
	for _, kv := range strings.Split(out.Body, "&") {
		if v, ok := strings.CutPrefix(kv, "nonce="); ok {
			nonce = v
		}
	}
	require.NotEmpty(t, nonce)
	inner := sha256.Sum256([]byte(nonce + out.Body))
	m := hmac.New(sha512.New, secret)
	m.Write([]byte("/0/private/Balance"))
	m.Write(inner[:])
	assert.Equal(t, base64.StdEncoding.EncodeToString(m.Sum(nil)), out.Headers["API-Sign"])
	return nonce
}

// TestNoncesIncreaseAcrossRestarts: two bots sharing a Kraken key inside
// one frozen millisecond get distinct, increasing nonces, and after the
// agent restarts with its clock behind, nonces keep increasing.
func TestNoncesIncreaseAcrossRestarts(t *testing.T) {
	frozen := time.UnixMilli(1700000000000)
	path := filepath.Join(t.TempDir(), "vault")
	require.NoError(t, vault.Create(path, []byte(agenttest.Passphrase), cheapKDF))
	a := New(Config{VaultPath: path, Log: testLog(t), OwnerUID: uint32(os.Getuid()), Now: func() time.Time { return frozen }})
	unlocked(t, a)
	ctx := selfContext()
	secret := []byte("kraken-test-secret-64-bytes-long-kraken-test-secret-64-bytes-!!!")
	require.Len(t, secret, 64)
	_, err := a.Add(ctx, protocol.AddArgs{Name: "k", Scheme: "kraken", APIKey: "kraken-key", Secret: protocol.Secret(base64.StdEncoding.EncodeToString(secret))})
	require.NoError(t, err)

	req := protocol.SignArgs{Credential: "k", HTTPRequest: protocol.HTTPRequest{Method: "POST", URL: "https://api.kraken.com/0/private/Balance", Body: ""}}
	var last string
	for i := range 20 {
		out, err := a.Sign(ctx, req)
		require.NoError(t, err)
		n := krakenNonce(t, secret, out)
		if i == 0 {
			assert.Equal(t, "1700000000000", n, "the first nonce is the clock")
		} else {
			assert.Greater(t, mustUint(t, n), mustUint(t, last))
		}
		last = n
	}
	a.Close()

	behind := frozen.Add(-time.Hour) // the clock stepped back across the restart
	b := New(Config{VaultPath: path, Log: testLog(t), OwnerUID: uint32(os.Getuid()), Now: func() time.Time { return behind }})
	t.Cleanup(b.Close)
	unlocked(t, b)
	out, err := b.Sign(ctx, req)
	require.NoError(t, err)
	n := krakenNonce(t, secret, out)
	assert.Greater(t, mustUint(t, n), mustUint(t, last), "nonce after the restart")
}

// TestWebSocketThroughTheAgent signs a Bybit WebSocket auth message.
func TestWebSocketThroughTheAgent(t *testing.T) {
	a := newTestAgent(t)
	unlocked(t, a)
	ctx := selfContext()
	const secret = "bybit-test-secret-0123"
	_, err := a.Add(ctx, protocol.AddArgs{Name: "by", Scheme: "bybit", APIKey: "bybit-key", Secret: protocol.Secret(secret)})
	require.NoError(t, err)
	out, err := a.Sign(ctx, protocol.SignArgs{Credential: "by", HTTPRequest: protocol.HTTPRequest{Method: "WS", URL: "wss://stream.bybit.com/v5/private", Body: `{"op":"auth"}`}})
	require.NoError(t, err)
	var msg struct {
		Op   string            `json:"op"`
		Args []json.RawMessage `json:"args"`
	}
	require.NoError(t, json.Unmarshal([]byte(out.Body), &msg))
	require.Len(t, msg.Args, 3)
	var key, sig string
	require.NoError(t, json.Unmarshal(msg.Args[0], &key))
	require.NoError(t, json.Unmarshal(msg.Args[2], &sig))
	assert.Equal(t, "bybit-key", key)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("GET/realtime" + strings.Trim(string(msg.Args[1]), `"`)))
	assert.Equal(t, strings.ToLower(sig), strings.ToLower(hexString(m.Sum(nil))))

	_, err = a.Sign(ctx, protocol.SignArgs{Credential: "by", HTTPRequest: protocol.HTTPRequest{Method: "WS", URL: "https://stream.bybit.com/v5/private", Body: `{"op":"auth"}`}})
	assert.Equal(t, protocol.CodeBadRequest, protocol.CodeOf(err))
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	require.NoError(t, err)
	return n
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// TestHelloDescribesSchemes: hello names each scheme's key types,
// passphrase and the secrets its venue receives in clear.
func TestHelloDescribesSchemes(t *testing.T) {
	a := newTestAgent(t)
	h, err := a.Hello(selfContext(), protocol.HelloArgs{Version: 1})
	require.NoError(t, err)
	by := map[string]protocol.SchemeInfo{}
	for _, s := range h.Schemes {
		by[s.Name] = s
	}
	for _, name := range []string{"binance", "binance-ws", "bybit", "okx", "coinbase", "kraken", "kucoin", "gate", "bitget", "bitfinex", "deribit", "hyperliquid", "hmac"} {
		assert.Contains(t, by, name)
	}
	assert.Equal(t, "required", by["okx"].Passphrase)
	assert.Contains(t, by["okx"].ClearSecrets, "passphrase")
	assert.Equal(t, "none", by["binance"].Passphrase)
	assert.ElementsMatch(t, []string{"hmac", "rsa", "ed25519"}, by["binance"].KeyTypes)
	assert.True(t, by["binance-ws"].WebSocket)
	assert.Equal(t, []string{"secp256k1"}, by["hyperliquid"].KeyTypes)
}

// TestWrongKeyFormRefusedWithTheFix: a PKCS#1 RSA key for Binance is
// refused at add with the openssl command, and nothing is stored.
func TestWrongKeyFormRefusedWithTheFix(t *testing.T) {
	a := newTestAgent(t)
	unlocked(t, a)
	// Made here, not committed: a fixture must not look like a real key.
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	_, err = a.Add(selfContext(), protocol.AddArgs{Name: "b", Scheme: "binance", APIKey: "k", Secret: protocol.Secret(pkcs1)})
	require.Error(t, err)
	assert.Equal(t, protocol.CodeBadRequest, protocol.CodeOf(err))
	assert.Contains(t, err.Error(), "openssl pkcs8 -topk8")
	assert.NotContains(t, err.Error(), "MII")
	list, err := a.List(selfContext())
	require.NoError(t, err)
	assert.Empty(t, list.Credentials)
}

// TestEd25519SignsFromLockedMemory signs with an Ed25519 key held in the
// keyring's locked pages (not Go memory): crypto/ed25519 must never be
// handed those bytes themselves (its key cache takes a weak pointer to
// them, a fatal error outside Go memory).
func TestEd25519SignsFromLockedMemory(t *testing.T) {
	a := newTestAgent(t)
	unlocked(t, a)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	_, err = a.Add(selfContext(), protocol.AddArgs{Name: "ed", Scheme: "binance", APIKey: "ed-key", Secret: protocol.Secret(pemKey)})
	require.NoError(t, err)
	for range 3 {
		out, err := a.Sign(selfContext(), protocol.SignArgs{Credential: "ed", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}})
		require.NoError(t, err)
		q := strings.SplitN(out.URL, "?", 2)[1]
		payload, sig, ok := strings.Cut(q, "&signature=")
		require.True(t, ok)
		raw, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(sig, "%2B", "+"), "%2F", "/"), "%3D", "="))
		require.NoError(t, err)
		assert.True(t, ed25519.Verify(pub, []byte(payload), raw))
	}
}
