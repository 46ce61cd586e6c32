package scheme

import (
	"encoding/hex"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// binance signs Binance Spot REST requests with an HMAC-SHA256 key, as
// https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security
// documents:
//
//   - totalParams is the query string concatenated with the request body,
//     with no separator between them;
//   - the signature is the hex HMAC-SHA256 of totalParams under the secret
//     key, sent as the last parameter, signature=…;
//   - the API key travels in the X-MBX-APIKEY header;
//   - parameter names and values are percent-encoded (UTF-8, RFC 3986:
//     everything but A-Z a-z 0-9 - _ . ~) before signing, and the encoded
//     bytes that were signed are the bytes that are sent.
//
// The agent sets timestamp (Now, in milliseconds) and, unless the bot chose
// one, recvWindow=5000. They and the signature go into the body when the body
// carries parameters, else into the query string. The bot's own parameters
// are never re-ordered or re-encoded: they are only checked to be
// well-formed, because the signature covers the exact bytes.
type binance struct{}

func (binance) Name() string { return "binance" }

func (binance) Hosts() []string {
	return []string{
		"api.binance.com",
		"api-gcp.binance.com",
		"api1.binance.com",
		"api2.binance.com",
		"api3.binance.com",
		"api4.binance.com",
		"testnet.binance.vision",
	}
}

func (binance) Info() Info {
	return Info{KeyTypes: []string{KeyHMAC}}
}

// Check accepts the HMAC secret key Binance shows once when the key is made.
func (binance) Check(k Key) (Checked, error) {
	return checkHMACSecret("binance", k.Secret)
}

const (
	binanceKeyHeader     = "X-MBX-APIKEY"
	formContentType      = "application/x-www-form-urlencoded"
	binanceMaxRecvWindow = 60000
)

func (b binance) Sign(in Input) (Request, error) {
	// Faults of the agent, not the bot: plain errors, no secret in them.
	if len(in.Secret) == 0 {
		return Request{}, fmt.Errorf("binance: credential has an empty secret")
	}
	if len(in.Scratch) < ScratchSize {
		return Request{}, fmt.Errorf("binance: scratch is %d bytes, need %d", len(in.Scratch), ScratchSize)
	}
	if in.APIKey == "" || !headerSafe(in.APIKey) {
		return Request{}, fmt.Errorf("binance: credential has no usable API key")
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

	var seen paramsSeen
	if err := scanParams(query, "query string", &seen); err != nil {
		return Request{}, err
	}
	if err := scanParams(body, "body", &seen); err != nil {
		return Request{}, err
	}

	// The agent's parameters, in the order the docs' examples use.
	var extra []byte
	if !seen.recvWindow {
		extra = append(extra, "recvWindow=5000&"...)
	}
	extra = append(extra, "timestamp="...)
	extra = strconv.AppendInt(extra, in.Now.UnixMilli(), 10)

	// totalParams = query || body, built once and signed as is.
	total := make([]byte, 0, len(query)+len(body)+len(extra)+2)
	total = append(total, query...)
	if body == "" {
		total = appendParam(total, extra)
	}
	qlen := len(total)
	total = append(total, body...)
	if body != "" {
		total = appendParam(total, extra)
	}

	var mac [sha256Size]byte
	sum := hmacSHA256(in.Scratch, in.Secret, mac[:0], total)
	var sig [2 * sha256Size]byte
	hex.Encode(sig[:], sum)

	var outQuery, outBody string
	if body == "" {
		outQuery = string(total[:qlen]) + "&signature=" + string(sig[:])
	} else {
		outQuery = string(total[:qlen])
		outBody = string(total[qlen:]) + "&signature=" + string(sig[:])
	}
	out := Request{Method: req.Method, URL: base, Body: outBody}
	if outQuery != "" {
		out.URL = base + "?" + outQuery
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
}

// scanParams checks that s is name=value pairs joined by '&', each name and
// value percent-encoded as Binance requires, and that the bot did not set a
// parameter the agent owns. where names the part of the request for messages.
func scanParams(s, where string, seen *paramsSeen) error {
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
		if err := checkEncoded(s, start, end, where); err != nil {
			return err
		}
		name := decodeValid(p[:eq])
		value := p[eq+1:]
		switch {
		case strings.EqualFold(name, "timestamp"), strings.EqualFold(name, "signature"):
			return badRequest(fmt.Sprintf("binance: the %s carries %q; the agent sets timestamp and signature itself, so remove it", where, name))
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

// checkEncoded checks s[start:end] (one name=value pair) byte by byte: the
// first '=' separates, and otherwise only RFC 3986 unreserved characters and
// %XX escapes may appear.
func checkEncoded(s string, start, end int, where string) error {
	sepSeen := false
	for i := start; i < end; i++ {
		c := s[i]
		switch {
		case unreserved(c):
		case c == '=' && !sepSeen:
			sepSeen = true
		case c == '%':
			if i+2 >= end || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return badRequest(fmt.Sprintf("binance: the %s has a '%%' at byte %d that is not followed by two hex digits; write a literal '%%' as %%25", where, i))
			}
			i += 2
		default:
			return badRequest(fmt.Sprintf("binance: the %s has %s at byte %d, which Binance requires percent-encoded: encode parameter names and values as UTF-8 and write every byte outside A-Z a-z 0-9 - _ . ~ as %%XX (%s)", where, describeByte(s, i), i, encodingHint(s, i)))
		}
	}
	return nil
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
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
	bad := badRequest(fmt.Sprintf("binance: recvWindow must be a number of milliseconds greater than 0 and at most %d (Binance's maximum), got %q", binanceMaxRecvWindow, truncate(v, 20)))
	whole, frac, hasFrac := strings.Cut(v, ".")
	if whole == "" || len(whole) > 5 || hasFrac && (frac == "" || len(frac) > 3) {
		return bad
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return bad
			}
		}
	}
	ms, _ := strconv.Atoi(whole)
	fracZero := strings.Trim(frac, "0") == ""
	if ms > binanceMaxRecvWindow || ms == binanceMaxRecvWindow && !fracZero || ms == 0 && fracZero {
		return bad
	}
	return nil
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
