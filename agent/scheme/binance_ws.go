package scheme

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// binanceWS signs requests to Binance's WebSocket APIs (Spot
// ws-api.binance.com, USDⓈ-M futures ws-fapi.binance.com, COIN-M futures
// ws-dapi.binance.com, and their testnet and demo hosts) as
// https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/request-security
// documents. The bot sends Request{Method: MethodWS, URL: "wss://…", Body:
// the JSON request {"id":…,"method":"order.place","params":{…}}}:
//
//   - the agent sets params.apiKey to the credential's key and
//     params.timestamp to Now in milliseconds, overwriting their values in
//     place if the bot gave them (keeping the bot's choice of a JSON number
//     or string for timestamp), else adding timestamp then apiKey after the
//     bot's last parameter, as the docs' examples lay them out;
//   - the signature payload is every parameter but signature, sorted by name
//     (byte order, the docs' "alphabetical order"), written name=value and
//     joined by '&', with no percent-encoding: strings are their decoded
//     UTF-8 text, numbers and true/false are their JSON text as written
//     (never re-formatted);
//   - HMAC keys sign it to hex, RSA keys (PKCS#1 v1.5, SHA-256) and Ed25519
//     keys to base64 (no percent-encoding: the value travels in JSON);
//   - the signature is added as the last member of params.
//
// The rest of the bot's JSON (id, method, other members, whitespace, the
// order of params) is kept byte for byte: the agent edits the message, it
// never re-serialises it. session.logon signs the same way (apiKey and
// timestamp, plus recvWindow if given) and is refused for key types other
// than Ed25519, which the docs say it accepts alone. Parameters whose values
// are arrays, objects or null are refused (Binance documents no payload
// form for them), as are numbers in exponent form (the text Binance would
// sign is not documented), methods that are never signed, and a bot's own
// signature.
type binanceWS struct{}

func (binanceWS) Name() string { return "binance-ws" }

func (binanceWS) Hosts() []string {
	return []string{
		"ws-api.binance.com",            // Spot WebSocket API
		"ws-api.testnet.binance.vision", // Spot testnet
		"demo-ws-api.binance.com",       // Spot demo mode
		"ws-fapi.binance.com",           // USDⓈ-M futures WebSocket API
		"ws-dapi.binance.com",           // COIN-M futures WebSocket API
		"testnet.binancefuture.com",     // futures testnet (ws-fapi/ws-dapi paths)
	}
}

func (binanceWS) Info() Info {
	return Info{KeyTypes: []string{KeyHMAC, KeyRSA, KeyEd25519}, WebSocket: true}
}

// Check accepts the same key forms as binance: an HMAC secret, or a PKCS#8
// PEM RSA or Ed25519 private key.
func (binanceWS) Check(k Key) (Checked, error) {
	return binanceCheck("binance-ws", k.Secret)
}

// binanceWSUnsigned are methods Binance never signs: the agent refuses them
// so that a bot does not send a signed copy the venue rejects.
var binanceWSUnsigned = []string{"ping", "time", "session.status", "session.logout"}

// binanceWSMaxDepth bounds the nesting the agent walks in the bot's JSON.
const binanceWSMaxDepth = 32

// wsParam is one member of params: its decoded name, the payload text of
// its value, and the span of its raw value in the message.
type wsParam struct {
	name       string
	value      string
	start, end int
	isString   bool
}

