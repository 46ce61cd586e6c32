package verify

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVenuesTable(t *testing.T) {
	want := []string{"binance", "bybit", "okx", "coinbase", "kraken", "kucoin", "gate", "bitget", "bitfinex",
		"deribit", "hyperliquid", "hmac", "alpaca", "oanda", "bearer"}
	var names []string
	hosts := map[string]string{}
	for _, v := range Venues() {
		names = append(names, v.Name)
		require.NotNil(t, v.Key, v.Name)
		require.NotNil(t, v.Verify, v.Name)
		got, ok := Lookup(v.Name)
		require.True(t, ok, v.Name)
		assert.Equal(t, v.Name, got.Name)
		for _, h := range v.Hosts {
			assert.Empty(t, hosts[h], "host %s served twice", h)
			hosts[h] = v.Name
			byHost, ok := ByHost(h)
			require.True(t, ok, h)
			assert.Equal(t, v.Name, byHost.Name)
		}
		switch v.Name {
		case "hmac", "bearer":
			assert.Empty(t, v.Hosts, v.Name)
		default:
			assert.NotEmpty(t, v.Hosts, v.Name)
		}
	}
	assert.Equal(t, want, names, "Venues() order is fixed")
	_, ok := Lookup("nope")
	assert.False(t, ok)
	_, ok = ByHost("api.example.test")
	assert.False(t, ok)
	got, ok := ByHost("API.Binance.COM.")
	require.True(t, ok)
	assert.Equal(t, "binance", got.Name)
}

// An unauthenticated request: every venue's Key and Verify refuse it with
// an error, and neither panics.
func TestVenuesRefuseBareRequest(t *testing.T) {
	for _, v := range Venues() {
		t.Run(v.Name, func(t *testing.T) {
			for _, host := range append(v.Hosts, "x.test") {
				r := &Request{Method: "POST", Host: host, Path: "/0/private/x", Header: http.Header{}, Now: testNow}
				if v.Name != "hmac" && v.Name != "bearer" {
					_, err := v.Key(r)
					assert.Error(t, err, host)
				}
				a := Account{APIKey: "k", Secret: []byte("fake-secret-for-tests-only"), Passphrase: "p",
					Meta: map[string]string{"algorithm": "sha256", "template": "{timestamp}{body}", "key_header": "K", "signature_header": "S", "timestamp_header": "T"}}
				_, err := v.Verify(r, a)
				assert.Error(t, err, host)
			}
		})
	}
}

func TestAccountKeys(t *testing.T) {
	assert.Equal(t, []string{"k"}, AccountKeys("binance", Account{APIKey: "k"}))
	assert.Equal(t, []string{"host:a.test", "host:b.test"}, AccountKeys("hmac", Account{Meta: map[string]string{"hosts": "A.test, b.test"}}))
	assert.Empty(t, AccountKeys("bearer", Account{}))
	assert.Regexp(t, `^tok:[0-9a-f]{16}$`, AccountKeys("oanda", Account{Secret: []byte("t")})[0])
	assert.Equal(t, []string{"0xabcdef0000000000000000000000000000000000"}, AccountKeys("hyperliquid", Account{APIKey: "0xABCDEF0000000000000000000000000000000000"}))
}
