package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// binance checks Binance SIGNED REST requests (Spot and margin, USDⓈ-M and
// COIN-M futures) as
// https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security
// and the futures docs' "SIGNED (TRADE and USER_DATA) Endpoint security"
// sections document:
//
//   - the API key is in the X-MBX-APIKEY header;
//   - totalParams is the query string concatenated with the request body,
//     no separator; signature=… is sent as the last parameter of either
//     and is not part of totalParams;
//   - HMAC keys: the hex HMAC-SHA256 of totalParams (case-insensitive);
//     RSA keys: RSASSA-PKCS1-v1_5 SHA-256, Ed25519 keys: Ed25519, both
//     base64 and then percent-encoded in the request;
//   - timing: timestamp (ms, or µs on Spot) is accepted when
//     timestamp < serverTime + 1000 and serverTime - timestamp <=
//     recvWindow; recvWindow defaults to 5000 and is at most 60000.
//
// The key type is implied by Account.Secret: a PEM key is RSA or Ed25519,
// anything else an HMAC secret.
func binance() Venue {
	return Venue{
		Name: "binance",
		Hosts: []string{
			"api.binance.com", "api-gcp.binance.com",
			"api1.binance.com", "api2.binance.com", "api3.binance.com", "api4.binance.com",
			"testnet.binance.vision", "demo-api.binance.com",
			"fapi.binance.com", "dapi.binance.com", "testnet.binancefuture.com",
			"demo-fapi.binance.com", "demo-dapi.binance.com",
		},
		Key: func(r *Request) (string, error) {
			return header(r.Header, "X-MBX-APIKEY")
		},
		Verify: binanceVerify,
	}
}

const (
	binanceDefaultWindow = 5000 * time.Millisecond
	binanceMaxWindow     = 60000 * time.Millisecond
	binanceAhead         = 1000 * time.Millisecond
)

func binanceVerify(r *Request, a Account) (Verdict, error) {
	key, err := header(r.Header, "X-MBX-APIKEY")
	if err != nil {
		return Verdict{}, fmt.Errorf("binance: %w", err)
	}
	if !equalString(key, a.APIKey) {
		return Verdict{}, errors.New("binance: API key does not match the account")
	}
	query, qsig, qok := cutSignature(r.RawQuery)
	body, bsig, bok := cutSignature(string(r.Body))
	var sig string
	switch {
	case qok && bok:
		return Verdict{}, errors.New("binance: signature sent in both the query string and the body")
	case qok:
		sig, body = qsig, string(r.Body)
	case bok:
		sig, query = bsig, r.RawQuery
	default:
		return Verdict{}, errors.New("binance: missing parameter signature (it must be the last parameter of the query string or body)")
	}
	for _, p := range []string{query, body} {
		if strings.Contains("&"+p, "&signature=") {
			return Verdict{}, errors.New("binance: parameter signature sent more than once")
		}
	}
	total := query + body

	ts, window, err := binanceTiming(query, body)
	if err != nil {
		return Verdict{}, fmt.Errorf("binance: %w", err)
	}

	if isPEM(a.Secret) {
		pub, err := publicKey(a.Secret)
		if err != nil {
			return Verdict{}, fmt.Errorf("binance: %w", err)
		}
		b64, err := url.QueryUnescape(sig)
		if err != nil {
			return Verdict{}, errors.New("binance: signature is not percent-encoded base64")
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return Verdict{}, errors.New("binance: signature is not base64")
		}
		if err := verifyRSAorEd25519(pub, []byte(total), raw); err != nil {
			return Verdict{}, fmt.Errorf("binance: %w", err)
		}
	} else if !equalHex(sig, mac(sha256.New, a.Secret, []byte(total))) {
		return Verdict{}, fmt.Errorf("binance: %w", errSignature)
	}
	// The window is checked after the signature so that a forged request
	// learns nothing about the clock.
	if err := checkWindow(ts, r.Now, window, binanceAhead); err != nil {
		return Verdict{}, fmt.Errorf("binance: %w", err)
	}
	return Verdict{APIKey: key, Time: ts}, nil
}

// cutSignature splits "…&signature=S" into the parameters before it and S.
func cutSignature(params string) (rest, sig string, ok bool) {
	i := strings.LastIndex("&"+params, "&signature=")
	if i < 0 {
		return params, "", false
	}
	sig = params[i+len("signature="):]
	if strings.Contains(sig, "&") {
		return params, "", false // not the last parameter
	}
	if i == 0 {
		return "", sig, true
	}
	return params[:i-1], sig, true
}

// binanceTiming reads timestamp and recvWindow from the parameters.
func binanceTiming(query, body string) (time.Time, time.Duration, error) {
	var tsv, rwv []string
	for _, p := range []string{query, body} {
		for f := range strings.SplitSeq(p, "&") {
			name, val, _ := strings.Cut(f, "=")
			switch name {
			case "timestamp":
				tsv = append(tsv, val)
			case "recvWindow":
				rwv = append(rwv, val)
			}
		}
	}
	if len(tsv) != 1 {
		if len(tsv) == 0 {
			return time.Time{}, 0, errors.New("missing parameter timestamp")
		}
		return time.Time{}, 0, errors.New("parameter timestamp sent more than once")
	}
	n, err := parseInt("timestamp", tsv[0])
	if err != nil {
		return time.Time{}, 0, err
	}
	var ts time.Time
	if len(tsv[0]) >= 16 { // Spot accepts microseconds
		ts = time.UnixMicro(n)
	} else {
		ts = time.UnixMilli(n)
	}
	window := binanceDefaultWindow
	switch len(rwv) {
	case 0:
	case 1:
		// Spot allows up to three decimals (microseconds).
		f, err := strconv.ParseFloat(rwv[0], 64)
		if err != nil || f <= 0 || strings.ContainsAny(rwv[0], "eEx+-") {
			return time.Time{}, 0, fmt.Errorf("recvWindow %q is not a positive number of milliseconds", clip(rwv[0]))
		}
		window = time.Duration(f * float64(time.Millisecond))
		if window > binanceMaxWindow {
			return time.Time{}, 0, fmt.Errorf("recvWindow %s is over the 60000 ms maximum", clip(rwv[0]))
		}
	default:
		return time.Time{}, 0, errors.New("parameter recvWindow sent more than once")
	}
	return ts, window, nil
}
