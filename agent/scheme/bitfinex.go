package scheme

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// bitfinex signs Bitfinex v2 authenticated REST requests as
// https://docs.bitfinex.com/docs/rest-auth documents:
//
//   - every authenticated endpoint is a POST to
//     https://api.bitfinex.com/v2/auth/… with a JSON object body ("{}" when
//     there are no parameters);
//   - bfx-nonce is a strictly increasing integer, bfx-apikey the API key;
//   - bfx-signature is hex(HMAC-SHA384(secret, "/api" + path + nonce +
//     body)), path being the URL's path (/v2/auth/r/wallets) and body the
//     JSON exactly as sent.
//
// The nonce is the credential's next nonce (in.NextNonce), so that several
// bots sharing a key never send a smaller one. Its unit is milliseconds,
// as ccxt's bitfinex nonce() uses; a key that was used before with
// Bitfinex's own libraries (which count microseconds, Date.now()*1000)
// must keep microseconds, or every nonce would be "too small": set
// --meta nonce_unit=us for it.
type bitfinex struct{}

func (bitfinex) Name() string { return "bitfinex" }

// Hosts: api-pub.bitfinex.com serves only public endpoints, which need no
// signature, so it is not a signing host.
func (bitfinex) Hosts() []string { return []string{"api.bitfinex.com"} }

func (bitfinex) Info() Info {
	return Info{
		KeyTypes: []string{KeyHMAC},
		Meta: map[string]string{
			"nonce_unit": "the unit of bfx-nonce: ms (default, as ccxt) or us (as Bitfinex's own libraries; a key once used with microsecond nonces must keep them)",
		},
	}
}

func bitfinexNonceUnit(meta map[string]string) (time.Duration, error) {
	switch u := meta["nonce_unit"]; u {
	case "", "ms":
		return time.Millisecond, nil
	case "us":
		return time.Microsecond, nil
	default:
		return 0, fmt.Errorf("bitfinex: nonce_unit %q is not ms or us: use ms (ccxt's unit) unless the key's earlier nonces were microseconds (Bitfinex's libraries)", truncate(u, 16))
	}
}

// Check accepts the API secret Bitfinex shows once when the key is made.
func (bitfinex) Check(k Key) (Checked, error) {
	if _, err := bitfinexNonceUnit(k.Meta); err != nil {
		return Checked{}, badRequest(err.Error())
	}
	if k.APIKey == "" || !headerSafe(k.APIKey) {
		return Checked{}, badRequest("bitfinex: the API key is empty or has a control character: give the key Bitfinex shows")
	}
	return checkHMACSecret("bitfinex", k.Secret)
}

const bitfinexAuthPrefix = "/v2/auth/"

func (b bitfinex) Sign(in Input) (Request, error) {
	if err := agentFaults("bitfinex", in); err != nil {
		return Request{}, err
	}
	unit, err := bitfinexNonceUnit(in.Meta)
	if err != nil {
		return Request{}, err
	}
	req := in.Request
	if req.Method != "POST" {
		return Request{}, badRequest(fmt.Sprintf("bitfinex: method %q: every Bitfinex v2 authenticated endpoint is a POST with a JSON body", truncate(req.Method, 16)))
	}
	base, query, err := splitURL(b, req.URL, in.Meta)
	if err != nil {
		return Request{}, err
	}
	if query != "" || strings.HasSuffix(req.URL, "?") {
		return Request{}, badRequest("bitfinex: the URL has a query string: Bitfinex signs only the path and the JSON body, so put the parameters in the body")
	}
	path := genericURLPath(base)
	if !strings.HasPrefix(path, bitfinexAuthPrefix) {
		return Request{}, badRequest("bitfinex: the path must begin with " + bitfinexAuthPrefix + " (e.g. https://api.bitfinex.com/v2/auth/r/wallets): only v2 authenticated endpoints are signed; public ones need no signature")
	}
	body := strings.TrimLeft(req.Body, " \t\r\n")
	if body == "" || body[0] != '{' || !json.Valid([]byte(req.Body)) {
		return Request{}, badRequest(`bitfinex: the body must be a JSON object, signed as sent: send {} when there are no parameters`)
	}
	setCT, err := genericJSONBody("bitfinex", req.Headers, req.Body)
	if err != nil {
		return Request{}, err
	}

	var nonceBuf [20]byte
	nonce := strconv.AppendUint(nonceBuf[:0], in.NextNonce(unit), 10)
	msg := make([]byte, 0, 4+len(path)+len(nonce)+len(req.Body))
	msg = append(msg, "/api"...)
	msg = append(msg, path...)
	msg = append(msg, nonce...)
	msg = append(msg, req.Body...)

	var mac [sha512.Size384]byte
	sig := hex.EncodeToString(hmacSum(sha512.New384, in.Scratch, in.Secret, mac[:0], msg))

	out := Request{Method: req.Method, URL: req.URL, Body: req.Body}
	out.Headers = copyHeaders(req.Headers, 4, "bfx-nonce", "bfx-apikey", "bfx-signature")
	out.Headers["bfx-nonce"] = string(nonce)
	out.Headers["bfx-apikey"] = in.APIKey
	out.Headers["bfx-signature"] = sig
	if setCT {
		out.Headers["Content-Type"] = "application/json"
	}
	return out, nil
}
