package scheme

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Helpers shared by the kucoin, gate, bitfinex and hmac tests.

// genericTestInput builds an Input with fresh scratch.
func genericTestInput(req Request, apiKey string, secret []byte, meta map[string]string, now time.Time) Input {
	return Input{
		Request: req,
		APIKey:  apiKey,
		KeyType: KeyHMAC,
		Secret:  secret,
		Scratch: make([]byte, ScratchSize),
		Meta:    meta,
		Now:     now,
	}
}

// genericTestValues are parameter values with spaces, unicode, empty
// strings, reserved characters and numbers as strings.
var genericTestValues = []string{
	"BTC-USDT", "0.001", "1e-8", "", " ", "a b", "x+y", "a/b", "a,b,c", "1:2", "é", "中文", "€", "🚀",
	"(1)", "it's", "*!~", "-_.", "[x]", "10000000", "true", "0", "-1.5", "tab\there",
}

// genericTestUnsafe are values a raw (unencoded) query cannot carry
// unambiguously: only for JSON bodies and percent-encoded queries.
var genericTestUnsafe = []string{"a&b", "k=v", "100%", "#1", `"q"`, `back\slash`, "<>", "?", "new\nline"}

func genericTestPick(r *rand.Rand, pool ...[]string) string {
	n := 0
	for _, p := range pool {
		n += len(p)
	}
	i := r.IntN(n)
	for _, p := range pool {
		if i < len(p) {
			return p[i]
		}
		i -= len(p)
	}
	return ""
}

// genericTestObject writes a JSON object with its keys in the given order.
func genericTestObject(pairs ...[2]string) json.RawMessage {
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p[0])
		b.Write(k)
		b.WriteByte(':')
		b.WriteString(p[1])
	}
	b.WriteByte('}')
	return json.RawMessage(b.String())
}

