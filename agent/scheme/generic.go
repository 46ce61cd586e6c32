package scheme

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"mime"
	"strconv"
	"strings"
	"time"
)

// genericHMAC is a configurable HMAC scheme for venues keyward does not
// list: everything about it is in the credential's metadata (`keyward add
// --scheme hmac --host HOST --meta KEY=VALUE …`), checked when the
// credential is added:
//
//   - algorithm: sha256, sha384 or sha512 (required);
//   - encoding: how the signature is written, hex (lower case, the
//     default) or base64 (standard alphabet, padded);
//   - secret_encoding: raw (the secret's bytes as given, the default) or
//     base64 (the venue shows the key base64-encoded; it is decoded once,
//     when the credential is added);
//   - template: the string to sign (required), literal text with
//     placeholders, defined exactly:
//     {timestamp} the value sent in timestamp_header;
//     {method} the HTTP method in upper case;
//     {path} the URL's path exactly as sent, percent-escapes kept, from
//     the first '/' after the host up to '?' (e.g. /api/v1/order);
//     {query} the raw query string as sent, without '?' ("" if none);
//     {path_query} {path}, then '?' and {query} when the query is not
//     empty (the "request path" OKX, KuCoin and Bitget sign);
//     {body} the request body exactly as sent ("" if none);
//     {body_sha256}, {body_sha512} the lower-case hex SHA-256 / SHA-512
//     of the body (Gate signs the latter);
//     {api_key} the credential's API key.
//     In the template, \n stands for a newline and \\ for a backslash
//     (so that a one-line --meta can hold a multi-line string to sign); a
//     '{' that does not start a placeholder is refused;
//   - timestamp: the form of {timestamp}: ms (Unix milliseconds, the
//     default), s, us, iso8601 (UTC with milliseconds,
//     2006-01-02T15:04:05.000Z), or nonce_ms / nonce_us (Unix milli- or
//     microseconds, strictly increasing per credential across restarts,
//     for venues that want a nonce);
//   - key_header, signature_header (required) and timestamp_header
//     (required when the template has {timestamp}): the header names the
//     API key, the signature and the timestamp travel in.
//
// The scheme has no hosts of its own: every host comes from the
// credential's --host list, and a credential without one is refused. It
// never re-encodes anything: the bot's path, query and body are signed and
// sent byte for byte as given.
type genericHMAC struct{}

func (genericHMAC) Name() string { return "hmac" }

// Hosts is empty: a generic credential signs only for the hosts given
// with `keyward add --host`.
func (genericHMAC) Hosts() []string { return nil }

func (genericHMAC) Info() Info {
	return Info{
		KeyTypes: []string{KeyHMAC},
		Meta: map[string]string{
			"hosts":            "the venue's API hosts (required: the hmac scheme has none of its own): keyward add --host HOST, repeatable",
			"algorithm":        "the HMAC hash: sha256, sha384 or sha512 (required)",
			"encoding":         "how the signature is written: hex (lower case, default) or base64",
			"secret_encoding":  "raw (the secret's bytes as given, default) or base64 (decoded once, at add)",
			"template":         `the string to sign (required): literal text, \n for a newline, \\ for a backslash, and the placeholders {timestamp} {method} {path} (as sent, escapes kept) {query} (raw, without '?') {path_query} (path, then '?'+query if any) {body} (as sent) {body_sha256} {body_sha512} (hex digests of the body) {api_key}; it must hold {timestamp} and one of the request's parts`,
			"timestamp":        "the form of {timestamp}: ms (default), s, us, iso8601 (UTC, milliseconds), nonce_ms or nonce_us (strictly increasing per credential)",
			"key_header":       "the header that carries the API key (required)",
			"signature_header": "the header that carries the signature (required)",
			"timestamp_header": "the header that carries {timestamp} (required when the template uses it)",
		},
	}
}

// genericPart is one piece of a parsed template: literal text, or a
// placeholder.
type genericPart struct {
	lit string
	ph  string // placeholder name without braces; "" for literal text
}

// genericConfig is a credential's parsed metadata.
type genericConfig struct {
	newHash  func() hash.Hash
	size     int // digest size
	base64   bool
	secret64 bool
	parts    []genericPart
	tsForm   string
	keyHdr   string
	sigHdr   string
	tsHdr    string
}

