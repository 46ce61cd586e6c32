package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKucoinPublishedVectors(t *testing.T) {
	var f struct {
		SDK        struct{ Secret, Prehash, Sign string } `json:"sdk_vector"`
		APIKey     string                                 `json:"api_key"`
		Secret     string                                 `json:"secret"`
		Passphrase string                                 `json:"passphrase"`
		Cases      []struct {
			Name                          string
			KeyVersion                    string `json:"key_version"`
			Method, URL, Body, Sign, Pass string
			Passphrase                    string `json:"passphrase"`
			NowMS                         int64  `json:"now_ms"`
		} `json:"cases"`
	}
	loadVectors(t, "kucoin.json", &f)
	// The official SDK's primitive: base64 HMAC-SHA256.
	assert.True(t, equalBase64(f.SDK.Sign, mac(sha256.New, []byte(f.SDK.Secret), []byte(f.SDK.Prehash))))
	v, _ := Lookup("kucoin")
	require.NotEmpty(t, f.Cases)
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r := newRequest(t, c.Method, c.URL, c.Body, map[string]string{
				"KC-API-KEY": f.APIKey, "KC-API-SIGN": c.Sign, "KC-API-TIMESTAMP": strconv.FormatInt(c.NowMS, 10),
				"KC-API-PASSPHRASE": c.Passphrase, "KC-API-KEY-VERSION": c.KeyVersion,
			}, time.UnixMilli(c.NowMS+300))
			got, err := v.Verify(r, Account{APIKey: f.APIKey, Secret: []byte(f.Secret), Passphrase: f.Passphrase, Meta: map[string]string{"key_version": c.KeyVersion}})
			require.NoError(t, err)
			assert.Equal(t, time.UnixMilli(c.NowMS), got.Time)
		})
	}
}

func TestKucoinOwnSigner(t *testing.T) {
	v, _ := Lookup("kucoin")
	a := Account{APIKey: "fake-kucoin-key", Secret: []byte("fake-secret-for-tests-only"), Passphrase: "fake-passphrase"}
	ts := strconv.FormatInt(testNow.UnixMilli(), 10)
	body := `{"clientOid":"x1","side":"buy","symbol":"BTC-USDT","size":"1"}`
	sign := func(method, endpoint, body string) string {
		return base64.StdEncoding.EncodeToString(mac(sha256.New, a.Secret, []byte(ts+method+endpoint+body)))
	}
	pass := base64.StdEncoding.EncodeToString(mac(sha256.New, a.Secret, []byte(a.Passphrase)))
	good := newRequest(t, "POST", "https://api.kucoin.com/api/v1/orders?tag=a%20b", body, map[string]string{
		"KC-API-KEY": a.APIKey, "KC-API-SIGN": sign("POST", "/api/v1/orders?tag=a b", body), "KC-API-TIMESTAMP": ts,
		"KC-API-PASSPHRASE": pass, "KC-API-KEY-VERSION": "2",
	}, testNow)
	checkVenue(t, v, good, a, append(commonHeaderRefusals("KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE"),
		refusal{"tampered body", tamperBody, "signature mismatch"},
		refusal{"tampered query", func(r *Request, a *Account) { r.RawQuery = "tag=a%20c" }, "signature mismatch"},
		refusal{"tampered path", tamperPath, "signature mismatch"},
		refusal{"wrong passphrase", func(r *Request, a *Account) { a.Passphrase = "other" }, "wrong passphrase"},
		refusal{"passphrase in clear on a v2 key", func(r *Request, a *Account) { r.Header.Set("KC-API-PASSPHRASE", a.Passphrase) }, "wrong passphrase"},
		refusal{"version mismatch", func(r *Request, a *Account) { r.Header.Set("KC-API-KEY-VERSION", "3") }, "KC-API-KEY-VERSION"},
		refusal{"stale", func(r *Request, a *Account) { r.Now = r.Now.Add(6 * time.Second) }, "outside the 5 s window"},
		refusal{"wrong secret", func(r *Request, a *Account) { a.Secret = []byte("another-fake-secret") }, "signature mismatch"},
	))
}
