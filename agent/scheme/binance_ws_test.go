package scheme

import (
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type binanceWSVectors struct {
	Note  string                `json:"note"`
	Keys  map[string]binanceKey `json:"keys"`
	Cases []struct {
		Name      string         `json:"name"`
		Source    string         `json:"source"`
		Key       string         `json:"key"`
		URL       string         `json:"url"`
		NowMS     int64          `json:"now_ms"`
		Message   string         `json:"message"`
		Payload   string         `json:"payload"`
		Signature string         `json:"signature"`
		WantJSON  map[string]any `json:"want_json"`
		WantBody  string         `json:"want_body"`
	} `json:"cases"`
	PayloadOnly []struct {
		Name    string `json:"name"`
		Source  string `json:"source"`
		Key     string `json:"key"`
		APIKey  string `json:"api_key"`
		URL     string `json:"url"`
		NowMS   int64  `json:"now_ms"`
		Message string `json:"message"`
		Payload string `json:"payload"`
	} `json:"payload_only"`
}

func loadBinanceWSVectors(t testing.TB) binanceWSVectors {
	v := loadVectors[binanceWSVectors](t, "binance_ws")
	require.Len(t, v.Cases, 4)
	require.Len(t, v.PayloadOnly, 4)
	return v
}

// binanceWSPayload rebuilds the signature payload of a signed message
// independently of the code under test (encoding/json, numbers as written)
// and returns it with the signature.
func binanceWSPayload(t testing.TB, body string) (payload, sig string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var msg struct {
		Params map[string]any `json:"params"`
	}
	require.NoError(t, dec.Decode(&msg), "output is not JSON: %q", body)
	sig, ok := msg.Params["signature"].(string)
	require.True(t, ok, "no signature in %q", body)
	var names []string
	for k := range msg.Params {
		if k != "signature" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		fmt.Fprintf(&b, "%s=%v", k, msg.Params[k])
	}
	return b.String(), sig
}

// verifyBinanceWS checks a signed message's signature over the payload
// rebuilt from it.
func verifyBinanceWS(t testing.TB, c binanceCred, body string) string {
	t.Helper()
	payload, sig := binanceWSPayload(t, body)
	binanceVerifySig(t, c, []byte(payload), sig)
	return payload
}

// TestBinanceWSDocumentedExamples signs Binance's WebSocket API examples
// and expects the docs' payloads and signatures byte for byte.
func TestBinanceWSDocumentedExamples(t *testing.T) {
	v := loadBinanceWSVectors(t)
	s, ok := Lookup("binance-ws")
	require.True(t, ok)
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			require.NotEmpty(t, c.Source)
			cred := binanceCredFrom(t, v.Keys[c.Key])
			binanceVerifySig(t, cred, []byte(c.Payload), c.Signature)
			in := cred.input(Request{Method: MethodWS, URL: c.URL, Body: c.Message}, time.UnixMilli(c.NowMS))
			out, err := s.Sign(in)
			require.NoError(t, err)
			assert.Equal(t, MethodWS, out.Method)
			assert.Equal(t, c.URL, out.URL)
			payload, sig := binanceWSPayload(t, out.Body)
			assert.Equal(t, c.Payload, payload)
			assert.Equal(t, c.Signature, sig)
			if c.WantJSON != nil {
				var got map[string]any
				require.NoError(t, json.Unmarshal([]byte(out.Body), &got))
				assert.Equal(t, c.WantJSON, got)
			}
			if c.WantBody != "" {
				assert.Equal(t, c.WantBody, out.Body)
			}
			// The bot's text is kept: the output is the message with the signature added.
			assert.True(t, c.WantBody != "" || strings.HasPrefix(out.Body, strings.TrimRight(c.Message, "}\n ")), "message re-written")
			assert.True(t, allZero(in.Scratch))
		})
	}
}

