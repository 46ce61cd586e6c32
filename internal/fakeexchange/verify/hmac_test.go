package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGenericHMACVectors(t *testing.T) {
	var f struct {
		Configs []struct {
			Name   string
			Meta   map[string]string
			APIKey string `json:"api_key"`
			Secret string
			Cases  []struct {
				Method, URL, Body, Timestamp, Signature string
				NowMS                                   int64 `json:"now_ms"`
			}
		}
	}
	loadVectors(t, "hmac.json", &f)
	require.NotEmpty(t, f.Configs)
	v, _ := Lookup("hmac")
	for _, cfg := range f.Configs {
		for i, c := range cfg.Cases {
			t.Run(cfg.Name+"/"+strconv.Itoa(i), func(t *testing.T) {
				h := map[string]string{cfg.Meta["key_header"]: cfg.APIKey, cfg.Meta["signature_header"]: c.Signature}
				if th := cfg.Meta["timestamp_header"]; th != "" {
					h[th] = c.Timestamp
				}
				r := newRequest(t, c.Method, c.URL, c.Body, h, time.UnixMilli(c.NowMS+100))
				a := Account{APIKey: cfg.APIKey, Secret: []byte(cfg.Secret), Meta: cfg.Meta}
				key, err := v.Key(r)
				require.NoError(t, err)
				assert.Contains(t, AccountKeys("hmac", a), key)
				_, err = v.Verify(r, a)
				require.NoError(t, err)
			})
		}
	}
}

func TestGenericHMACOwnSigner(t *testing.T) {
	v, _ := Lookup("hmac")
	raw := []byte("fake-secret-for-tests-only")
	meta := map[string]string{
		"hosts": "api.example.test", "algorithm": "sha256", "encoding": "base64", "secret_encoding": "base64",
		"template": `{timestamp}\n{method}\n{path_query}\n{body_sha256}\n{api_key}`, "timestamp": "ms",
		"key_header": "X-Key", "signature_header": "X-Sign", "timestamp_header": "X-Ts",
	}
	a := Account{APIKey: "fake-generic-key", Secret: []byte(base64.StdEncoding.EncodeToString(raw)), Meta: meta}
	ts := strconv.FormatInt(testNow.UnixMilli(), 10)
	body := `{"a":1}`
	bh := sha256.Sum256([]byte(body))
	msg := ts + "\nPOST\n/v1/order?x=1\n" + hex.EncodeToString(bh[:]) + "\n" + a.APIKey
	good := newRequest(t, "POST", "https://api.example.test/v1/order?x=1", body, map[string]string{
		"X-Key": a.APIKey, "X-Ts": ts, "X-Sign": base64.StdEncoding.EncodeToString(mac(sha256.New, raw, []byte(msg))),
	}, testNow)
	got := checkVenue(t, v, good, a, append(commonHeaderRefusals("X-Key", "X-Ts", "X-Sign"),
		refusal{"tampered body", tamperBody, "signature mismatch"},
		refusal{"tampered query", func(r *Request, a *Account) { r.RawQuery = "x=2" }, "signature mismatch"},
		refusal{"tampered path", tamperPath, "signature mismatch"},
		refusal{"stale", func(r *Request, a *Account) { r.Now = r.Now.Add(31 * time.Second) }, "outside the 30 s window"},
		refusal{"hex encoding expected", func(r *Request, a *Account) { a.Meta["encoding"] = "hex" }, "signature mismatch"},
		refusal{"raw secret expected", func(r *Request, a *Account) { a.Meta["secret_encoding"] = "raw" }, "signature mismatch"},
		refusal{"bad template", func(r *Request, a *Account) { a.Meta["template"] = "{nope}" }, "unknown"},
	))
	assert.Equal(t, time.UnixMilli(testNow.UnixMilli()), got.Time)

	t.Run("nonce form", func(t *testing.T) {
		m := map[string]string{"hosts": "h.test", "algorithm": "sha256", "template": "{timestamp}{body}", "timestamp": "nonce_us",
			"key_header": "K", "signature_header": "S", "timestamp_header": "N"}
		a := Account{APIKey: "k", Secret: raw, Meta: m}
		r := newRequest(t, "POST", "https://h.test/x", "b", map[string]string{"K": "k", "N": "42", "S": hex.EncodeToString(mac(sha256.New, raw, []byte("42b")))}, testNow)
		got, err := v.Verify(r, a)
		require.NoError(t, err)
		assert.Equal(t, uint64(42), got.Nonce)
	})
}