func (b binanceWS) Sign(in Input) (Request, error) {
	if len(in.Secret) == 0 {
		return Request{}, errors.New("binance-ws: credential has an empty secret")
	}
	if len(in.Scratch) < ScratchSize {
		return Request{}, fmt.Errorf("binance-ws: scratch is %d bytes, need %d", len(in.Scratch), ScratchSize)
	}
	if in.APIKey == "" || !utf8.ValidString(in.APIKey) || !headerSafe(in.APIKey) || strings.ContainsAny(in.APIKey, "\"\\") {
		return Request{}, errors.New("binance-ws: credential has no usable API key")
	}
	if err := binanceKeyType(in.KeyType); err != nil {
		return Request{}, err
	}
	req := in.Request
	if req.Method != MethodWS {
		return Request{}, badRequest(fmt.Sprintf("binance-ws: method %q is not a WebSocket message: send Method %q with the wss:// URL and the JSON request as the body", truncate(req.Method, 16), MethodWS))
	}
	if _, _, err := splitURLScheme(b, req.URL, in.Meta, "wss"); err != nil {
		return Request{}, err
	}
	msg := req.Body
	if !utf8.ValidString(msg) {
		return Request{}, badRequest("binance-ws: the message is not valid UTF-8: Binance reads text frames of UTF-8 JSON")
	}

	p := wsParser{s: msg}
	top, err := p.topLevel()
	if err != nil {
		return Request{}, err
	}
	// The scanner reads closely only what it edits; the whole message must
	// still be JSON Binance accepts (the fuzzer found a leading-zero number
	// in an unrelated member passing through).
	if !json.Valid([]byte(msg)) {
		return Request{}, badRequest("binance-ws: the message is not valid JSON: check numbers, strings and brackets outside \"params\" too")
	}
	if top.method == "" {
		return Request{}, badRequest(`binance-ws: the message has no "method": send {"id":…,"method":"order.place","params":{…}}`)
	}
	if slices.Contains(binanceWSUnsigned, top.method) {
		return Request{}, badRequest(fmt.Sprintf("binance-ws: %q is not a signed method: send it without the agent", top.method))
	}
	if top.method == "session.logon" && in.KeyType != KeyEd25519 {
		return Request{}, badRequest("binance-ws: session.logon accepts Ed25519 keys only (Binance's docs); this credential is an " + keyTypeName(in.KeyType) + " key: sign each request instead")
	}

	var ts [20]byte
	now := string(strconv.AppendInt(ts[:0], in.Now.UnixMilli(), 10))

	// The payload's parameters and the edits to the message.
	params := top.params
	var edits []wsEdit
	hasTS, hasKey := false, false
	for i := range params {
		switch params[i].name {
		case "timestamp":
			hasTS = true
			params[i].value = now
			repl := now
			if params[i].isString {
				repl = `"` + now + `"`
			}
			edits = append(edits, wsEdit{params[i].start, params[i].end, repl})
		case "apiKey":
			hasKey = true
			params[i].value = in.APIKey
			edits = append(edits, wsEdit{params[i].start, params[i].end, `"` + in.APIKey + `"`})
		}
	}
	if !hasTS {
		params = append(params, wsParam{name: "timestamp", value: now})
	}
	if !hasKey {
		params = append(params, wsParam{name: "apiKey", value: in.APIKey})
	}
	slices.SortFunc(params, func(a, b wsParam) int { return strings.Compare(a.name, b.name) })
	var payload []byte
	for i, q := range params {
		if i > 0 {
			payload = append(payload, '&')
		}
		payload = append(payload, q.name...)
		payload = append(payload, '=')
		payload = append(payload, q.value...)
	}
	sig, err := binanceRawSignature(in, payload)
	if err != nil {
		return Request{}, fmt.Errorf("binance-ws: %w", err)
	}

	// The members the agent adds, laid out like the bot's last member.
	sep, colon := top.sep, top.colon
	var add strings.Builder
	needComma := len(top.params) > 0
	member := func(name, value string) {
		if needComma {
			add.WriteString(",")
		}
		needComma = true
		add.WriteString(sep)
		add.WriteString(`"` + name + `"` + colon + value)
	}
	if !hasTS {
		member("timestamp", now)
	}
	if !hasKey {
		member("apiKey", `"`+in.APIKey+`"`)
	}
	member("signature", `"`+sig+`"`)
	if top.paramsStart < 0 {
		// No params member: add one at the end of the message.
		lead := ","
		if top.empty {
			lead = ""
		}
		edits = append(edits, wsEdit{top.end, top.end, lead + `"params":{` + add.String() + "}"})
	} else {
		edits = append(edits, wsEdit{top.insertAt, top.insertAt, add.String()})
	}

	slices.SortFunc(edits, func(a, b wsEdit) int { return a.start - b.start })
	var out strings.Builder
	out.Grow(len(msg) + 256)
	last := 0
	for _, e := range edits {
		out.WriteString(msg[last:e.start])
		out.WriteString(e.text)
		last = e.end
	}
	out.WriteString(msg[last:])
	return Request{Method: MethodWS, URL: req.URL, Headers: req.Headers, Body: out.String()}, nil
}

func keyTypeName(t string) string {
	if t == "" {
		return KeyHMAC
	}
	return t
}

// wsEdit replaces msg[start:end] with text.
type wsEdit struct {
	start, end int
	text       string
}

// wsTop is what the agent needs of the message's top level.
type wsTop struct {
	method      string
	params      []wsParam
	paramsStart int    // offset of params' '{', -1 if absent
	insertAt    int    // where new params members go: after the last member's value, or after '{'
	paramsEmpty bool   // params is {}
	sep, colon  string // whitespace before the last member's name, and its ':' with whitespace
	end         int    // offset of the message's closing '}'
	empty       bool   // the message is {}
}

// wsParser walks the bot's JSON without building it: the agent needs spans
// and a few decoded strings, and re-emits nothing it did not change.
type wsParser struct {
	s string
	i int
}