// TestBinanceWSDocumentedPayloads: Binance does not publish the RSA and
// Ed25519 keys behind its WebSocket examples, so the agent signs the docs'
// requests with Binance's connector test keys and the signature must verify
// over the docs' payload, proving the payload byte for byte.
func TestBinanceWSDocumentedPayloads(t *testing.T) {
	v := loadBinanceWSVectors(t)
	for _, c := range v.PayloadOnly {
		t.Run(c.Name, func(t *testing.T) {
			require.NotEmpty(t, c.Source)
			cred := binanceCredFrom(t, v.Keys[c.Key])
			cred.apiKey = c.APIKey
			out, err := binanceWS{}.Sign(cred.input(Request{Method: MethodWS, URL: c.URL, Body: c.Message}, time.UnixMilli(c.NowMS)))
			require.NoError(t, err)
			_, sig := binanceWSPayload(t, out.Body)
			binanceVerifySig(t, cred, []byte(c.Payload), sig)
		})
	}
}

func TestBinanceWSLayout(t *testing.T) {
	secret := []byte("s3cr3t-s3cr3t")
	cred := binanceCred{apiKey: "KEY", keyType: KeyHMAC, secret: secret}
	now := time.UnixMilli(1700000000123)
	url := "wss://ws-api.binance.com:443/ws-api/v3"
	cases := []struct {
		name, msg   string
		want        string // the output with the signature replaced by SIG
		wantPayload string
	}{
		{"compact, as ccxt.pro sends it",
			`{"id":"1","method":"order.place","params":{"apiKey":"x","price":"1.50","quantity":0.10,"symbol":"BTCUSDT","timestamp":1}}`,
			`{"id":"1","method":"order.place","params":{"apiKey":"KEY","price":"1.50","quantity":0.10,"symbol":"BTCUSDT","timestamp":1700000000123,"signature":"SIG"}}`,
			"apiKey=KEY&price=1.50&quantity=0.10&symbol=BTCUSDT&timestamp=1700000000123"},
		{"agent adds timestamp then apiKey",
			`{"id":7,"method":"account.status","params":{"omitZeroBalances":true}}`,
			`{"id":7,"method":"account.status","params":{"omitZeroBalances":true,"timestamp":1700000000123,"apiKey":"KEY","signature":"SIG"}}`,
			"apiKey=KEY&omitZeroBalances=true&timestamp=1700000000123"},
		{"pretty printing is followed",
			"{\n  \"id\": null,\n  \"method\": \"order.status\",\n  \"params\": {\n    \"symbol\": \"BTCUSDT\",\n    \"orderId\": 12\n  }\n}",
			"{\n  \"id\": null,\n  \"method\": \"order.status\",\n  \"params\": {\n    \"symbol\": \"BTCUSDT\",\n    \"orderId\": 12,\n    \"timestamp\": 1700000000123,\n    \"apiKey\": \"KEY\",\n    \"signature\": \"SIG\"\n  }\n}",
			"apiKey=KEY&orderId=12&symbol=BTCUSDT&timestamp=1700000000123"},
		{"empty params",
			`{"id":"a","method":"userDataStream.subscribe.signature","params":{}}`,
			`{"id":"a","method":"userDataStream.subscribe.signature","params":{"timestamp":1700000000123,"apiKey":"KEY","signature":"SIG"}}`,
			"apiKey=KEY&timestamp=1700000000123"},
		{"no params",
			`{"id":"a","method":"userDataStream.subscribe.signature"}`,
			`{"id":"a","method":"userDataStream.subscribe.signature","params":{"timestamp":1700000000123,"apiKey":"KEY","signature":"SIG"}}`,
			"apiKey=KEY&timestamp=1700000000123"},
		{"string timestamp stays a string; escapes decoded for the payload",
			`{"method":"order.place","id":[1,{"x":2}],"params":{"timestamp":"1","newClientOrderId":"a\u00e9\ud83d\ude00\/b","symbol":"１２３","price":"-0.0"}}`,
			`{"method":"order.place","id":[1,{"x":2}],"params":{"timestamp":"1700000000123","newClientOrderId":"a\u00e9\ud83d\ude00\/b","symbol":"１２３","price":"-0.0","apiKey":"KEY","signature":"SIG"}}`,
			"apiKey=KEY&newClientOrderId=aé😀/b&price=-0.0&symbol=１２３&timestamp=1700000000123"},
		{"values with '&' and '=' are not encoded (the docs: no percent-encoding)",
			`{"id":1,"method":"order.place","params":{"newClientOrderId":"a&b=c d","recvWindow":"5000.5","quantity":-1.000}}`,
			`{"id":1,"method":"order.place","params":{"newClientOrderId":"a&b=c d","recvWindow":"5000.5","quantity":-1.000,"timestamp":1700000000123,"apiKey":"KEY","signature":"SIG"}}`,
			"apiKey=KEY&newClientOrderId=a&b=c d&quantity=-1.000&recvWindow=5000.5&timestamp=1700000000123"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := binanceWS{}.Sign(cred.input(Request{Method: MethodWS, URL: url, Body: c.msg, Headers: map[string]string{"X": "y"}}, now))
			require.NoError(t, err)
			payload, sig := binanceWSPayload(t, out.Body)
			assert.Equal(t, c.wantPayload, payload)
			assert.Equal(t, c.want, strings.Replace(out.Body, sig, "SIG", 1))
			binanceVerifySig(t, cred, []byte(c.wantPayload), sig)
			assert.Equal(t, url, out.URL)
			assert.Equal(t, map[string]string{"X": "y"}, out.Headers)
		})
	}
}

