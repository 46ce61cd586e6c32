package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
)

// kraken checks Kraken's two REST APIs, told apart by path: Spot's private
// endpoints are under /0/, everything else is Futures.
//
// Spot (api.kraken.com), as
// https://docs.kraken.com/api/docs/guides/spot-rest-auth documents:
// API-Key is the public key; the body (form-encoded, or JSON with
// Content-Type application/json) carries nonce, an always increasing
// unsigned 64-bit integer; API-Sign = base64(HMAC-SHA512(base64-decoded
// secret, URI path + SHA256(nonce + POST data))). There is no timestamp:
// Verdict.Nonce is the nonce, for the server's increasing check.
//
// Futures (futures.kraken.com, demo-futures.kraken.com), as
// https://docs.kraken.com/api/docs/guides/futures-rest documents: APIKey,
// Authent and an optional Nonce header; Authent = base64(HMAC-SHA512(
// base64-decoded secret, SHA256(postData + Nonce + endpointPath))), where
// postData is the parameters as sent (the query string, or the form body
// when there is one; the 2024 flow hashes them URL-encoded, as sent) and
// endpointPath the path without its /derivatives prefix
// (/derivatives/api/v3/sendorder signs as /api/v3/sendorder). The docs say
// the platform "tolerates nonces that are out of order for a brief
// period", so Verdict.Nonce is 0 for Futures.
func kraken() Venue {
	return Venue{
		Name:  "kraken",
		Hosts: []string{"api.kraken.com", "futures.kraken.com", "demo-futures.kraken.com"},
		Key: func(r *Request) (string, error) {
			if krakenIsSpot(r) {
				return header(r.Header, "API-Key")
			}
			return header(r.Header, "APIKey")
		},
		Verify: func(r *Request, a Account) (Verdict, error) {
			secret, err := base64.StdEncoding.DecodeString(string(a.Secret))
			if err != nil {
				return Verdict{}, errors.New("kraken: account secret is not base64")
			}
			if krakenIsSpot(r) {
				return krakenSpotVerify(r, a, secret)
			}
			return krakenFuturesVerify(r, a, secret)
		},
	}
}

func krakenIsSpot(r *Request) bool { return strings.HasPrefix(r.Path, "/0/") }

func krakenSpotVerify(r *Request, a Account, secret []byte) (Verdict, error) {
	h, err := headers(r, "API-Key", "API-Sign")
	if err != nil {
		return Verdict{}, fmt.Errorf("kraken: %w", err)
	}
	key, sig := h[0], h[1]
	if !equalString(key, a.APIKey) {
		return Verdict{}, errors.New("kraken: API key does not match the account")
	}
	nonceText, err := krakenBodyNonce(r)
	if err != nil {
		return Verdict{}, fmt.Errorf("kraken: %w", err)
	}
	nonce, err := strconv.ParseUint(nonceText, 10, 64)
	if err != nil || nonce == 0 {
		return Verdict{}, fmt.Errorf("kraken: nonce %q is not a positive 64-bit integer", clip(nonceText))
	}
	inner := sha256.Sum256([]byte(nonceText + string(r.Body)))
	want := mac(sha512.New, secret, []byte(r.Path), inner[:])
	if !equalBase64(sig, want) {
		return Verdict{}, fmt.Errorf("kraken: %w", errSignature)
	}
	return Verdict{APIKey: key, Nonce: nonce}, nil
}

// krakenBodyNonce reads nonce from a form or JSON body, as sent.
func krakenBodyNonce(r *Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		d := json.NewDecoder(bytes.NewReader(r.Body))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			return "", errors.New("JSON body is not an object")
		}
		switch n := m["nonce"].(type) {
		case nil:
			return "", errors.New("missing nonce in the body")
		case string:
			return n, nil
		case json.Number:
			return n.String(), nil
		}
		return "", errors.New("nonce in the JSON body is not a number or a string")
	}
	vals, err := url.ParseQuery(string(r.Body))
	if err != nil {
		return "", errors.New("body is not form-encoded")
	}
	switch n := vals["nonce"]; len(n) {
	case 0:
		return "", errors.New("missing nonce in the body")
	case 1:
		return n[0], nil
	}
	return "", errors.New("nonce sent more than once in the body")
}

func krakenFuturesVerify(r *Request, a Account, secret []byte) (Verdict, error) {
	h, err := headers(r, "APIKey", "Authent")
	if err != nil {
		return Verdict{}, fmt.Errorf("kraken: %w", err)
	}
	key, sig := h[0], h[1]
	if !equalString(key, a.APIKey) {
		return Verdict{}, errors.New("kraken: API key does not match the account")
	}
	nonce := ""
	if len(r.Header.Values("Nonce")) > 0 {
		if nonce, err = header(r.Header, "Nonce"); err != nil {
			return Verdict{}, fmt.Errorf("kraken: %w", err)
		}
	}
	postData := r.RawQuery
	if len(r.Body) > 0 {
		if r.RawQuery != "" {
			return Verdict{}, errors.New("kraken: futures parameters sent in both the query string and the body")
		}
		postData = string(r.Body)
	}
	endpoint := strings.TrimPrefix(r.Path, "/derivatives")
	inner := sha256.Sum256([]byte(postData + nonce + endpoint))
	if !equalBase64(sig, mac(sha512.New, secret, inner[:])) {
		return Verdict{}, fmt.Errorf("kraken: %w", errSignature)
	}
	return Verdict{APIKey: key}, nil
}
