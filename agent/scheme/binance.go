package scheme

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// binance signs Binance REST requests (Spot and margin, USDⓈ-M futures,
// COIN-M futures) with the three key types Binance issues, as
// https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security
// and the futures docs' "SIGNED endpoint security" sections document:
//
//   - the signature payload (totalParams) is the query string concatenated
//     with the request body, with no separator between them;
//   - HMAC keys: the signature is the hex HMAC-SHA256 of totalParams under
//     the secret key;
//   - RSA keys (PKCS#8 only, as Binance documents): RSASSA-PKCS1-v1_5 over
//     SHA-256, base64, then percent-encoded ('+' %2B, '/' %2F, '=' %3D);
//   - Ed25519 keys: the Ed25519 signature of totalParams, base64, then
//     percent-encoded the same way;
//   - the signature is sent as the last parameter, signature=…, and the
//     API key travels in the X-MBX-APIKEY header;
//   - "any non-ASCII character must be percent-encoded before signing", and
//     the encoded bytes that were signed are the bytes that are sent.
//
// Timestamp: if the bot's parameters (query or body) already carry
// timestamp, as every request ccxt builds does (ccxt puts it first, before
// the bot's parameters), the agent overwrites its value in place with Now in
// milliseconds and adds nothing else, so a ccxt request signs byte for byte
// as ccxt would. Without one, the agent appends recvWindow=5000 (unless the
// bot chose a recvWindow) and timestamp. The agent's parameters and the
// signature go into the body when the body carries parameters, else into
// the query string. A bot's signature parameter is refused.
//
// Encoding: the bot's own parameters are never re-ordered or re-encoded:
// the signature covers the exact bytes, and Binance checks it over the bytes
// it receives. What the agent accepts is what ccxt 4.5 sends and Binance
// documents:
//   - percent-escapes in either case (ccxt's urlencode writes %XX upper case,
//     a hand-written client may write %2b; Binance decodes both);
//   - raw printable ASCII other than '&', '+' and '%': ccxt's rawencode (used
//     for batchOrders' JSON list, sub-account, staking, simple-earn and
//     capital/withdraw/apply) sends JSON punctuation ("[]{}:,) unencoded, and
//     Binance's own examples write symbols=["A","B"] with raw commas; a raw
//     '=' inside a value is kept (the first '=' separates name and value);
//     a raw space is accepted in a form body (rawencode sends one, e.g. in a
//     withdrawal name) and refused in the URL, where it cannot be sent;
//   - refused: raw non-ASCII and control bytes (Binance requires them
//     percent-encoded; ccxt's rawencode would send them raw and the venue
//     would not verify the signature), a raw '+' (a form decoder reads it as
//     a space, so the venue would act on a different value than the bot
//     meant: write %2B, or %20 for a space), a '%' that does not start an
//     escape, and empty or nameless parameters.
type binance struct{}

func (binance) Name() string { return "binance" }

func (binance) Hosts() []string {
	return []string{
		// Spot and margin (sapi) REST, mainnet and the documented clusters.
		"api.binance.com",
		"api-gcp.binance.com",
		"api1.binance.com",
		"api2.binance.com",
		"api3.binance.com",
		"api4.binance.com",
		// Spot testnet and Spot demo mode.
		"testnet.binance.vision",
		"demo-api.binance.com",
		// USDⓈ-M futures, COIN-M futures, their testnet and demo hosts.
		"fapi.binance.com",
		"dapi.binance.com",
		"testnet.binancefuture.com",
		"demo-fapi.binance.com",
		"demo-dapi.binance.com",
	}
}

func (binance) Info() Info {
	return Info{KeyTypes: []string{KeyHMAC, KeyRSA, KeyEd25519}}
}

// Check accepts the three key forms Binance issues: the HMAC secret key
// Binance shows once, or the private half of an RSA or Ed25519 key pair whose
// public half was registered with Binance, as a PKCS#8 PEM file (Binance
// documents PKCS#8 only; a PKCS#1 RSA file is refused with the openssl
// command that converts it).
func (binance) Check(k Key) (Checked, error) {
	return binanceCheck("binance", k.Secret)
}

// binanceCheck is Check for binance and binance-ws.
func binanceCheck(venue string, secret []byte) (Checked, error) {
	if isPEM(secret) {
		return checkPEMKey(venue, secret, true, KeyRSA, KeyEd25519)
	}
	return checkHMACSecret(venue, secret)
}