var genericPlaceholders = []string{"timestamp", "method", "path", "query", "path_query", "body", "body_sha256", "body_sha512", "api_key"}

// genericForbiddenHeaders are header names that frame or route the HTTP
// message: a signature, key or timestamp cannot travel in them.
var genericForbiddenHeaders = []string{"host", "content-length", "content-type", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade", "expect"}

// parseGenericConfig reads and checks a credential's metadata. Its messages
// name the metadata key and say how to fix it; they quote no secret (the
// metadata holds none).
func parseGenericConfig(meta map[string]string) (genericConfig, error) {
	var c genericConfig
	switch a := meta["algorithm"]; a {
	case "sha256":
		c.newHash, c.size = sha256.New, sha256.Size
	case "sha384":
		c.newHash, c.size = sha512.New384, sha512.Size384
	case "sha512":
		c.newHash, c.size = sha512.New, sha512.Size
	case "":
		return c, fmt.Errorf("hmac: no algorithm: add --meta algorithm=sha256 (or sha384, sha512), the hash the venue's HMAC uses")
	default:
		return c, fmt.Errorf("hmac: algorithm %q is not one this scheme knows: use sha256, sha384 or sha512", truncate(a, 32))
	}
	switch e := meta["encoding"]; e {
	case "", "hex":
	case "base64":
		c.base64 = true
	default:
		return c, fmt.Errorf("hmac: encoding %q is not hex or base64: say how the venue writes the signature, e.g. --meta encoding=base64", truncate(e, 32))
	}
	switch e := meta["secret_encoding"]; e {
	case "", "raw":
	case "base64":
		c.secret64 = true
	default:
		return c, fmt.Errorf("hmac: secret_encoding %q is not raw or base64: use base64 when the venue's docs decode the secret before the HMAC, else raw", truncate(e, 32))
	}
	switch f := meta["timestamp"]; f {
	case "":
		c.tsForm = "ms"
	case "ms", "s", "us", "iso8601", "nonce_ms", "nonce_us":
		c.tsForm = f
	default:
		return c, fmt.Errorf("hmac: timestamp %q is not ms, s, us, iso8601, nonce_ms or nonce_us", truncate(f, 32))
	}
	var err error
	if c.parts, err = parseGenericTemplate(meta["template"]); err != nil {
		return c, err
	}
	has := func(names ...string) bool {
		for _, p := range c.parts {
			for _, n := range names {
				if p.ph == n {
					return true
				}
			}
		}
		return false
	}
	if !has("timestamp") {
		return c, fmt.Errorf("hmac: the template has no {timestamp}: a signature without a timestamp or nonce could be replayed forever, and venues sign one; add it where the venue's docs put it")
	}
	if !has("path", "path_query", "query", "body", "body_sha256", "body_sha512") {
		return c, fmt.Errorf("hmac: the template signs no part of the request: add the parts the venue's docs sign, e.g. {method}{path_query}{body}")
	}
	for _, h := range []struct {
		key string
		dst *string
		req bool
	}{{"key_header", &c.keyHdr, true}, {"signature_header", &c.sigHdr, true}, {"timestamp_header", &c.tsHdr, has("timestamp")}} {
		v := meta[h.key]
		if v == "" {
			if h.req {
				return c, fmt.Errorf("hmac: no %s: add --meta %s=NAME, the header name the venue's docs give", h.key, h.key)
			}
			continue
		}
		if err := checkGenericHeaderName(h.key, v); err != nil {
			return c, err
		}
		*h.dst = v
	}
	names := []string{c.keyHdr, c.sigHdr, c.tsHdr}
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if names[i] != "" && strings.EqualFold(names[i], names[j]) {
				return c, fmt.Errorf("hmac: key_header, signature_header and timestamp_header must be different headers; %q is used twice", names[i])
			}
		}
	}
	return c, nil
}

