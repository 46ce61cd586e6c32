package verify

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// gate checks Gate APIv4 REST requests as
// https://www.gate.io/docs/developers/apiv4/en/#apiv4-signed-request-requirements
// documents:
//
//   - KEY is the API key, Timestamp the Unix time in seconds (the docs'
//     Python sample sends time.time(), so a fraction is accepted), SIGN the
//     signature;
//   - SIGN = hex(HMAC-SHA512(secret, METHOD + "\n" + path + "\n" + query +
//     "\n" + hex(SHA512(body)) + "\n" + Timestamp)), the query "without URL
//     encode" (percent-decoded, '+' a space, as Gate's Go SDK signs it) and
//     the path /api/v4/… likewise decoded;
//   - a Timestamp more than 60 seconds from the server's time is refused.
func gate() Venue {
	return Venue{
		Name:  "gate",
		Hosts: []string{"api.gateio.ws", "fx-api.gateio.ws", "fx-api-testnet.gateio.ws", "api-testnet.gateapi.io"},
		Key: func(r *Request) (string, error) {
			return header(r.Header, "KEY")
		},
		Verify: gateVerify,
	}
}

func gateVerify(r *Request, a Account) (Verdict, error) {
	h, err := headers(r, "KEY", "Timestamp", "SIGN")
	if err != nil {
		return Verdict{}, fmt.Errorf("gate: %w", err)
	}
	key, tsText, sig := h[0], h[1], h[2]
	if !equalString(key, a.APIKey) {
		return Verdict{}, errors.New("gate: API key does not match the account")
	}
	secs, err := strconv.ParseFloat(tsText, 64)
	if err != nil || secs <= 0 || strings.ContainsAny(tsText, "eEx+-") {
		return Verdict{}, fmt.Errorf("gate: Timestamp %q is not Unix seconds", clip(tsText))
	}
	path, err := url.PathUnescape(r.Path)
	if err != nil {
		return Verdict{}, errors.New("gate: path has a bad percent-escape")
	}
	query, err := url.QueryUnescape(r.RawQuery)
	if err != nil {
		return Verdict{}, errors.New("gate: query string has a bad percent-escape")
	}
	bodyHash := sha512.Sum512(r.Body)
	msg := r.Method + "\n" + path + "\n" + query + "\n" + hex.EncodeToString(bodyHash[:]) + "\n" + tsText
	if !equalHex(sig, mac(sha512.New, a.Secret, []byte(msg))) {
		return Verdict{}, fmt.Errorf("gate: %w", errSignature)
	}
	ts := time.UnixMilli(int64(secs * 1000))
	if err := checkWindow(ts, r.Now, 60*time.Second, 60*time.Second); err != nil {
		return Verdict{}, fmt.Errorf("gate: %w", err)
	}
	return Verdict{APIKey: key, Time: ts}, nil
}
