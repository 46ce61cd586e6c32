package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The published vectors keyward's scheme tests use; they are data with
// links to the venues' docs, and the verifiers must accept them.
const vectorDir = "../../../agent/scheme/testdata"

func loadVectors(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(vectorDir, name))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v))
}

// newRequest builds a Request from a full URL as a client would send it.
func newRequest(t *testing.T, method, rawURL, body string, hdr map[string]string, now time.Time) *Request {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	h := http.Header{}
	for k, v := range hdr {
		h.Set(k, v)
	}
	return &Request{
		Method: method, Host: strings.ToLower(u.Hostname()), Path: u.EscapedPath(),
		RawQuery: u.RawQuery, Header: h, Body: []byte(body), Now: now,
	}
}

// clone copies r deeply enough for a mutation.
func (r *Request) clone() *Request {
	c := *r
	c.Header = r.Header.Clone()
	c.Body = append([]byte(nil), r.Body...)
	return &c
}

// refusal is one way to spoil a good request or account, and the text the
// verifier's error must hold.
type refusal struct {
	name   string
	mutate func(r *Request, a *Account)
	want   string
}

// flip changes one byte of s at i (from the end when i < 0).
func flip(s string, i int) string {
	if s == "" {
		return s
	}
	if i < 0 {
		i += len(s)
	}
	b := []byte(s)
	if b[i] == 'x' {
		b[i] = 'y'
	} else {
		b[i] = 'x'
	}
	return string(b)
}

func tamperBody(r *Request, _ *Account) { r.Body = []byte(flip(string(r.Body), 0)) }
func tamperPath(r *Request, _ *Account) { r.Path = flip(r.Path, -1) }

// checkVenue asserts that the good request verifies, that Key finds the
// account's key, and that every refusal is refused with its text.
func checkVenue(t *testing.T, v Venue, good *Request, a Account, refusals []refusal) Verdict {
	t.Helper()
	key, err := v.Key(good)
	require.NoError(t, err)
	assert.Contains(t, AccountKeys(v.Name, a), key, "Key must find the account under AccountKeys")
	got, err := v.Verify(good.clone(), a)
	require.NoError(t, err)
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			r := good.clone()
			acct := a
			acct.Meta = cloneMap(a.Meta)
			c.mutate(r, &acct)
			_, err := v.Verify(r, acct)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), string(a.Secret), "error leaks the secret")
			if a.Passphrase != "" {
				assert.NotContains(t, err.Error(), a.Passphrase, "error leaks the passphrase")
			}
		})
	}
	return got
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func pemPKCS8(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func newRSA(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return k, pemPKCS8(t, k)
}

func newEd25519(t *testing.T) (ed25519.PrivateKey, []byte) {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return k, pemPKCS8(t, k)
}

func newP256(t *testing.T) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	return k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

var testNow = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
