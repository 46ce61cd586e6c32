package scheme

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/erase"
)

// coinbase signs for Coinbase's two trading APIs, chosen by the key's type:
//
// Advanced Trade (and the Coinbase App v2 API) on api.coinbase.com, with a
// CDP API key: a fresh JWT per request, sent as "Authorization: Bearer
// <jwt>", as https://docs.cdp.coinbase.com/coinbase-app/authentication-authorization/api-key-authentication
// and https://docs.cdp.coinbase.com/get-started/authentication/jwt-authentication document:
//
//   - ECDSA keys (a PEM EC key, "-----BEGIN EC PRIVATE KEY-----"; PKCS#8 is
//     accepted too) sign ES256 with the documented header {alg, kid = key
//     name, nonce, typ "JWT"} and claims {sub = key name, iss "cdp", nbf,
//     exp = nbf + 120, uri = "METHOD host/path"};
//   - Ed25519 keys (base64 of 64 bytes, seed then public key) sign EdDSA
//     with the claims Coinbase's CDP SDK builds for them (and ccxt too):
//     {sub, iss "cdp", aud ["cdp_service"], nbf, exp, iat, uris ["METHOD host/path"]}.
//
// The header's nonce is public: it is the credential's next strictly
// increasing microsecond nonce (in.NextNonce) as 32 hex digits, not random
// bytes, so no two JWTs of a credential share one and signing stays
// reproducible. The query string and body are not part of the JWT.
//
// Coinbase Exchange (api.exchange.coinbase.com and its sandbox), with a
// legacy HMAC key, as https://docs.cdp.coinbase.com/exchange/rest-api/authentication
// documents: CB-ACCESS-KEY, CB-ACCESS-TIMESTAMP (Now in whole seconds, as
// ccxt sends it), CB-ACCESS-PASSPHRASE (the key's passphrase, in clear) and
// CB-ACCESS-SIGN = base64(HMAC-SHA256(timestamp + METHOD + requestPath +
// body)) under the base64-decoded secret, requestPath being the path and
// query string as sent.
type coinbase struct{}

func (coinbase) Name() string { return "coinbase" }

const (
	coinbaseAdvancedHost   = "api.coinbase.com"
	coinbaseAdvancedSbox   = "api-sandbox.coinbase.com"
	coinbaseExchangeHost   = "api.exchange.coinbase.com"
	coinbaseExchangeSbox   = "api-public.sandbox.exchange.coinbase.com"
	coinbaseJWTLifetime    = 120
	coinbaseSecretNote     = "Coinbase's secrets are a CDP key's private key (a PEM EC key, or 88 base64 characters for Ed25519) or a Coinbase Exchange API secret (base64)"
	coinbaseMinHMACSecret  = 16
	coinbaseMaxHMACSecret  = 128
	coinbaseExchangeCTJSON = "application/json"
)

func (coinbase) Hosts() []string {
	return []string{coinbaseAdvancedHost, coinbaseAdvancedSbox, coinbaseExchangeHost, coinbaseExchangeSbox}
}

func (coinbase) Info() Info {
	return Info{
		KeyTypes:     []string{KeyECDSAP256, KeyEd25519, KeyHMAC},
		Passphrase:   PassphraseOptional,
		ClearSecrets: []string{"passphrase"},
	}
}

// Check tells the key forms apart: PEM text is a CDP ECDSA key; base64 of 64
// bytes whose second half is the public key of the first is a CDP Ed25519
// key; any other base64 secret is a Coinbase Exchange HMAC secret, which
// comes with a passphrase.
func (coinbase) Check(k Key) (Checked, error) {
	s := bytes.TrimSpace(k.Secret)
	if len(s) > 0 && s[0] == '{' {
		return Checked{}, badRequest("coinbase: this is a CDP key file (JSON): give its privateKey value as the secret and its name (organizations/…/apiKeys/…) or id as the API key")
	}
	if isPEM(s) {
		if len(k.Passphrase) > 0 {
			return Checked{}, badRequest("coinbase: CDP keys have no passphrase; add the key without one")
		}
		if bytes.Contains(s, []byte(`\n`)) {
			// Copied out of a JSON key file: the newlines are escaped.
			fixed := bytes.ReplaceAll(s, []byte(`\n`), []byte("\n"))
			defer clear(fixed)
			s = fixed
		}
		if k.APIKey == "" || strings.HasPrefix(k.APIKey, "-----BEGIN") {
			return Checked{}, badRequest("coinbase: the API key must be the CDP key's name (organizations/…/apiKeys/…) or id, not the key itself")
		}
		return checkPEMKey("coinbase", s, false, KeyECDSAP256, KeyEd25519)
	}
	raw, err := coinbaseDecodeSecret(s)
	if err != nil {
		return Checked{}, err
	}
	if len(raw) == 2*ed25519.SeedSize && coinbaseIsEd25519(raw) {
		defer clear(raw)
		if len(k.Passphrase) > 0 {
			return Checked{}, badRequest("coinbase: CDP keys have no passphrase; add the key without one")
		}
		if k.APIKey == "" {
			return Checked{}, badRequest("coinbase: the API key must be the CDP key's id or name (organizations/…/apiKeys/…)")
		}
		return Checked{KeyType: KeyEd25519, Secret: bytes.Clone(raw)}, nil // seed || public key, checked above
	}
	if strings.HasPrefix(k.APIKey, "organizations/") {
		clear(raw)
		return Checked{}, badRequest("coinbase: the API key is a CDP key name, but the secret is not a CDP private key: a CDP Ed25519 key is base64 of 64 bytes whose second half is the public key of the first; copy the privateKey again whole")
	}
	if len(k.Passphrase) == 0 {
		clear(raw)
		return Checked{}, badRequest("coinbase: a Coinbase Exchange API key comes with a passphrase: add it with the key's passphrase (a CDP key for api.coinbase.com is a PEM EC key or a base64 Ed25519 key)")
	}
	if !coinbasePassphraseOK(k.Passphrase) {
		clear(raw)
		return Checked{}, badRequest("coinbase: the passphrase has a control character or is too long: give the passphrase Coinbase Exchange showed")
	}
	return Checked{KeyType: KeyHMAC, Secret: raw}, nil
}

