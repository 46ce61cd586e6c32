package scheme

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// kraken signs Kraken's REST APIs, chosen by host:
//
// Spot (api.kraken.com), as
// https://docs.kraken.com/api/docs/guides/spot-rest-auth documents:
//
//   - private endpoints are POST /0/private/<Method>, parameters in the body,
//     form-encoded or (Content-Type application/json) JSON;
//   - the body carries nonce, an always increasing unsigned 64-bit integer:
//     the agent sets it (milliseconds since the epoch, as ccxt counts, kept
//     strictly increasing per credential across restarts by in.NextNonce).
//     A bot's own nonce parameter is overwritten in place; otherwise nonce
//     is prepended, as ccxt does (nonce=…& or {"nonce":"…",…});
//   - API-Sign = base64(HMAC-SHA512(URI path + SHA256(nonce + POST data)))
//     under the base64-decoded secret; API-Key is the public key.
//
// Futures (futures.kraken.com, demo-futures.kraken.com), as
// https://docs.kraken.com/api/docs/guides/futures-rest documents:
//
//   - postData is the request's parameters as sent: the query string (the
//     docs' way, also for POST) or a form-encoded body (batchorder's
//     json=…), never both;
//   - endpointPath is the URL path without its /derivatives prefix
//     (/derivatives/api/v3/sendorder signs as /api/v3/sendorder);
//   - Authent = base64(HMAC-SHA512(SHA256(postData + Nonce + endpointPath)))
//     under the base64-decoded secret; APIKey is the public key;
//   - the Nonce header is optional: the agent sends one (milliseconds,
//     strictly increasing) unless the credential's metadata says
//     futures_nonce=off, which signs as ccxt does, without one. A bot's
//     Nonce header is always overwritten with the agent's.
//
// Hosts granted with --host sign as Spot when the path starts with /0/,
// else as Futures.
type kraken struct{}

func (kraken) Name() string { return "kraken" }

const (
	krakenSpotHost       = "api.kraken.com"
	krakenFuturesHost    = "futures.kraken.com"
	krakenFuturesDemo    = "demo-futures.kraken.com"
	krakenSecretSize     = 64
	krakenMetaNonce      = "futures_nonce"
	krakenSpotPrefix     = "/0/private/"
	krakenJSONType       = "application/json"
	krakenDerivativesDir = "/derivatives"
)

func (kraken) Hosts() []string {
	return []string{krakenSpotHost, krakenFuturesHost, krakenFuturesDemo}
}

func (kraken) Info() Info {
	return Info{
		KeyTypes: []string{KeyHMAC},
		Meta: map[string]string{
			krakenMetaNonce: `"off" to sign Kraken Futures requests without the optional Nonce header, as ccxt does; by default the agent sends one (milliseconds, strictly increasing)`,
		},
	}
}

// Check accepts the private key Kraken shows when an API key is made: the
// base64 text of 64 bytes (88 characters ending in "=="). The stored secret
// is the decoded 64 bytes.
func (kraken) Check(k Key) (Checked, error) {
	raw, err := krakenDecodeBase64("kraken", k.Secret, krakenSecretSize, "Kraken's private keys are 64 bytes, shown as 88 base64 characters ending in \"==\"")
	if err != nil {
		return Checked{}, err
	}
	return Checked{KeyType: KeyHMAC, Secret: raw}, nil
}

// krakenDecodeBase64 decodes a base64 secret (standard alphabet, padded or
// not, surrounding whitespace ignored) into a fresh buffer of exactly want
// bytes. Messages never quote the secret. what says what the venue issues.
func krakenDecodeBase64(venue string, secret []byte, want int, what string) ([]byte, error) {
	s := bytes.TrimSpace(secret)
	if len(s) == 0 {
		return nil, badRequest(venue + ": the secret is empty: give the private key the venue showed")
	}
	if isPEM(s) {
		return nil, badRequest(venue + ": this is a PEM key file, but " + what)
	}
	for i, c := range s {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/', c == '=':
		case c == '-' || c == '_':
			return nil, badRequest(fmt.Sprintf("%s: the secret has a URL-safe base64 character at byte %d; %s: copy it again", venue, i, what))
		default:
			return nil, badRequest(fmt.Sprintf("%s: the secret has a character that is not base64 at byte %d; %s: copy it again without surrounding text", venue, i, what))
		}
	}
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	dst := make([]byte, enc.DecodedLen(len(s)))
	n, err := enc.Decode(dst, s)
	if err != nil {
		clear(dst)
		return nil, badRequest(fmt.Sprintf("%s: the secret is not valid base64 (%d characters); %s: copy it again whole", venue, len(s), what))
	}
	if n != want {
		clear(dst)
		return nil, badRequest(fmt.Sprintf("%s: the secret decodes to %d bytes; %s: copy it again whole", venue, n, what))
	}
	return dst[:n:n], nil
}