const (
	binanceKeyHeader     = "X-MBX-APIKEY"
	formContentType      = "application/x-www-form-urlencoded"
	binanceMaxRecvWindow = 60000
)

func (b binance) Sign(in Input) (Request, error) {
	// Faults of the agent, not the bot: plain errors, no secret in them.
	if err := agentFaults("binance", in); err != nil {
		return Request{}, err
	}
	if err := binanceKeyType(in.KeyType); err != nil {
		return Request{}, err
	}

	req := in.Request
	switch req.Method {
	case "GET", "POST", "PUT", "DELETE":
	default:
		return Request{}, badRequest(fmt.Sprintf("binance: method %q is not one Binance signs: use GET, POST, PUT or DELETE", truncate(req.Method, 16)))
	}
	base, query, err := splitURL(b, req.URL, in.Meta)
	if err != nil {
		return Request{}, err
	}
	body := req.Body
	if body != "" && req.Method == "GET" {
		return Request{}, badRequest("binance: a GET request carries its parameters in the query string, not a body")
	}
	setContentType := false
	if body != "" {
		ct, ok := headerValue(req.Headers, "Content-Type")
		if ok {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || mt != formContentType {
				return Request{}, badRequest("binance: the body must be form-encoded: set Content-Type to " + formContentType + " and send name=value pairs joined by '&'")
			}
		} else {
			setContentType = true
		}
	}

	seen := paramsSeen{tsStart: -1}
	if err := scanParams(query, "query string", false, 0, &seen); err != nil {
		return Request{}, err
	}
	if err := scanParams(body, "body", true, len(query), &seen); err != nil {
		return Request{}, err
	}

	var ts [20]byte
	now := strconv.AppendInt(ts[:0], in.Now.UnixMilli(), 10)

	// totalParams = query || body, built once and signed as is.
	total := make([]byte, 0, len(query)+len(body)+len(now)+32)
	var qlen int
	if seen.tsStart >= 0 {
		// The bot's timestamp: overwrite its value in place, add nothing.
		all := query + body
		total = append(total, all[:seen.tsStart]...)
		total = append(total, now...)
		total = append(total, all[seen.tsEnd:]...)
		qlen = len(query)
		if seen.tsEnd <= len(query) {
			qlen += len(now) - (seen.tsEnd - seen.tsStart)
		}
	} else {
		// The agent's parameters, in the order the docs' examples use.
		var buf [64]byte
		extra := buf[:0]
		if !seen.recvWindow {
			extra = append(extra, "recvWindow=5000&"...)
		}
		extra = append(extra, "timestamp="...)
		extra = append(extra, now...)
		total = append(total, query...)
		if body == "" {
			total = appendParam(total, extra)
		}
		qlen = len(total)
		total = append(total, body...)
		if body != "" {
			total = appendParam(total, extra)
		}
	}

	var sigBuf [2 * sha256Size]byte // an HMAC's hex fits; a key pair's signature grows it
	sig, err := appendBinanceSignature(sigBuf[:0], in, total)
	if err != nil {
		return Request{}, err
	}

	// Each of the URL and the body is built in one allocation.
	const sigParam = "&signature="
	out := Request{Method: req.Method, URL: base}
	var sb strings.Builder
	if body == "" {
		sb.Grow(len(base) + 1 + qlen + len(sigParam) + len(sig))
		sb.WriteString(base)
		sb.WriteByte('?')
		sb.Write(total[:qlen])
		sb.WriteString(sigParam)
		sb.Write(sig)
		out.URL = sb.String()
	} else {
		if qlen > 0 {
			sb.Grow(len(base) + 1 + qlen)
			sb.WriteString(base)
			sb.WriteByte('?')
			sb.Write(total[:qlen])
			out.URL = sb.String()
			sb = strings.Builder{}
		}
		sb.Grow(len(total) - qlen + len(sigParam) + len(sig))
		sb.Write(total[qlen:])
		sb.WriteString(sigParam)
		sb.Write(sig)
		out.Body = sb.String()
	}
	out.Headers = make(map[string]string, len(req.Headers)+2)
	for k, v := range req.Headers {
		if !strings.EqualFold(k, binanceKeyHeader) {
			out.Headers[k] = v
		}
	}
	out.Headers[binanceKeyHeader] = in.APIKey
	if setContentType {
		out.Headers["Content-Type"] = formContentType
	}
	return out, nil
}

