package verify

import (
	"crypto/sha512"
	"errors"
	"fmt"
	"strconv"
)

// bitfinex checks Bitfinex v2 authenticated REST requests as
// https://docs.bitfinex.com/docs/rest-auth documents:
//
//   - bfx-nonce (an ever-increasing integer, at most 9007199254740991),
//     bfx-apikey and bfx-signature;
//   - bfx-signature = hex(HMAC-SHA384(secret, "/api/" + apiPath + nonce +
//     body)), apiPath being the path after /api/ as in the docs' sample
//     (`/api/${apiPath}${nonce}${JSON.stringify(body)}`), i.e. "/api" and
//     the URL path /v2/auth/…, and body the JSON exactly as sent.
//
// There is no timestamp: Verdict.Nonce is the nonce, for the server's
// increasing check.
func bitfinex() Venue {
	return Venue{
		Name:  "bitfinex",
		Hosts: []string{"api.bitfinex.com"},
		Key: func(r *Request) (string, error) {
			return header(r.Header, "bfx-apikey")
		},
		Verify: func(r *Request, a Account) (Verdict, error) {
			h, err := headers(r, "bfx-apikey", "bfx-nonce", "bfx-signature")
			if err != nil {
				return Verdict{}, fmt.Errorf("bitfinex: %w", err)
			}
			key, nonceText, sig := h[0], h[1], h[2]
			if !equalString(key, a.APIKey) {
				return Verdict{}, errors.New("bitfinex: API key does not match the account")
			}
			nonce, err := strconv.ParseUint(nonceText, 10, 64)
			if err != nil || nonce == 0 || nonce > 9007199254740991 {
				return Verdict{}, fmt.Errorf("bitfinex: bfx-nonce %q is not an integer between 1 and 9007199254740991", clip(nonceText))
			}
			msg := "/api" + r.Path + nonceText + string(r.Body)
			if !equalHex(sig, mac(sha512.New384, a.Secret, []byte(msg))) {
				return Verdict{}, fmt.Errorf("bitfinex: %w", errSignature)
			}
			return Verdict{APIKey: key, Nonce: nonce}, nil
		},
	}
}