// parseGenericTemplate splits a template into literal text and placeholders.
func parseGenericTemplate(t string) ([]genericPart, error) {
	if t == "" {
		return nil, fmt.Errorf(`hmac: no template: add --meta template=..., the venue's string to sign, e.g. '{timestamp}{method}{path_query}{body}'`)
	}
	if len(t) > 1024 {
		return nil, fmt.Errorf("hmac: the template is %d bytes; at most 1024", len(t))
	}
	var parts []genericPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, genericPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '\\':
			if i+1 < len(t) && t[i+1] == 'n' {
				lit.WriteByte('\n')
			} else if i+1 < len(t) && t[i+1] == '\\' {
				lit.WriteByte('\\')
			} else {
				return nil, fmt.Errorf(`hmac: the template has a '\' at byte %d that is not \n (newline) or \\ (backslash)`, i)
			}
			i++
		case c == '{':
			end := strings.IndexByte(t[i:], '}')
			name := ""
			if end > 0 {
				name = t[i+1 : i+end]
			}
			known := false
			for _, p := range genericPlaceholders {
				known = known || name == p
			}
			if !known {
				return nil, fmt.Errorf("hmac: the template has '{' at byte %d that does not start a placeholder; the placeholders are {%s}", i, strings.Join(genericPlaceholders, "} {"))
			}
			flush()
			parts = append(parts, genericPart{ph: name})
			i += end
		case c == '}':
			return nil, fmt.Errorf("hmac: the template has a '}' at byte %d outside a placeholder", i)
		case c < ' ' || c == 0x7f:
			return nil, fmt.Errorf(`hmac: the template has control byte 0x%02X at byte %d: write a newline as \n`, c, i)
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return parts, nil
}

// checkGenericHeaderName accepts an HTTP field name (RFC 9110 token) that
// does not frame or route the message.
func checkGenericHeaderName(key, v string) error {
	if len(v) > 64 {
		return fmt.Errorf("hmac: %s is %d bytes; a header name is at most 64", key, len(v))
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return fmt.Errorf("hmac: %s %q is not a header name: use letters, digits and - (e.g. X-API-KEY), without ':' or spaces", key, truncate(v, 64))
		}
	}
	for _, f := range genericForbiddenHeaders {
		if strings.EqualFold(v, f) || strings.HasPrefix(strings.ToLower(v), "proxy-") {
			return fmt.Errorf("hmac: %s %q is a header HTTP itself uses: name the venue's own header", key, v)
		}
	}
	return nil
}

// Check validates the metadata and the hosts, and decodes a base64 secret.
func (genericHMAC) Check(k Key) (Checked, error) {
	c, err := parseGenericConfig(k.Meta)
	if err != nil {
		return Checked{}, badRequest(err.Error())
	}
	hosts := 0
	for h := range strings.SplitSeq(k.Meta["hosts"], ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if strings.ContainsAny(h, "/:@?# ") {
			return Checked{}, badRequest(fmt.Sprintf("hmac: host %q is not a host name: give the name alone, e.g. --host api.example.com", truncate(h, 64)))
		}
		hosts++
	}
	if hosts == 0 {
		return Checked{}, badRequest("hmac: the generic scheme has no hosts of its own: name the venue's API host with --host (e.g. --host api.example.com; repeat it for a testnet host)")
	}
	if k.APIKey == "" || !headerSafe(k.APIKey) {
		return Checked{}, badRequest("hmac: the API key is empty or has a control character; it travels in " + c.keyHdr + " as given")
	}
	if !c.secret64 {
		return checkHMACSecret("hmac", k.Secret)
	}
	if isPEM(k.Secret) {
		return Checked{}, badRequest("hmac: this is a PEM key file, but the hmac scheme signs with a shared secret: give the secret string the venue showed")
	}
	enc := base64.StdEncoding
	if len(k.Secret)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	dec := make([]byte, enc.DecodedLen(len(k.Secret)))
	n, derr := enc.Decode(dec, k.Secret)
	if derr != nil {
		clear(dec)
		return Checked{}, badRequest("hmac: secret_encoding is base64, but the secret is not standard base64 (A-Z a-z 0-9 + /, '=' padding): copy it again, or use --meta secret_encoding=raw")
	}
	if n < 8 {
		clear(dec)
		return Checked{}, badRequest(fmt.Sprintf("hmac: the base64 secret decodes to %d bytes; a venue's secret is at least 8", n))
	}
	return Checked{KeyType: KeyHMAC, Secret: dec[:n]}, nil
}

var genericMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH"}

