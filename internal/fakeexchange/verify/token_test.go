package verify

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAlpaca(t *testing.T) {
	v, ok := Lookup("alpaca")
	require.True(t, ok)
	a := Account{APIKey: "PKFAKEKEYFORTESTS000", Secret: []byte("fake-secret-for-tests-only")}
	good := newRequest(t, "GET", "https://paper-api.alpaca.markets/v2/account", "",
		map[string]string{"APCA-API-KEY-ID": a.APIKey, "APCA-API-SECRET-KEY": string(a.Secret)}, testNow)
	got := checkVenue(t, v, good, a, []refusal{
		{"wrong secret", func(r *Request, a *Account) { r.Header.Set("APCA-API-SECRET-KEY", "nope") }, "secret key mismatch"},
		{"wrong key", func(r *Request, a *Account) { r.Header.Set("APCA-API-KEY-ID", "PKOTHER") }, "API key does not match"},
		{"missing secret", func(r *Request, a *Account) { r.Header.Del("APCA-API-SECRET-KEY") }, "missing header APCA-API-SECRET-KEY"},
		{"missing key", func(r *Request, a *Account) { r.Header.Del("APCA-API-KEY-ID") }, "missing header APCA-API-KEY-ID"},
		{"secret twice", func(r *Request, a *Account) { r.Header.Add("APCA-API-SECRET-KEY", string(a.Secret)) }, "sent 2 times"},
	})
	assert.Equal(t, a.APIKey, got.APIKey)
	for _, h := range []string{"api.alpaca.markets", "paper-api.alpaca.markets", "data.alpaca.markets"} {
		got, ok := ByHost(h)
		require.True(t, ok, h)
		assert.Equal(t, "alpaca", got.Name)
	}
}

func TestOanda(t *testing.T) {
	v, ok := Lookup("oanda")
	require.True(t, ok)
	a := Account{APIKey: "101-004-1234567-001", Secret: []byte("fake-token-for-tests-only-0123456789")}
	good := newRequest(t, "POST", "https://api-fxpractice.oanda.com/v3/accounts/101-004-1234567-001/orders", `{"order":{}}`,
		map[string]string{"Authorization": "Bearer " + string(a.Secret)}, testNow)
	got := checkVenue(t, v, good, a, []refusal{
		{"wrong token", func(r *Request, a *Account) { r.Header.Set("Authorization", "Bearer other-token") }, "bearer token mismatch"},
		{"no bearer word", func(r *Request, a *Account) { r.Header.Set("Authorization", string(a.Secret)) }, "not \"Bearer <token>\""},
		{"missing header", func(r *Request, a *Account) { r.Header.Del("Authorization") }, "missing header Authorization"},
		{"other account", func(r *Request, a *Account) { r.Path = "/v3/accounts/101-004-7654321-001/orders" }, "path names account"},
	})
	assert.Equal(t, a.APIKey, got.APIKey)
	key, err := v.Key(good)
	require.NoError(t, err)
	assert.Regexp(t, `^tok:[0-9a-f]{16}$`, key)
	assert.NotContains(t, key, string(a.Secret))

	list := newRequest(t, "GET", "https://api-fxtrade.oanda.com/v3/accounts", "",
		map[string]string{"Authorization": "Bearer " + string(a.Secret)}, testNow)
	_, err = v.Verify(list, a)
	require.NoError(t, err)
}

func TestBearer(t *testing.T) {
	v, ok := Lookup("bearer")
	require.True(t, ok)
	assert.Empty(t, v.Hosts)
	tok := "fake-token-for-tests-only"
	for _, c := range []struct {
		name   string
		meta   map[string]string
		header string
		value  string
	}{
		{"defaults", map[string]string{"hosts": "api.example.test"}, "Authorization", "Bearer " + tok},
		{"own header, empty prefix", map[string]string{"hosts": "a.test,api.example.test", "header": "X-Api-Token", "prefix": ""}, "X-Api-Token", tok},
		{"own prefix", map[string]string{"hosts": "api.example.test", "prefix": "Token "}, "Authorization", "Token " + tok},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := Account{APIKey: "label", Secret: []byte(tok), Meta: c.meta}
			good := newRequest(t, "GET", "https://api.example.test/v1/me", "", map[string]string{c.header: c.value}, testNow)
			got := checkVenue(t, v, good, a, []refusal{
				{"wrong token", func(r *Request, a *Account) { r.Header.Set(c.header, c.value+"x") }, "does not carry the account's token"},
				{"missing header", func(r *Request, a *Account) { r.Header.Del(c.header) }, "missing header"},
				{"other prefix", func(r *Request, a *Account) { a.Meta["prefix"] = "Basic " }, "does not carry"},
			})
			assert.Equal(t, "label", got.APIKey)
		})
	}
}