func (p *wsParser) fail(what string) error {
	return badRequest(fmt.Sprintf("binance-ws: the message is not the JSON Binance expects: %s at byte %d", what, p.i))
}

func (p *wsParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *wsParser) topLevel() (wsTop, error) {
	t := wsTop{paramsStart: -1, colon: ":"}
	p.ws()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return t, badRequest(`binance-ws: the message must be a JSON object {"id":…,"method":…,"params":{…}}`)
	}
	p.i++
	seen := map[string]bool{}
	first := true
	for {
		p.ws()
		if p.i >= len(p.s) {
			return t, p.fail("unexpected end")
		}
		if p.s[p.i] == '}' {
			if !first {
				return t, p.fail("a trailing ','")
			}
			t.empty = true
			t.end = p.i
			p.i++
			break
		}
		name, err := p.str()
		if err != nil {
			return t, err
		}
		if seen[name] {
			return t, badRequest(fmt.Sprintf("binance-ws: the message has %q twice; send it once", truncate(name, 32)))
		}
		seen[name] = true
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return t, p.fail("a missing ':'")
		}
		p.i++
		p.ws()
		switch name {
		case "method":
			if p.i >= len(p.s) || p.s[p.i] != '"' {
				return t, badRequest(`binance-ws: "method" must be a string such as "order.place"`)
			}
			if t.method, err = p.str(); err != nil {
				return t, err
			}
		case "params":
			if err := p.params(&t); err != nil {
				return t, err
			}
		default:
			// A member that differs from one the agent reads only in case
			// would be read as it by case-insensitive decoders (Go's among
			// them) but not by the agent: refuse the ambiguity.
			for _, known := range []string{"method", "params", "id"} {
				if strings.EqualFold(name, known) && name != known {
					return t, badRequest(fmt.Sprintf("binance-ws: the message has %q, which differs from %q only in case: send %q alone", truncate(name, 32), known, known))
				}
			}
			if err := p.skip(1); err != nil {
				return t, err
			}
		}
		first = false
		p.ws()
		if p.i >= len(p.s) {
			return t, p.fail("unexpected end")
		}
		if p.s[p.i] == ',' {
			p.i++
			p.ws()
			if p.i < len(p.s) && p.s[p.i] == '}' {
				return t, p.fail("a trailing ','")
			}
			continue
		}
		if p.s[p.i] != '}' {
			return t, p.fail("a missing ',' or '}'")
		}
		t.end = p.i
		p.i++
		break
	}
	p.ws()
	if p.i != len(p.s) {
		return t, p.fail("text after the JSON object")
	}
	return t, nil
}

// params reads the params object: every member must have a scalar value.
func (p *wsParser) params(t *wsTop) error {
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return badRequest(`binance-ws: "params" must be a JSON object of name: value`)
	}
	t.paramsStart = p.i
	p.i++
	t.insertAt = p.i
	t.colon = ":"
	seen := map[string]bool{}
	for {
		wsStart := p.i
		p.ws()
		if p.i >= len(p.s) {
			return p.fail("unexpected end")
		}
		if p.s[p.i] == '}' {
			if len(t.params) > 0 {
				return p.fail("a trailing ','")
			}
			t.paramsEmpty = true
			p.i++
			return nil
		}
		t.sep = p.s[wsStart:p.i]
		name, err := p.str()
		if err != nil {
			return err
		}
		if err := binanceWSName(name); err != nil {
			return err
		}
		if seen[name] {
			return badRequest(fmt.Sprintf("binance-ws: params has %q twice; send it once", name))
		}
		seen[name] = true
		if name == "signature" {
			return badRequest("binance-ws: params carries \"signature\"; the agent signs the request itself, so remove it")
		}
		colonAt := p.i
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return p.fail("a missing ':'")
		}
		p.i++
		p.ws()
		t.colon = p.s[colonAt:p.i]
		v := wsParam{name: name, start: p.i}
		if p.i >= len(p.s) {
			return p.fail("unexpected end")
		}
		switch c := p.s[p.i]; {
		case c == '"':
			v.isString = true
			if v.value, err = p.str(); err != nil {
				return err
			}
		case c == '-' || '0' <= c && c <= '9':
			if v.value, err = p.number(name); err != nil {
				return err
			}
		case strings.HasPrefix(p.s[p.i:], "true"):
			v.value = "true"
			p.i += 4
		case strings.HasPrefix(p.s[p.i:], "false"):
			v.value = "false"
			p.i += 5
		case strings.HasPrefix(p.s[p.i:], "null"):
			return badRequest(fmt.Sprintf("binance-ws: params.%s is null; leave the parameter out instead", name))
		case c == '[' || c == '{':
			return badRequest(fmt.Sprintf("binance-ws: params.%s is an array or object; Binance documents no signature payload for those, so the agent signs scalar parameters only", name))
		default:
			return p.fail("an invalid value")
		}
		v.end = p.i
		if name == "recvWindow" {
			if err := checkRecvWindow(v.value); err != nil {
				return badRequest("binance-ws" + strings.TrimPrefix(err.Error(), "binance"))
			}
		}
		t.params = append(t.params, v)
		t.insertAt = p.i
		p.ws()
		if p.i >= len(p.s) {
			return p.fail("unexpected end")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return p.fail("a missing ',' or '}'")
		}
	}
}

