package verify

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBitgetPublishedVectors(t *testing.T) {
	var f struct {
		APIKey     string `json:"api_key"`
		HMAC       string `json:"hmac_secret"`
		Passphrase string `json:"passphrase"`
		RSA        string `json:"rsa_private_key"`
		Cases      []struct {
			Name, Method, URL, Body string
			NowMS                   int64  `json:"now_ms"`
			HMACSign                string `json:"hmac_sign"`
			RSASign                 string `json:"rsa_sign"`
		} `json:"cases"`
	}
	loadVectors(t, "bitget.json", &f)
	require.NotEmpty(t, f.Cases)
	v, _ := Lookup("bitget")
	for _, c := range f.Cases {
		for _, k := range []struct{ name, secret, sig string }{{"hmac", f.HMAC, c.HMACSign}, {"rsa", f.RSA, c.RSASign}} {
			t.Run(c.Name+"/"+k.name, func(t *testing.T) {
				r := newRequest(t, c.Method, c.URL, c.Body, map[string]string{
					"ACCESS-KEY": f.APIKey, "ACCESS-SIGN": k.sig, "ACCESS-TIMESTAMP": strconv.FormatInt(c.NowMS, 10), "ACCESS-PASSPHRASE": f.Passphrase,
				}, time.UnixMilli(c.NowMS+500))
				_, err := v.Verify(r, Account{APIKey: f.APIKey, Secret: []byte(k.secret), Passphrase: f.Passphrase})
				require.NoError(t, err)
			})
		}
	}
}

func TestBitgetOwnSigner(t *testing.T) {
	v, _ := Lookup("bitget")
	rk, rpem := newRSA(t)
	ts := strconv.FormatInt(testNow.UnixMilli(), 10)
	body := `{"symbol":"BTCUSDT","size":"1"}`
	msg := []byte(ts + "POST/api/v2/spot/trade/place-order?x=a b" + body)
	for _, k := range []struct {
		name string
		a    Account
		sig  func() string
	}{
		{"hmac", Account{APIKey: "fake-bitget-key", Secret: []byte("fake-secret-for-tests-only"), Passphrase: "fake-passphrase"}, func() string {
			return base64.StdEncoding.EncodeToString(mac(sha256.New, []byte("fake-secret-for-tests-only"), msg))
		}},
		{"rsa", Account{APIKey: "fake-bitget-rsa", Secret: rpem, Passphrase: "fake-passphrase"}, func() string {
			d := sha256.Sum256(msg)
			s, err := rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, d[:])
			require.NoError(t, err)
			return base64.StdEncoding.EncodeToString(s)
		}},
	} {
		t.Run(k.name, func(t *testing.T) {
			good := newRequest(t, "POST", "https://api.bitget.com/api/v2/spot/trade/place-order?x=a%20b", body, map[string]string{
				"ACCESS-KEY": k.a.APIKey, "ACCESS-SIGN": k.sig(), "ACCESS-TIMESTAMP": ts, "ACCESS-PASSPHRASE": k.a.Passphrase,
			}, testNow)
			checkVenue(t, v, good, k.a, append(commonHeaderRefusals("ACCESS-KEY", "ACCESS-SIGN", "ACCESS-TIMESTAMP", "ACCESS-PASSPHRASE"),
				refusal{"tampered body", tamperBody, "signature mismatch"},
				refusal{"tampered query", func(r *Request, a *Account) { r.RawQuery = "x=a%20c" }, "signature mismatch"},
				refusal{"tampered path", tamperPath, "signature mismatch"},
				refusal{"wrong passphrase", func(r *Request, a *Account) { r.Header.Set("ACCESS-PASSPHRASE", "nope") }, "wrong passphrase"},
				refusal{"stale", func(r *Request, a *Account) { r.Now = r.Now.Add(31 * time.Second) }, "outside the 30 s window"},
			))
		})
	}
}
