package scheme

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
)

// kucoin signs KuCoin REST requests (spot, margin, futures, broker) as
// https://www.kucoin.com/docs-new/authentication documents:
//
//   - KC-API-TIMESTAMP is Unix milliseconds (the agent's clock);
//   - KC-API-SIGN is base64(HMAC-SHA256(secret, timestamp + METHOD +
//     endpoint + body)), where endpoint is the URL path with, for a query
//     string, '?' and the query, and body the JSON body as sent ("" if
//     none);
//   - KC-API-PASSPHRASE is, for version 2 and 3 keys (KC-API-KEY-VERSION),
//     base64(HMAC-SHA256(secret, passphrase)); for legacy version 1 keys
//     it is the passphrase itself, in clear (as ccxt still does when told
//     the key is version 1).
//
// KuCoin's own SDKs sign the endpoint with its query NOT percent-encoded
// (kucoin-universal-sdk builds the signed path with encodeRaw, the sent
// one with url.Values.Encode; ccxt signs rawencode): so the agent signs
// the path and query percent-decoded ('+' in the query is a space, as the
// server reads it), and sends the URL as the bot wrote it.
//
// ccxt adds KuCoin's broker headers KC-API-PARTNER, KC-API-PARTNER-SIGN and
// KC-API-PARTNER-VERIFY by default; the partner signature covers the
// timestamp and the API key, which the agent (not the bot) chooses, so a
// bot's partner signature cannot verify: the agent leaves those three
// headers out.
type kucoin struct{}

func (kucoin) Name() string { return "kucoin" }

func (kucoin) Hosts() []string {
	return []string{
		"api.kucoin.com",
		"api-futures.kucoin.com",
		"api-broker.kucoin.com",
		"openapi-v2.kucoin.com",
		"openapi-sandbox.kucoin.com",
		"api-sandbox-futures.kucoin.com",
	}
}

func (kucoin) Info() Info {
	return Info{
		KeyTypes:     []string{KeyHMAC},
		Passphrase:   PassphraseRequired,
		ClearSecrets: []string{"passphrase (key_version 1 keys only)"},
		Meta: map[string]string{
			"key_version": "the API key's version on KuCoin's API management page: 2 (default) or 3 send the passphrase HMAC-signed with the secret; 1 (legacy keys) sends it in clear",
		},
	}
}

// kucoinKeyVersion reads the key_version metadata.
func kucoinKeyVersion(meta map[string]string) (string, error) {
	switch v := meta["key_version"]; v {
	case "":
		return "2", nil
	case "1", "2", "3":
		return v, nil
	default:
		return "", fmt.Errorf("kucoin: key_version %q is not 1, 2 or 3: use the version KuCoin's API management page shows for the key (--meta key_version=3)", truncate(v, 16))
	}
}

// Check accepts KuCoin's API secret (a UUID-like string) with its
// passphrase.
func (kucoin) Check(k Key) (Checked, error) {
	if _, err := kucoinKeyVersion(k.Meta); err != nil {
		return Checked{}, badRequest(err.Error())
	}
	if len(k.Passphrase) == 0 {
		return Checked{}, badRequest("kucoin: the key has no passphrase: every KuCoin API key has the passphrase chosen when it was created; give it with --passphrase-file")
	}
	if len(k.Passphrase) > 256 {
		return Checked{}, badRequest(fmt.Sprintf("kucoin: the passphrase is %d bytes; KuCoin's are at most 32 characters", len(k.Passphrase)))
	}
	for i, c := range k.Passphrase {
		if c < ' ' || c == 0x7f {
			return Checked{}, badRequest(fmt.Sprintf("kucoin: the passphrase has a control byte at byte %d: give it without the line ending", i))
		}
	}
	if k.APIKey == "" || !headerSafe(k.APIKey) {
		return Checked{}, badRequest("kucoin: the API key is empty or has a control character: give the key id KuCoin shows")
	}
	return checkHMACSecret("kucoin", k.Secret)
}

// kucoinDropHeaders are the headers the agent sets or, for the partner
// ones, cannot keep.
var kucoinDropHeaders = []string{
	"KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE", "KC-API-KEY-VERSION",
	"KC-API-PARTNER", "KC-API-PARTNER-SIGN", "KC-API-PARTNER-VERIFY",
}

func (k kucoin) Sign(in Input) (Request, error) {
	if err := agentFaults("kucoin", in); err != nil {
		return Request{}, err
	}
	if len(in.Passphrase) == 0 {
		return Request{}, fmt.Errorf("kucoin: credential has no passphrase")
	}
	version, err := kucoinKeyVersion(in.Meta)
	if err != nil {
		return Request{}, err
	}
	req := in.Request
	if err := genericMethod("kucoin", req.Method, []string{"GET", "POST", "PUT", "DELETE"}); err != nil {
		return Request{}, err
	}
	base, query, err := splitURL(k, req.URL, in.Meta)
	if err != nil {
		return Request{}, err
	}
	endpoint, err := kucoinEndpoint(base, query)
	if err != nil {
		return Request{}, err
	}
	if req.Body != "" {
		if req.Method == "GET" {
			return Request{}, badRequest("kucoin: a GET request carries its parameters in the query string, not a body")
		}
		if !json.Valid([]byte(req.Body)) {
			return Request{}, badRequest("kucoin: the body is not valid JSON: KuCoin takes POST/PUT parameters as a JSON object, signed as sent")
		}
	}
	setCT, err := genericJSONBody("kucoin", req.Headers, req.Body)
	if err != nil {
		return Request{}, err
	}

	var tsBuf [20]byte
	ts := strconv.AppendInt(tsBuf[:0], in.Now.UnixMilli(), 10)
	msg := make([]byte, 0, len(ts)+len(req.Method)+len(endpoint)+len(req.Body))
	msg = append(msg, ts...)
	msg = append(msg, req.Method...)
	msg = append(msg, endpoint...)
	msg = append(msg, req.Body...)

	var mac [sha256.Size]byte
	sign := base64.StdEncoding.EncodeToString(hmacSHA256(in.Scratch, in.Secret, mac[:0], msg))
	var passphrase string
	if version == "1" {
		passphrase = string(in.Passphrase) // version 1 keys send it in clear, as Info's ClearSecrets says
	} else {
		passphrase = base64.StdEncoding.EncodeToString(hmacSHA256(in.Scratch, in.Secret, mac[:0], in.Passphrase))
	}
	clear(mac[:])

	out := Request{Method: req.Method, URL: req.URL, Body: req.Body}
	out.Headers = copyHeaders(req.Headers, 6, kucoinDropHeaders...)
	out.Headers["KC-API-KEY"] = in.APIKey
	out.Headers["KC-API-SIGN"] = sign
	out.Headers["KC-API-TIMESTAMP"] = string(ts)
	out.Headers["KC-API-PASSPHRASE"] = passphrase
	out.Headers["KC-API-KEY-VERSION"] = version
	if setCT {
		out.Headers["Content-Type"] = "application/json"
	}
	return out, nil
}

// kucoinEndpoint is the endpoint KuCoin signs: the path, and '?' and the
// query when there is one, percent-decoded.
func kucoinEndpoint(base, query string) (string, error) {
	path, err := url.PathUnescape(genericURLPath(base))
	if err != nil {
		return "", badRequest("kucoin: the URL path has a '%' that is not followed by two hex digits; write a literal '%' as %25")
	}
	if query == "" {
		return path, nil
	}
	q, err := gateUnescapeQuery("kucoin", query)
	if err != nil {
		return "", err
	}
	return path + "?" + q, nil
}
