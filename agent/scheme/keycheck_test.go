package scheme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type keycheckVectors struct {
	Cases []struct {
		Name     string          `json:"name"`
		Venue    string          `json:"venue"`
		Source   string          `json:"source"`
		Status   int             `json:"status"`
		Body     json.RawMessage `json:"body"`
		BodyText *string         `json:"body_text"`
		Want     *struct {
			Known    bool   `json:"known"`
			Read     bool   `json:"read"`
			Trade    bool   `json:"trade"`
			Withdraw bool   `json:"withdraw"`
			Transfer bool   `json:"transfer"`
			Detail   string `json:"detail"`
		} `json:"want"`
		Refused     string   `json:"refused"`
		NotInDetail []string `json:"not_in_detail"`
	} `json:"cases"`
}

func keyCheckerOf(t *testing.T, venue string) KeyChecker {
	t.Helper()
	s, ok := Lookup(venue)
	require.True(t, ok, venue)
	k, ok := s.(KeyChecker)
	require.True(t, ok, "%s does not implement KeyChecker", venue)
	return k
}

// TestKeyCheckDocumentedAnswers reads each venue's documented answer (and
// its documented refusal of a bad key) and expects the permissions, or the
// refusal in the venue's words.
func TestKeyCheckDocumentedAnswers(t *testing.T) {
	v := loadVectors[keycheckVectors](t, "keycheck")
	venues := map[string]int{}
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			require.NotEmpty(t, c.Source)
			body := []byte(c.Body)
			if c.BodyText != nil {
				body = []byte(*c.BodyText)
			}
			p, err := keyCheckerOf(t, c.Venue).ParseKey(c.Status, body)
			if c.Refused != "" {
				var re *RequestError
				require.ErrorAs(t, err, &re)
				assert.Contains(t, re.Msg, c.Refused)
				assert.True(t, strings.HasPrefix(re.Msg, c.Venue+": "), re.Msg)
				assert.Equal(t, Permissions{}, p)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, c.Want)
			assert.Equal(t, Permissions{
				Known: c.Want.Known, Read: c.Want.Read, Trade: c.Want.Trade,
				Withdraw: c.Want.Withdraw, Transfer: c.Want.Transfer, Detail: c.Want.Detail,
			}, p)
			for _, s := range c.NotInDetail {
				assert.NotContains(t, p.Detail, s)
			}
			venues[c.Venue]++
		})
	}
	for _, s := range all() {
		if _, ok := s.(KeyChecker); ok {
			assert.Positive(t, venues[s.Name()], "%s implements KeyChecker but has no documented answer in testdata/keycheck.json", s.Name())
		}
	}
}

// TestKeyCheckGarbage: a 2xx answer that is not the venue's JSON is a plain
// error; a non-2xx one is a refusal quoting it, made safe and short.
func TestKeyCheckGarbage(t *testing.T) {
	garbage := []string{"", "<html>", "null", "{}", `{"unexpected":1}`, "[[1,2]]", `"ok"`, "{", "true"}
	for _, s := range all() {
		kc, ok := s.(KeyChecker)
		if !ok {
			continue
		}
		for _, body := range garbage {
			p, err := kc.ParseKey(200, []byte(body))
			require.Error(t, err, "%s %q gave %+v", s.Name(), body, p)
			assert.False(t, errors.As(err, new(*RequestError)), "%s %q: %v", s.Name(), body, err)
			assert.True(t, strings.HasPrefix(err.Error(), s.Name()+": "), err.Error())
		}
		long := strings.Repeat("x", 1000) + "\r\nSet-Cookie: a=b\x00"
		for _, body := range []string{long, `{"code":"` + long[:900] + `","msg":"` + strings.Repeat("m", 900) + `"}`, "\xff\xfe"} {
			_, err := kc.ParseKey(503, []byte(body))
			var re *RequestError
			require.ErrorAs(t, err, &re, s.Name())
			assert.True(t, strings.HasPrefix(re.Msg, s.Name()+": the venue refused the key check (HTTP 503)"), re.Msg)
			assert.Less(t, len(re.Msg), 400, re.Msg)
			assert.NotContains(t, re.Msg, "\n")
			assert.NotContains(t, re.Msg, "\r")
			assert.NotContains(t, re.Msg, "\x00")
		}
	}
}

