// Package agenttest is the conformance suite for protocol.Agent. The same
// suite runs against the daemon's Agent in process and against the client
// talking to a served agent over a real socket, so the two cannot drift.
//
// It imports only protocol and test libraries, and must never depend on
// how an agent stores secrets.
package agenttest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/protocol"
)

// Passphrase opens the empty vault that a Factory's agent starts with.
const Passphrase = "agenttest passphrase"

// Test credentials. They are made up for the suite and are not keys to
// any account.
const (
	testSecret = "agenttest-secret-not-a-real-key"
	testAPIKey = "agenttest-api-key"
)

// Factory returns a fresh agent, locked, over an empty vault that
// Passphrase unlocks, and the context to call it with.
type Factory func(t *testing.T) (protocol.Agent, context.Context)

// Run runs every conformance case against agents from f.
func Run(t *testing.T, f Factory) {
	t.Run("Hello", func(t *testing.T) { testHello(t, f) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, f) })
	t.Run("Errors", func(t *testing.T) { testErrors(t, f) })
	t.Run("ConcurrentSigns", func(t *testing.T) { testConcurrentSigns(t, f) })
	t.Run("ChangePassphrase", func(t *testing.T) { testChangePassphrase(t, f) })
	t.Run("Rotate", func(t *testing.T) { testRotate(t, f) })
}

// testRotate replaces a key: signatures use the new secret at once, the
// version goes up, the creation date stays, and errors are the usual ones.
func testRotate(t *testing.T, f Factory) {
	a, ctx := f(t)
	_, err := a.Rotate(ctx, protocol.RotateArgs{Name: "main", Secret: secret("rotated-test-secret-2")})
	assert.Equal(t, protocol.CodeLocked, code(err))
	unlock(t, a, ctx)
	addMain(t, a, ctx)
	before, err := a.List(ctx)
	require.NoError(t, err)

	const next = "rotated-test-secret-2"
	info, err := a.Rotate(ctx, protocol.RotateArgs{Name: "main", Secret: secret(next)})
	require.NoError(t, err)
	assert.Equal(t, uint32(2), info.Version)
	assert.Equal(t, before.Credentials[0].Created, info.Created)
	assert.Equal(t, testAPIKey, info.APIKey)

	signed, err := a.Sign(ctx, protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{
		Method: "GET", URL: "https://api.binance.com/api/v3/account",
	}})
	require.NoError(t, err)
	assert.NoError(t, VerifyBinance(next, signed), "signed with the new secret")
	assert.Error(t, VerifyBinance(testSecret, signed), "not with the old one")

	_, err = a.Rotate(ctx, protocol.RotateArgs{Name: "nosuch", Secret: secret(next)})
	assert.Equal(t, protocol.CodeUnknownCredential, code(err))
	_, err = a.Rotate(ctx, protocol.RotateArgs{Name: "main", Secret: secret("x")})
	assert.Equal(t, protocol.CodeBadRequest, code(err), "the new key is checked like a new one")
	_, err = a.Rotate(ctx, protocol.RotateArgs{Name: "main"})
	assert.Equal(t, protocol.CodeBadRequest, code(err))
}

func secret(s string) protocol.Secret { return protocol.Secret(s) }

func unlock(t *testing.T, a protocol.Agent, ctx context.Context) {
	t.Helper()
	_, err := a.Unlock(ctx, protocol.UnlockArgs{Passphrase: secret(Passphrase)})
	require.NoError(t, err)
}

func addMain(t *testing.T, a protocol.Agent, ctx context.Context) {
	t.Helper()
	_, err := a.Add(ctx, protocol.AddArgs{Name: "main", Scheme: "binance", APIKey: testAPIKey, Secret: secret(testSecret)})
	require.NoError(t, err)
}

func code(err error) protocol.Code {
	if err == nil {
		return ""
	}
	return protocol.CodeOf(err)
}

