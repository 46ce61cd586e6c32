package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// bybit checks Bybit v5 REST requests as
// https://bybit-exchange.github.io/docs/v5/guide ("Authentication")
// documents:
//
//   - X-BAPI-API-KEY, X-BAPI-TIMESTAMP (ms), X-BAPI-SIGN and the optional
//     X-BAPI-RECV-WINDOW (ms, default 5000);
//   - the string to sign is timestamp + API key + recv_window (when sent),
//     then the query string (GET, unsorted, as sent) or the JSON body
//     (POST);
//   - X-BAPI-SIGN is its HMAC-SHA256 in lower-case hex (system-generated
//     keys) or its RSA SHA256 (PKCS#1 v1.5) signature in base64
//     (self-generated keys, Account.Secret is then the PEM private key);
//   - the timestamp must satisfy server_time - recv_window <= timestamp <
//     server_time + 1000.
func bybit() Venue {
	return Venue{
		Name: "bybit",
		Hosts: []string{
			"api.bybit.com", "api.bytick.com", "api-testnet.bybit.com", "api-demo.bybit.com",
			"api.bybit-tr.com",
			"stream.bybit.com", "stream.bytick.com", "stream-testnet.bybit.com", "stream-demo.bybit.com",
		},
		Key: func(r *Request) (string, error) {
			return header(r.Header, "X-BAPI-API-KEY")
		},
		Verify: bybitVerify,
	}
}

func bybitVerify(r *Request, a Account) (Verdict, error) {
	var h [3]string
	for i, name := range []string{"X-BAPI-API-KEY", "X-BAPI-TIMESTAMP", "X-BAPI-SIGN"} {
		v, err := header(r.Header, name)
		if err != nil {
			return Verdict{}, fmt.Errorf("bybit: %w", err)
		}
		h[i] = v
	}
	key, tsText, sig := h[0], h[1], h[2]
	if !equalString(key, a.APIKey) {
		return Verdict{}, errors.New("bybit: API key does not match the account")
	}
	ms, err := parseInt("X-BAPI-TIMESTAMP", tsText)
	if err != nil {
		return Verdict{}, fmt.Errorf("bybit: %w", err)
	}
	window := 5000 * time.Millisecond
	recv := ""
	if len(r.Header.Values("X-BAPI-RECV-WINDOW")) > 0 {
		if recv, err = header(r.Header, "X-BAPI-RECV-WINDOW"); err != nil {
			return Verdict{}, fmt.Errorf("bybit: %w", err)
		}
		n, err := parseInt("X-BAPI-RECV-WINDOW", recv)
		if err != nil || n == 0 {
			return Verdict{}, fmt.Errorf("bybit: X-BAPI-RECV-WINDOW %q is not a positive whole number of milliseconds", clip(recv))
		}
		window = time.Duration(n) * time.Millisecond
	}
	payload := string(r.Body)
	if r.Method == "GET" {
		payload = r.RawQuery
	}
	msg := []byte(tsText + key + recv + payload)
	if isPEM(a.Secret) {
		pub, err := publicKey(a.Secret)
		if err != nil {
			return Verdict{}, fmt.Errorf("bybit: %w", err)
		}
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			return Verdict{}, errors.New("bybit: X-BAPI-SIGN is not base64 (RSA key)")
		}
		if err := verifyRSAorEd25519(pub, msg, raw); err != nil {
			return Verdict{}, fmt.Errorf("bybit: %w", err)
		}
	} else if !equalHex(sig, mac(sha256.New, a.Secret, msg)) {
		return Verdict{}, fmt.Errorf("bybit: %w", errSignature)
	}
	ts := time.UnixMilli(ms)
	if err := checkWindow(ts, r.Now, window, time.Second); err != nil {
		return Verdict{}, fmt.Errorf("bybit: %w", err)
	}
	return Verdict{APIKey: key, Time: ts}, nil
}
