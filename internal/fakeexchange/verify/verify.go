// Package verify checks an HTTP request's authentication exactly as each
// exchange documents it. The fake exchange server (internal/fakeexchange)
// uses it to accept or refuse the requests keyward forwards, so it is the
// independent referee of keyward's signing code: every verifier here is
// written from the venue's published documentation, and this package must
// never import keyward's signing code (github.com/keyward/keyward/agent/...)
// or copy from it. A verifier that agreed with the signer by construction
// would prove nothing.
//
// Errors say what is wrong ("signature mismatch", "timestamp 12 s outside
// the 5 s window", "missing header X") and never carry a secret, an
// expected signature or key material.
package verify

import (
	"net/http"
	"strings"
	"time"
)

// Request is one HTTP request as the exchange received it.
type Request struct {
	Method   string // as sent, upper case
	Host     string // host name without port, lower case
	Path     string // escaped path as sent (r.URL.EscapedPath())
	RawQuery string // as sent, without '?'
	Header   http.Header
	Body     []byte
	Now      time.Time // the exchange's clock, for timestamp windows
}

// Account is what the exchange knows of one API key.
type Account struct {
	APIKey string
	// Secret is the secret as the venue issued it: the secret text (HMAC),
	// base64 text where the venue issues base64 (Kraken, Coinbase
	// Exchange), or a PEM private key (RSA/Ed25519/EC, the public key is
	// derived from it). Hyperliquid: unused (APIKey is the signer's 0x
	// address).
	Secret     []byte
	Passphrase string            // OKX, KuCoin, Bitget, Coinbase Exchange
	Meta       map[string]string // per-credential settings, same keys as keyward's credential metadata
}

// Verdict is what a verifier read from a request.
type Verdict struct {
	APIKey string    // the key the request presented
	Time   time.Time // the request's timestamp, zero if the venue uses none
	Nonce  uint64    // the request's nonce, 0 if none (the server checks it increases per key)
}

// Venue checks one venue's authentication.
type Venue struct {
	Name  string   // the keyward scheme name: "binance", "bybit", ...
	Hosts []string // the venue's API hosts
	// Key reads which API key a request presents (no secret needed), so
	// the server can find the account. Error if none.
	Key func(r *Request) (string, error)
	// Verify checks the request's authentication as documented, including
	// the venue's timestamp window against r.Now. The error text says what
	// is wrong (it is logged by the test server; it never contains the
	// secret).
	Verify func(r *Request, a Account) (Verdict, error)
}

// Venues returns every venue, in a fixed order.
func Venues() []Venue {
	return []Venue{
		binance(),
		bybit(),
		okx(),
		coinbase(),
		kraken(),
		kucoin(),
		gate(),
		bitget(),
		bitfinex(),
		deribit(),
		hyperliquid(),
		genericHMAC(),
		alpaca(),
		oanda(),
		bearer(),
	}
}

// AccountKeys returns the keys under which a server must register
// account a of venue so that Venue.Key finds it: a.APIKey for every venue
// whose requests name their key, except
//   - oanda: the token's identity, "tok:" and 16 hex digits of the
//     SHA-256 of a.Secret (the request carries only the token);
//   - hyperliquid: the signer's lower-case address, derived from the
//     private key in a.Secret when it holds one, else a.APIKey;
//   - hmac and bearer: "host:"+h for each host h in a.Meta["hosts"]
//     (comma-separated), since their key header, if any, is named in the
//     account's metadata, which Key cannot see.
func AccountKeys(venue string, a Account) []string {
	switch venue {
	case "oanda":
		return []string{tokenKey(a.Secret)}
	case "hyperliquid":
		return []string{hlSigner(a)}
	case "hmac", "bearer":
		var keys []string
		for h := range strings.SplitSeq(a.Meta["hosts"], ",") {
			if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
				keys = append(keys, "host:"+h)
			}
		}
		return keys
	}
	return []string{a.APIKey}
}

// Lookup returns the venue called name.
func Lookup(name string) (Venue, bool) {
	for _, v := range Venues() {
		if v.Name == name {
			return v, true
		}
	}
	return Venue{}, false
}

// ByHost returns the venue serving host.
func ByHost(host string) (Venue, bool) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, v := range Venues() {
		for _, h := range v.Hosts {
			if h == host {
				return v, true
			}
		}
	}
	return Venue{}, false
}
