package verify

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type krakenVectors struct {
	Spot struct {
		PrivateKey     string `json:"private_key"`
		Nonce          uint64 `json:"nonce"`
		URIPath        string `json:"uri_path"`
		EncodedPayload string `json:"encoded_payload"`
		APISign        string `json:"api_sign"`
	} `json:"spot"`
	Futures struct {
		APISecret string `json:"api_secret"`
		Cases     []struct {
			Name, Method, URL, Body, Nonce string
			WantAuthent                    string `json:"want_authent"`
		} `json:"cases"`
	} `json:"futures"`
}

func TestKrakenPublishedVectors(t *testing.T) {
	var f krakenVectors
	loadVectors(t, "kraken.json", &f)
	v, _ := Lookup("kraken")
	t.Run("spot docs example", func(t *testing.T) {
		r := newRequest(t, "POST", "https://api.kraken.com"+f.Spot.URIPath, f.Spot.EncodedPayload,
			map[string]string{"API-Key": "fake-kraken-key", "API-Sign": f.Spot.APISign, "Content-Type": "application/x-www-form-urlencoded"}, testNow)
		got, err := v.Verify(r, Account{APIKey: "fake-kraken-key", Secret: []byte(f.Spot.PrivateKey)})
		require.NoError(t, err)
		assert.Equal(t, f.Spot.Nonce, got.Nonce)
	})
	require.NotEmpty(t, f.Futures.Cases)
	for _, c := range f.Futures.Cases {
		t.Run("futures/"+c.Name, func(t *testing.T) {
			h := map[string]string{"APIKey": "fake-kraken-futures-key", "Authent": c.WantAuthent}
			if c.Nonce != "" {
				h["Nonce"] = c.Nonce
			}
			r := newRequest(t, c.Method, c.URL, c.Body, h, testNow)
			_, err := v.Verify(r, Account{APIKey: "fake-kraken-futures-key", Secret: []byte(f.Futures.APISecret)})
			require.NoError(t, err)
		})
	}
}

func TestKrakenOwnSigner(t *testing.T) {
	v, _ := Lookup("kraken")
	raw := []byte("fake-secret-for-tests-only-kraken-0123456789")
	a := Account{APIKey: "fake-kraken-key", Secret: []byte(base64.StdEncoding.EncodeToString(raw))}
	spot := func(path, body, nonce, ct string) *Request {
		inner := sha256.Sum256([]byte(nonce + body))
		sig := base64.StdEncoding.EncodeToString(mac(sha512.New, raw, []byte(path), inner[:]))
		return newRequest(t, "POST", "https://api.kraken.com"+path, body,
			map[string]string{"API-Key": a.APIKey, "API-Sign": sig, "Content-Type": ct}, testNow)
	}
	n := strconv.FormatInt(testNow.UnixMilli(), 10)
	t.Run("spot form", func(t *testing.T) {
		good := spot("/0/private/AddOrder", "nonce="+n+"&pair=XBTUSD&volume=1", n, "application/x-www-form-urlencoded")
		got := checkVenue(t, v, good, a, []refusal{
			{"tampered body", func(r *Request, a *Account) { r.Body = []byte("nonce=" + n + "&pair=XBTUSD&volume=2") }, "signature mismatch"},
			{"tampered path", tamperPath, "signature mismatch"},
			{"no nonce", func(r *Request, a *Account) { r.Body = []byte("pair=XBTUSD") }, "missing nonce"},
			{"wrong key", func(r *Request, a *Account) { r.Header.Set("API-Key", "other") }, "API key does not match"},
			{"missing sign", func(r *Request, a *Account) { r.Header.Del("API-Sign") }, "missing header API-Sign"},
			{"wrong secret", func(r *Request, a *Account) { a.Secret = []byte(base64.StdEncoding.EncodeToString([]byte("other"))) }, "signature mismatch"},
			{"secret not base64-decoded", func(r *Request, a *Account) { a.Secret = []byte("%%%") }, "not base64"},
		})
		assert.Equal(t, uint64(testNow.UnixMilli()), got.Nonce)
	})
	t.Run("spot json", func(t *testing.T) {
		body := `{"nonce":"` + n + `","pair":"XBTUSD"}`
		good := spot("/0/private/Balance", body, n, "application/json")
		got := checkVenue(t, v, good, a, []refusal{{"tampered body", tamperBody, ""}})
		assert.Equal(t, uint64(testNow.UnixMilli()), got.Nonce)
	})
	fut := func(method, rawURL, body, nonce string) *Request {
		r := newRequest(t, method, rawURL, body, nil, testNow)
		post := r.RawQuery
		if body != "" {
			post = body
		}
		inner := sha256.Sum256([]byte(post + nonce + r.Path[len("/derivatives"):]))
		r.Header.Set("APIKey", a.APIKey)
		r.Header.Set("Authent", base64.StdEncoding.EncodeToString(mac(sha512.New, raw, inner[:])))
		if nonce != "" {
			r.Header.Set("Nonce", nonce)
		}
		return r
	}
	t.Run("futures", func(t *testing.T) {
		good := fut("POST", "https://futures.kraken.com/derivatives/api/v3/sendorder?symbol=PF_XBTUSD&size=1", "", n)
		got := checkVenue(t, v, good, a, []refusal{
			{"tampered query", func(r *Request, a *Account) { r.RawQuery = "symbol=PF_XBTUSD&size=2" }, "signature mismatch"},
			{"tampered path", tamperPath, "signature mismatch"},
			{"nonce dropped", func(r *Request, a *Account) { r.Header.Del("Nonce") }, "signature mismatch"},
			{"missing authent", func(r *Request, a *Account) { r.Header.Del("Authent") }, "missing header Authent"},
			{"wrong key", func(r *Request, a *Account) { r.Header.Set("APIKey", "other") }, "API key does not match"},
		})
		assert.Zero(t, got.Nonce)
	})
	t.Run("futures form body, no nonce", func(t *testing.T) {
		good := fut("POST", "https://futures.kraken.com/derivatives/api/v3/batchorder", "json=%7B%7D", "")
		checkVenue(t, v, good, a, []refusal{{"tampered body", tamperBody, "signature mismatch"}})
	})
}
