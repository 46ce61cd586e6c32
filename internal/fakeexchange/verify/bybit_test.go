package verify

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBybitPublishedVectors(t *testing.T) {
	var f struct {
		APIKey string `json:"api_key"`
		HMAC   string `json:"hmac_secret"`
		RSA    string `json:"rsa_private_key"`
		Cases  []struct {
			Name, Method, URL, Body string
			NowMS                   int64  `json:"now_ms"`
			HMACSign                string `json:"hmac_sign"`
			RSASign                 string `json:"rsa_sign"`
		} `json:"cases"`
	}
	loadVectors(t, "bybit.json", &f)
	require.NotEmpty(t, f.Cases)
	v, _ := Lookup("bybit")
	for _, c := range f.Cases {
		for _, k := range []struct{ name, secret, sig string }{{"hmac", f.HMAC, c.HMACSign}, {"rsa", f.RSA, c.RSASign}} {
			t.Run(c.Name+"/"+k.name, func(t *testing.T) {
				r := newRequest(t, c.Method, c.URL, c.Body, map[string]string{
					"X-BAPI-API-KEY": f.APIKey, "X-BAPI-TIMESTAMP": strconv.FormatInt(c.NowMS, 10),
					"X-BAPI-RECV-WINDOW": "5000", "X-BAPI-SIGN": k.sig,
				}, time.UnixMilli(c.NowMS+200))
				got, err := v.Verify(r, Account{APIKey: f.APIKey, Secret: []byte(k.secret)})
				require.NoError(t, err)
				assert.Equal(t, time.UnixMilli(c.NowMS), got.Time)
			})
		}
	}
}

// bybitSign signs as the v5 guide describes.
func bybitSign(t *testing.T, a Account, priv *rsa.PrivateKey, method, rawURL, body, recv string, now time.Time) *Request {
	t.Helper()
	r := newRequest(t, method, rawURL, body, nil, now.Add(200*time.Millisecond))
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	payload := body
	if method == "GET" {
		payload = r.RawQuery
	}
	msg := []byte(ts + a.APIKey + recv + payload)
	var sig string
	if priv != nil {
		d := sha256.Sum256(msg)
		s, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, d[:])
		require.NoError(t, err)
		sig = base64.StdEncoding.EncodeToString(s)
	} else {
		sig = hex.EncodeToString(mac(sha256.New, a.Secret, msg))
	}
	r.Header.Set("X-BAPI-API-KEY", a.APIKey)
	r.Header.Set("X-BAPI-TIMESTAMP", ts)
	r.Header.Set("X-BAPI-SIGN", sig)
	if recv != "" {
		r.Header.Set("X-BAPI-RECV-WINDOW", recv)
	}
	return r
}

func TestBybitOwnSigner(t *testing.T) {
	v, _ := Lookup("bybit")
	rk, rpem := newRSA(t)
	for _, k := range []struct {
		name string
		a    Account
		priv *rsa.PrivateKey
	}{
		{"hmac", Account{APIKey: "fake-bybit-key", Secret: []byte("fake-secret-for-tests-only")}, nil},
		{"rsa", Account{APIKey: "fake-bybit-rsa", Secret: rpem}, rk},
	} {
		for _, shape := range []struct{ name, method, url, body, recv string }{
			{"get", "GET", "https://api.bybit.com/v5/order/realtime?category=linear&symbol=BTCUSDT", "", "5000"},
			{"post", "POST", "https://api.bybit.com/v5/order/create", `{"category":"linear","qty":"1"}`, "5000"},
			{"post, no recv window", "POST", "https://api.bybit.com/v5/order/create", `{"category":"linear","qty":"1"}`, ""},
		} {
			t.Run(k.name+"/"+shape.name, func(t *testing.T) {
				good := bybitSign(t, k.a, k.priv, shape.method, shape.url, shape.body, shape.recv, testNow)
				refusals := []refusal{
					{"wrong key", func(r *Request, a *Account) { r.Header.Set("X-BAPI-API-KEY", "other") }, "API key does not match"},
					{"missing sign", func(r *Request, a *Account) { r.Header.Del("X-BAPI-SIGN") }, "missing header X-BAPI-SIGN"},
					{"missing timestamp", func(r *Request, a *Account) { r.Header.Del("X-BAPI-TIMESTAMP") }, "missing header X-BAPI-TIMESTAMP"},
					{"stale timestamp", func(r *Request, a *Account) { r.Now = r.Now.Add(6 * time.Second) }, "outside the 5 s window"},
					{"future timestamp", func(r *Request, a *Account) { r.Now = r.Now.Add(-1500 * time.Millisecond) }, "ahead"},
					{"wider recv window unsigned", func(r *Request, a *Account) { r.Header.Set("X-BAPI-RECV-WINDOW", "60000") }, "signature mismatch"},
					{"wrong secret", func(r *Request, a *Account) {
						if k.priv != nil {
							_, a.Secret = newRSA(t)
						} else {
							a.Secret = []byte("another-fake-secret")
						}
					}, "signature mismatch"},
				}
				if shape.method == "GET" {
					refusals = append(refusals, refusal{"tampered query", func(r *Request, a *Account) { r.RawQuery = flip(r.RawQuery, -1) }, "signature mismatch"})
				} else {
					refusals = append(refusals, refusal{"tampered body", func(r *Request, a *Account) { r.Body = []byte(flip(string(r.Body), 5)) }, "signature mismatch"})
				}
				checkVenue(t, v, good, k.a, refusals)
			})
		}
	}
}