func testHello(t *testing.T, f Factory) {
	a, ctx := f(t)
	h, err := a.Hello(ctx, protocol.HelloArgs{Version: protocol.Version, Client: "agenttest"})
	require.NoError(t, err)
	assert.Equal(t, protocol.Version, h.Version)
	assert.Equal(t, protocol.Operations(), h.Operations)
	var names []string
	for _, s := range h.Schemes {
		names = append(names, s.Name)
		assert.NotNil(t, s.Hosts, s.Name)
		if _, perCredential := s.Meta["hosts"]; !perCredential {
			assert.NotEmpty(t, s.Hosts, "%s has no hosts of its own, so it must take them from metadata", s.Name)
		}
		assert.NotEmpty(t, s.KeyTypes, s.Name)
		assert.Contains(t, []string{"none", "optional", "required"}, s.Passphrase, s.Name)
	}
	assert.Contains(t, names, "binance")
}

// VerifyBinance checks, with crypto/hmac and independently of the agent's
// own HMAC, that r carries a valid Binance signature for secret: the
// last parameter of query + body is signature=<hex HMAC-SHA256 of all
// that precedes it>, as Binance documents. It does not check the API key
// header; callers that know the key check it themselves.
func VerifyBinance(secret string, r *protocol.HTTPRequest) error {
	u, err := url.Parse(r.URL)
	if err != nil {
		return fmt.Errorf("binance signature: url: %w", err)
	}
	payload := u.RawQuery + r.Body
	i := strings.LastIndex(payload, "&signature=")
	if i < 0 {
		return fmt.Errorf("binance signature: no signature parameter in %q", payload)
	}
	signed, got := payload[:i], payload[i+len("&signature="):]
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signed))
	if want := hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(got), []byte(want)) {
		return fmt.Errorf("binance signature: got %s over %q, want %s", got, signed, want)
	}
	return nil
}

// verifyBinance asserts that r is signed with the suite's test credential.
func verifyBinance(t *testing.T, r *protocol.HTTPRequest) {
	t.Helper()
	assert.NoError(t, VerifyBinance(testSecret, r))
	assert.Equal(t, testAPIKey, r.Headers["X-MBX-APIKEY"])
}

func testLifecycle(t *testing.T, f Factory) {
	a, ctx := f(t)

	st, err := a.Status(ctx)
	require.NoError(t, err)
	assert.True(t, st.Locked)
	assert.True(t, st.VaultPresent)
	assert.Zero(t, st.Credentials)

	res, err := a.Unlock(ctx, protocol.UnlockArgs{Passphrase: secret(Passphrase)})
	require.NoError(t, err)
	assert.Zero(t, res.Credentials)

	info, err := a.Add(ctx, protocol.AddArgs{Name: "main", Scheme: "binance", APIKey: testAPIKey, Secret: secret(testSecret)})
	require.NoError(t, err)
	assert.Equal(t, "main", info.Name)
	assert.Equal(t, "binance", info.Scheme)
	assert.Equal(t, testAPIKey, info.APIKey)
	assert.Equal(t, uint32(1), info.Version)
	assert.False(t, info.Created.IsZero())

	signed, err := a.Sign(ctx, protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{
		Method: "GET", URL: "https://api.binance.com/api/v3/openOrders?symbol=BTCUSDT",
	}})
	require.NoError(t, err)
	assert.Equal(t, "GET", signed.Method)
	assert.True(t, strings.HasPrefix(signed.URL, "https://api.binance.com/api/v3/openOrders?symbol=BTCUSDT&"), signed.URL)
	assert.Contains(t, signed.URL, "timestamp=")
	verifyBinance(t, signed)

	signed, err = a.Sign(ctx, protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{
		Method: "POST", URL: "https://api.binance.com/api/v3/order",
		Body: "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1",
	}})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(signed.Body, "symbol=BTCUSDT&side=BUY"), signed.Body)
	verifyBinance(t, signed)

	list, err := a.List(ctx)
	require.NoError(t, err)
	require.Len(t, list.Credentials, 1)
	assert.Equal(t, "main", list.Credentials[0].Name)

	require.NoError(t, a.Lock(ctx))
	_, err = a.Sign(ctx, protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}})
	assert.Equal(t, protocol.CodeLocked, code(err))
	assert.Equal(t, "the agent is locked: run `keyward unlock`", err.Error())

	list, err = a.List(ctx)
	require.NoError(t, err, "list works while locked")
	assert.Len(t, list.Credentials, 1)
	st, err = a.Status(ctx)
	require.NoError(t, err)
	assert.True(t, st.Locked)
	assert.Equal(t, 1, st.Credentials)

	res, err = a.Unlock(ctx, protocol.UnlockArgs{Passphrase: secret(Passphrase)})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Credentials)
	signed, err = a.Sign(ctx, protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}})
	require.NoError(t, err)
	verifyBinance(t, signed)

	require.NoError(t, a.Remove(ctx, protocol.RemoveArgs{Name: "main"}))
	_, err = a.Sign(ctx, protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}})
	assert.Equal(t, protocol.CodeUnknownCredential, code(err))
	list, err = a.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, list.Credentials)
}

