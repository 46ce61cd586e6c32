package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// bitget checks Bitget v2 REST requests as
// https://www.bitget.com/api-doc/common/signature documents:
//
//   - ACCESS-KEY, ACCESS-SIGN, ACCESS-TIMESTAMP (Unix ms) and
//     ACCESS-PASSPHRASE (in clear);
//   - the string to sign is timestamp + METHOD + requestPath, then '?' and
//     the query string when there is one, then the body;
//   - ACCESS-SIGN is its base64 HMAC-SHA256 under the secret key, or, for
//     a user-generated RSA key
//     (https://www.bitget.com/api-doc/common/signature-samaple/rsa), its
//     base64 SHA256withRSA signature; Account.Secret is then the PEM key;
//   - Bitget checks the signature over the query with its percent-escapes
//     decoded (a non-ASCII symbol signed escaped fails with 40009, ccxt
//     issue 28888), so that is the reading here;
//   - a timestamp more than 30 seconds from the server's time is refused
//     (40008, "request timestamp expired").
func bitget() Venue {
	return Venue{
		Name:  "bitget",
		Hosts: []string{"api.bitget.com"},
		Key: func(r *Request) (string, error) {
			return header(r.Header, "ACCESS-KEY")
		},
		Verify: bitgetVerify,
	}
}

func bitgetVerify(r *Request, a Account) (Verdict, error) {
	h, err := headers(r, "ACCESS-KEY", "ACCESS-SIGN", "ACCESS-TIMESTAMP", "ACCESS-PASSPHRASE")
	if err != nil {
		return Verdict{}, fmt.Errorf("bitget: %w", err)
	}
	key, sig, tsText, pass := h[0], h[1], h[2], h[3]
	if !equalString(key, a.APIKey) {
		return Verdict{}, errors.New("bitget: API key does not match the account")
	}
	ms, err := parseInt("ACCESS-TIMESTAMP", tsText)
	if err != nil {
		return Verdict{}, fmt.Errorf("bitget: %w", err)
	}
	endpoint := r.Path
	if r.RawQuery != "" {
		q, err := url.QueryUnescape(r.RawQuery)
		if err != nil {
			return Verdict{}, errors.New("bitget: query string has a bad percent-escape")
		}
		endpoint += "?" + q
	}
	msg := []byte(tsText + r.Method + endpoint + string(r.Body))
	if isPEM(a.Secret) {
		pub, err := publicKey(a.Secret)
		if err != nil {
			return Verdict{}, fmt.Errorf("bitget: %w", err)
		}
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			return Verdict{}, errors.New("bitget: ACCESS-SIGN is not base64")
		}
		if err := verifyRSAorEd25519(pub, msg, raw); err != nil {
			return Verdict{}, fmt.Errorf("bitget: %w", err)
		}
	} else if !equalBase64(sig, mac(sha256.New, a.Secret, msg)) {
		return Verdict{}, fmt.Errorf("bitget: %w", errSignature)
	}
	if !equalString(pass, a.Passphrase) {
		return Verdict{}, errors.New("bitget: wrong passphrase")
	}
	ts := time.UnixMilli(ms)
	if err := checkWindow(ts, r.Now, 30*time.Second, 30*time.Second); err != nil {
		return Verdict{}, fmt.Errorf("bitget: %w", err)
	}
	return Verdict{APIKey: key, Time: ts}, nil
}