func (g genericHMAC) Sign(in Input) (Request, error) {
	c, err := parseGenericConfig(in.Meta)
	if err != nil {
		return Request{}, fmt.Errorf("%w (the credential's metadata: re-add it)", err)
	}
	if err := agentFaults("hmac", in); err != nil {
		return Request{}, err
	}
	req := in.Request
	if err := genericMethod("hmac", req.Method, genericMethods); err != nil {
		return Request{}, err
	}
	base, query, err := splitURL(g, req.URL, in.Meta)
	if err != nil {
		return Request{}, err
	}
	path := genericURLPath(base)

	var tsBuf [40]byte
	ts := genericTimestamp(in, c.tsForm, tsBuf[:0])

	msg := make([]byte, 0, 256+len(path)+len(query)+len(req.Body))
	for _, p := range c.parts {
		switch p.ph {
		case "":
			msg = append(msg, p.lit...)
		case "timestamp":
			msg = append(msg, ts...)
		case "method":
			msg = append(msg, req.Method...)
		case "path":
			msg = append(msg, path...)
		case "query":
			msg = append(msg, query...)
		case "path_query":
			msg = append(msg, path...)
			if query != "" {
				msg = append(msg, '?')
				msg = append(msg, query...)
			}
		case "body":
			msg = append(msg, req.Body...)
		case "body_sha256":
			sum := sha256.Sum256([]byte(req.Body))
			msg = hex.AppendEncode(msg, sum[:])
		case "body_sha512":
			sum := sha512.Sum512([]byte(req.Body))
			msg = hex.AppendEncode(msg, sum[:])
		case "api_key":
			msg = append(msg, in.APIKey...)
		}
	}
	var mac [sha512.Size]byte
	sum := hmacSum(c.newHash, in.Scratch, in.Secret, mac[:0], msg)
	var sig string
	if c.base64 {
		sig = base64.StdEncoding.EncodeToString(sum)
	} else {
		sig = hex.EncodeToString(sum)
	}

	out := Request{Method: req.Method, URL: req.URL, Body: req.Body}
	out.Headers = copyHeaders(req.Headers, 3, c.keyHdr, c.sigHdr, c.tsHdr)
	out.Headers[c.keyHdr] = in.APIKey
	out.Headers[c.sigHdr] = sig
	if c.tsHdr != "" {
		out.Headers[c.tsHdr] = string(ts)
	}
	return out, nil
}

// genericTimestamp appends the timestamp in form to dst.
func genericTimestamp(in Input, form string, dst []byte) []byte {
	switch form {
	case "s":
		return strconv.AppendInt(dst, in.Now.Unix(), 10)
	case "us":
		return strconv.AppendInt(dst, in.Now.UnixMicro(), 10)
	case "iso8601":
		return in.Now.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	case "nonce_ms":
		return strconv.AppendUint(dst, in.NextNonce(time.Millisecond), 10)
	case "nonce_us":
		return strconv.AppendUint(dst, in.NextNonce(time.Microsecond), 10)
	}
	return strconv.AppendInt(dst, in.Now.UnixMilli(), 10)
}

// The helpers below are shared by the HMAC-header schemes in kucoin.go,
// gate.go, bitfinex.go and this file.

// genericMethod refuses a method the venue does not sign.
func genericMethod(name, method string, allowed []string) error {
	for _, m := range allowed {
		if method == m {
			return nil
		}
	}
	return badRequest(fmt.Sprintf("%s: method %q is not one the venue signs: use %s (upper case)", name, truncate(method, 16), strings.Join(allowed, ", ")))
}

// genericURLPath returns the path of a URL splitURL has accepted (its base,
// without the query), exactly as written.
func genericURLPath(base string) string {
	rest := base[strings.Index(base, "://")+3:]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

// genericJSONBody checks the Content-Type of a request whose body is JSON:
// absent (the scheme sets application/json), or application/json. It
// reports whether the scheme must set it.
func genericJSONBody(name string, h map[string]string, body string) (setContentType bool, err error) {
	if body == "" {
		return false, nil
	}
	ct, ok := headerValue(h, "Content-Type")
	if !ok {
		return true, nil
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return false, badRequest(fmt.Sprintf("%s: the body must be JSON sent as application/json, but Content-Type is %q", name, truncate(ct, 64)))
	}
	return false, nil
}
