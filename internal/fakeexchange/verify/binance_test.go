package verify

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBinancePublishedVectors(t *testing.T) {
	var f struct {
		Keys map[string]struct {
			APIKey string `json:"api_key"`
			Secret string `json:"secret"`
		} `json:"keys"`
		Cases []struct {
			Name     string `json:"name"`
			Key      string `json:"key"`
			NowMS    int64  `json:"now_ms"`
			Method   string `json:"method"`
			WantURL  string `json:"want_url"`
			WantBody string `json:"want_body"`
		} `json:"cases"`
	}
	loadVectors(t, "binance.json", &f)
	require.NotEmpty(t, f.Cases)
	v, ok := Lookup("binance")
	require.True(t, ok)
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			k := f.Keys[c.Key]
			r := newRequest(t, c.Method, c.WantURL, c.WantBody, map[string]string{"X-MBX-APIKEY": k.APIKey}, time.UnixMilli(c.NowMS+100))
			got, err := v.Verify(r, Account{APIKey: k.APIKey, Secret: []byte(k.Secret)})
			require.NoError(t, err)
			assert.Equal(t, time.UnixMilli(c.NowMS), got.Time)
			assert.Equal(t, k.APIKey, got.APIKey)
		})
	}
}

// binanceSign signs a request as the Binance docs describe: totalParams is
// query||body, and signature=… goes last in the body when there is one.
func binanceSign(t *testing.T, a Account, priv any, query, body string, now time.Time) *Request {
	t.Helper()
	ts := "timestamp=" + strconv.FormatInt(now.UnixMilli(), 10)
	if body != "" {
		body += "&" + ts
	} else if query != "" {
		query += "&" + ts
	} else {
		query = ts
	}
	total := []byte(query + body)
	var sig string
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		d := sha256.Sum256(total)
		s, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
		require.NoError(t, err)
		sig = url.QueryEscape(base64.StdEncoding.EncodeToString(s))
	case ed25519.PrivateKey:
		sig = url.QueryEscape(base64.StdEncoding.EncodeToString(ed25519.Sign(k, total)))
	default:
		sig = hex.EncodeToString(mac(sha256.New, a.Secret, total))
	}
	if body != "" {
		body += "&signature=" + sig
	} else {
		query += "&signature=" + sig
	}
	u := "https://api.binance.com/api/v3/order"
	if query != "" {
		u += "?" + query
	}
	return newRequest(t, "POST", u, body, map[string]string{"X-MBX-APIKEY": a.APIKey}, now.Add(300*time.Millisecond))
}

func TestBinanceOwnSigner(t *testing.T) {
	v, _ := Lookup("binance")
	rk, rpem := newRSA(t)
	ek, epem := newEd25519(t)
	for _, k := range []struct {
		name string
		a    Account
		priv any
	}{
		{"hmac", Account{APIKey: "fake-binance-key", Secret: []byte("fake-secret-for-tests-only")}, nil},
		{"rsa", Account{APIKey: "fake-binance-rsa-key", Secret: rpem}, rk},
		{"ed25519", Account{APIKey: "fake-binance-ed-key", Secret: epem}, ek},
	} {
		name, a := k.name, k.a
		for _, shape := range []struct{ name, query, body string }{
			{"query", "symbol=BTCUSDT&side=BUY&recvWindow=5000", ""},
			{"body", "", "symbol=BTCUSDT&side=BUY&quantity=1"},
			{"mixed", "symbol=BTCUSDT", "side=BUY&quantity=1"},
		} {
			t.Run(name+"/"+shape.name, func(t *testing.T) {
				good := binanceSign(t, a, k.priv, shape.query, shape.body, testNow)
				refusals := []refusal{
					{"wrong key", func(r *Request, a *Account) { r.Header.Set("X-MBX-APIKEY", "other-key") }, "API key does not match"},
					{"missing key header", func(r *Request, a *Account) { r.Header.Del("X-MBX-APIKEY") }, "missing header X-MBX-APIKEY"},
					{"wrong secret", func(r *Request, a *Account) { a.Secret = binanceOtherSecret(t, k.priv) }, "signature mismatch"},
					{"stale timestamp", func(r *Request, a *Account) { r.Now = r.Now.Add(6 * time.Second) }, "outside the 5 s window"},
					{"timestamp ahead", func(r *Request, a *Account) { r.Now = r.Now.Add(-2 * time.Second) }, "ahead"},
					{"no signature", func(r *Request, a *Account) {
						r.RawQuery, _, _ = cutSignature(r.RawQuery)
						b, _, _ := cutSignature(string(r.Body))
						r.Body = []byte(b)
					}, "missing parameter signature"},
				}
				if shape.body != "" {
					refusals = append(refusals, refusal{"tampered body", func(r *Request, a *Account) {
						r.Body = []byte(strings.Replace(string(r.Body), "quantity=1", "quantity=2", 1))
					}, "signature mismatch"})
				}
				if shape.query != "" {
					refusals = append(refusals, refusal{"tampered query", func(r *Request, a *Account) { r.RawQuery = strings.Replace(r.RawQuery, "BTCUSDT", "BTCUSDC", 1) }, "signature mismatch"})
				}
				got := checkVenue(t, v, good, a, refusals)
				assert.Equal(t, time.UnixMilli(testNow.UnixMilli()), got.Time)
			})
		}
	}
}

// binanceOtherSecret returns a secret of the same type as s but another key.
func binanceOtherSecret(t *testing.T, priv any) []byte {
	switch priv.(type) {
	case ed25519.PrivateKey:
		_, p := newEd25519(t)
		return p
	case *rsa.PrivateKey:
		_, p := newRSA(t)
		return p
	}
	return []byte("another-fake-secret")
}

func TestBinanceRecvWindow(t *testing.T) {
	v, _ := Lookup("binance")
	a := Account{APIKey: "k", Secret: []byte("fake-secret-for-tests-only")}
	r := binanceSign(t, a, nil, "symbol=X&recvWindow=20000", "", testNow)
	r.Now = testNow.Add(15 * time.Second)
	_, err := v.Verify(r, a)
	require.NoError(t, err)
	r.Now = testNow.Add(21 * time.Second)
	_, err = v.Verify(r, a)
	require.ErrorContains(t, err, "outside the 20 s window")

	r = binanceSign(t, a, nil, "symbol=X&recvWindow=60001", "", testNow)
	_, err = v.Verify(r, a)
	require.ErrorContains(t, err, "60000 ms maximum")
}