// coinbasePassphraseOK reports whether p can go in a header as it is: 1 to
// 256 bytes, no control bytes. It reads the bytes in place.
func coinbasePassphraseOK(p []byte) bool {
	if len(p) == 0 || len(p) > 256 {
		return false
	}
	for _, c := range p {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// coinbaseDecodeSecret decodes a base64 secret of any plausible length.
func coinbaseDecodeSecret(s []byte) ([]byte, error) {
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	for i, c := range s {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return nil, badRequest(fmt.Sprintf("coinbase: the secret is neither PEM nor base64 (byte %d); %s", i, coinbaseSecretNote))
		}
	}
	dst := make([]byte, enc.DecodedLen(len(s)))
	n, err := enc.Decode(dst, s)
	if err != nil || n < coinbaseMinHMACSecret || n > coinbaseMaxHMACSecret {
		clear(dst)
		return nil, badRequest(fmt.Sprintf("coinbase: the secret is not base64 of a key (%d characters); %s: copy it again whole", len(s), coinbaseSecretNote))
	}
	return dst[:n:n], nil
}

// coinbaseIsEd25519 reports whether raw is seed||public of one Ed25519 key.
func coinbaseIsEd25519(raw []byte) bool {
	var ok bool
	erase.Do(func() { ok = ed25519KeyConsistent(raw) })
	return ok
}

func (c coinbase) Sign(in Input) (Request, error) {
	if len(in.Secret) == 0 {
		return Request{}, errors.New("coinbase: credential has an empty secret")
	}
	if in.APIKey == "" || !headerSafe(in.APIKey) {
		return Request{}, errors.New("coinbase: credential has no usable API key")
	}
	req := in.Request
	if req.Method == MethodWS {
		return Request{}, badRequest("coinbase: the agent does not sign WebSocket messages for Coinbase")
	}
	base, query, err := splitURL(c, req.URL, in.Meta)
	if err != nil {
		return Request{}, err
	}
	u, _ := url.Parse(base) // splitURL parsed it already
	host := strings.ToLower(u.Host)
	hostname := strings.ToLower(u.Hostname())
	// The path exactly as sent: everything from the first '/' after the host.
	rest := base[strings.Index(base, "//")+2:]
	path := rest[strings.IndexByte(rest, '/'):]
	switch in.KeyType {
	case KeyECDSAP256, KeyEd25519:
		if hostname == coinbaseExchangeHost || hostname == coinbaseExchangeSbox {
			return Request{}, badRequest("coinbase: this credential is a CDP key, which signs for api.coinbase.com; Coinbase Exchange (" + hostname + ") takes its own HMAC keys with a passphrase")
		}
		return c.signJWT(in, host, path)
	case KeyHMAC:
		if hostname == coinbaseAdvancedHost || hostname == coinbaseAdvancedSbox {
			return Request{}, badRequest("coinbase: this credential is a Coinbase Exchange HMAC key, which signs for api.exchange.coinbase.com; api.coinbase.com (Advanced Trade) takes CDP keys")
		}
		full := path
		if strings.Contains(req.URL, "?") {
			full += "?" + query
		}
		return c.signExchange(in, full)
	default:
		return Request{}, fmt.Errorf("coinbase: credential has key type %q, which this scheme does not sign with", in.KeyType)
	}
}

func (coinbase) signJWT(in Input, host, path string) (Request, error) {
	req := in.Request
	switch req.Method {
	case "GET", "POST", "PUT", "DELETE", "PATCH":
	default:
		return Request{}, badRequest(fmt.Sprintf("coinbase: method %q is not one Coinbase takes: use GET, POST, PUT, DELETE or PATCH", truncate(req.Method, 16)))
	}
	kid, err := json.Marshal(in.APIKey)
	if err != nil {
		return Request{}, errors.New("coinbase: credential has no usable API key")
	}
	uri, err := json.Marshal(req.Method + " " + host + path)
	if err != nil {
		return Request{}, badRequest("coinbase: the URL cannot be put in a JWT")
	}
	now := in.Now.Unix()
	nbf := strconv.FormatInt(now, 10)
	exp := strconv.FormatInt(now+coinbaseJWTLifetime, 10)
	nonce := fmt.Sprintf("%032x", in.NextNonce(time.Microsecond))

	var alg, claims string
	switch in.KeyType {
	case KeyECDSAP256:
		alg = "ES256"
		claims = `{"sub":` + string(kid) + `,"iss":"cdp","nbf":` + nbf + `,"exp":` + exp + `,"uri":` + string(uri) + `}`
	default:
		alg = "EdDSA"
		claims = `{"sub":` + string(kid) + `,"iss":"cdp","aud":["cdp_service"],"nbf":` + nbf + `,"exp":` + exp + `,"iat":` + nbf + `,"uris":[` + string(uri) + `]}`
	}
	header := `{"alg":"` + alg + `","kid":` + string(kid) + `,"nonce":"` + nonce + `","typ":"JWT"}`
	b64 := base64.RawURLEncoding
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(claims))
	var sig []byte
	if in.KeyType == KeyECDSAP256 {
		sig, err = signES256(in.Secret, []byte(input))
	} else {
		sig, err = signEd25519(in.Secret, []byte(input))
	}
	if err != nil {
		return Request{}, fmt.Errorf("coinbase: %w", err)
	}
	out := Request{Method: req.Method, URL: req.URL, Body: req.Body}
	out.Headers = copyHeaders(req.Headers, 1, "Authorization")
	out.Headers["Authorization"] = "Bearer " + input + "." + b64.EncodeToString(sig)
	return out, nil
}

