package agent

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/agent/forward"
	"github.com/keyward/keyward/agent/scheme"
	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// testBinance is a TLS venue on loopback that checks Binance's HMAC
// signature itself (crypto/hmac over the query and body, as Binance
// documents) and records what it received.
type testBinance struct {
	srv  *httptest.Server
	meta map[string]string // the credential metadata that reaches it

	mu       sync.Mutex
	received []*http.Request
	bodies   []string
	hits     atomic.Int32
	dateSkew time.Duration
	handler  func(w http.ResponseWriter, r *http.Request) bool // true = handled
}

const testBinanceSecret = "fake-binance-secret-for-tests-only"

func newTestBinance(t *testing.T) *testBinance {
	v := &testBinance{}
	v.srv = httptest.NewUnstartedServer(http.HandlerFunc(v.serve))
	v.srv.StartTLS()
	t.Cleanup(v.srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.srv.Certificate().Raw}), 0o600))
	v.meta = map[string]string{"hosts": "example.com", MetaConnectTo: v.srv.Listener.Addr().String(), MetaCAFile: ca}
	return v
}

func (v *testBinance) serve(w http.ResponseWriter, r *http.Request) {
	v.hits.Add(1)
	body, _ := io.ReadAll(r.Body)
	v.mu.Lock()
	v.received = append(v.received, r)
	v.bodies = append(v.bodies, string(body))
	skew, h := v.dateSkew, v.handler
	v.mu.Unlock()
	if skew != 0 {
		w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
	}
	if h != nil && h(w, r) {
		return
	}
	params := r.URL.RawQuery + string(body)
	rest, sig, ok := strings.Cut(params, "&signature=")
	m := hmac.New(sha256.New, []byte(testBinanceSecret))
	m.Write([]byte(rest))
	if !ok || r.Header.Get("X-MBX-APIKEY") != "fwd-key" || !hmac.Equal([]byte(sig), []byte(hex.EncodeToString(m.Sum(nil)))) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code":-1022,"msg":"Signature for this request is not valid."}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"symbol":"BTCUSDT","orderId":28,"status":"NEW"}`)
}

// count returns how many requests to path came.
func (v *testBinance) count(path string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, r := range v.received {
		if r.URL.Path == path {
			n++
		}
	}
	return n
}

// last returns the last request to path (a clock probe may come after).
func (v *testBinance) last(t *testing.T, path string) (*http.Request, string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := len(v.received) - 1; i >= 0; i-- {
		if v.received[i].URL.Path == path {
			return v.received[i], v.bodies[i]
		}
	}
	t.Fatalf("no request to %s", path)
	return nil, ""
}

func forwardAgent(t *testing.T) (*Agent, *testBinance) {
	v := newTestBinance(t)
	a := newTestAgent(t)
	unlocked(t, a)
	_, err := a.Add(selfContext(), protocol.AddArgs{Name: "bn", Scheme: "binance", APIKey: "fwd-key",
		Secret: protocol.Secret(testBinanceSecret), Meta: v.meta, Verify: protocol.VerifyOff})
	require.NoError(t, err)
	return a, v
}

func TestForwardSignsSendsAndAnswers(t *testing.T) {
	a, v := forwardAgent(t)
	res, err := a.Forward(selfContext(), protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{
		Method: "POST", URL: "https://example.com/api/v3/order",
		Headers: map[string]string{
			"Content-Type":  "application/x-www-form-urlencoded",
			"x-mbx-apikey":  "someone-elses-key", // a case variant of the scheme's own header
			"Authorization": "Bearer bot-token",
			"Connection":    "close",
			"X-Bot":         "kept",
		},
		Body: "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=1",
	}})
	require.NoError(t, err)
	assert.Equal(t, 200, res.Status)
	assert.JSONEq(t, `{"symbol":"BTCUSDT","orderId":28,"status":"NEW"}`, res.Body)
	assert.Equal(t, "application/json", res.Headers["Content-Type"])

	r, body := v.last(t, "/api/v3/order")
	assert.Equal(t, "HTTP/1.1", r.Proto)
	assert.Equal(t, []string{"fwd-key"}, r.Header.Values("X-Mbx-Apikey"), "one API key reaches the venue: the credential's")
	assert.Empty(t, r.Header.Get("Authorization"), "a bot's own credentials are not forwarded")
	assert.Equal(t, "kept", r.Header.Get("X-Bot"))
	assert.Contains(t, body, "timestamp=")
	assert.Contains(t, body, "&signature=")

	a.probes.Wait() // the clock probe borrows the connection
	assert.Equal(t, 1, a.fwd.IdleConns(), "the venue connection is kept alive")
	require.NoError(t, a.Lock(selfContext()))
	assert.Equal(t, 0, a.fwd.IdleConns(), "lock closes venue connections")
	_, err = a.Forward(selfContext(), protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://example.com/api/v3/account"}})
	assert.Equal(t, protocol.CodeLocked, protocol.CodeOf(err))
}

