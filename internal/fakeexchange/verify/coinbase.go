package verify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// coinbase checks Coinbase's two trading APIs, told apart by host.
//
// Advanced Trade and the App v2 API (api.coinbase.com, api-sandbox…) take a
// CDP API key's JWT in "Authorization: Bearer <jwt>", as
// https://docs.cdp.coinbase.com/get-started/authentication/jwt-authentication
// and https://docs.cdp.coinbase.com/coinbase-app/authentication-authorization/api-key-authentication
// document: header {alg ES256 or EdDSA, kid = key name, nonce, typ JWT},
// claims {sub = key name, iss "cdp", nbf, exp ("your JWT expires after 2
// minutes"), uri = "METHOD host/path"}; the CDP SDK's Ed25519 JWTs (its
// generateJwt, which the docs' Ed25519 samples call) carry the URI as
// uris ["METHOD host/path"] with aud ["cdp_service"] and iat instead. Both
// forms are accepted; iss may also be "coinbase-cloud", the issuer the
// docs' earlier samples used. The query string and body are not covered.
// Account.Secret is the CDP private key: a PEM EC (P-256) or Ed25519 key,
// or the base64 Ed25519 form CDP issues (seed then public key, 64 bytes).
//
// Coinbase Exchange (api.exchange.coinbase.com and its sandbox), as
// https://docs.cdp.coinbase.com/exchange/rest-api/authentication documents:
// CB-ACCESS-KEY, CB-ACCESS-TIMESTAMP (seconds since the epoch, decimals
// allowed), CB-ACCESS-PASSPHRASE and CB-ACCESS-SIGN = base64(HMAC-SHA256
// (base64-decoded secret, timestamp + METHOD + requestPath + body)),
// requestPath with its query string; the timestamp must be within 30
// seconds of the API's time.
func coinbase() Venue {
	return Venue{
		Name:  "coinbase",
		Hosts: []string{"api.coinbase.com", "api-sandbox.coinbase.com", coinbaseExchangeHost, coinbaseExchangeSandbox},
		Key: func(r *Request) (string, error) {
			if coinbaseIsExchange(r.Host) {
				return header(r.Header, "CB-ACCESS-KEY")
			}
			jwt, err := coinbaseParseJWT(r)
			if err != nil {
				return "", fmt.Errorf("coinbase: %w", err)
			}
			return jwt.header.Kid, nil
		},
		Verify: func(r *Request, a Account) (Verdict, error) {
			if coinbaseIsExchange(r.Host) {
				return coinbaseExchangeVerify(r, a)
			}
			return coinbaseJWTVerify(r, a)
		},
	}
}

const (
	coinbaseExchangeHost    = "api.exchange.coinbase.com"
	coinbaseExchangeSandbox = "api-public.sandbox.exchange.coinbase.com"
	coinbaseJWTMaxLife      = 120 * time.Second
)

func coinbaseIsExchange(host string) bool {
	return host == coinbaseExchangeHost || host == coinbaseExchangeSandbox
}

func coinbaseExchangeVerify(r *Request, a Account) (Verdict, error) {
	h, err := headers(r, "CB-ACCESS-KEY", "CB-ACCESS-SIGN", "CB-ACCESS-TIMESTAMP", "CB-ACCESS-PASSPHRASE")
	if err != nil {
		return Verdict{}, fmt.Errorf("coinbase: %w", err)
	}
	key, sig, tsText, pass := h[0], h[1], h[2], h[3]
	if !equalString(key, a.APIKey) {
		return Verdict{}, errors.New("coinbase: API key does not match the account")
	}
	secs, err := strconv.ParseFloat(tsText, 64)
	if err != nil || secs <= 0 || strings.ContainsAny(tsText, "eEx+-") {
		return Verdict{}, fmt.Errorf("coinbase: CB-ACCESS-TIMESTAMP %q is not seconds since the epoch", clip(tsText))
	}
	secret, err := base64.StdEncoding.DecodeString(string(a.Secret))
	if err != nil {
		return Verdict{}, errors.New("coinbase: account secret is not base64")
	}
	msg := tsText + r.Method + pathQuery(r) + string(r.Body)
	if !equalBase64(sig, mac(sha256.New, secret, []byte(msg))) {
		return Verdict{}, fmt.Errorf("coinbase: %w", errSignature)
	}
	if !equalString(pass, a.Passphrase) {
		return Verdict{}, errors.New("coinbase: wrong passphrase")
	}
	ts := time.UnixMilli(int64(secs * 1000))
	if err := checkWindow(ts, r.Now, 30*time.Second, 30*time.Second); err != nil {
		return Verdict{}, fmt.Errorf("coinbase: %w", err)
	}
	return Verdict{APIKey: key, Time: ts}, nil
}

