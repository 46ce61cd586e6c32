package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeribitPublishedVectors(t *testing.T) {
	var f struct {
		ClientID  string `json:"client_id"`
		Secret    string `json:"client_secret"`
		Timestamp int64  `json:"timestamp"`
		REST      []struct {
			Name, Method, URL, Body string
			WantAuthorization       string `json:"want_authorization"`
		} `json:"rest"`
	}
	loadVectors(t, "deribit.json", &f)
	require.NotEmpty(t, f.REST)
	v, _ := Lookup("deribit")
	for _, c := range f.REST {
		t.Run(c.Name, func(t *testing.T) {
			r := newRequest(t, c.Method, c.URL, c.Body, map[string]string{"Authorization": c.WantAuthorization}, time.UnixMilli(f.Timestamp+1000))
			key, err := v.Key(r)
			require.NoError(t, err)
			assert.Equal(t, f.ClientID, key)
			got, err := v.Verify(r, Account{APIKey: f.ClientID, Secret: []byte(f.Secret)})
			require.NoError(t, err)
			assert.Equal(t, time.UnixMilli(f.Timestamp), got.Time)
		})
	}
}

func TestDeribitOwnSigner(t *testing.T) {
	v, _ := Lookup("deribit")
	a := Account{APIKey: "fake-client-id", Secret: []byte("fake-secret-for-tests-only")}
	ts := strconv.FormatInt(testNow.UnixMilli(), 10)
	nonce := "abcd1234"
	body := `{"jsonrpc":"2.0","id":1,"method":"private/buy","params":{"amount":10}}`
	sig := hex.EncodeToString(mac(sha256.New, a.Secret, []byte(ts+"\n"+nonce+"\nPOST\n/api/v2/private/buy?x=1\n"+body+"\n")))
	auth := "deri-hmac-sha256 id=" + a.APIKey + ",ts=" + ts + ",sig=" + sig + ",nonce=" + nonce
	good := newRequest(t, "POST", "https://www.deribit.com/api/v2/private/buy?x=1", body, map[string]string{"Authorization": auth}, testNow)
	setAuth := func(s string) func(r *Request, a *Account) {
		return func(r *Request, a *Account) { r.Header.Set("Authorization", s) }
	}
	checkVenue(t, v, good, a, []refusal{
		{"tampered body", tamperBody, "signature mismatch"},
		{"tampered query", func(r *Request, a *Account) { r.RawQuery = "x=2" }, "signature mismatch"},
		{"tampered path", tamperPath, "signature mismatch"},
		{"wrong client id", setAuth("deri-hmac-sha256 id=other,ts=" + ts + ",sig=" + sig + ",nonce=" + nonce), "client id does not match"},
		{"other nonce", setAuth("deri-hmac-sha256 id=" + a.APIKey + ",ts=" + ts + ",sig=" + sig + ",nonce=x"), "signature mismatch"},
		{"no nonce", setAuth("deri-hmac-sha256 id=" + a.APIKey + ",ts=" + ts + ",sig=" + sig), "lacks nonce="},
		{"other scheme", setAuth("Bearer x"), "not deri-hmac-sha256"},
		{"missing header", func(r *Request, a *Account) { r.Header.Del("Authorization") }, "missing header Authorization"},
		{"stale", func(r *Request, a *Account) { r.Now = r.Now.Add(61 * time.Second) }, "outside the 60 s window"},
		{"wrong secret", func(r *Request, a *Account) { a.Secret = []byte("another-fake-secret") }, "signature mismatch"},
	})
}