func TestForwardVenueErrorIsAResponse(t *testing.T) {
	a, v := forwardAgent(t)
	v.handler = func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"code":-1003,"msg":"Too many requests"}`)
		return true
	}
	res, err := a.Forward(selfContext(), protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://example.com/api/v3/account"}})
	require.NoError(t, err)
	assert.Equal(t, 429, res.Status)
	assert.Contains(t, res.Body, "-1003")
}

func TestForwardRefusals(t *testing.T) {
	a, v := forwardAgent(t)
	for _, tc := range []struct {
		name string
		args protocol.ForwardArgs
		code protocol.Code
		msg  string
	}{
		{"foreign host", protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://attacker.example/api/v3/account"}}, protocol.CodeDenied, "forwards only to"},
		{"plain http", protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "http://example.com/api/v3/account"}}, protocol.CodeBadRequest, "only https"},
		{"user info", protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://u:p@example.com/api/v3/account"}}, protocol.CodeBadRequest, "user information"},
		{"websocket", protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "WS", URL: "wss://example.com/ws"}}, protocol.CodeUnsupported, "signed with sign"},
		{"no credential", protocol.ForwardArgs{HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://example.com/"}}, protocol.CodeBadRequest, "credential name"},
		{"unknown credential", protocol.ForwardArgs{Credential: "nope", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://example.com/"}}, protocol.CodeUnknownCredential, "keyward list"},
		{"negative timeout", protocol.ForwardArgs{Credential: "bn", TimeoutMS: -1, HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://example.com/"}}, protocol.CodeBadRequest, "negative"},
		{"withdrawal", protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "POST", URL: "https://api.binance.com/sapi/v1/capital/withdraw/apply", Body: "coin=BTC&address=x&amount=1"}}, protocol.CodeDenied, "is a withdrawal endpoint"},
		{"header injection", protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://example.com/api/v3/account", Headers: map[string]string{"X-A": "1\r\nX-Injected: 1"}}}, protocol.CodeUpstream, "line break"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Forward(selfContext(), tc.args)
			require.Error(t, err)
			assert.Equal(t, tc.code, protocol.CodeOf(err), err.Error())
			assert.Contains(t, err.Error(), tc.msg)
			assert.NotContains(t, err.Error(), testBinanceSecret)
		})
	}
	assert.Zero(t, v.hits.Load(), "no refused request reached the venue")
}

func TestForwardRedirectComesBackUnfollowed(t *testing.T) {
	a, v := forwardAgent(t)
	v.handler = func(w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, "https://attacker.example/steal", http.StatusTemporaryRedirect)
		return true
	}
	res, err := a.Forward(selfContext(), protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://example.com/api/v3/account"}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusTemporaryRedirect, res.Status)
	assert.Equal(t, "https://attacker.example/steal", res.Headers["Location"])
	a.probes.Wait()
	assert.Equal(t, 1, v.count("/api/v3/account"), "the redirect was not followed")
}

func TestForwardSlowVenue(t *testing.T) {
	a, v := forwardAgent(t)
	release := make(chan struct{})
	defer close(release)
	v.handler = func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	}
	start := time.Now()
	_, err := a.Forward(selfContext(), protocol.ForwardArgs{Credential: "bn", TimeoutMS: 300, HTTPRequest: protocol.HTTPRequest{
		Method: "POST", URL: "https://example.com/api/v3/order", Body: "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1"}})
	require.Error(t, err)
	assert.Equal(t, protocol.CodeUpstream, protocol.CodeOf(err))
	assert.Contains(t, err.Error(), "within 300ms")
	assert.Contains(t, err.Error(), "may have acted on it", "a POST that timed out may have been executed")
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestForwardMeasuresVenueClock(t *testing.T) {
	a, v := forwardAgent(t)
	v.dateSkew = 42 * time.Second
	_, err := a.Forward(selfContext(), protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://example.com/api/v3/account"}})
	require.NoError(t, err)
	st, err := a.Status(selfContext())
	require.NoError(t, err)
	require.Len(t, st.Clocks, 1)
	c := st.Clocks[0]
	assert.Equal(t, "example.com", c.Host)
	assert.Equal(t, "date", c.Source)
	assert.InDelta(t, 42_000, c.OffsetMS, 1_600)

	// The next signature for that host carries the venue's time.
	out, err := a.Sign(selfContext(), protocol.SignArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://example.com/api/v3/account"}})
	require.NoError(t, err)
	u, err := url.Parse(out.URL)
	require.NoError(t, err)
	ts, err := strconv.ParseInt(u.Query().Get("timestamp"), 10, 64)
	require.NoError(t, err)
	assert.InDelta(t, time.Now().Add(42*time.Second).UnixMilli(), ts, 2_000)
}

// TestForwardUnderPolicy: forward is an operation of its own in the
// policy's grants: a bot granted only sign cannot forward, one granted
// forward can, only to its endpoints, and each use is audited with the
// venue's status.
func TestForwardUnderPolicy(t *testing.T) {
	v := newTestBinance(t)
	src := `