type coinbaseJWT struct {
	header struct {
		Alg   string `json:"alg"`
		Kid   string `json:"kid"`
		Typ   string `json:"typ"`
		Nonce string `json:"nonce"`
	}
	claims struct {
		Sub  string          `json:"sub"`
		Iss  string          `json:"iss"`
		Nbf  *int64          `json:"nbf"`
		Exp  *int64          `json:"exp"`
		URI  *string         `json:"uri"`
		URIs []string        `json:"uris"`
		Aud  json.RawMessage `json:"aud"`
	}
	signed []byte // header.claims, as sent
	sig    []byte
}

// coinbaseParseJWT reads the bearer JWT; it checks nothing but its form.
func coinbaseParseJWT(r *Request) (*coinbaseJWT, error) {
	v, err := header(r.Header, "Authorization")
	if err != nil {
		return nil, err
	}
	tok, ok := strings.CutPrefix(v, "Bearer ")
	if !ok {
		return nil, errors.New("header Authorization is not \"Bearer <jwt>\"")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("bearer token is not a JWS compact JWT (three dot-separated parts)")
	}
	var j coinbaseJWT
	for i, dst := range []any{&j.header, &j.claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, fmt.Errorf("JWT part %d is not base64url without padding", i+1)
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		if err := d.Decode(dst); err != nil {
			return nil, fmt.Errorf("JWT part %d is not a JSON object: %w", i+1, err)
		}
	}
	if j.header.Kid == "" {
		return nil, errors.New("JWT header has no kid")
	}
	if j.sig, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, errors.New("JWT signature is not base64url without padding")
	}
	j.signed = []byte(parts[0] + "." + parts[1])
	return &j, nil
}

