package verify

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type hlVectors struct {
	PrivateKey   string `json:"private_key"`
	Address      string `json:"address"`
	ConnectionID struct {
		ActionJSON   string `json:"action_json"`
		Nonce        uint64 `json:"nonce"`
		ConnectionID string `json:"connection_id"`
	} `json:"connection_id"`
	Cases []struct {
		Name, Network, R, S string
		V                   int
		Nonce               uint64
		ActionJSON          string `json:"action_json"`
		VaultAddress        string `json:"vault_address"`
	} `json:"cases"`
}

func hlBody(action string, nonce uint64, sig, vault string) string {
	b := `{"action":` + action + `,"nonce":` + strconv.FormatUint(nonce, 10) + `,"signature":` + sig
	if vault != "" {
		b += `,"vaultAddress":"` + vault + `"`
	}
	return b + "}"
}

func TestHyperliquidPublishedVectors(t *testing.T) {
	var f hlVectors
	loadVectors(t, "hyperliquid.json", &f)
	t.Run("phantom agent connectionId", func(t *testing.T) {
		v, err := hlDecode([]byte(f.ConnectionID.ActionJSON))
		require.NoError(t, err)
		data, err := hlMsgpack(nil, v)
		require.NoError(t, err)
		data = append(binary.BigEndian.AppendUint64(data, f.ConnectionID.Nonce), 0)
		got := keccak(data)
		assert.Equal(t, f.ConnectionID.ConnectionID, "0x"+hex.EncodeToString(got[:]))
	})
	addr, ok := hlSecretAddress([]byte(f.PrivateKey))
	require.True(t, ok)
	assert.Equal(t, strings.ToLower(f.Address), addr)
	v, _ := Lookup("hyperliquid")
	require.NotEmpty(t, f.Cases)
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			host := hlMainnetHost
			if c.Network == "testnet" {
				host = hlTestnetHost
			}
			sig := `{"r":"` + c.R + `","s":"` + c.S + `","v":` + strconv.Itoa(c.V) + `}`
			r := newRequest(t, "POST", "https://"+host+"/exchange", hlBody(c.ActionJSON, c.Nonce, sig, c.VaultAddress),
				map[string]string{"Content-Type": "application/json"}, time.UnixMilli(int64(c.Nonce)).Add(time.Second))
			key, err := v.Key(r)
			require.NoError(t, err)
			assert.Equal(t, strings.ToLower(f.Address), key)
			for _, a := range []Account{{APIKey: f.Address}, {APIKey: "0x5e9ee1089755c3435139848e47e6635505d5a13a", Secret: []byte(f.PrivateKey)}} {
				got, err := v.Verify(r, a)
				require.NoError(t, err)
				assert.Equal(t, c.Nonce, got.Nonce)
			}
		})
	}
}

// hlTestSign signs an L1 action as signing.py's sign_l1_action does.
func hlTestSign(t *testing.T, k *secp256k1.PrivateKey, action string, nonce uint64, vault string, expires *uint64, testnet bool) string {
	t.Helper()
	v, err := hlDecode([]byte(action))
	require.NoError(t, err)
	data, err := hlMsgpack(nil, v)
	require.NoError(t, err)
	data = binary.BigEndian.AppendUint64(data, nonce)
	if vault != "" {
		a, _ := hex.DecodeString(vault[2:])
		data = append(append(data, 1), a...)
	} else {
		data = append(data, 0)
	}
	if expires != nil {
		data = binary.BigEndian.AppendUint64(append(data, 0), *expires)
	}
	conn := keccak(data)
	src := "a"
	if testnet {
		src = "b"
	}
	th, sh := keccak([]byte("Agent(string source,bytes32 connectionId)")), keccak([]byte(src))
	d := hlDigest(hlDomain("Exchange", big.NewInt(1337)), keccak(th[:], sh[:], conn[:]))
	return hlSigJSON(ecdsa.SignCompact(k, d[:], false))
}

func hlSigJSON(c []byte) string {
	r, s := new(big.Int).SetBytes(c[1:33]), new(big.Int).SetBytes(c[33:])
	return `{"r":"0x` + r.Text(16) + `","s":"0x` + s.Text(16) + `","v":` + strconv.Itoa(int(c[0])) + `}`
}

func newHLKey(t *testing.T) (*secp256k1.PrivateKey, string) {
	t.Helper()
	var b [32]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	k := secp256k1.PrivKeyFromBytes(b[:])
	return k, hex.EncodeToString(b[:])
}