func testErrors(t *testing.T, f Factory) {
	a, ctx := f(t)
	_, err := a.Unlock(ctx, protocol.UnlockArgs{Passphrase: secret("wrong")})
	assert.Equal(t, protocol.CodeWrongPassphrase, code(err))
	_, err = a.Unlock(ctx, protocol.UnlockArgs{})
	assert.Equal(t, protocol.CodeBadRequest, code(err))
	_, err = a.Add(ctx, protocol.AddArgs{Name: "main", Scheme: "binance", APIKey: "k", Secret: secret("other-test-secret")})
	assert.Equal(t, protocol.CodeLocked, code(err))

	unlock(t, a, ctx)
	_, err = a.Unlock(ctx, protocol.UnlockArgs{Passphrase: secret(Passphrase)})
	assert.Equal(t, protocol.CodeAlreadyUnlocked, code(err))
	addMain(t, a, ctx)

	for _, tc := range []struct {
		name string
		args protocol.AddArgs
		code protocol.Code
	}{
		{"duplicate", protocol.AddArgs{Name: "main", Scheme: "binance", APIKey: "k", Secret: secret("other-test-secret")}, protocol.CodeExists},
		{"bad name", protocol.AddArgs{Name: "no spaces", Scheme: "binance", APIKey: "k", Secret: secret("other-test-secret")}, protocol.CodeBadRequest},
		{"unknown scheme", protocol.AddArgs{Name: "x", Scheme: "nosuch", APIKey: "k", Secret: secret("other-test-secret")}, protocol.CodeUnsupported},
		{"no api key", protocol.AddArgs{Name: "x", Scheme: "binance", Secret: secret("other-test-secret")}, protocol.CodeBadRequest},
		{"no secret", protocol.AddArgs{Name: "x", Scheme: "binance", APIKey: "k"}, protocol.CodeBadRequest},
		{"bad host", protocol.AddArgs{Name: "x", Scheme: "binance", APIKey: "k", Secret: secret("other-test-secret"), Meta: map[string]string{"hosts": "https://x/"}}, protocol.CodeBadRequest},
		{"secret too short to be a venue's", protocol.AddArgs{Name: "x", Scheme: "binance", APIKey: "k", Secret: secret("s")}, protocol.CodeBadRequest},
		{"passphrase for a venue without", protocol.AddArgs{Name: "x", Scheme: "binance", APIKey: "k", Secret: secret("other-test-secret"), Passphrase: secret("pp")}, protocol.CodeBadRequest},
		{"key type is the agent's", protocol.AddArgs{Name: "x", Scheme: "binance", APIKey: "k", Secret: secret("other-test-secret"), Meta: map[string]string{"key_type": "rsa"}}, protocol.CodeBadRequest},
	} {
		_, err := a.Add(ctx, tc.args)
		assert.Equal(t, tc.code, code(err), "%s: %v", tc.name, err)
		assert.NotContains(t, err.Error(), testSecret)
	}

	for _, tc := range []struct {
		name string
		args protocol.SignArgs
		code protocol.Code
		msg  string
	}{
		{"unknown credential", protocol.SignArgs{Credential: "nosuch", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}},
			protocol.CodeUnknownCredential, "no credential named \"nosuch\": see `keyward list`"},
		{"foreign host", protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com.evil.example/api/v3/account"}},
			protocol.CodeDenied, ""},
		{"plain http", protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "http://api.binance.com/api/v3/account"}},
			protocol.CodeBadRequest, "keyward signs only https URLs (and wss:// for method WS), not http://"},
		{"relative url", protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "/api/v3/account"}},
			protocol.CodeBadRequest, ""},
		{"no credential", protocol.SignArgs{HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}},
			protocol.CodeBadRequest, "sign needs a credential name"},
		{"agent sets the signature", protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account?signature=1"}},
			protocol.CodeBadRequest, ""},
		{"WebSocket message for an HTTP-only scheme", protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "WS", URL: "wss://api.binance.com/ws", Body: "{}"}},
			protocol.CodeUnsupported, ""},
		{"WebSocket message to https", protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "WS", URL: "https://api.binance.com/ws"}},
			protocol.CodeBadRequest, ""},
	} {
		_, err := a.Sign(ctx, tc.args)
		assert.Equal(t, tc.code, code(err), "%s: %v", tc.name, err)
		if tc.msg != "" {
			assert.EqualError(t, err, tc.msg, tc.name)
		}
		assert.NotContains(t, err.Error(), testSecret, tc.name)
	}

	// Forward's refusals come before anything is sent, so they need no
	// venue: the same codes in process and over the socket.
	for _, tc := range []struct {
		name string
		args protocol.ForwardArgs
		code protocol.Code
	}{
		{"unknown credential", protocol.ForwardArgs{Credential: "nosuch", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}}, protocol.CodeUnknownCredential},
		{"foreign host", protocol.ForwardArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com.evil.example/api/v3/account"}}, protocol.CodeDenied},
		{"plain http", protocol.ForwardArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "http://api.binance.com/api/v3/account"}}, protocol.CodeBadRequest},
		{"no credential", protocol.ForwardArgs{HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}}, protocol.CodeBadRequest},
		{"WebSocket", protocol.ForwardArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "WS", URL: "wss://api.binance.com/ws"}}, protocol.CodeUnsupported},
		{"negative timeout", protocol.ForwardArgs{Credential: "main", TimeoutMS: -5, HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}}, protocol.CodeBadRequest},
	} {
		_, err := a.Forward(ctx, tc.args)
		assert.Equal(t, tc.code, code(err), "forward %s: %v", tc.name, err)
	}

	err = a.Remove(ctx, protocol.RemoveArgs{Name: "nosuch"})
	assert.Equal(t, protocol.CodeUnknownCredential, code(err))
}

