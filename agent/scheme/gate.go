package scheme

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// gate signs Gate API v4 REST requests as
// https://www.gate.io/docs/developers/apiv4/en/#apiv4-signed-request-requirements
// documents:
//
//   - KEY is the API key, Timestamp the Unix time in seconds (the agent's
//     clock);
//   - SIGN is hex(HMAC-SHA512(secret, METHOD + "\n" + path + "\n" + query
//   - "\n" + hex(SHA512(body)) + "\n" + Timestamp)), where path is the
//     URL path (/api/v4/…), query the query string "without URL encode",
//     in the order of the URL, and body the payload as sent ("" if none).
//
// Gate's Go SDK signs url.QueryUnescape of the query it sends (and ccxt
// signs rawencode while sending urlencode), so the agent signs the bot's
// path and query percent-decoded ('+' in the query is a space) and sends
// the URL exactly as the bot wrote it.
type gate struct{}

func (gate) Name() string { return "gate" }

func (gate) Hosts() []string {
	return []string{
		"api.gateio.ws",
		"fx-api.gateio.ws",
		"fx-api-testnet.gateio.ws",
		"api-testnet.gateapi.io",
	}
}

func (gate) Info() Info {
	return Info{KeyTypes: []string{KeyHMAC}}
}

// Check accepts the APIv4 secret Gate shows once when the key is made.
func (gate) Check(k Key) (Checked, error) {
	if k.APIKey == "" || !headerSafe(k.APIKey) {
		return Checked{}, badRequest("gate: the API key is empty or has a control character: give the APIv4 key id Gate shows")
	}
	return checkHMACSecret("gate", k.Secret)
}

const gatePrefix = "/api/v4/"

func (g gate) Sign(in Input) (Request, error) {
	if err := agentFaults("gate", in); err != nil {
		return Request{}, err
	}
	req := in.Request
	if err := genericMethod("gate", req.Method, genericMethods); err != nil {
		return Request{}, err
	}
	base, query, err := splitURL(g, req.URL, in.Meta)
	if err != nil {
		return Request{}, err
	}
	path, err := url.PathUnescape(genericURLPath(base))
	if err != nil {
		return Request{}, badRequest("gate: the URL path has a '%' that is not followed by two hex digits; write a literal '%' as %25")
	}
	if !strings.HasPrefix(path, gatePrefix) {
		return Request{}, badRequest("gate: the path must begin with " + gatePrefix + " (Gate API v4, e.g. https://api.gateio.ws/api/v4/spot/orders): other API versions sign differently")
	}
	q, err := gateUnescapeQuery("gate", query)
	if err != nil {
		return Request{}, err
	}
	if req.Body != "" && !json.Valid([]byte(req.Body)) {
		return Request{}, badRequest("gate: the body is not valid JSON: Gate API v4 takes a JSON body, signed as sent")
	}
	setCT, err := genericJSONBody("gate", req.Headers, req.Body)
	if err != nil {
		return Request{}, err
	}

	var tsBuf [20]byte
	ts := strconv.AppendInt(tsBuf[:0], in.Now.Unix(), 10)
	bodySum := sha512.Sum512([]byte(req.Body))
	msg := make([]byte, 0, len(req.Method)+len(path)+len(q)+2*sha512.Size+len(ts)+4)
	msg = append(msg, req.Method...)
	msg = append(msg, '\n')
	msg = append(msg, path...)
	msg = append(msg, '\n')
	msg = append(msg, q...)
	msg = append(msg, '\n')
	msg = hex.AppendEncode(msg, bodySum[:])
	msg = append(msg, '\n')
	msg = append(msg, ts...)

	var mac [sha512.Size]byte
	sig := hex.EncodeToString(hmacSum(sha512.New, in.Scratch, in.Secret, mac[:0], msg))

	out := Request{Method: req.Method, URL: req.URL, Body: req.Body}
	out.Headers = copyHeaders(req.Headers, 4, "KEY", "Timestamp", "SIGN")
	out.Headers["KEY"] = in.APIKey
	out.Headers["Timestamp"] = string(ts)
	out.Headers["SIGN"] = sig
	if setCT {
		out.Headers["Content-Type"] = "application/json"
	}
	return out, nil
}

// gateUnescapeQuery decodes a query string as the venue's server reads it
// before checking the signature (url.QueryUnescape: %XX escapes, and '+'
// is a space). Shared with kucoin.
func gateUnescapeQuery(name, query string) (string, error) {
	if !strings.ContainsAny(query, "%+") {
		return query, nil
	}
	q, err := url.QueryUnescape(query)
	if err != nil {
		i := strings.IndexByte(query, '%')
		for i >= 0 && i+2 < len(query) && isHex(query[i+1]) && isHex(query[i+2]) {
			j := strings.IndexByte(query[i+3:], '%')
			if j < 0 {
				i = -1
				break
			}
			i += 3 + j
		}
		return "", badRequest(fmt.Sprintf("%s: the query string has a '%%' at byte %d that is not followed by two hex digits; write a literal '%%' as %%25", name, i))
	}
	return q, nil
}