version = 1
[[client]]
name = "signer"
uid = 4242
  [[client.grant]]
  credentials = ["main"]
  operations = ["sign"]
  endpoints = ["GET /api/v3/account"]
[[client]]
name = "forwarder"
uid = 4343
  [[client.grant]]
  credentials = ["main"]
  operations = ["forward"]
  endpoints = ["GET /api/v3/account"]
`
	a, rec := policyAgent(t, src)
	require.NoError(t, a.Remove(selfContext(), protocol.RemoveArgs{Name: "main"}))
	_, err := a.Add(selfContext(), protocol.AddArgs{Name: "main", Scheme: "binance", APIKey: "fwd-key", Secret: protocol.Secret(testBinanceSecret), Meta: v.meta})
	require.NoError(t, err)
	acct := protocol.ForwardArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://example.com/api/v3/account"}}

	_, err = a.Forward(as(4242, ""), acct)
	assert.Equal(t, protocol.CodeDenied, protocol.CodeOf(err), "a sign grant does not let a bot forward")
	assert.Equal(t, "deny", rec.last().Decision)
	assert.Equal(t, protocol.OpForward, rec.last().Op)

	res, err := a.Forward(as(4343, ""), acct)
	require.NoError(t, err)
	assert.Equal(t, 200, res.Status)
	ev := rec.last()
	assert.Equal(t, "allow", ev.Decision)
	assert.Equal(t, 200, ev.Status)
	assert.Equal(t, "/api/v3/account", ev.Path)

	order := protocol.ForwardArgs{Credential: "main", HTTPRequest: protocol.HTTPRequest{Method: "POST", URL: "https://example.com/api/v3/order", Body: "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1"}}
	_, err = a.Forward(as(4343, ""), order)
	assert.Equal(t, protocol.CodeDenied, protocol.CodeOf(err), "an endpoint outside the grant")
	assert.Zero(t, v.count("/api/v3/order"))
}

// TestForwardResponseMustFitOneFrame: a body within the response limit
// that grows past the frame limit once encoded (binary as base64, JSON
// full of quotes as escapes) is an upstream error on the request's own
// id, not a connection-level "reply too large".
func TestForwardResponseMustFitOneFrame(t *testing.T) {
	a, v := forwardAgent(t)
	for name, body := range map[string][]byte{
		"binary":        bytes.Repeat([]byte{0xff, 0x00, 0x81}, 300<<10), // 900 KiB, not UTF-8
		"escape-heavy":  bytes.Repeat([]byte(`"\`), 450<<10),             // 900 KiB of quotes and backslashes
		"fits as it is": bytes.Repeat([]byte("x"), 900<<10),
	} {
		t.Run(name, func(t *testing.T) {
			v.handler = func(w http.ResponseWriter, r *http.Request) bool { w.Write(body); return true }
			res, err := a.Forward(selfContext(), protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://example.com/api/v3/account"}})
			if name == "fits as it is" {
				require.NoError(t, err)
				assert.Len(t, res.Body, len(body))
				return
			}
			require.Error(t, err)
			assert.Equal(t, protocol.CodeUpstream, protocol.CodeOf(err))
			assert.Contains(t, err.Error(), "does not fit")
		})
	}
}