func genericTestString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// genericTestMAC is the reference HMAC, from crypto/hmac.
func genericTestMAC(newHash func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(newHash, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// ---- the hmac (generic) scheme ----

type genericVectors struct {
	Configs []struct {
		Name      string            `json:"name"`
		Meta      map[string]string `json:"meta"`
		APIKey    string            `json:"api_key"`
		Secret    string            `json:"secret"`
		SecretHex string            `json:"secret_bytes_hex"`
		Cases     []struct {
			Method       string `json:"method"`
			URL          string `json:"url"`
			Body         string `json:"body"`
			NowMS        int64  `json:"now_ms"`
			Timestamp    string `json:"timestamp"`
			StringToSign string `json:"string_to_sign"`
			Signature    string `json:"signature"`
		} `json:"cases"`
	} `json:"configs"`
}

func genericHashFor(alg string) func() hash.Hash {
	switch alg {
	case "sha384":
		return sha512.New384
	case "sha512":
		return sha512.New
	}
	return sha256.New
}

// TestHMACGenericVectors signs independently computed vectors (openssl,
// Python), among them a configuration that reproduces Gate's documented
// signatures byte for byte.
func TestHMACGenericVectors(t *testing.T) {
	v := loadVectors[genericVectors](t, "hmac")
	require.Len(t, v.Configs, 4)
	s, ok := Lookup("hmac")
	require.True(t, ok)
	for _, c := range v.Configs {
		t.Run(c.Name, func(t *testing.T) {
			checked, err := s.Check(Key{APIKey: c.APIKey, Secret: []byte(c.Secret), Meta: c.Meta})
			if c.Meta["secret_encoding"] != "base64" && len(c.Secret) < 8 {
				// Gate's documented secret, "secret", is shorter than a real one.
				requireRefusal(t, err, "hmac", "8 to 512")
			} else {
				require.NoError(t, err)
				assert.Equal(t, KeyHMAC, checked.KeyType)
			}
			key, err := hex.DecodeString(c.SecretHex)
			require.NoError(t, err)
			if checked.Secret != nil {
				assert.Equal(t, key, checked.Secret, "Check decodes the secret")
			}
			for _, k := range c.Cases {
				// The vector is self-consistent.
				mac := genericTestMAC(genericHashFor(c.Meta["algorithm"]), key, k.StringToSign)
				want := hex.EncodeToString(mac)
				if c.Meta["encoding"] == "base64" {
					want = base64.StdEncoding.EncodeToString(mac)
				}
				require.Equal(t, want, k.Signature)

				in := genericTestInput(Request{Method: k.Method, URL: k.URL, Body: k.Body, Headers: map[string]string{"User-Agent": "bot/1"}}, c.APIKey, key, c.Meta, time.UnixMilli(k.NowMS))
				out, err := s.Sign(in)
				require.NoError(t, err)
				assert.Equal(t, k.Method, out.Method)
				assert.Equal(t, k.URL, out.URL)
				assert.Equal(t, k.Body, out.Body)
				assert.Equal(t, map[string]string{
					"User-Agent":               "bot/1",
					c.Meta["key_header"]:       c.APIKey,
					c.Meta["signature_header"]: k.Signature,
					c.Meta["timestamp_header"]: k.Timestamp,
				}, out.Headers)
				assert.True(t, allZero(in.Scratch), "scratch wiped")
			}
		})
	}
}

// The generic scheme configured like Bitfinex signs what the bitfinex
// scheme signs: the same request, the same nonce, the same headers.
func TestHMACGenericMatchesBitfinex(t *testing.T) {
	meta := map[string]string{"hosts": "api.bitfinex.com", "algorithm": "sha384", "template": "/api{path}{timestamp}{body}", "timestamp": "nonce_ms", "key_header": "bfx-apikey", "signature_header": "bfx-signature", "timestamp_header": "bfx-nonce"}
	secret := []byte("fake-bitfinex-secret-for-tests")
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 20 {
		body := string(genericTestObject([2]string{"symbol", `"tBTCUSD"`}, [2]string{"note", genericTestString(genericTestPick(r, genericTestValues, genericTestUnsafe))}))
		req := Request{Method: "POST", URL: "https://api.bitfinex.com/v2/auth/w/order/submit", Body: body, Headers: map[string]string{"Content-Type": "application/json"}}
		now := time.UnixMilli(1700000000000 + int64(i))
		a, err := genericHMAC{}.Sign(genericTestInput(req, "k", secret, meta, now))
		require.NoError(t, err)
		b, err := bitfinex{}.Sign(genericTestInput(req, "k", secret, nil, now))
		require.NoError(t, err)
		assert.Equal(t, b, a)
	}
}

func TestHMACGenericTimestamps(t *testing.T) {
	now := time.Date(2024, 2, 29, 23, 59, 58, 7_123_456, time.FixedZone("x", 3600))
	in := Input{Now: now}
	for form, want := range map[string]string{
		"ms": "1709247598007", "s": "1709247598", "us": "1709247598007123",
		"iso8601": "2024-02-29T22:59:58.007Z", "nonce_ms": "1709247598007", "nonce_us": "1709247598007123",
	} {
		assert.Equal(t, want, string(genericTimestamp(in, form, nil)), form)
	}
	in.Nonce = func(unit time.Duration) uint64 { return uint64(unit) } // a stand-in history
	assert.Equal(t, "1000000", string(genericTimestamp(in, "nonce_ms", nil)), "nonces come from the credential's history")
	assert.Equal(t, "1000", string(genericTimestamp(in, "nonce_us", nil)))
}

func genericGoodMeta() map[string]string {
	return map[string]string{
		"hosts": "api.example.com", "algorithm": "sha256", "template": "{timestamp}{method}{path_query}{body}",
		"key_header": "X-KEY", "signature_header": "X-SIGN", "timestamp_header": "X-TS",
	}
}

func TestHMACGenericCheck(t *testing.T) {
	good := genericGoodMeta()
	secret := []byte("fake-generic-secret-0001")
	_, err := genericHMAC{}.Check(Key{APIKey: "k", Secret: secret, Meta: good})
	require.NoError(t, err)

	with := func(kv ...string) map[string]string {
		m := maps.Clone(good)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "-" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	cases := []struct {
		name string
		meta map[string]string
		want string
	}{
		{"no hosts", with("hosts", "-"), "--host"},
		{"blank hosts", with("hosts", " , "), "--host"},
		{"host with scheme", with("hosts", "https://api.example.com"), "give the name alone"},
		{"no algorithm", with("algorithm", "-"), "algorithm=sha256"},
		{"unknown algorithm", with("algorithm", "md5"), "sha256, sha384 or sha512"},
		{"sha1", with("algorithm", "sha1"), "sha256, sha384 or sha512"},
		{"bad encoding", with("encoding", "base32"), "hex or base64"},
		{"bad secret_encoding", with("secret_encoding", "hex"), "raw or base64"},
		{"bad timestamp", with("timestamp", "ns"), "ms, s, us, iso8601"},
		{"no template", with("template", "-"), "no template"},
		{"no timestamp in template", with("template", "{method}{path}{body}"), "{timestamp}"},
		{"template signs nothing of the request", with("template", "{timestamp}{method}{api_key}"), "no part of the request"},
		{"unknown placeholder", with("template", "{timestamp}{uri}"), "does not start a placeholder"},
		{"unclosed placeholder", with("template", "{timestamp}{body"), "does not start a placeholder"},
		{"stray brace", with("template", "{timestamp}}{body}"), "outside a placeholder"},
		{"bad escape", with("template", `{timestamp}\t{body}`), `\n (newline)`},
		{"raw newline", with("template", "{timestamp}\n{body}"), `write a newline as \n`},
		{"long template", with("template", "{timestamp}{body}"+strings.Repeat("x", 1100)), "at most 1024"},
		{"no key header", with("key_header", "-"), "key_header=NAME"},
		{"no signature header", with("signature_header", "-"), "signature_header=NAME"},
		{"no timestamp header", with("timestamp_header", "-"), "timestamp_header=NAME"},
		{"header with colon", with("key_header", "X-KEY:"), "not a header name"},
		{"header with space", with("signature_header", "X SIGN"), "not a header name"},
		{"host header", with("signature_header", "Host"), "HTTP itself uses"},
		{"content-type header", with("timestamp_header", "content-type"), "HTTP itself uses"},
		{"proxy header", with("key_header", "Proxy-Authorization"), "HTTP itself uses"},
		{"same header twice", with("timestamp_header", "x-key"), "different headers"},
		{"long header", with("key_header", strings.Repeat("X", 65)), "at most 64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := genericHMAC{}.Check(Key{APIKey: "k", Secret: secret, Meta: c.meta})
			requireRefusal(t, err, "hmac", c.want)
			// Sign refuses the same metadata, as the agent's fault.
			if c.meta["hosts"] != good["hosts"] {
				return
			}
			_, err = genericHMAC{}.Sign(genericTestInput(Request{Method: "GET", URL: "https://api.example.com/x"}, "k", secret, c.meta, time.UnixMilli(1)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}

	// Secrets.
	b64 := with("secret_encoding", "base64")
	for _, s := range []struct{ name, secret, want string }{
		{"short raw", "short", "8 to 512"},
		{"pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "PEM"},
		{"space in raw", "fake secret with space", "space"},
	} {
		_, err := genericHMAC{}.Check(Key{APIKey: "k", Secret: []byte(s.secret), Meta: good})
		requireRefusal(t, err, "hmac", s.want)
		assert.NotContains(t, err.Error(), s.secret)
	}
	for _, s := range []struct{ name, secret, want string }{
		{"not base64", "not*base64*at*all!", "not standard base64"},
		{"short base64", "AAECAw==", "decodes to 4 bytes"},
		{"pem as base64", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "PEM"},
	} {
		_, err := genericHMAC{}.Check(Key{APIKey: "k", Secret: []byte(s.secret), Meta: b64})
		requireRefusal(t, err, "hmac", s.want)
		assert.NotContains(t, err.Error(), s.secret)
	}
	// Padded and unpadded base64 both decode.
	for _, s := range []string{"AAECAwQFBgcICQoLDA0ODw==", "AAECAwQFBgcICQoLDA0ODw"} {
		c, err := genericHMAC{}.Check(Key{APIKey: "k", Secret: []byte(s), Meta: b64})
		require.NoError(t, err, s)
		assert.Equal(t, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, c.Secret)
	}
	_, err = genericHMAC{}.Check(Key{APIKey: "a\nb", Secret: secret, Meta: good})
	requireRefusal(t, err, "hmac", "API key")

	// Hosts() is empty: the generic scheme signs only for --host hosts.
	assert.Empty(t, genericHMAC{}.Hosts())
	info := genericHMAC{}.Info()
	assert.Equal(t, []string{KeyHMAC}, info.KeyTypes)
	for _, k := range []string{"hosts", "algorithm", "encoding", "secret_encoding", "template", "timestamp", "key_header", "signature_header", "timestamp_header"} {
		assert.NotEmpty(t, info.Meta[k], k)
	}
}

func TestHMACGenericRefusals(t *testing.T) {
	meta := genericGoodMeta()
	secret := []byte("fake-generic-secret-0001")
	cases := []struct{ name, method, url, want string }{
		{"foreign host", "GET", "https://evil.example/x", "not one of the credential's hosts"},
		{"venue host without --host", "GET", "https://api.binance.com/api/v3/order", "not one of the credential's hosts"},
		{"http", "GET", "http://api.example.com/x", "https"},
		{"fragment", "GET", "https://api.example.com/x#y", "fragment"},
		{"space", "GET", "https://api.example.com/x?a=b c", "a space"},
		{"unicode", "GET", "https://api.example.com/x?a=é", "non-ASCII"},
		{"method", "HEAD", "https://api.example.com/x", "method"},
		{"lower-case method", "get", "https://api.example.com/x", "upper case"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := genericHMAC{}.Sign(genericTestInput(Request{Method: c.method, URL: c.url}, "k", secret, meta, time.UnixMilli(1)))
			requireRefusal(t, err, "hmac", c.want)
		})
	}
	// Without hosts, nothing is signed.
	noHosts := maps.Clone(meta)
	delete(noHosts, "hosts")
	_, err := genericHMAC{}.Sign(genericTestInput(Request{Method: "GET", URL: "https://api.example.com/x"}, "k", secret, noHosts, time.UnixMilli(1)))
	requireRefusal(t, err, "hmac", "not one of the credential's hosts")

	// The bot's own key, signature and timestamp headers are replaced.
	out, err := genericHMAC{}.Sign(genericTestInput(Request{Method: "GET", URL: "https://API.example.com:8443/x?", Headers: map[string]string{"x-key": "spoof", "x-sign": "spoof", "x-ts": "1", "Accept": "*/*"}}, "k", secret, meta, time.UnixMilli(1700000000123)))
	require.NoError(t, err)
	assert.Equal(t, "https://API.example.com:8443/x?", out.URL)
	assert.Equal(t, map[string]string{"X-KEY": "k", "X-SIGN": hex.EncodeToString(genericTestMAC(sha256.New, secret, "1700000000123GET/x")), "X-TS": "1700000000123", "Accept": "*/*"}, out.Headers)
}

func TestHMACGenericAgentFaults(t *testing.T) {
	meta := genericGoodMeta()
	req := Request{Method: "GET", URL: "https://api.example.com/x"}
	for name, in := range map[string]Input{
		"empty secret": genericTestInput(req, "k", nil, meta, time.UnixMilli(1)),
		"short scratch": func() Input {
			in := genericTestInput(req, "k", []byte("s"), meta, time.UnixMilli(1))
			in.Scratch = in.Scratch[:64]
			return in
		}(),
		"bad api key": genericTestInput(req, "a\nb", []byte("s"), meta, time.UnixMilli(1)),
		"no meta":     genericTestInput(req, "k", []byte("s"), nil, time.UnixMilli(1)),
	} {
		_, err := genericHMAC{}.Sign(in)
		require.Error(t, err, name)
		assert.False(t, errors.As(err, new(*RequestError)), name)
	}
}

func TestHMACGenericNoSecretInOutput(t *testing.T) {
	const secret = "SECRETSECRETSECRET"
	for _, enc := range []string{"raw", "base64"} {
		meta := genericGoodMeta()
		meta["secret_encoding"] = enc
		key := []byte(secret)
		for _, u := range []string{"https://api.example.com/x?a=SECRETSECRETSECRET", "https://api.example.com/x?a=b c", "https://evil.example/"} {
			out, err := genericHMAC{}.Sign(genericTestInput(Request{Method: "POST", URL: u, Body: "SECRET"}, "k", key, meta, time.UnixMilli(1)))
			if err != nil {
				assert.NotContains(t, err.Error(), secret)
				continue
			}
			for k, v := range out.Headers {
				assert.NotContains(t, k+v, secret)
			}
		}
		_, err := genericHMAC{}.Check(Key{APIKey: "k", Secret: []byte(secret + " x"), Meta: meta})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), secret)
	}
}

func FuzzHMACSign(f *testing.F) {
	f.Add("GET", "/v1/orders", "instId=BTC-USDT&state=live", "", "{timestamp}{method}{path_query}{body}")
	f.Add("POST", "/v1/order", "", `{"a":"é"}`, `{method}\n{path}\n{query}\n{body_sha512}\n{timestamp}`)
	f.Add("DELETE", "/a%2Fb", "q=%zz", "x", "{api_key}|{timestamp}|{query}|{body_sha256}")
	f.Add("PATCH", "/", "", "", "{timestamp}{")
	secret := []byte("fake-generic-secret-0001")
	f.Fuzz(func(t *testing.T, method, path, query, body, template string) {
		meta := genericGoodMeta()
		meta["template"] = template
		u := "https://api.example.com" + path
		if query != "" {
			u += "?" + query
		}
		in := genericTestInput(Request{Method: method, URL: u, Body: body}, "k", secret, meta, time.UnixMilli(1700000000123))
		out, err := genericHMAC{}.Sign(in)
		if _, cerr := parseGenericConfig(meta); cerr != nil {
			require.Error(t, err)
			return
		}
		if err != nil {
			var re *RequestError
			require.True(t, errors.As(err, &re), "non-RequestError %v", err)
			return
		}
		require.True(t, allZero(in.Scratch))
		require.Equal(t, u, out.URL)
		require.Equal(t, body, out.Body)
		// Independent expansion of the template.
		gotPath, gotQuery, _ := strings.Cut(strings.TrimPrefix(u, "https://api.example.com"), "?")
		pq := gotPath
		if gotQuery != "" {
			pq += "?" + gotQuery
		}
		b256 := sha256.Sum256([]byte(body))
		b512 := sha512.Sum512([]byte(body))
		tpl := strings.NewReplacer(`\n`, "\n", `\\`, `\`).Replace(template)
		msg := strings.NewReplacer("{timestamp}", "1700000000123", "{method}", method, "{path_query}", pq, "{path}", gotPath, "{query}", gotQuery,
			"{body_sha256}", hex.EncodeToString(b256[:]), "{body_sha512}", hex.EncodeToString(b512[:]), "{body}", body, "{api_key}", "k").Replace(tpl)
		require.Equal(t, hex.EncodeToString(genericTestMAC(sha256.New, secret, msg)), out.Headers["X-SIGN"], "template %q", template)
	})
}

func BenchmarkHMACSign(b *testing.B) {
	meta := genericGoodMeta()
	meta["algorithm"] = "sha512"
	meta["template"] = `{method}\n{path}\n{query}\n{body_sha512}\n{timestamp}`
	in := genericTestInput(Request{Method: "POST", URL: "https://api.example.com/api/v4/spot/orders?x=1", Body: `{"currency_pair":"BTC_USDT","side":"buy","amount":"0.001","price":"65000"}`}, "k", []byte("fake-generic-secret-0001"), meta, time.UnixMilli(1700000000123))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (genericHMAC{}).Sign(in); err != nil {
			b.Fatal(err)
		}
	}
}
