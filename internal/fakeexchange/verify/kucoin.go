package verify

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// kucoin checks KuCoin REST requests as
// https://www.kucoin.com/docs-new/authentication documents:
//
//   - KC-API-KEY, KC-API-SIGN, KC-API-TIMESTAMP (Unix ms),
//     KC-API-PASSPHRASE and KC-API-KEY-VERSION;
//   - KC-API-SIGN = base64(HMAC-SHA256(secret, timestamp + METHOD +
//     endpoint + body)), endpoint being the path with '?' and the query
//     when there is one. KuCoin's official SDKs sign the endpoint
//     percent-decoded while sending it encoded (kucoin-universal-sdk,
//     https://github.com/Kucoin/kucoin-universal-sdk), so the server's
//     reading is the decoded one and that is what is checked here;
//   - KC-API-PASSPHRASE is base64(HMAC-SHA256(secret, passphrase)) for
//     version 2 and 3 keys, the passphrase in clear for legacy version 1
//     keys. The account's version is Account.Meta["key_version"] (keyward's
//     metadata key; default 2) and KC-API-KEY-VERSION must name it;
//   - the timestamp must be within 5 seconds of the server's time (error
//     400002).
func kucoin() Venue {
	return Venue{
		Name: "kucoin",
		Hosts: []string{
			"api.kucoin.com", "api-futures.kucoin.com", "api-broker.kucoin.com",
			"openapi-v2.kucoin.com", "openapi-sandbox.kucoin.com", "api-sandbox-futures.kucoin.com",
		},
		Key: func(r *Request) (string, error) {
			return header(r.Header, "KC-API-KEY")
		},
		Verify: kucoinVerify,
	}
}

func kucoinVerify(r *Request, a Account) (Verdict, error) {
	h, err := headers(r, "KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE")
	if err != nil {
		return Verdict{}, fmt.Errorf("kucoin: %w", err)
	}
	key, sig, tsText, pass := h[0], h[1], h[2], h[3]
	if !equalString(key, a.APIKey) {
		return Verdict{}, errors.New("kucoin: API key does not match the account")
	}
	version := a.Meta["key_version"]
	if version == "" {
		version = "2"
	}
	sent := "1"
	if len(r.Header.Values("KC-API-KEY-VERSION")) > 0 {
		if sent, err = header(r.Header, "KC-API-KEY-VERSION"); err != nil {
			return Verdict{}, fmt.Errorf("kucoin: %w", err)
		}
	}
	if sent != version {
		return Verdict{}, fmt.Errorf("kucoin: KC-API-KEY-VERSION is %q, the account's key is version %s", clip(sent), version)
	}
	ms, err := parseInt("KC-API-TIMESTAMP", tsText)
	if err != nil {
		return Verdict{}, fmt.Errorf("kucoin: %w", err)
	}
	path, err := url.PathUnescape(r.Path)
	if err != nil {
		return Verdict{}, errors.New("kucoin: path has a bad percent-escape")
	}
	endpoint := path
	if r.RawQuery != "" {
		q, err := url.QueryUnescape(r.RawQuery)
		if err != nil {
			return Verdict{}, errors.New("kucoin: query string has a bad percent-escape")
		}
		endpoint += "?" + q
	}
	if !equalBase64(sig, mac(sha256.New, a.Secret, []byte(tsText+r.Method+endpoint+string(r.Body)))) {
		return Verdict{}, fmt.Errorf("kucoin: %w", errSignature)
	}
	if version == "1" {
		if !equalString(pass, a.Passphrase) {
			return Verdict{}, errors.New("kucoin: wrong passphrase")
		}
	} else if !equalBase64(pass, mac(sha256.New, a.Secret, []byte(a.Passphrase))) {
		return Verdict{}, fmt.Errorf("kucoin: wrong passphrase (version %s keys send it HMAC-signed with the secret)", version)
	}
	ts := time.UnixMilli(ms)
	if err := checkWindow(ts, r.Now, 5*time.Second, 5*time.Second); err != nil {
		return Verdict{}, fmt.Errorf("kucoin: %w", err)
	}
	return Verdict{APIKey: key, Time: ts}, nil
}