// BenchmarkForward is the agent's own work on a forwarded request, in
// process and without the socket: the policy, the keyring, the scheme,
// the request written to a kept-alive TLS connection, the response read
// and turned into the reply, the audit record. The venue is a TLS server
// in the same process that answers at once; compare with
// forward.BenchmarkDo, the venue round trip alone.
func BenchmarkForward(b *testing.B) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	}))
	srv.StartTLS()
	b.Cleanup(srv.Close)
	dir := b.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		b.Fatal(err)
	}
	a := newBenchAgent(b, dir, true)
	ctx := selfContext()
	if _, err := a.Unlock(ctx, protocol.UnlockArgs{Passphrase: protocol.Secret(agenttest.Passphrase)}); err != nil {
		b.Fatal(err)
	}
	if _, err := a.Add(ctx, protocol.AddArgs{Name: "bn", Scheme: "binance", APIKey: "bench-key", Secret: protocol.Secret(testBinanceSecret),
		Meta: map[string]string{"hosts": "example.com", MetaConnectTo: srv.Listener.Addr().String(), MetaCAFile: ca}, Verify: protocol.VerifyOff}); err != nil {
		b.Fatal(err)
	}
	args := protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://example.com/api/v3/ping"}}
	b.ReportAllocs()
	for b.Loop() {
		res, err := a.Forward(ctx, args)
		if err != nil {
			b.Fatal(err)
		}
		if res.Status != 200 {
			b.Fatalf("status %d", res.Status)
		}
	}
}

// TestForwardErasesExactlyWhatSignModeWithholds pins which forwarded
// requests skip erase.Do: only those of schemes whose requests sign mode
// hands to bots anyway, without a secret in clear.
func TestForwardErasesExactlyWhatSignModeWithholds(t *testing.T) {
	for _, name := range scheme.Names() {
		s, ok := scheme.Lookup(name)
		require.True(t, ok)
		info := s.Info()
		want := info.ForwardOnly || len(info.ClearSecrets) > 0
		assert.Equal(t, want, sendsSecretInClear(s), name)
	}
	for _, name := range []string{"bearer", "alpaca", "oanda", "okx", "bitget", "kucoin"} {
		s, ok := scheme.Lookup(name)
		require.True(t, ok, name)
		assert.True(t, sendsSecretInClear(s), "%s requests carry a secret in clear: built under erase.Do", name)
	}
	s, _ := scheme.Lookup("binance")
	assert.False(t, sendsSecretInClear(s))
}