// keyCheckCred is a test credential of one scheme, made at test time.
type keyCheckCred struct {
	key   Key
	hosts map[string]string // host given to KeyRequest → host the request goes to
}

func keyCheckCreds(t *testing.T) map[string][]keyCheckCred {
	t.Helper()
	const secret = fwdSecret
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalECPrivateKey(ec)
	require.NoError(t, err)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	kraken64 := make([]byte, 64)
	_, err = rand.Read(kraken64)
	require.NoError(t, err)
	cbHMAC := make([]byte, 48)
	_, err = rand.Read(cbHMAC)
	require.NoError(t, err)
	same := func(hosts ...string) map[string]string {
		m := map[string]string{}
		for _, h := range hosts {
			m[h] = h
		}
		return m
	}
	return map[string][]keyCheckCred{
		"binance": {{Key{APIKey: "test-key", Secret: []byte(secret)}, same("api.binance.com", "api1.binance.com")}},
		"bybit":   {{Key{APIKey: "test-key", Secret: []byte(secret)}, same("api.bybit.com", "api-testnet.bybit.com")}},
		"okx":     {{Key{APIKey: "test-key", Secret: []byte(secret), Passphrase: []byte("fake-pass")}, same("www.okx.com", "my.okx.com")}},
		"coinbase": {
			{Key{APIKey: "organizations/test/apiKeys/test", Secret: ecPEM}, same("api.coinbase.com")},
			{Key{APIKey: "test-key", Secret: []byte(base64.StdEncoding.EncodeToString(cbHMAC)), Passphrase: []byte("fake-pass")}, same("api.exchange.coinbase.com")},
		},
		"kucoin":   {{Key{APIKey: "test-key", Secret: []byte(secret), Passphrase: []byte("fake-pass")}, same("api.kucoin.com")}},
		"bitfinex": {{Key{APIKey: "test-key", Secret: []byte(secret)}, same("api.bitfinex.com")}},
		"kraken":   {{Key{APIKey: "test-key", Secret: []byte(base64.StdEncoding.EncodeToString(kraken64))}, same("api.kraken.com", "futures.kraken.com")}},
		"alpaca": {
			{Key{APIKey: "PKFAKEFORTESTS000000", Secret: []byte(secret)}, map[string]string{
				"paper-api.alpaca.markets": "paper-api.alpaca.markets",
				"data.alpaca.markets":      "paper-api.alpaca.markets",
				"api.alpaca.markets":       "paper-api.alpaca.markets",
			}},
			{Key{APIKey: "AKFAKEFORTESTS000000", Secret: []byte(secret)}, map[string]string{
				"api.alpaca.markets":       "api.alpaca.markets",
				"data.alpaca.markets":      "api.alpaca.markets",
				"paper-api.alpaca.markets": "api.alpaca.markets",
			}},
			{Key{APIKey: "AKFAKEFORTESTS000000", Secret: []byte(secret), Meta: map[string]string{"paper": "true"}}, map[string]string{
				"api.alpaca.markets": "paper-api.alpaca.markets",
			}},
		},
		"oanda": {
			{Key{APIKey: "101-004-1234567-001", Secret: []byte(secret)}, map[string]string{
				"api-fxpractice.oanda.com":    "api-fxpractice.oanda.com",
				"stream-fxtrade.oanda.com":    "api-fxtrade.oanda.com",
				"stream-fxpractice.oanda.com": "api-fxpractice.oanda.com",
			}},
			{Key{APIKey: "101-004-1234567-001", Secret: []byte(secret), Meta: map[string]string{"environment": "live"}}, map[string]string{
				"api-fxpractice.oanda.com": "api-fxtrade.oanda.com",
			}},
		},
	}
}