// binanceWSName accepts a parameter name the payload can carry unambiguously.
func binanceWSName(name string) error {
	if name == "" {
		return badRequest("binance-ws: params has a member with an empty name")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == '=' || c == '&' {
			return badRequest(fmt.Sprintf("binance-ws: parameter name %q has a character Binance's names never have (space, '=', '&', control or non-ASCII)", truncate(name, 32)))
		}
	}
	return nil
}

// number reads a JSON number and returns its text as written. Exponent
// forms are refused: the text Binance would put in the payload for them is
// not documented.
func (p *wsParser) number(name string) (string, error) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	intStart := p.i
	n := digits()
	if n == 0 || n > 1 && p.s[intStart] == '0' {
		return "", p.fail("an invalid number")
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return "", p.fail("an invalid number")
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		return "", badRequest(fmt.Sprintf("binance-ws: params.%s is a number in exponent form; write it in plain decimal or as a string", name))
	}
	return p.s[start:p.i], nil
}

// str reads a JSON string at p.i and returns it decoded. Lone UTF-16
// surrogate escapes are refused: they have no UTF-8 form to sign.
func (p *wsParser) str() (string, error) {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", p.fail("a missing string")
	}
	p.i++
	start := p.i
	var b []byte // nil while the string has no escapes
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			var out string
			if b == nil {
				out = p.s[start:p.i]
			} else {
				out = string(b)
			}
			p.i++
			return out, nil
		case c < ' ':
			return "", p.fail("a control character in a string")
		case c == '\\':
			if b == nil {
				b = append([]byte(nil), p.s[start:p.i]...)
			}
			if p.i+1 >= len(p.s) {
				return "", p.fail("unexpected end")
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.fail("an invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					if r >= 0xdc00 || !strings.HasPrefix(p.s[p.i:], `\u`) {
						return "", p.fail("a lone UTF-16 surrogate escape")
					}
					p.i += 2
					r2, ok := p.hex4()
					if !ok {
						return "", p.fail("an invalid \\u escape")
					}
					r = utf16.DecodeRune(r, r2)
					if r == utf8.RuneError {
						return "", p.fail("a lone UTF-16 surrogate escape")
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", p.fail("an invalid escape")
			}
		default:
			if b != nil {
				b = append(b, c)
			}
			p.i++
		}
	}
	return "", p.fail("an unterminated string")
}

func (p *wsParser) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	v, err := strconv.ParseUint(p.s[p.i:p.i+4], 16, 16)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(v), true
}

// skip steps over any JSON value (a member the agent does not read).
func (p *wsParser) skip(depth int) error {
	if depth > binanceWSMaxDepth {
		return p.fail("nesting too deep")
	}
	p.ws()
	if p.i >= len(p.s) {
		return p.fail("unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '"':
		_, err := p.str()
		return err
	case c == '-' || '0' <= c && c <= '9':
		start := p.i
		for p.i < len(p.s) && strings.IndexByte("+-.eE0123456789", p.s[p.i]) >= 0 {
			p.i++
		}
		if _, err := strconv.ParseFloat(p.s[start:p.i], 64); err != nil && !errors.Is(err, strconv.ErrRange) {
			return p.fail("an invalid number")
		}
		return nil
	case strings.HasPrefix(p.s[p.i:], "true"):
		p.i += 4
	case strings.HasPrefix(p.s[p.i:], "false"):
		p.i += 5
	case strings.HasPrefix(p.s[p.i:], "null"):
		p.i += 4
	case c == '[' || c == '{':
		closer := byte(']')
		if c == '{' {
			closer = '}'
		}
		p.i++
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == closer {
			p.i++
			return nil
		}
		for {
			if c == '{' {
				p.ws()
				if _, err := p.str(); err != nil {
					return err
				}
				p.ws()
				if p.i >= len(p.s) || p.s[p.i] != ':' {
					return p.fail("a missing ':'")
				}
				p.i++
			}
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.i >= len(p.s) {
				return p.fail("unexpected end")
			}
			if p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.s[p.i] != closer {
				return p.fail("a missing ',' or closing bracket")
			}
			p.i++
			return nil
		}
	default:
		return p.fail("an invalid value")
	}
	return nil
}