func coinbaseJWTVerify(r *Request, a Account) (Verdict, error) {
	j, err := coinbaseParseJWT(r)
	if err != nil {
		return Verdict{}, fmt.Errorf("coinbase: %w", err)
	}
	if !equalString(j.header.Kid, a.APIKey) {
		return Verdict{}, errors.New("coinbase: JWT kid does not match the account's key name")
	}
	if j.header.Typ != "" && j.header.Typ != "JWT" {
		return Verdict{}, fmt.Errorf("coinbase: JWT typ %q is not JWT", clip(j.header.Typ))
	}
	if j.header.Nonce == "" {
		return Verdict{}, errors.New("coinbase: JWT header has no nonce")
	}
	pub, err := coinbasePublicKey(a.Secret)
	if err != nil {
		return Verdict{}, fmt.Errorf("coinbase: %w", err)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if j.header.Alg != "ES256" {
			return Verdict{}, fmt.Errorf("coinbase: JWT alg %q, the account's EC key signs ES256", clip(j.header.Alg))
		}
		if len(j.sig) != 64 {
			return Verdict{}, fmt.Errorf("coinbase: %w (ES256 signature is %d bytes, not 64)", errSignature, len(j.sig))
		}
		d := sha256.Sum256(j.signed)
		rr, ss := new(big.Int).SetBytes(j.sig[:32]), new(big.Int).SetBytes(j.sig[32:])
		if !ecdsa.Verify(k, d[:], rr, ss) {
			return Verdict{}, fmt.Errorf("coinbase: %w", errSignature)
		}
	case ed25519.PublicKey:
		if j.header.Alg != "EdDSA" {
			return Verdict{}, fmt.Errorf("coinbase: JWT alg %q, the account's Ed25519 key signs EdDSA", clip(j.header.Alg))
		}
		if !ed25519.Verify(k, j.signed, j.sig) {
			return Verdict{}, fmt.Errorf("coinbase: %w", errSignature)
		}
	default:
		return Verdict{}, fmt.Errorf("coinbase: account key is a %T, not EC P-256 or Ed25519", pub)
	}

	c := &j.claims
	if !equalString(c.Sub, a.APIKey) {
		return Verdict{}, errors.New("coinbase: JWT sub does not match the account's key name")
	}
	if c.Iss != "cdp" && c.Iss != "coinbase-cloud" {
		return Verdict{}, fmt.Errorf("coinbase: JWT iss %q is not cdp", clip(c.Iss))
	}
	want := r.Method + " " + r.Host + r.Path
	switch {
	case c.URI != nil && len(c.URIs) > 0:
		return Verdict{}, errors.New("coinbase: JWT has both uri and uris")
	case c.URI != nil:
		if *c.URI != want {
			return Verdict{}, fmt.Errorf("coinbase: JWT uri %q is not this request's %q", clip(*c.URI), clip(want))
		}
	case len(c.URIs) == 1:
		if c.URIs[0] != want {
			return Verdict{}, fmt.Errorf("coinbase: JWT uris [%q] is not this request's %q", clip(c.URIs[0]), clip(want))
		}
	default:
		return Verdict{}, errors.New("coinbase: JWT has no uri claim (a REST request's JWT names \"METHOD host/path\")")
	}
	if c.Nbf == nil || c.Exp == nil {
		return Verdict{}, errors.New("coinbase: JWT lacks nbf or exp")
	}
	nbf, exp := time.Unix(*c.Nbf, 0), time.Unix(*c.Exp, 0)
	switch {
	case exp.Sub(nbf) > coinbaseJWTMaxLife || !exp.After(nbf):
		return Verdict{}, fmt.Errorf("coinbase: JWT lifetime %d s is not within the 2-minute maximum", *c.Exp-*c.Nbf)
	case r.Now.Before(nbf):
		return Verdict{}, fmt.Errorf("coinbase: JWT not yet valid: nbf is %s in the future", fmtDur(nbf.Sub(r.Now)))
	case !r.Now.Before(exp):
		return Verdict{}, fmt.Errorf("coinbase: JWT expired %s ago", fmtDur(r.Now.Sub(exp)))
	}
	return Verdict{APIKey: j.header.Kid, Time: nbf}, nil
}

// coinbasePublicKey reads a CDP private key: PEM (EC or Ed25519) or the
// base64 Ed25519 form (64 bytes, seed then public key, or a 32-byte seed).
func coinbasePublicKey(secret []byte) (any, error) {
	if isPEM(secret) {
		pub, err := publicKey(secret)
		if err != nil {
			return nil, err
		}
		if k, ok := pub.(*ecdsa.PublicKey); ok && k.Curve != elliptic.P256() {
			return nil, errors.New("account EC key is not on P-256")
		}
		return pub, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(secret)))
	if err != nil {
		return nil, errors.New("account secret is neither a PEM key nor base64")
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw).Public(), nil
	case ed25519.PrivateKeySize:
		pub := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize]).Public().(ed25519.PublicKey)
		if !bytes.Equal(pub, raw[ed25519.SeedSize:]) {
			return nil, errors.New("account Ed25519 key's second half is not its public key")
		}
		return pub, nil
	}
	return nil, fmt.Errorf("account secret is %d base64 bytes, not an Ed25519 key (32 or 64)", len(raw))
}