func TestBinanceWSRefusals(t *testing.T) {
	secret := []byte("s3cr3t-s3cr3t")
	url := "wss://ws-api.binance.com/ws-api/v3"
	ok := `{"id":1,"method":"order.place","params":{"symbol":"BTCUSDT"}}`
	cases := []struct {
		name, method, url, msg, keyType, want string
	}{
		{"not WS", "POST", url, ok, "", "not a WebSocket message"},
		{"https URL", MethodWS, "https://ws-api.binance.com/ws-api/v3", ok, "", "must use wss"},
		{"foreign host", MethodWS, "wss://evil.example/ws-api/v3", ok, "", "not one of the credential's hosts"},
		{"REST host", MethodWS, "wss://api.binance.com/ws-api/v3", ok, "", "not one of the credential's hosts"},
		{"not an object", MethodWS, url, `[1]`, "", "must be a JSON object"},
		{"empty", MethodWS, url, ``, "", "must be a JSON object"},
		{"no method", MethodWS, url, `{"id":1,"params":{}}`, "", `no "method"`},
		{"method not a string", MethodWS, url, `{"method":1}`, "", `"method" must be a string`},
		{"params not an object", MethodWS, url, `{"method":"order.place","params":[]}`, "", `"params" must be a JSON object`},
		{"array param", MethodWS, url, `{"method":"order.place","params":{"a":[1]}}`, "", "array or object"},
		{"object param", MethodWS, url, `{"method":"order.place","params":{"a":{}}}`, "", "array or object"},
		{"null param", MethodWS, url, `{"method":"order.place","params":{"a":null}}`, "", "null"},
		{"exponent", MethodWS, url, `{"method":"order.place","params":{"a":1e5}}`, "", "exponent"},
		{"leading zero", MethodWS, url, `{"method":"order.place","params":{"a":01}}`, "", "invalid number"},
		{"signature", MethodWS, url, `{"method":"order.place","params":{"signature":"x"}}`, "", "remove it"},
		{"duplicate param", MethodWS, url, `{"method":"order.place","params":{"a":1,"a":2}}`, "", "twice"},
		{"duplicate top-level", MethodWS, url, `{"method":"order.place","method":"x"}`, "", "twice"},
		{"bad name", MethodWS, url, `{"method":"order.place","params":{"a b":1}}`, "", "parameter name"},
		{"empty name", MethodWS, url, `{"method":"order.place","params":{"":1}}`, "", "empty name"},
		{"trailing comma", MethodWS, url, `{"method":"order.place","params":{"a":1,}}`, "", "trailing"},
		{"trailing text", MethodWS, url, ok + "x", "", "text after"},
		{"two messages", MethodWS, url, ok + ok, "", "text after"},
		{"lone surrogate", MethodWS, url, `{"method":"order.place","params":{"a":"\ud800"}}`, "", "surrogate"},
		{"invalid UTF-8", MethodWS, url, "{\"method\":\"order.place\",\"params\":{\"a\":\"\xff\"}}", "", "UTF-8"},
		{"control char", MethodWS, url, "{\"method\":\"order.place\",\"params\":{\"a\":\"\x01\"}}", "", "control character"},
		{"recvWindow", MethodWS, url, `{"method":"order.place","params":{"recvWindow":60001}}`, "", "at most 60000"},
		{"unsigned method", MethodWS, url, `{"id":1,"method":"session.status"}`, "", "not a signed method"},
		{"logout", MethodWS, url, `{"id":1,"method":"session.logout"}`, "", "not a signed method"},
		{"logon with HMAC", MethodWS, url, `{"id":1,"method":"session.logon","params":{}}`, KeyHMAC, "Ed25519 keys only"},
		{"logon with RSA", MethodWS, url, `{"id":1,"method":"session.logon","params":{}}`, KeyRSA, "Ed25519 keys only"},
		{"too deep", MethodWS, url, `{"method":"x","id":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "", "too deep"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := binanceInput(Request{Method: c.method, URL: c.url, Body: c.msg}, secret, time.UnixMilli(1))
			in.KeyType = c.keyType
			_, err := binanceWS{}.Sign(in)
			requireRefusal(t, err, "binance-ws", c.want)
		})
	}
}

func TestBinanceWSInfo(t *testing.T) {
	i := binanceWS{}.Info()
	assert.True(t, i.WebSocket)
	for _, h := range []string{"ws-api.binance.com", "ws-api.testnet.binance.vision", "ws-fapi.binance.com", "ws-dapi.binance.com", "testnet.binancefuture.com", "demo-ws-api.binance.com"} {
		assert.Contains(t, binanceWS{}.Hosts(), h)
	}
}

func TestBinanceWSAgentFaults(t *testing.T) {
	req := Request{Method: MethodWS, URL: "wss://ws-api.binance.com/ws-api/v3", Body: `{"method":"order.place"}`}
	for _, mod := range []func(*Input){
		func(in *Input) { in.Secret = nil },
		func(in *Input) { in.Scratch = in.Scratch[:10] },
		func(in *Input) { in.APIKey = `a"b` },
		func(in *Input) { in.KeyType = KeyECDSAP256 },
		func(in *Input) { in.KeyType = KeyEd25519 }, // a seed of the wrong length
	} {
		in := binanceInput(req, []byte("k-k-k-k-k"), time.UnixMilli(1))
		mod(&in)
		_, err := binanceWS{}.Sign(in)
		require.Error(t, err)
		assert.False(t, errors.As(err, new(*RequestError)), err.Error())
	}
}

func TestBinanceWSNoSecretInOutput(t *testing.T) {
	v := loadBinanceWSVectors(t)
	for _, kt := range []string{"hmac", "rsa", "ed25519"} {
		cred := binanceCredFrom(t, v.Keys[kt])
		for _, msg := range []string{`{"method":"order.place","params":{"a":"` + string(cred.raw[:10]) + `"}}`, `{"method":"order.place","params":{"a":[1]}}`} {
			out, err := binanceWS{}.Sign(cred.input(Request{Method: MethodWS, URL: "wss://ws-fapi.binance.com/ws-fapi/v1", Body: msg}, time.UnixMilli(1)))
			text := fmt.Sprint(out.Headers, out.URL, err)
			if err == nil {
				_, sig := binanceWSPayload(t, out.Body)
				text += strings.Replace(out.Body, string(cred.raw[:10]), "", 1)
				text = strings.Replace(text, sig, "", 1)
			}
			if kt == "hmac" {
				assert.NotContains(t, text, string(cred.secret[:12]))
			} else {
				assert.NotContains(t, text, strings.Split(string(cred.raw), "\n")[1][:16])
			}
		}
	}
}

// binanceWSCCXTCase is one call of ccxt.pro binance's signParams.
type binanceWSCCXTCase struct {
	Credentials map[string]string `json:"credentials"`
	NowMS       int64             `json:"now_ms"`
	ID          any               `json:"id"`
	Method      string            `json:"method"`
	Params      json.RawMessage   `json:"params"`
	Options     map[string]any    `json:"options,omitempty"`
}

// binanceWSCCXT runs cases through testdata/ccxt/binance_ws.mjs, which
// calls ccxt.pro's binance.signParams offline with the clock frozen.
func binanceWSCCXT(t testing.TB, cases []binanceWSCCXTCase) []struct{ Message, Error string } {
	t.Helper()
	var res []struct{ Message, Error string }
	runCCXTScript(t, "binance_ws.mjs", cases, &res)
	require.Len(t, res, len(cases))
	return res
}

// TestBinanceWSCCXT is the differential test against ccxt.pro 4.5.84's
// binance.signParams: ≥ 50 generated messages per key type; the bot's
// message is ccxt's without its signature member (ccxt puts it last), and
// the agent's signed message must equal ccxt's byte for byte.
func TestBinanceWSCCXT(t *testing.T) {
	v := loadBinanceVectors(t)
	r := mrand.New(mrand.NewPCG(5, 5))
	methods := []string{"order.place", "order.cancel", "order.status", "account.status", "openOrders.status", "order.modify", "userDataStream.subscribe.signature", "session.logon"}
	values := []any{"BTCUSDT", "a b", "１２３", "€uro", "", "x&y=z", "0.00100000", 7, 1.5, 100, true, false, "é/?#[]@!$'()*,;", "quote\"d", "back\\slash", "tab\there", "emoji 😀", -3, 0.25}
	type gen struct {
		c    binanceWSCCXTCase
		cred binanceCred
	}
	var gens []gen
	for _, kt := range []string{"hmac", "rsa", "ed25519"} {
		k := v.Keys[kt]
		cred := binanceCredFrom(t, k)
		for i := 0; i < 60; i++ {
			m := methods[i%len(methods)]
			if m == "session.logon" && kt != "ed25519" {
				m = "order.test"
			}
			var b strings.Builder
			b.WriteString("{")
			n := r.IntN(6)
			if m == "session.logon" || m == "userDataStream.subscribe.signature" {
				n = 0
			}
			for j := 0; j < n; j++ {
				if j > 0 {
					b.WriteString(",")
				}
				val, _ := json.Marshal(values[r.IntN(len(values))])
				fmt.Fprintf(&b, "%q:%s", []string{"symbol", "side", "price", "quantity", "newClientOrderId", "orderId", "timeInForce", "stopPrice"}[j], val)
			}
			if i%5 == 0 {
				if b.Len() > 1 {
					b.WriteString(",")
				}
				b.WriteString(`"recvWindow":5000`)
			}
			b.WriteString("}")
			c := binanceWSCCXTCase{
				Credentials: map[string]string{"apiKey": k.APIKey, "secret": k.Secret},
				NowMS:       1700000000000 + int64(i)*997,
				ID:          fmt.Sprint(i),
				Method:      m,
				Params:      json.RawMessage(b.String()),
			}
			if i%3 == 0 {
				c.ID = i
			}
			gens = append(gens, gen{c, cred})
		}
	}
	cases := make([]binanceWSCCXTCase, len(gens))
	for i, g := range gens {
		cases[i] = g.c
	}
	res := binanceWSCCXT(t, cases)
	per := map[string]int{}
	for i, g := range gens {
		t.Run(fmt.Sprintf("%d_%s_%s", i, g.cred.keyType, g.c.Method), func(t *testing.T) {
			require.Empty(t, res[i].Error)
			want := res[i].Message
			j := strings.LastIndex(want, `,"signature":"`)
			require.Greater(t, j, 0, want)
			bot := want[:j] + want[strings.LastIndex(want, `"`)+1:]
			out, err := binanceWS{}.Sign(g.cred.input(Request{Method: MethodWS, URL: "wss://ws-api.binance.com:443/ws-api/v3", Body: bot}, time.UnixMilli(g.c.NowMS)))
			require.NoError(t, err, "ccxt sent %s", want)
			assert.Equal(t, want, out.Body)
			verifyBinanceWS(t, g.cred, out.Body)
			per[g.cred.keyType]++
		})
	}
	for _, kt := range []string{KeyHMAC, KeyRSA, KeyEd25519} {
		assert.GreaterOrEqual(t, per[kt], 50, kt)
	}
}

func FuzzBinanceWSSign(f *testing.F) {
	f.Add(`{"id":1,"method":"order.place","params":{"symbol":"BTCUSDT","price":"0.1","quantity":1.50,"timestamp":1}}`)
	f.Add(`{"id":"x","method":"account.status"}`)
	f.Add(`{"method":"order.place","params":{}}`)
	f.Add("{\n \"method\": \"a\",\n \"params\": {\n  \"a\": \"\\u00e9\\ud83d\\ude00\"\n }\n}")
	f.Add(`{"method":"order.place","params":{"apiKey":"z","timestamp":"9","recvWindow":5000.5,"b":true}}`)
	f.Add(`{"method":"order.place","params":{"a":[1],"b":null}}`)
	f.Add(`{"method":"order.place","id":{"a":[1,2,{"b":-1.5e3}]},"params":{"x":"&="}}`)
	secret := []byte("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j")
	cred := binanceCred{apiKey: "test-api-key", keyType: KeyHMAC, secret: secret}
	f.Fuzz(func(t *testing.T, msg string) {
		in := cred.input(Request{Method: MethodWS, URL: "wss://ws-api.binance.com/ws-api/v3", Body: msg}, time.UnixMilli(1645423376532))
		out, err := binanceWS{}.Sign(in)
		if err != nil {
			var re *RequestError
			require.True(t, errors.As(err, &re), "non-RequestError %v", err)
			return
		}
		require.True(t, json.Valid([]byte(out.Body)), "output is not JSON: %q", out.Body)
		payload := verifyBinanceWS(t, cred, out.Body)
		require.Contains(t, payload, "timestamp=1645423376532")
		require.Contains(t, payload, "apiKey=test-api-key")
		require.True(t, allZero(in.Scratch))
	})
}

func BenchmarkBinanceWSSign(b *testing.B) {
	v := loadBinanceVectors(b)
	for _, kt := range []string{"hmac", "ed25519", "rsa"} {
		cred := binanceCredFrom(b, v.Keys[kt])
		in := cred.input(Request{Method: MethodWS, URL: "wss://ws-api.binance.com/ws-api/v3",
			Body: `{"id":"4885f793-e5ad-4c3b-8f6c-55d891472b71","method":"order.place","params":{"symbol":"BTCUSDT","side":"SELL","type":"LIMIT","timeInForce":"GTC","quantity":"0.01000000","price":"52000.00","newOrderRespType":"ACK","recvWindow":100,"timestamp":1645423376532}}`,
		}, time.UnixMilli(1645423376532))
		b.Run(kt, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (binanceWS{}).Sign(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