// binanceKeyType checks the key type the agent recorded; "" is an HMAC
// secret (credentials added before key types existed).
func binanceKeyType(t string) error {
	switch t {
	case "", KeyHMAC, KeyRSA, KeyEd25519:
		return nil
	}
	return fmt.Errorf("binance: credential has key type %q, which Binance does not issue", t)
}

// appendBinanceSignature signs payload with the credential's key and
// appends the signature parameter's value as the REST API wants it: hex
// for HMAC, percent-encoded base64 for RSA and Ed25519.
func appendBinanceSignature(dst []byte, in Input, payload []byte) ([]byte, error) {
	if in.KeyType == KeyRSA || in.KeyType == KeyEd25519 {
		raw, err := binanceRawSignature(in, payload)
		if err != nil {
			return dst, err
		}
		return append(dst, binancePercentEncode(raw)...), nil
	}
	return appendBinanceHMAC(dst, in, payload), nil
}

// appendBinanceHMAC appends HMAC-SHA256(secret, payload) in hex.
func appendBinanceHMAC(dst []byte, in Input, payload []byte) []byte {
	var mac [sha256Size]byte
	return hex.AppendEncode(dst, hmacSHA256(in.Scratch, in.Secret, mac[:0], payload))
}

// binanceRawSignature is the signature before any URL encoding: hex for
// HMAC, standard base64 with padding for RSA and Ed25519.
func binanceRawSignature(in Input, payload []byte) (string, error) {
	switch in.KeyType {
	case KeyRSA:
		sig, err := signRSA(in.Secret, payload)
		if err != nil {
			return "", fmt.Errorf("binance: %w", err)
		}
		return base64.StdEncoding.EncodeToString(sig), nil
	case KeyEd25519:
		sig, err := signEd25519(in.Secret, payload)
		if err != nil {
			return "", fmt.Errorf("binance: %w", err)
		}
		return base64.StdEncoding.EncodeToString(sig), nil
	}
	var sig [2 * sha256Size]byte
	return string(appendBinanceHMAC(sig[:0], in, payload)), nil
}