// testConcurrentSigns signs from many goroutines at once; over a socket
// they share one connection, so replies come back pipelined.
func testConcurrentSigns(t *testing.T, f Factory) {
	a, ctx := f(t)
	unlock(t, a, ctx)
	addMain(t, a, ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				r, err := a.Sign(ctx, protocol.SignArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{
					Method: "GET", URL: "https://api.binance.com/api/v3/order?symbol=BTCUSDT&orderId=" + string(rune('a'+g)) + string(rune('a'+i)),
				}})
				if err != nil {
					errs <- err
					return
				}
				want := "orderId=" + string(rune('a'+g)) + string(rune('a'+i)) + "&"
				if !strings.Contains(r.URL, want) {
					t.Errorf("reply for %s came back as %s", want, r.URL)
				}
				verifyBinance(t, r)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testChangePassphrase(t *testing.T, f Factory) {
	a, ctx := f(t)
	err := a.ChangePassphrase(ctx, protocol.PasswdArgs{Passphrase: secret(Passphrase), NewPassphrase: secret("new one")})
	assert.Equal(t, protocol.CodeLocked, code(err))
	unlock(t, a, ctx)
	addMain(t, a, ctx)
	err = a.ChangePassphrase(ctx, protocol.PasswdArgs{Passphrase: secret("not it"), NewPassphrase: secret("new one")})
	assert.Equal(t, protocol.CodeWrongPassphrase, code(err))
	require.NoError(t, a.ChangePassphrase(ctx, protocol.PasswdArgs{Passphrase: secret(Passphrase), NewPassphrase: secret("new one")}))
	require.NoError(t, a.Lock(ctx))
	_, err = a.Unlock(ctx, protocol.UnlockArgs{Passphrase: secret(Passphrase)})
	assert.Equal(t, protocol.CodeWrongPassphrase, code(err), "the old passphrase no longer opens the vault")
	res, err := a.Unlock(ctx, protocol.UnlockArgs{Passphrase: secret("new one")})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Credentials, "records survive a passphrase change")
}