func TestHyperliquidOwnSigner(t *testing.T) {
	v, _ := Lookup("hyperliquid")
	k, hexKey := newHLKey(t)
	a := Account{APIKey: "0x1111111111111111111111111111111111111111", Secret: []byte("0x" + hexKey)}
	nonce := uint64(testNow.UnixMilli())
	// Key order as sent, floats, a big integer and nested lists: the
	// msgpack must follow the JSON.
	action := `{"type":"order","orders":[{"a":10000,"b":false,"p":"0.5","s":"1234.5","r":true,"t":{"limit":{"tif":"Alo"}},"c":"0x0000000000000000000000000000abcd"}],"grouping":"normalTpsl","builder":{"b":"0x2222222222222222222222222222222222222222","f":70000}}`
	vault := "0x1719884eb866cb12b2287399b15f7db5e7d775ea"
	exp := nonce + 60000
	body := hlBody(action, nonce, hlTestSign(t, k, action, nonce, vault, &exp, false), vault)
	body = strings.TrimSuffix(body, "}") + `,"expiresAfter":` + strconv.FormatUint(exp, 10) + "}"
	good := newRequest(t, "POST", "https://api.hyperliquid.xyz/exchange", body, nil, testNow)
	got := checkVenue(t, v, good, a, []refusal{
		{"tampered action", func(r *Request, a *Account) {
			r.Body = []byte(strings.Replace(string(r.Body), `"s":"1234.5"`, `"s":"1234.6"`, 1))
		}, "signature mismatch"},
		{"key order changed", func(r *Request, a *Account) {
			r.Body = []byte(strings.Replace(string(r.Body), `"a":10000,"b":false`, `"b":false,"a":10000`, 1))
		}, "signature mismatch"},
		{"other vault", func(r *Request, a *Account) {
			r.Body = []byte(strings.Replace(string(r.Body), vault, "0x1719884eb866cb12b2287399b15f7db5e7d775eb", 1))
		}, "signature mismatch"},
		{"vault dropped", func(r *Request, a *Account) {
			r.Body = []byte(strings.Replace(string(r.Body), `,"vaultAddress":"`+vault+`"`, "", 1))
		}, "signature mismatch"},
		{"other nonce", func(r *Request, a *Account) {
			r.Body = []byte(strings.Replace(string(r.Body), strconv.FormatUint(nonce, 10)+`,"sig`, strconv.FormatUint(nonce+1, 10)+`,"sig`, 1))
		}, "signature mismatch"},
		{"testnet host", func(r *Request, a *Account) { r.Host = hlTestnetHost }, "signature mismatch"},
		{"other signer", func(r *Request, a *Account) { _, h := newHLKey(t); a.Secret = []byte(h) }, "signature mismatch"},
		{"stale nonce", func(r *Request, a *Account) { r.Now = r.Now.Add(49 * time.Hour) }, "outside the"},
		{"future nonce", func(r *Request, a *Account) { r.Now = r.Now.Add(-25 * time.Hour) }, "ahead"},
		{"expired", func(r *Request, a *Account) { r.Now = r.Now.Add(2 * time.Minute) }, "expired"},
		{"wrong path", func(r *Request, a *Account) { r.Path = "/info" }, "not POST /exchange"},
		{"no signature", func(r *Request, a *Account) { r.Body = []byte(`{"action":` + action + `,"nonce":1}`) }, "no signature"},
		{"bad v", func(r *Request, a *Account) {
			r.Body = []byte(strings.NewReplacer(`"v":27`, `"v":29`, `"v":28`, `"v":29`).Replace(string(r.Body)))
		}, "v is not 27 or 28"},
	})
	assert.Equal(t, nonce, got.Nonce)
	assert.Equal(t, a.APIKey, got.APIKey)
	key, err := v.Key(good)
	require.NoError(t, err)
	assert.Equal(t, hlSigner(a), key)

	t.Run("user-signed usdSend on testnet", func(t *testing.T) {
		action := `{"type":"usdSend","signatureChainId":"0x66eee","hyperliquidChain":"Testnet","destination":"0x5e9ee1089755c3435139848e47e6635505d5a13a","amount":"1","time":` + strconv.FormatUint(nonce, 10) + `}`
		u := hlUserActions["usdSend"]
		o, err := hlDecode([]byte(action))
		require.NoError(t, err)
		sh, err := u.hashStruct(o.(hlObject))
		require.NoError(t, err)
		d := hlDigest(hlDomain("HyperliquidSignTransaction", big.NewInt(0x66eee)), sh)
		good := newRequest(t, "POST", "https://api.hyperliquid-testnet.xyz/exchange", hlBody(action, nonce, hlSigJSON(ecdsa.SignCompact(k, d[:], false)), ""), nil, testNow)
		checkVenue(t, v, good, a, []refusal{
			{"amount changed", func(r *Request, a *Account) {
				r.Body = []byte(strings.Replace(string(r.Body), `"amount":"1"`, `"amount":"2"`, 1))
			}, "signature mismatch"},
			{"mainnet host", func(r *Request, a *Account) { r.Host = hlMainnetHost }, "hyperliquidChain"},
			{"time is not the nonce", func(r *Request, a *Account) {
				r.Body = []byte(strings.Replace(string(r.Body), `,"nonce":`+strconv.FormatUint(nonce, 10), `,"nonce":`+strconv.FormatUint(nonce+1, 10), 1))
			}, "does not equal the request's nonce"},
		})
	})
}

func TestHyperliquidMsgpackForms(t *testing.T) {
	for _, c := range []struct{ json, hex string }{
		{`1`, "01"}, {`127`, "7f"}, {`128`, "cc80"}, {`256`, "cd0100"}, {`65536`, "ce00010000"},
		{`4294967296`, "cf0000000100000000"}, {`-1`, "ff"}, {`-33`, "d0df"}, {`-129`, "d1ff7f"},
		{`1.5`, "cb3ff8000000000000"}, {`true`, "c3"}, {`null`, "c0"},
		{`"` + strings.Repeat("x", 32) + `"`, "d920" + strings.Repeat("78", 32)},
		{`{"b":1,"a":2}`, "82a16201a16102"}, {`[1,2]`, "920102"},
	} {
		v, err := hlDecode([]byte(c.json))
		require.NoError(t, err, c.json)
		got, err := hlMsgpack(nil, v)
		require.NoError(t, err, c.json)
		assert.Equal(t, c.hex, hex.EncodeToString(got), c.json)
	}
}
