package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type coinbaseVectors struct {
	APIKeyName string `json:"api_key_name"`
	Ed25519Key string `json:"ed25519_private_key"`
	Now        int64  `json:"now"`
	JWTEdDSA   []struct {
		Name, Method, URL string
		WantHeader        string `json:"want_header"`
		WantClaims        string `json:"want_claims"`
		WantAuthorization string `json:"want_authorization"`
	} `json:"jwt_eddsa"`
	JWTES256 []struct {
		Name, Method, URL string
		WantHeader        string `json:"want_header"`
		WantClaims        string `json:"want_claims"`
	} `json:"jwt_es256"`
	Exchange struct {
		APIKey     string `json:"api_key"`
		Secret     string `json:"secret"`
		Passphrase string `json:"passphrase"`
		Cases      []struct {
			Name, Method, URL, Body string
			WantSign                string `json:"want_sign"`
		} `json:"cases"`
	} `json:"exchange"`
}

func TestCoinbasePublishedVectors(t *testing.T) {
	var f coinbaseVectors
	loadVectors(t, "coinbase.json", &f)
	v, _ := Lookup("coinbase")
	now := time.Unix(f.Now, 0).Add(1500 * time.Millisecond)
	require.NotEmpty(t, f.JWTEdDSA)
	for _, c := range f.JWTEdDSA {
		t.Run("eddsa/"+c.Name, func(t *testing.T) {
			r := newRequest(t, c.Method, c.URL, "", map[string]string{"Authorization": c.WantAuthorization}, now)
			a := Account{APIKey: f.APIKeyName, Secret: []byte(f.Ed25519Key)}
			key, err := v.Key(r)
			require.NoError(t, err)
			assert.Equal(t, f.APIKeyName, key)
			got, err := v.Verify(r, a)
			require.NoError(t, err)
			assert.Equal(t, time.Unix(f.Now, 0), got.Time)
		})
	}
	// ES256 is randomised and the vectors give no key: sign the exact
	// header and claims the vectors give with a fresh P-256 key.
	ek, epem := newP256(t)
	require.NotEmpty(t, f.JWTES256)
	for _, c := range f.JWTES256 {
		t.Run("es256/"+c.Name, func(t *testing.T) {
			jwt := es256JWT(t, ek, c.WantHeader, c.WantClaims)
			r := newRequest(t, c.Method, c.URL, "", map[string]string{"Authorization": "Bearer " + jwt}, now)
			_, err := v.Verify(r, Account{APIKey: f.APIKeyName, Secret: epem})
			require.NoError(t, err)
		})
	}
	require.NotEmpty(t, f.Exchange.Cases)
	for _, c := range f.Exchange.Cases {
		t.Run("exchange/"+c.Name, func(t *testing.T) {
			r := newRequest(t, c.Method, c.URL, c.Body, map[string]string{
				"CB-ACCESS-KEY": f.Exchange.APIKey, "CB-ACCESS-SIGN": c.WantSign,
				"CB-ACCESS-TIMESTAMP": strconv.FormatInt(f.Now, 10), "CB-ACCESS-PASSPHRASE": f.Exchange.Passphrase,
			}, now)
			_, err := v.Verify(r, Account{APIKey: f.Exchange.APIKey, Secret: []byte(f.Exchange.Secret), Passphrase: f.Exchange.Passphrase})
			require.NoError(t, err)
		})
	}
}

func b64url(s []byte) string { return base64.RawURLEncoding.EncodeToString(s) }

func es256JWT(t *testing.T, k *ecdsa.PrivateKey, header, claims string) string {
	t.Helper()
	signed := b64url([]byte(header)) + "." + b64url([]byte(claims))
	d := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	require.NoError(t, err)
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + b64url(sig)
}

func eddsaJWT(k ed25519.PrivateKey, header, claims string) string {
	signed := b64url([]byte(header)) + "." + b64url([]byte(claims))
	return signed + "." + b64url(ed25519.Sign(k, []byte(signed)))
}

// coinbaseClaims builds the documented ES256 claims.
func coinbaseClaims(kid, uri string, nbf int64, life int64) string {
	return `{"sub":"` + kid + `","iss":"cdp","nbf":` + strconv.FormatInt(nbf, 10) + `,"exp":` + strconv.FormatInt(nbf+life, 10) + `,"uri":"` + uri + `"}`
}