// TestKeyCheckRoundTrip: every scheme's key request is ready for the
// scheme's own Sign with a credential its Check accepts, and goes to the
// host the check is for.
func TestKeyCheckRoundTrip(t *testing.T) {
	creds := keyCheckCreds(t)
	for _, s := range all() {
		kc, ok := s.(KeyChecker)
		if !ok {
			continue
		}
		list := creds[s.Name()]
		require.NotEmpty(t, list, "%s implements KeyChecker: add a test credential here", s.Name())
		for _, cred := range list {
			checked, err := s.Check(cred.key)
			require.NoError(t, err, s.Name())
			meta := maps.Clone(cred.key.Meta)
			if meta == nil {
				meta = map[string]string{}
			}
			meta[MetaKeyType] = checked.KeyType
			sec := checked.Secret
			if sec == nil {
				sec = cred.key.Secret
			}
			for host, to := range cred.hosts {
				req, err := kc.KeyRequest(host, cred.key.APIKey, meta)
				require.NoError(t, err, "%s %s", s.Name(), host)
				u, err := url.Parse(req.URL)
				require.NoError(t, err)
				assert.Equal(t, "https", u.Scheme)
				assert.Equal(t, to, u.Host, "%s %s", s.Name(), host)
				before := req
				before.Headers = maps.Clone(req.Headers)
				out, err := s.Sign(Input{
					Request: req, APIKey: cred.key.APIKey, KeyType: checked.KeyType,
					Secret: sec, Passphrase: cred.key.Passphrase,
					Scratch: make([]byte, ScratchSize), Meta: meta, Now: time.UnixMilli(1_700_000_000_000),
				})
				require.NoError(t, err, "%s %s %+v", s.Name(), host, req)
				assert.Equal(t, req.Method, out.Method)
				assert.NotEmpty(t, out.Headers, s.Name())
				assert.Equal(t, before, req, "KeyRequest's request is not changed by Sign")
			}
		}
	}
}

// TestKeyRequestRefusals: a host that is no host name, or not one of the
// credential's, is refused in the scheme's name.
func TestKeyRequestRefusals(t *testing.T) {
	for _, s := range all() {
		kc, ok := s.(KeyChecker)
		if !ok {
			continue
		}
		for host, want := range map[string]string{
			"":                             "not a host name",
			"https://api.example.com":      "not a host name",
			"api.example.com/x":            "not a host name",
			"evil.example":                 "not one of the credential's hosts",
			s.Hosts()[0] + ".evil.example": "not one of the credential's hosts",
		} {
			_, err := kc.KeyRequest(host, "101-004-1234567-001", nil)
			requireRefusal(t, err, s.Name(), want)
		}
		// A host granted with --host is the owner's: the check goes there.
		req, err := kc.KeyRequest("proxy.example", "101-004-1234567-001", map[string]string{"hosts": "proxy.example"})
		require.NoError(t, err, s.Name())
		assert.True(t, strings.HasPrefix(req.URL, "https://proxy.example/"), req.URL)
	}
	_, err := bybit{}.KeyRequest("stream.bybit.com", "k", nil)
	requireRefusal(t, err, "bybit", "WebSockets only")
	_, err = okx{}.KeyRequest("ws.okx.com", "k", nil)
	requireRefusal(t, err, "okx", "WebSockets only")
	_, err = oanda{}.KeyRequest("api-fxtrade.oanda.com", "not-an-account", nil)
	requireRefusal(t, err, "oanda", "account id")
	_, err = alpaca{}.KeyRequest("api.alpaca.markets", "PK0000000000000000", map[string]string{"paper": "maybe"})
	requireRefusal(t, err, "alpaca", "paper=true")
}
