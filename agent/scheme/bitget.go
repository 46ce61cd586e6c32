package scheme

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// bitget signs Bitget v2 REST requests with an API key, its passphrase and
// either the HMAC secret of a system-generated key or the RSA private key
// of a user-generated one, as https://www.bitget.com/api-doc/common/signature
// documents:
//
//   - the string to sign is timestamp + METHOD + requestPath, then "?" +
//     queryString when there is a query, then the body as sent;
//   - ACCESS-SIGN is its base64 HMAC-SHA256 under the secret key, or its
//     base64 SHA256withRSA signature (https://www.bitget.com/api-doc/common/signature-samaple/rsa);
//   - ACCESS-KEY, ACCESS-TIMESTAMP (ms) and ACCESS-PASSPHRASE (sent in
//     clear) carry the rest.
//
// The documents ask for the query string sorted by parameter name, and
// Bitget checks the signature over the query with its percent-escapes
// decoded (ccxt issue 28888, a non-ASCII symbol: signing the escaped form
// fails with 40009; Bitget.Net issue 48, "$DEGEN"). So the agent signs the
// decoded query, sends the query as the bot wrote it, and refuses a query
// that is not sorted or whose decoding is ambiguous ('+').
//
// Demo trading (the paptrading: 1 header), locale and broker headers are
// the bot's and are kept.
type bitget struct{}

func (bitget) Name() string { return "bitget" }

func (bitget) Hosts() []string {
	return []string{"api.bitget.com"}
}

func (bitget) Info() Info {
	return Info{
		KeyTypes:     []string{KeyHMAC, KeyRSA},
		Passphrase:   PassphraseRequired,
		ClearSecrets: []string{"passphrase"},
	}
}

// Check accepts the secret key of a system-generated key, or the PEM
// private key (PKCS#8 or PKCS#1) of a user-generated RSA key, with the
// passphrase chosen for either.
func (bitget) Check(k Key) (Checked, error) {
	if err := okxCheckPassphrase("bitget", k.Passphrase); err != nil {
		return Checked{}, err
	}
	if isPEM(k.Secret) {
		return checkPEMKey("bitget", k.Secret, false, KeyRSA)
	}
	return checkHMACSecret("bitget", k.Secret)
}

const (
	bitgetKeyHeader        = "ACCESS-KEY"
	bitgetSignHeader       = "ACCESS-SIGN"
	bitgetTimestampHeader  = "ACCESS-TIMESTAMP"
	bitgetPassphraseHeader = "ACCESS-PASSPHRASE"
)

func (b bitget) Sign(in Input) (Request, error) {
	if err := okxCheckInput("bitget", in, true); err != nil {
		return Request{}, err
	}
	if in.KeyType != "" && in.KeyType != KeyHMAC && in.KeyType != KeyRSA {
		return Request{}, fmt.Errorf("bitget: key type %q is not one Bitget signs with", in.KeyType)
	}
	req := in.Request
	switch req.Method {
	case "GET", "POST":
	default:
		return Request{}, badRequest(fmt.Sprintf("bitget: method %q is not one Bitget's v2 API uses: use GET or POST", truncate(req.Method, 16)))
	}
	base, query, err := splitURL(b, req.URL, in.Meta)
	if err != nil {
		return Request{}, err
	}
	if query == "" && len(base) < len(req.URL) {
		return Request{}, badRequest("bitget: the URL ends in an empty query ('?'); remove the '?'")
	}
	setCT, err := okxJSONBody("bitget", req)
	if err != nil {
		return Request{}, err
	}
	decoded, err := bitgetQuery(query)
	if err != nil {
		return Request{}, err
	}

	ts := strconv.AppendInt(make([]byte, 0, 20), in.Now.UnixMilli(), 10)
	path := okxURLPath(base)
	msg := make([]byte, 0, len(ts)+len(req.Method)+len(path)+1+len(decoded)+len(req.Body))
	msg = append(msg, ts...)
	msg = append(msg, req.Method...)
	msg = append(msg, path...)
	if query != "" {
		msg = append(msg, '?')
		msg = append(msg, decoded...)
	}
	msg = append(msg, req.Body...)

	var sig []byte
	if in.KeyType == KeyRSA {
		if sig, err = signRSA(in.Secret, msg); err != nil {
			return Request{}, fmt.Errorf("bitget: %w", err)
		}
	} else {
		var mac [sha256Size]byte
		sig = hmacSHA256(in.Scratch, in.Secret, mac[:0], msg)
	}

	out := Request{Method: req.Method, URL: req.URL, Body: req.Body}
	out.Headers = copyHeaders(req.Headers, 5, bitgetKeyHeader, bitgetSignHeader, bitgetTimestampHeader, bitgetPassphraseHeader)
	out.Headers[bitgetKeyHeader] = in.APIKey
	out.Headers[bitgetSignHeader] = base64.StdEncoding.EncodeToString(sig)
	out.Headers[bitgetTimestampHeader] = string(ts)
	// A clear secret (Info.ClearSecrets): Bitget receives it as is.
	out.Headers[bitgetPassphraseHeader] = string(in.Passphrase)
	if setCT {
		out.Headers["Content-Type"] = okxJSONContentType
	}
	return out, nil
}

// bitgetQuery checks the bot's query string and returns it as Bitget signs
// it: with every %XX escape decoded. The pairs must be sorted by name, as
// the documents require; an array's elements (name[0], name[1], …) count as
// one name.
func bitgetQuery(q string) ([]byte, error) {
	if q == "" {
		return nil, nil
	}
	out := make([]byte, 0, len(q))
	var prev []byte
	start := 0
	for start <= len(q) {
		end := strings.IndexByte(q[start:], '&')
		if end < 0 {
			end = len(q)
		} else {
			end += start
		}
		if end == start {
			return nil, badRequest(fmt.Sprintf("bitget: the query string has an empty parameter at byte %d (a leading, trailing or doubled '&')", start))
		}
		pairStart := len(out)
		nameEnd := -1
		for i := start; i < end; i++ {
			c := q[i]
			switch c {
			case '+':
				return nil, badRequest(fmt.Sprintf("bitget: the query string has a '+' at byte %d, which Bitget may read as a space: write a space as %%20 and a plus as %%2B", i))
			case '%':
				if i+2 >= end || !isHex(q[i+1]) || !isHex(q[i+2]) {
					return nil, badRequest(fmt.Sprintf("bitget: the query string has a '%%' at byte %d that is not followed by two hex digits; write a literal '%%' as %%25", i))
				}
				out = append(out, bitgetUnhex(q[i+1])<<4|bitgetUnhex(q[i+2]))
				i += 2
			case '=':
				if nameEnd < 0 {
					nameEnd = len(out)
				}
				out = append(out, c)
			default:
				out = append(out, c)
			}
		}
		if nameEnd < 0 {
			nameEnd = len(out)
		}
		name := out[pairStart:nameEnd]
		if i := bytes.IndexByte(name, '['); i > 0 {
			name = name[:i]
		}
		if prev != nil && bytes.Compare(prev, name) > 0 {
			return nil, badRequest(fmt.Sprintf("bitget: the query string's parameters must be sorted by name, as Bitget's signature rules require: %q comes after %q", truncate(string(name), 32), truncate(string(prev), 32)))
		}
		prev = name
		out = append(out, '&')
		start = end + 1
	}
	out = out[:len(out)-1]
	if !utf8.Valid(out) {
		return nil, badRequest("bitget: the query string's escapes do not decode to UTF-8 text: percent-encode parameters as UTF-8")
	}
	return out, nil
}

func bitgetUnhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
