package verify

import (
	"crypto/sha512"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGatePublishedVectors(t *testing.T) {
	var f struct {
		APIKey    string                                           `json:"api_key"`
		Secret    string                                           `json:"secret"`
		Timestamp int64                                            `json:"timestamp"`
		Cases     []struct{ Name, Method, URL, Body, Sign string } `json:"cases"`
	}
	loadVectors(t, "gate.json", &f)
	require.NotEmpty(t, f.Cases)
	v, _ := Lookup("gate")
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r := newRequest(t, c.Method, c.URL, c.Body, map[string]string{
				"KEY": f.APIKey, "Timestamp": strconv.FormatInt(f.Timestamp, 10), "SIGN": c.Sign,
			}, time.Unix(f.Timestamp, 0).Add(2*time.Second))
			got, err := v.Verify(r, Account{APIKey: f.APIKey, Secret: []byte(f.Secret)})
			require.NoError(t, err)
			assert.Equal(t, time.Unix(f.Timestamp, 0), got.Time)
		})
	}
}

func TestGateOwnSigner(t *testing.T) {
	v, _ := Lookup("gate")
	a := Account{APIKey: "fake-gate-key", Secret: []byte("fake-secret-for-tests-only")}
	ts := strconv.FormatInt(testNow.Unix(), 10)
	body := `{"currency_pair":"BTC_USDT","amount":"1"}`
	bh := sha512.Sum512([]byte(body))
	msg := "POST\n/api/v4/spot/orders\ntext=t-1\n" + hex.EncodeToString(bh[:]) + "\n" + ts
	good := newRequest(t, "POST", "https://api.gateio.ws/api/v4/spot/orders?text=t-1", body, map[string]string{
		"KEY": a.APIKey, "Timestamp": ts, "SIGN": hex.EncodeToString(mac(sha512.New, a.Secret, []byte(msg))),
	}, testNow)
	checkVenue(t, v, good, a, append(commonHeaderRefusals("KEY", "Timestamp", "SIGN"),
		refusal{"tampered body", tamperBody, "signature mismatch"},
		refusal{"tampered query", func(r *Request, a *Account) { r.RawQuery = "text=t-2" }, "signature mismatch"},
		refusal{"tampered path", tamperPath, "signature mismatch"},
		refusal{"stale", func(r *Request, a *Account) { r.Now = r.Now.Add(61 * time.Second) }, "outside the 60 s window"},
		refusal{"wrong secret", func(r *Request, a *Account) { a.Secret = []byte("another-fake-secret") }, "signature mismatch"},
		refusal{"ms timestamp", func(r *Request, a *Account) { r.Header.Set("Timestamp", strconv.FormatInt(testNow.UnixMilli(), 10)) }, "signature mismatch"},
	))
}