// binancePercentEncode percent-encodes a base64 signature as Binance's docs
// (and ccxt's encodeURIComponent) do: '+' %2B, '/' %2F, '=' %3D.
func binancePercentEncode(b64 string) string {
	var sb strings.Builder
	sb.Grow(len(b64) + 16)
	for i := 0; i < len(b64); i++ {
		switch c := b64[i]; c {
		case '+':
			sb.WriteString("%2B")
		case '/':
			sb.WriteString("%2F")
		case '=':
			sb.WriteString("%3D")
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

const sha256Size = 32

// appendParam appends p to params, with '&' between them when params is not
// empty.
func appendParam(params, p []byte) []byte {
	if len(params) > 0 {
		params = append(params, '&')
	}
	return append(params, p...)
}

// paramsSeen records what the bot's parameters already hold.
type paramsSeen struct {
	recvWindow bool
	// tsStart and tsEnd delimit the value of the bot's timestamp parameter
	// in query+body (offsets into their concatenation); tsStart is -1 when
	// there is none, so a fresh paramsSeen starts with tsStart -1.
	tsStart, tsEnd int
	tsSeen         bool
}

// scanParams checks that s is name=value pairs joined by '&', each name and
// value encoded as Binance accepts (see the binance type's doc), and records
// the parameters the agent owns. where names the part of the request for
// messages; inBody allows raw spaces; offset is s's offset in query+body.
func scanParams(s, where string, inBody bool, offset int, seen *paramsSeen) error {
	if s == "" {
		return nil
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
			return badRequest(fmt.Sprintf("binance: the %s has an empty parameter at byte %d (a leading, trailing or doubled '&')", where, start))
		}
		eq := strings.IndexByte(p, '=')
		if eq < 0 {
			return badRequest(fmt.Sprintf("binance: parameter %q in the %s has no '='; send name=value", truncate(p, 32), where))
		}
		if eq == 0 {
			return badRequest(fmt.Sprintf("binance: the %s has a parameter with an empty name at byte %d", where, start))
		}
		if err := checkEncoded(s, start, end, where, inBody); err != nil {
			return err
		}
		name := decodeValid(p[:eq])
		value := p[eq+1:]
		switch {
		case strings.EqualFold(name, "signature"):
			return badRequest(fmt.Sprintf("binance: the %s carries %q; the agent sets the signature itself, so remove it", where, name))
		case name != "timestamp" && strings.EqualFold(name, "timestamp"):
			return badRequest(fmt.Sprintf("binance: the %s carries %q; Binance's parameter is timestamp, in lower case (the agent sets its value)", where, truncate(name, 32)))
		case name == "timestamp":
			if seen.tsSeen {
				return badRequest("binance: timestamp is given more than once; send it once (the agent sets its value)")
			}
			seen.tsSeen = true
			seen.tsStart = offset + start + eq + 1
			seen.tsEnd = offset + end
		case name == "recvWindow":
			if seen.recvWindow {
				return badRequest("binance: recvWindow is given more than once; send it once")
			}
			seen.recvWindow = true
			if err := checkRecvWindow(decodeValid(value)); err != nil {
				return err
			}
		}
		start = end + 1
	}
	return nil
}

// checkEncoded checks s[start:end] (one name=value pair) byte by byte:
// %XX escapes, and raw printable ASCII other than '+' and '%' (a raw space
// only in a body, where it can be sent). '&' never reaches here: it
// separates pairs.
func checkEncoded(s string, start, end int, where string, inBody bool) error {
	for i := start; i < end; i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= end || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return badRequest(fmt.Sprintf("binance: the %s has a '%%' at byte %d that is not followed by two hex digits; write a literal '%%' as %%25", where, i))
			}
			i += 2
		case c == '+':
			return badRequest(fmt.Sprintf("binance: the %s has a raw '+' at byte %d, which Binance's form decoding reads as a space: write '+' as %%2B and a space as %%20", where, i))
		case c == ' ' && inBody, c > ' ' && c < 0x7f:
		default:
			return badRequest(fmt.Sprintf("binance: the %s has %s at byte %d, which Binance requires percent-encoded: encode parameter names and values as UTF-8 and write every byte outside A-Z a-z 0-9 - _ . ~ as %%XX (%s)", where, describeByte(s, i), i, encodingHint(s, i)))
		}
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// describeByte names the byte at s[i] for a message: the character when it
// is printable, else its code.
func describeByte(s string, i int) string {
	c := s[i]
	switch {
	case c == ' ':
		return "a space"
	case c < ' ' || c == 0x7f:
		return fmt.Sprintf("control byte 0x%02X", c)
	case c < utf8.RuneSelf:
		return fmt.Sprintf("an unencoded %q", rune(c))
	}
	if r, _ := utf8.DecodeRuneInString(s[i:]); r != utf8.RuneError {
		return fmt.Sprintf("an unencoded non-ASCII %q", r)
	}
	return fmt.Sprintf("byte 0x%02X", c)
}

// encodingHint shows how the offending character is written encoded.
func encodingHint(s string, i int) string {
	c := s[i]
	switch c {
	case ' ':
		return "a space is %20"
	case '+':
		return "'+' is %2B, and a space is %20, not '+'"
	case '=':
		return "'=' inside a name or value is %3D"
	}
	if c < utf8.RuneSelf {
		return fmt.Sprintf("%q is %%%02X", rune(c), c)
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError {
		return "percent-encode each byte"
	}
	var b strings.Builder
	for j := 0; j < n; j++ {
		fmt.Fprintf(&b, "%%%02X", s[i+j])
	}
	return fmt.Sprintf("%q is %s", r, b.String())
}

// decodeValid percent-decodes a string checkEncoded has accepted.
func decodeValid(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	v, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return v
}

// checkRecvWindow accepts what Binance does: milliseconds, optionally with
// up to three decimals (microseconds), greater than 0 and at most 60000.
func checkRecvWindow(v string) error {
	if !validRecvWindow(v) {
		return badRequest(fmt.Sprintf("binance: recvWindow must be a number of milliseconds greater than 0 and at most %d (Binance's maximum), got %q", binanceMaxRecvWindow, truncate(v, 20)))
	}
	return nil
}

func validRecvWindow(v string) bool {
	whole, frac, hasFrac := strings.Cut(v, ".")
	if whole == "" || len(whole) > 5 || hasFrac && (frac == "" || len(frac) > 3) {
		return false
	}
	for _, part := range [2]string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	ms, _ := strconv.Atoi(whole)
	fracZero := strings.Trim(frac, "0") == ""
	return !(ms > binanceMaxRecvWindow || ms == binanceMaxRecvWindow && !fracZero || ms == 0 && fracZero)
}

// headerValue finds a header by case-insensitive name.
func headerValue(h map[string]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// headerSafe reports whether v can be sent as a header value unchanged.
func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// truncate shortens bot-supplied text quoted in messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
