package verify

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// genericHMAC checks keyward's configurable "hmac" scheme, for venues
// keyward does not list. There are no venue docs: the specification is the
// credential metadata keyward documents (`keyward add --scheme hmac --meta
// …`, the same keys in Account.Meta):
//
//   - algorithm: sha256, sha384 or sha512; encoding: hex (default) or
//     base64; secret_encoding: raw (default) or base64 (Account.Secret is
//     then the base64 text the venue issued);
//   - template: the string to sign, literal text (\n a newline, \\ a
//     backslash) with the placeholders {timestamp} {method} {path} (as
//     sent) {query} (raw, as sent) {path_query} {body} {body_sha256}
//     {body_sha512} (lower-case hex) {api_key};
//   - timestamp: the form of {timestamp}: ms (default), s, us, iso8601
//     (UTC, milliseconds), nonce_ms or nonce_us;
//   - key_header, signature_header, timestamp_header: where the API key,
//     signature and {timestamp} travel.
//
// Time forms are accepted within 30 seconds of the server's clock either
// way (the fake's choice: a generic venue documents its own window). Nonce
// forms have no window; Verdict.Nonce carries them for the server's
// increasing check.
//
// Like bearer, the scheme has no hosts of its own and its key header is
// per-credential, so Key returns "host:"+r.Host and the server registers an
// hmac account under AccountKeys("hmac", a).
func genericHMAC() Venue {
	return Venue{
		Name:   "hmac",
		Key:    hostKey,
		Verify: genericHMACVerify,
	}
}

const genericWindow = 30 * time.Second

type genericPart struct{ lit, ph string }

var genericPlaceholders = []string{"timestamp", "method", "path", "query", "path_query", "body", "body_sha256", "body_sha512", "api_key"}