// TestForwardOnlyCredentialIsForwarded runs a scheme that sends its secret
// in clear through forward: it is built under erase.Do, never refused as
// forward-only.
func TestForwardOnlyCredentialIsForwarded(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		fmt.Fprint(w, "{}")
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	a := newTestAgent(t)
	unlocked(t, a)
	_, err := a.Add(selfContext(), protocol.AddArgs{Name: "tok", Scheme: "bearer", APIKey: "id", Secret: protocol.Secret("token-0123456789"),
		Meta: map[string]string{"hosts": "example.com", MetaConnectTo: srv.Listener.Addr().String(), MetaCAFile: ca}, Verify: protocol.VerifyOff})
	require.NoError(t, err)
	res, err := a.Forward(selfContext(), protocol.ForwardArgs{Credential: "tok", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://example.com/v1/me"}})
	require.NoError(t, err)
	assert.Equal(t, 200, res.Status)
	assert.Equal(t, "Bearer token-0123456789", got.Load())
}

func TestWireRequestKeepsTheSignedTargetAndChecksTheHost(t *testing.T) {
	for _, tc := range []struct {
		url, target string
		ok          bool
	}{
		{"https://example.com/api/v3/order?a=1&signature=ab%2Fcd", "/api/v3/order?a=1&signature=ab%2Fcd", true},
		{"https://EXAMPLE.com:443/p", "/p", true},
		{"HTTPS://example.com?x=1", "/?x=1", true},
		{"https://example.com", "/", true},
		{"https://[::1]:8443/p", "", false},
		{"http://example.com/p", "", false},
		{"https://example.com.evil.test/p", "", false},
		{"https://example.com:1@evil.test/p", "", false},
		{"https://user@example.com/p", "", false},
	} {
		req, err := wireRequest(scheme.Request{Method: "GET", URL: tc.url}, "example.com", nil)
		if !tc.ok {
			assert.Error(t, err, tc.url)
			continue
		}
		require.NoError(t, err, tc.url)
		assert.Equal(t, tc.target, req.Target, tc.url)
	}
	req, err := wireRequest(scheme.Request{Method: "GET", URL: "https://[::1]:8443/p"}, "::1", nil)
	require.NoError(t, err)
	assert.Equal(t, "/p", req.Target)

	// The scheme's own header wins over the bot's case variant of it; the
	// bot's other headers pass.
	bot := map[string]string{"x-mbx-apikey": "bot-key", "X-Bot": "kept"}
	out := scheme.Request{Method: "GET", URL: "https://example.com/p",
		Headers: map[string]string{"x-mbx-apikey": "bot-key", "X-MBX-APIKEY": "cred-key", "X-Bot": "kept"}}
	req, err = wireRequest(out, "example.com", bot)
	require.NoError(t, err)
	assert.Equal(t, []forward.Header{{Name: "X-Bot", Value: "kept"}, {Name: "X-MBX-APIKEY", Value: "cred-key"}}, req.Header)
}

// TestNoSecretBuildRefusesClearSecrets: a forwarded request built outside
// erase.Do (its scheme was looked up as one without a clear secret) is
// refused if the credential now holds a scheme whose requests carry one,
// passphrase schemes included, so that the caller builds it under
// erase.Do instead.
func TestNoSecretBuildRefusesClearSecrets(t *testing.T) {
	a := newTestAgent(t)
	unlocked(t, a)
	ctx := selfContext()
	_, err := a.Add(ctx, protocol.AddArgs{Name: "okx", Scheme: "okx", APIKey: "okx-key", Secret: protocol.Secret("okx-test-secret-0123456789"), Passphrase: protocol.Secret("okx-test-pass-9"), Verify: protocol.VerifyOff})
	require.NoError(t, err)
	_, err = a.Add(ctx, protocol.AddArgs{Name: "bin", Scheme: "binance", APIKey: "bin-key", Secret: protocol.Secret("binance-test-secret-0123456789"), Verify: protocol.VerifyOff})
	require.NoError(t, err)

	okx := scheme.Request{Method: "GET", URL: "https://www.okx.com/api/v5/account/balance"}
	_, _, err = a.signWithKey("okx", okx, "www.okx.com", time.Now(), forForwardNoSecret)
	assert.Equal(t, protocol.CodeForwardOnly, protocol.CodeOf(err), "a passphrase scheme is not built outside erase.Do")
	out, _, err := a.signWithKey("okx", okx, "www.okx.com", time.Now(), forForward)
	require.NoError(t, err)
	assert.NotEmpty(t, out.Headers["OK-ACCESS-PASSPHRASE"])

	bin := scheme.Request{Method: "GET", URL: "https://api.binance.com/api/v3/account"}
	_, _, err = a.signWithKey("bin", bin, "api.binance.com", time.Now(), forForwardNoSecret)
	assert.NoError(t, err, "binance's requests carry no secret in clear")
}