func (k kraken) Sign(in Input) (Request, error) {
	if err := agentFaults("kraken", in); err != nil {
		return Request{}, err
	}
	base, query, err := splitURL(k, in.Request.URL, in.Meta)
	if err != nil {
		return Request{}, err
	}
	u, _ := url.Parse(base) // splitURL parsed it already
	host := strings.ToLower(u.Hostname())
	path := u.EscapedPath()
	spot := host == krakenSpotHost || host != krakenFuturesHost && host != krakenFuturesDemo && strings.HasPrefix(path, "/0/")
	if spot {
		return k.signSpot(in, base, query, path)
	}
	return k.signFutures(in, base, query, path)
}

func (kraken) signSpot(in Input, base, query, path string) (Request, error) {
	req := in.Request
	if req.Method != "POST" {
		return Request{}, badRequest(fmt.Sprintf("kraken: Spot private endpoints take POST, not %q", truncate(req.Method, 16)))
	}
	if !strings.HasPrefix(path, krakenSpotPrefix) {
		return Request{}, badRequest("kraken: only Spot private endpoints (/0/private/…) are signed; public ones need no signature")
	}
	if query != "" || strings.HasSuffix(req.URL, "?") {
		return Request{}, badRequest("kraken: a Spot private request carries its parameters in the body, not the query string")
	}
	isJSON, setType, err := krakenBodyType(req.Headers, req.Body, true)
	if err != nil {
		return Request{}, err
	}
	nonce := strconv.AppendUint(make([]byte, 0, 20), in.NextNonce(time.Millisecond), 10)
	var body string
	if isJSON {
		body, err = krakenJSONNonce(req.Body, nonce)
	} else {
		body, err = krakenFormNonce(req.Body, nonce)
	}
	if err != nil {
		return Request{}, err
	}

	inner := sha256.New()
	inner.Write(nonce)
	io.WriteString(inner, body)
	var digest [sha256Size]byte
	var mac [sha512.Size]byte
	sum := hmacSum(sha512.New, in.Scratch, in.Secret, mac[:0], []byte(path), inner.Sum(digest[:0]))
	sig := base64.StdEncoding.EncodeToString(sum)

	out := Request{Method: req.Method, URL: base, Body: body}
	out.Headers = copyHeaders(req.Headers, 3, "API-Key", "API-Sign")
	out.Headers["API-Key"] = in.APIKey
	out.Headers["API-Sign"] = sig
	if setType != "" {
		out.Headers["Content-Type"] = setType
	}
	return out, nil
}

