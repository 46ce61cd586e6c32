package verify

import (
	"crypto/sha512"
	"encoding/hex"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBitfinexPublishedVectors(t *testing.T) {
	var f struct {
		APIKey string                                               `json:"api_key"`
		Secret string                                               `json:"secret"`
		Cases  []struct{ Name, URL, Body, Nonce, Signature string } `json:"cases"`
	}
	loadVectors(t, "bitfinex.json", &f)
	require.NotEmpty(t, f.Cases)
	v, _ := Lookup("bitfinex")
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r := newRequest(t, "POST", c.URL, c.Body, map[string]string{
				"bfx-apikey": f.APIKey, "bfx-nonce": c.Nonce, "bfx-signature": c.Signature,
			}, testNow)
			got, err := v.Verify(r, Account{APIKey: f.APIKey, Secret: []byte(f.Secret)})
			require.NoError(t, err)
			assert.Equal(t, c.Nonce, strconv.FormatUint(got.Nonce, 10))
		})
	}
}

func TestBitfinexOwnSigner(t *testing.T) {
	v, _ := Lookup("bitfinex")
	a := Account{APIKey: "fake-bitfinex-key", Secret: []byte("fake-secret-for-tests-only")}
	nonce := strconv.FormatInt(testNow.UnixMicro(), 10)
	body := `{"type":"EXCHANGE LIMIT","symbol":"tBTCUSD","amount":"1"}`
	sig := hex.EncodeToString(mac(sha512.New384, a.Secret, []byte("/api/v2/auth/w/order/submit"+nonce+body)))
	good := newRequest(t, "POST", "https://api.bitfinex.com/v2/auth/w/order/submit", body, map[string]string{
		"bfx-apikey": a.APIKey, "bfx-nonce": nonce, "bfx-signature": sig,
	}, testNow)
	got := checkVenue(t, v, good, a, append(commonHeaderRefusals("bfx-apikey", "bfx-nonce", "bfx-signature"),
		refusal{"tampered body", tamperBody, "signature mismatch"},
		refusal{"tampered path", tamperPath, "signature mismatch"},
		refusal{"other nonce", func(r *Request, a *Account) { r.Header.Set("bfx-nonce", nonce[:len(nonce)-1]+"9") }, "signature mismatch"},
		refusal{"nonce too large", func(r *Request, a *Account) { r.Header.Set("bfx-nonce", "9007199254740992") }, "bfx-nonce"},
		refusal{"wrong secret", func(r *Request, a *Account) { a.Secret = []byte("another-fake-secret") }, "signature mismatch"},
	))
	assert.Equal(t, uint64(testNow.UnixMicro()), got.Nonce)
}