func TestCoinbaseJWTOwnSigner(t *testing.T) {
	v, _ := Lookup("coinbase")
	kid := "organizations/fake-org/apiKeys/fake-key"
	ek, epem := newP256(t)
	_, edk, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	edB64 := base64.StdEncoding.EncodeToString(edk) // CDP's form: seed || public key
	nbf := testNow.Unix()
	uri := "POST api.coinbase.com/api/v3/brokerage/orders"
	hdr := func(alg string) string {
		return `{"alg":"` + alg + `","kid":"` + kid + `","nonce":"0123456789abcdef","typ":"JWT"}`
	}
	sign := func(alg, claims string) string {
		if alg == "ES256" {
			return es256JWT(t, ek, hdr(alg), claims)
		}
		return eddsaJWT(edk, hdr(alg), claims)
	}
	for _, k := range []struct {
		name, alg string
		a         Account
	}{
		{"es256", "ES256", Account{APIKey: kid, Secret: epem}},
		{"eddsa", "EdDSA", Account{APIKey: kid, Secret: []byte(edB64)}},
	} {
		t.Run(k.name, func(t *testing.T) {
			claims := coinbaseClaims(kid, uri, nbf, 120)
			if k.alg == "EdDSA" {
				claims = `{"sub":"` + kid + `","iss":"cdp","aud":["cdp_service"],"nbf":` + strconv.FormatInt(nbf, 10) + `,"exp":` + strconv.FormatInt(nbf+120, 10) + `,"iat":` + strconv.FormatInt(nbf, 10) + `,"uris":["` + uri + `"]}`
			}
			good := newRequest(t, "POST", "https://api.coinbase.com/api/v3/brokerage/orders", `{"side":"BUY"}`,
				map[string]string{"Authorization": "Bearer " + sign(k.alg, claims)}, testNow.Add(time.Second))
			setJWT := func(c string) func(r *Request, a *Account) {
				return func(r *Request, a *Account) { r.Header.Set("Authorization", "Bearer "+sign(k.alg, c)) }
			}
			checkVenue(t, v, good, k.a, []refusal{
				{"other path", tamperPath, "is not this request's"},
				{"other method", func(r *Request, a *Account) { r.Method = "DELETE" }, "is not this request's"},
				{"other host", func(r *Request, a *Account) { r.Host = "api-sandbox.coinbase.com" }, "is not this request's"},
				{"expired", func(r *Request, a *Account) { r.Now = r.Now.Add(2 * time.Minute) }, "expired"},
				{"not yet valid", func(r *Request, a *Account) { r.Now = r.Now.Add(-5 * time.Second) }, "not yet valid"},
				{"tampered signature", func(r *Request, a *Account) {
					h := r.Header.Get("Authorization")
					r.Header.Set("Authorization", h[:len(h)-3]+flip(h[len(h)-3:], 0))
				}, "signature mismatch"},
				{"other key", func(r *Request, a *Account) { _, a.Secret = newP256(t) }, ""},
				{"wrong kid", func(r *Request, a *Account) { a.APIKey = "organizations/fake-org/apiKeys/other" }, "kid does not match"},
				{"missing header", func(r *Request, a *Account) { r.Header.Del("Authorization") }, "missing header Authorization"},
				{"lifetime too long", setJWT(coinbaseClaims(kid, uri, nbf, 600)), "2-minute maximum"},
				{"wrong iss", setJWT(strings.Replace(coinbaseClaims(kid, uri, nbf, 120), `"cdp"`, `"other"`, 1)), "iss"},
				{"uri with query", setJWT(coinbaseClaims(kid, uri+"?a=1", nbf, 120)), "is not this request's"},
			})
		})
	}
}

func TestCoinbaseExchangeOwnSigner(t *testing.T) {
	v, _ := Lookup("coinbase")
	rawSecret := []byte("fake-secret-for-tests-only-0123456789")
	a := Account{APIKey: "fake-cb-key", Secret: []byte(base64.StdEncoding.EncodeToString(rawSecret)), Passphrase: "fake-passphrase"}
	ts := strconv.FormatInt(testNow.Unix(), 10)
	body := `{"size":"1.0","side":"buy","product_id":"BTC-USD"}`
	r := newRequest(t, "POST", "https://api.exchange.coinbase.com/orders?x=1", body, nil, testNow)
	r.Header.Set("CB-ACCESS-KEY", a.APIKey)
	r.Header.Set("CB-ACCESS-TIMESTAMP", ts)
	r.Header.Set("CB-ACCESS-PASSPHRASE", a.Passphrase)
	r.Header.Set("CB-ACCESS-SIGN", base64.StdEncoding.EncodeToString(mac(sha256.New, rawSecret, []byte(ts+"POST/orders?x=1"+body))))
	checkVenue(t, v, r, a, append(commonHeaderRefusals("CB-ACCESS-KEY", "CB-ACCESS-SIGN", "CB-ACCESS-TIMESTAMP", "CB-ACCESS-PASSPHRASE"),
		refusal{"tampered body", tamperBody, "signature mismatch"},
		refusal{"tampered query", func(r *Request, a *Account) { r.RawQuery = "x=2" }, "signature mismatch"},
		refusal{"tampered path", tamperPath, "signature mismatch"},
		refusal{"wrong passphrase", func(r *Request, a *Account) { a.Passphrase = "other" }, "wrong passphrase"},
		refusal{"stale", func(r *Request, a *Account) { r.Now = r.Now.Add(31 * time.Second) }, "outside the 30 s window"},
		refusal{"raw secret, not base64-decoded", func(r *Request, a *Account) { a.Secret = []byte(base64.StdEncoding.EncodeToString([]byte("other"))) }, "signature mismatch"},
	))
}