func (kraken) signFutures(in Input, base, query, path string) (Request, error) {
	req := in.Request
	switch req.Method {
	case "GET", "POST", "PUT", "DELETE":
	default:
		return Request{}, badRequest(fmt.Sprintf("kraken: method %q is not one Kraken Futures signs: use GET, POST, PUT or DELETE", truncate(req.Method, 16)))
	}
	endpoint := path
	if strings.HasPrefix(path, krakenDerivativesDir+"/") {
		endpoint = path[len(krakenDerivativesDir):]
	}
	if !strings.HasPrefix(endpoint, "/api/") {
		return Request{}, badRequest("kraken: a Kraken Futures URL path starts with /derivatives/api/ or /api/ (history, charts)")
	}
	if req.Body != "" && query != "" {
		return Request{}, badRequest("kraken: Kraken Futures signs the parameters of the query string or of the body, not both: send them all in the query string")
	}
	if req.Body != "" && req.Method == "GET" {
		return Request{}, badRequest("kraken: a GET request carries its parameters in the query string, not a body")
	}
	_, setType, err := krakenBodyType(req.Headers, req.Body, false)
	if err != nil {
		return Request{}, err
	}
	postData := query
	where := "query string"
	if req.Body != "" {
		postData, where = req.Body, "body"
	}
	if _, err := krakenScanForm(postData, where); err != nil {
		return Request{}, err
	}

	_, botNonce := headerValue(req.Headers, "Nonce")
	var nonce []byte
	if botNonce || in.Meta[krakenMetaNonce] != "off" {
		nonce = strconv.AppendUint(make([]byte, 0, 20), in.NextNonce(time.Millisecond), 10)
	}
	inner := sha256.New()
	io.WriteString(inner, postData)
	inner.Write(nonce)
	io.WriteString(inner, endpoint)
	var digest [sha256Size]byte
	var mac [sha512.Size]byte
	sum := hmacSum(sha512.New, in.Scratch, in.Secret, mac[:0], inner.Sum(digest[:0]))

	out := Request{Method: req.Method, URL: req.URL, Body: req.Body}
	out.Headers = copyHeaders(req.Headers, 4, "APIKey", "Authent", "Nonce")
	out.Headers["APIKey"] = in.APIKey
	out.Headers["Authent"] = base64.StdEncoding.EncodeToString(sum)
	if nonce != nil {
		out.Headers["Nonce"] = string(nonce)
	}
	if setType != "" {
		out.Headers["Content-Type"] = setType
	}
	return out, nil
}

// krakenBodyType says whether body is JSON (Content-Type application/json)
// or a form, and the Content-Type the agent must add when the bot gave
// none. JSON is allowed for Spot only.
func krakenBodyType(h map[string]string, body string, spot bool) (isJSON bool, setType string, err error) {
	allowJSON := spot
	ct, ok := headerValue(h, "Content-Type")
	if !ok {
		if strings.HasPrefix(strings.TrimLeft(body, " \t\r\n"), "{") {
			if !allowJSON {
				return false, "", badRequest("kraken: Kraken Futures takes form-encoded parameters (name=value&…), not JSON")
			}
			return true, krakenJSONType, nil
		}
		if body == "" && !spot {
			return false, "", nil // a Futures request without a body
		}
		return false, formContentType, nil
	}
	mt, _, perr := mime.ParseMediaType(ct)
	switch {
	case perr == nil && mt == formContentType:
		return false, "", nil
	case perr == nil && mt == krakenJSONType && allowJSON:
		return true, "", nil
	case allowJSON:
		return false, "", badRequest("kraken: the body must be form-encoded (Content-Type " + formContentType + ") or JSON (Content-Type application/json)")
	default:
		return false, "", badRequest("kraken: Kraken Futures takes form-encoded parameters: set Content-Type to " + formContentType + " or send them in the query string")
	}
}

// krakenScanForm checks that s is name=value pairs joined by '&', with only
// printable ASCII and well-formed %XX escapes (the bytes sent are the bytes
// signed), and returns the byte range of the value of the nonce parameter,
// or (-1, -1) when there is none. where names the part for messages.
func krakenScanForm(s, where string) ([2]int, error) {
	span := [2]int{-1, -1}
	if s == "" {
		return span, nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c >= 0x7f:
			return span, badRequest(fmt.Sprintf("kraken: the %s has %s at byte %d: percent-encode it (%s)", where, describeByte(s, i), i, encodingHint(s, i)))
		case c == ';':
			// Some form decoders split on ';' as on '&' and others do not:
			// what Kraken reads and what was signed could differ.
			return span, badRequest(fmt.Sprintf("kraken: the %s has a raw ';' at byte %d, which some decoders read as a separator: percent-encode it as %%3B", where, i))
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return span, badRequest(fmt.Sprintf("kraken: the %s has a '%%' at byte %d that is not followed by two hex digits; write a literal '%%' as %%25", where, i))
			}
		}
	}
	start := 0
	for start <= len(s) {
		end := strings.IndexByte(s[start:], '&')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		p := s[start:end]
		if p == "" {
			return span, badRequest(fmt.Sprintf("kraken: the %s has an empty parameter at byte %d (a leading, trailing or doubled '&')", where, start))
		}
		eq := strings.IndexByte(p, '=')
		if eq < 0 {
			return span, badRequest(fmt.Sprintf("kraken: parameter %q in the %s has no '='; send name=value", truncate(p, 32), where))
		}
		name, err := url.QueryUnescape(p[:eq])
		if err != nil {
			name = p[:eq]
		}
		if name == "nonce" {
			if span[0] >= 0 {
				return span, badRequest("kraken: nonce is given more than once; the agent sets it, so send it at most once")
			}
			span = [2]int{start + eq + 1, end}
		}
		start = end + 1
	}
	return span, nil
}