func (coinbase) signExchange(in Input, requestPath string) (Request, error) {
	req := in.Request
	if len(in.Scratch) < ScratchSize {
		return Request{}, fmt.Errorf("coinbase: scratch is %d bytes, need %d", len(in.Scratch), ScratchSize)
	}
	if !coinbasePassphraseOK(in.Passphrase) {
		return Request{}, errors.New("coinbase: the Coinbase Exchange credential has no usable passphrase")
	}
	switch req.Method {
	case "GET", "POST", "PUT", "DELETE":
	default:
		return Request{}, badRequest(fmt.Sprintf("coinbase: method %q is not one Coinbase Exchange takes: use GET, POST, PUT or DELETE", truncate(req.Method, 16)))
	}
	setType := false
	if req.Body != "" {
		if req.Method == "GET" {
			return Request{}, badRequest("coinbase: a GET request carries its parameters in the query string, not a body")
		}
		if ct, ok := headerValue(req.Headers, "Content-Type"); ok {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != coinbaseExchangeCTJSON {
				return Request{}, badRequest("coinbase: Coinbase Exchange takes a JSON body: set Content-Type to application/json")
			}
		} else {
			setType = true
		}
		if !json.Valid([]byte(req.Body)) {
			return Request{}, badRequest("coinbase: the body is not valid JSON; Coinbase Exchange takes a JSON body")
		}
	}
	ts := strconv.AppendInt(make([]byte, 0, 20), in.Now.Unix(), 10)
	var mac [sha256.Size]byte
	sum := hmacSHA256(in.Scratch, in.Secret, mac[:0], ts, []byte(req.Method), []byte(requestPath), []byte(req.Body))

	out := Request{Method: req.Method, URL: req.URL, Body: req.Body}
	out.Headers = copyHeaders(req.Headers, 5, "CB-ACCESS-KEY", "CB-ACCESS-SIGN", "CB-ACCESS-TIMESTAMP", "CB-ACCESS-PASSPHRASE")
	out.Headers["CB-ACCESS-KEY"] = in.APIKey
	out.Headers["CB-ACCESS-SIGN"] = base64.StdEncoding.EncodeToString(sum)
	out.Headers["CB-ACCESS-TIMESTAMP"] = string(ts)
	// The passphrase is a static credential Coinbase Exchange receives in
	// clear on every request (Info.ClearSecrets): it cannot be kept out of
	// the request the bot sends.
	out.Headers["CB-ACCESS-PASSPHRASE"] = string(in.Passphrase)
	if setType {
		out.Headers["Content-Type"] = coinbaseExchangeCTJSON
	}
	return out, nil
}
