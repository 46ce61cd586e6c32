package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOKXPublishedVectors(t *testing.T) {
	var f struct {
		APIKey     string                                           `json:"api_key"`
		Secret     string                                           `json:"secret_key"`
		Passphrase string                                           `json:"passphrase"`
		Now        string                                           `json:"now"`
		Cases      []struct{ Name, Method, URL, Body, Sign string } `json:"cases"`
	}
	loadVectors(t, "okx.json", &f)
	require.NotEmpty(t, f.Cases)
	v, _ := Lookup("okx")
	now, err := time.Parse(time.RFC3339, f.Now)
	require.NoError(t, err)
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r := newRequest(t, c.Method, c.URL, c.Body, map[string]string{
				"OK-ACCESS-KEY": f.APIKey, "OK-ACCESS-SIGN": c.Sign, "OK-ACCESS-TIMESTAMP": f.Now, "OK-ACCESS-PASSPHRASE": f.Passphrase,
			}, now.Add(time.Second))
			got, err := v.Verify(r, Account{APIKey: f.APIKey, Secret: []byte(f.Secret), Passphrase: f.Passphrase})
			require.NoError(t, err)
			assert.Equal(t, now, got.Time)
		})
	}
}

// okxSign signs as the OKX docs describe.
func okxSign(t *testing.T, a Account, method, rawURL, body string, now time.Time) *Request {
	t.Helper()
	r := newRequest(t, method, rawURL, body, nil, now.Add(time.Second))
	ts := now.UTC().Format("2006-01-02T15:04:05.000Z")
	sig := base64.StdEncoding.EncodeToString(mac(sha256.New, a.Secret, []byte(ts+method+pathQuery(r)+body)))
	r.Header.Set("OK-ACCESS-KEY", a.APIKey)
	r.Header.Set("OK-ACCESS-SIGN", sig)
	r.Header.Set("OK-ACCESS-TIMESTAMP", ts)
	r.Header.Set("OK-ACCESS-PASSPHRASE", a.Passphrase)
	return r
}

func TestOKXOwnSigner(t *testing.T) {
	v, _ := Lookup("okx")
	a := Account{APIKey: "fake-okx-key", Secret: []byte("fake-secret-for-tests-only"), Passphrase: "fake-passphrase"}
	t.Run("get", func(t *testing.T) {
		good := okxSign(t, a, "GET", "https://www.okx.com/api/v5/account/balance?ccy=BTC", "", testNow)
		checkVenue(t, v, good, a, append(commonHeaderRefusals("OK-ACCESS-KEY", "OK-ACCESS-SIGN", "OK-ACCESS-TIMESTAMP", "OK-ACCESS-PASSPHRASE"),
			refusal{"tampered query", func(r *Request, a *Account) { r.RawQuery = "ccy=ETH" }, "signature mismatch"},
			refusal{"tampered path", tamperPath, "signature mismatch"},
			refusal{"wrong passphrase", func(r *Request, a *Account) { r.Header.Set("OK-ACCESS-PASSPHRASE", "nope") }, "wrong passphrase"},
			refusal{"stale", func(r *Request, a *Account) { r.Now = r.Now.Add(31 * time.Second) }, "outside the 30 s window"},
			refusal{"ahead", func(r *Request, a *Account) { r.Now = r.Now.Add(-32 * time.Second) }, "ahead"},
			refusal{"seconds timestamp", func(r *Request, a *Account) { r.Header.Set("OK-ACCESS-TIMESTAMP", "1700000000") }, "not UTC ISO 8601"},
			refusal{"wrong secret", func(r *Request, a *Account) { a.Secret = []byte("another-fake-secret") }, "signature mismatch"},
		))
	})
	t.Run("post", func(t *testing.T) {
		good := okxSign(t, a, "POST", "https://www.okx.com/api/v5/trade/order", `{"instId":"BTC-USDT","sz":"1"}`, testNow)
		checkVenue(t, v, good, a, []refusal{
			{"tampered body", tamperBody, "signature mismatch"},
			{"method changed", func(r *Request, a *Account) { r.Method = "PUT" }, "signature mismatch"},
		})
	})
}

// commonHeaderRefusals removes each required header and swaps the key.
func commonHeaderRefusals(keyHeader string, others ...string) []refusal {
	out := []refusal{
		{"wrong key", func(r *Request, a *Account) { r.Header.Set(keyHeader, "other-key") }, "API key does not match"},
		{"missing " + keyHeader, func(r *Request, a *Account) { r.Header.Del(keyHeader) }, "missing header " + keyHeader},
	}
	for _, h := range others {
		out = append(out, refusal{"missing " + h, func(r *Request, a *Account) { r.Header.Del(h) }, "missing header " + h})
	}
	return out
}