// krakenFormNonce sets nonce in a form body: in place when the bot sent
// one, else first (nonce=…&…), as ccxt builds it.
func krakenFormNonce(body string, nonce []byte) (string, error) {
	span, err := krakenScanForm(body, "body")
	if err != nil {
		return "", err
	}
	if span[0] >= 0 {
		return body[:span[0]] + string(nonce) + body[span[1]:], nil
	}
	if body == "" {
		return "nonce=" + string(nonce), nil
	}
	return "nonce=" + string(nonce) + "&" + body, nil
}

// krakenJSONNonce sets nonce in a JSON object body without re-serialising
// it: a bot's nonce member keeps its place (and its type, string or
// number), else "nonce":"…" becomes the first member, as ccxt builds it.
func krakenJSONNonce(body string, nonce []byte) (string, error) {
	obj, err := krakenJSONObject(body, 0)
	if err != nil {
		return "", badRequest("kraken: the JSON body " + err.Error())
	}
	var found *krakenJSONMember
	for i := range obj.Members {
		if _, twin := caseTwin(obj.Members[i].Name, "nonce"); twin {
			return "", badRequest(fmt.Sprintf("kraken: the JSON body has %q, which differs from \"nonce\" only in case: the agent sets nonce, so remove it", truncate(obj.Members[i].Name, 32)))
		}
		if obj.Members[i].Name == "nonce" {
			if found != nil {
				return "", badRequest("kraken: the JSON body has nonce more than once; the agent sets it, so send it at most once")
			}
			found = &obj.Members[i]
		}
	}
	if found != nil {
		v := string(nonce)
		if body[found.ValStart] == '"' {
			v = `"` + v + `"`
		}
		return body[:found.ValStart] + v + body[found.ValEnd:], nil
	}
	sep := ","
	if len(obj.Members) == 0 {
		sep = ""
	}
	return body[:obj.Open+1] + `"nonce":"` + string(nonce) + `"` + sep + body[obj.Open+1:], nil
}

// krakenJSONMember is one member of a JSON object, located in its text.
type krakenJSONMember struct {
	Name             string // the decoded name
	ValStart, ValEnd int    // the value's bytes, s[ValStart:ValEnd]
}

// krakenJSONObj is a JSON object's members and the offsets of its braces.
type krakenJSONObj struct {
	Members     []krakenJSONMember
	Open, Close int
}

// krakenJSONObject locates the members of the JSON object that s is (with
// optional surrounding whitespace), so that a value can be replaced or a
// member added without re-serialising what the bot wrote. base is added to
// every offset (for an object nested in a larger text). Errors describe
// the problem after "the JSON body" / "params".
func krakenJSONObject(s string, base int) (krakenJSONObj, error) {
	var obj krakenJSONObj
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return obj, errors.New("is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return obj, errors.New("must be a JSON object ({…})")
	}
	obj.Open = base + int(dec.InputOffset()) - 1
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return obj, errors.New("is not valid JSON")
		}
		name, ok := tok.(string)
		if !ok {
			return obj, errors.New("is not valid JSON")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return obj, errors.New("is not valid JSON")
		}
		end := int(dec.InputOffset())
		obj.Members = append(obj.Members, krakenJSONMember{Name: name, ValStart: base + end - len(raw), ValEnd: base + end})
	}
	tok, err = dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '}' {
		return obj, errors.New("is not valid JSON")
	}
	obj.Close = base + int(dec.InputOffset()) - 1
	for i := obj.Close - base + 1; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return obj, errors.New("has text after the JSON object")
		}
	}
	return obj, nil
}