// genericTemplate parses a template into literal text and placeholders.
func genericTemplate(t string) ([]genericPart, error) {
	var parts []genericPart
	var lit strings.Builder
	for i := 0; i < len(t); i++ {
		switch c := t[i]; c {
		case '\\':
			if i+1 >= len(t) || (t[i+1] != 'n' && t[i+1] != '\\') {
				return nil, fmt.Errorf("template has a '\\' at byte %d that is not \\n or \\\\", i)
			}
			if t[i+1] == 'n' {
				lit.WriteByte('\n')
			} else {
				lit.WriteByte('\\')
			}
			i++
		case '{':
			end := strings.IndexByte(t[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("template has an unclosed '{' at byte %d", i)
			}
			name := t[i+1 : i+end]
			known := false
			for _, p := range genericPlaceholders {
				known = known || p == name
			}
			if !known {
				return nil, fmt.Errorf("template placeholder {%s} is unknown", clip(name))
			}
			if lit.Len() > 0 {
				parts = append(parts, genericPart{lit: lit.String()})
				lit.Reset()
			}
			parts = append(parts, genericPart{ph: name})
			i += end
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, genericPart{lit: lit.String()})
	}
	if len(parts) == 0 {
		return nil, errors.New("template is empty")
	}
	return parts, nil
}

func genericHMACVerify(r *Request, a Account) (Verdict, error) {
	m := a.Meta
	var newHash func() hash.Hash
	switch m["algorithm"] {
	case "sha256":
		newHash = sha256.New
	case "sha384":
		newHash = sha512.New384
	case "sha512":
		newHash = sha512.New
	default:
		return Verdict{}, fmt.Errorf("hmac: account meta algorithm %q is not sha256, sha384 or sha512", clip(m["algorithm"]))
	}
	parts, err := genericTemplate(m["template"])
	if err != nil {
		return Verdict{}, fmt.Errorf("hmac: account meta: %w", err)
	}
	if m["key_header"] == "" || m["signature_header"] == "" {
		return Verdict{}, errors.New("hmac: account meta lacks key_header or signature_header")
	}
	key, err := header(r.Header, m["key_header"])
	if err != nil {
		return Verdict{}, fmt.Errorf("hmac: %w", err)
	}
	if !equalString(key, a.APIKey) {
		return Verdict{}, errors.New("hmac: API key does not match the account")
	}
	sig, err := header(r.Header, m["signature_header"])
	if err != nil {
		return Verdict{}, fmt.Errorf("hmac: %w", err)
	}
	var tsText string
	usesTS := false
	for _, p := range parts {
		usesTS = usesTS || p.ph == "timestamp"
	}
	if usesTS {
		if m["timestamp_header"] == "" {
			return Verdict{}, errors.New("hmac: account meta lacks timestamp_header")
		}
		if tsText, err = header(r.Header, m["timestamp_header"]); err != nil {
			return Verdict{}, fmt.Errorf("hmac: %w", err)
		}
	}

	secret := a.Secret
	switch m["secret_encoding"] {
	case "", "raw":
	case "base64":
		enc := base64.StdEncoding
		if len(secret)%4 != 0 {
			enc = base64.RawStdEncoding
		}
		if secret, err = enc.DecodeString(string(secret)); err != nil {
			return Verdict{}, errors.New("hmac: account secret is not base64 (secret_encoding=base64)")
		}
	default:
		return Verdict{}, fmt.Errorf("hmac: account meta secret_encoding %q is not raw or base64", clip(m["secret_encoding"]))
	}

	var msg []byte
	for _, p := range parts {
		switch p.ph {
		case "":
			msg = append(msg, p.lit...)
		case "timestamp":
			msg = append(msg, tsText...)
		case "method":
			msg = append(msg, r.Method...)
		case "path":
			msg = append(msg, r.Path...)
		case "query":
			msg = append(msg, r.RawQuery...)
		case "path_query":
			msg = append(msg, pathQuery(r)...)
		case "body":
			msg = append(msg, r.Body...)
		case "body_sha256":
			d := sha256.Sum256(r.Body)
			msg = hex.AppendEncode(msg, d[:])
		case "body_sha512":
			d := sha512.Sum512(r.Body)
			msg = hex.AppendEncode(msg, d[:])
		case "api_key":
			msg = append(msg, key...)
		}
	}
	want := mac(newHash, secret, msg)
	switch m["encoding"] {
	case "", "hex":
		// Lower-case hex is what keyward sends; a venue's hex decoder would
		// take either case.
		if !equalHex(sig, want) {
			return Verdict{}, fmt.Errorf("hmac: %w", errSignature)
		}
	case "base64":
		if !equalBase64(sig, want) {
			return Verdict{}, fmt.Errorf("hmac: %w", errSignature)
		}
	default:
		return Verdict{}, fmt.Errorf("hmac: account meta encoding %q is not hex or base64", clip(m["encoding"]))
	}

	v := Verdict{APIKey: key}
	if !usesTS {
		return v, nil
	}
	form := m["timestamp"]
	if form == "" {
		form = "ms"
	}
	switch form {
	case "nonce_ms", "nonce_us":
		n, err := strconv.ParseUint(tsText, 10, 64)
		if err != nil || n == 0 {
			return Verdict{}, fmt.Errorf("hmac: nonce %q is not a positive integer", clip(tsText))
		}
		v.Nonce = n
		return v, nil
	case "iso8601":
		if v.Time, err = time.Parse(isoMillis, tsText); err != nil {
			return Verdict{}, fmt.Errorf("hmac: timestamp %q is not UTC ISO 8601 with milliseconds", clip(tsText))
		}
	case "ms", "s", "us":
		n, err := parseInt("timestamp", tsText)
		if err != nil {
			return Verdict{}, fmt.Errorf("hmac: %w", err)
		}
		v.Time = map[string]func(int64) time.Time{
			"ms": time.UnixMilli, "us": time.UnixMicro, "s": func(s int64) time.Time { return time.Unix(s, 0) },
		}[form](n)
	default:
		return Verdict{}, fmt.Errorf("hmac: account meta timestamp %q is not ms, s, us, iso8601, nonce_ms or nonce_us", clip(form))
	}
	if err := checkWindow(v.Time, r.Now, genericWindow, genericWindow); err != nil {
		return Verdict{}, fmt.Errorf("hmac: %w", err)
	}
	return v, nil
}
