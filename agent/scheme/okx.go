package scheme

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"
)

// okx signs OKX v5 REST requests and WebSocket logins with an API key, its
// HMAC secret and its passphrase, as
// https://www.okx.com/docs-v5/en/#overview-rest-authentication documents:
//
//   - OK-ACCESS-SIGN is the base64 HMAC-SHA256, under the secret key, of
//     timestamp + METHOD + requestPath + body, where requestPath is the
//     URL's path with its query string ("/api/v5/account/balance?ccy=BTC")
//     and body is the request body as sent ("" for a GET);
//   - OK-ACCESS-TIMESTAMP is the same timestamp, UTC in ISO 8601 with
//     milliseconds ("2020-12-08T09:08:57.715Z");
//   - OK-ACCESS-KEY is the API key and OK-ACCESS-PASSPHRASE the passphrase
//     chosen when the key was made, sent in clear on every request.
//
// The WebSocket login (op "login", …/ws/v5/private and …/business) carries
// the same four values in args, with the timestamp in Unix seconds and the
// signature over timestamp + "GET" + "/users/self/verify".
//
// Demo trading is the bot's choice (the x-simulated-trading: 1 header, the
// wspap hosts); the agent keeps every header it does not set.
type okx struct{}

func (okx) Name() string { return "okx" }

func (okx) Hosts() []string {
	return []string{
		// REST: global, AWS, EEA (my.okx.com accounts) and US (app.okx.com
		// accounts); demo trading uses the same hosts.
		"www.okx.com",
		"openapi.okx.com",
		"aws.okx.com",
		"eea.okx.com",
		"us.okx.com",
		"app.okx.com",
		"my.okx.com",
		// WebSocket, production and demo ("pap").
		"ws.okx.com",
		"wsaws.okx.com",
		"wspap.okx.com",
		"wseea.okx.com",
		"wseeapap.okx.com",
		"wsus.okx.com",
		"wsuspap.okx.com",
	}
}

func (okx) Info() Info {
	return Info{
		KeyTypes:     []string{KeyHMAC},
		Passphrase:   PassphraseRequired,
		ClearSecrets: []string{"passphrase"},
		WebSocket:    true,
	}
}

// Check accepts the secret key OKX shows once when the key is made, and the
// passphrase the owner chose for it.
func (okx) Check(k Key) (Checked, error) {
	if err := okxCheckPassphrase("okx", k.Passphrase); err != nil {
		return Checked{}, err
	}
	return checkHMACSecret("okx", k.Secret)
}

const (
	okxKeyHeader        = "OK-ACCESS-KEY"
	okxSignHeader       = "OK-ACCESS-SIGN"
	okxTimestampHeader  = "OK-ACCESS-TIMESTAMP"
	okxPassphraseHeader = "OK-ACCESS-PASSPHRASE"
	okxJSONContentType  = "application/json"
	// okxTimeLayout is ISO 8601 with milliseconds, as OKX's examples show.
	okxTimeLayout = "2006-01-02T15:04:05.000Z"
	okxVerifyPath = "/users/self/verify"
)

func (o okx) Sign(in Input) (Request, error) {
	if err := okxCheckInput("okx", in, true); err != nil {
		return Request{}, err
	}
	if in.Request.Method == MethodWS {
		return o.signLogin(in)
	}
	req := in.Request
	switch req.Method {
	case "GET", "POST":
	default:
		return Request{}, badRequest(fmt.Sprintf("okx: method %q is not one OKX's v5 REST API uses: use GET or POST", truncate(req.Method, 16)))
	}
	base, query, err := splitURL(o, req.URL, in.Meta)
	if err != nil {
		return Request{}, err
	}
	if query == "" && len(base) < len(req.URL) {
		return Request{}, badRequest("okx: the URL ends in an empty query ('?'); remove the '?'")
	}
	setCT, err := okxJSONBody("okx", req)
	if err != nil {
		return Request{}, err
	}

	ts := in.Now.UTC().AppendFormat(make([]byte, 0, len(okxTimeLayout)), okxTimeLayout)
	path := okxURLPath(base)
	msg := make([]byte, 0, len(ts)+len(req.Method)+len(path)+1+len(query)+len(req.Body))
	msg = append(msg, ts...)
	msg = append(msg, req.Method...)
	msg = append(msg, path...)
	if query != "" {
		msg = append(msg, '?')
		msg = append(msg, query...)
	}
	msg = append(msg, req.Body...)

	var mac [sha256Size]byte
	sum := hmacSHA256(in.Scratch, in.Secret, mac[:0], msg)

	out := Request{Method: req.Method, URL: req.URL, Body: req.Body}
	out.Headers = copyHeaders(req.Headers, 5, okxKeyHeader, okxSignHeader, okxTimestampHeader, okxPassphraseHeader)
	out.Headers[okxKeyHeader] = in.APIKey
	out.Headers[okxSignHeader] = base64.StdEncoding.EncodeToString(sum)
	out.Headers[okxTimestampHeader] = string(ts)
	// The passphrase is a clear secret (Info.ClearSecrets): OKX receives
	// it as is on every request, so it must become part of the request.
	out.Headers[okxPassphraseHeader] = string(in.Passphrase)
	if setCT {
		out.Headers["Content-Type"] = okxJSONContentType
	}
	return out, nil
}

// signLogin fills the args of an OKX WebSocket login message.
func (o okx) signLogin(in Input) (Request, error) {
	req := in.Request
	if _, _, err := splitURLScheme(o, req.URL, in.Meta, "wss"); err != nil {
		return Request{}, err
	}
	members, argsAt, err := okxParseWSOp("okx", req.Body, "login", "id")
	if err != nil {
		return Request{}, err
	}
	ts := strconv.AppendInt(nil, in.Now.Unix(), 10)
	var mac [sha256Size]byte
	sum := hmacSHA256(in.Scratch, in.Secret, mac[:0], ts, []byte("GET"+okxVerifyPath))

	args := make([]byte, 0, 128+len(in.APIKey)+len(in.Passphrase))
	args = append(args, `[{"apiKey":`...)
	args = okxAppendJSONString(args, []byte(in.APIKey))
	args = append(args, `,"passphrase":`...)
	args = okxAppendJSONString(args, in.Passphrase)
	args = append(args, `,"timestamp":"`...)
	args = append(args, ts...)
	args = append(args, `","sign":"`...)
	args = base64.StdEncoding.AppendEncode(args, sum)
	args = append(args, `"}]`...)
	return Request{Method: MethodWS, URL: req.URL, Headers: okxCloneHeaders(req.Headers), Body: okxBuildWSObject(members, argsAt, args)}, nil
}

// The helpers below, named okx* to keep clear of other schemes' files, are
// shared by the okx, bybit and bitget schemes.

// okxCheckInput refuses what is the agent's fault, not the bot's, with a
// plain error.
func okxCheckInput(venue string, in Input, passphrase bool) error {
	if len(in.Secret) == 0 {
		return fmt.Errorf("%s: credential has an empty secret", venue)
	}
	if len(in.Scratch) < ScratchSize {
		return fmt.Errorf("%s: scratch is %d bytes, need %d", venue, len(in.Scratch), ScratchSize)
	}
	if in.APIKey == "" || !headerSafe(in.APIKey) || !utf8.ValidString(in.APIKey) {
		return fmt.Errorf("%s: credential has no usable API key", venue)
	}
	if passphrase && !okxPassphraseShape(in.Passphrase) {
		return fmt.Errorf("%s: credential has no usable passphrase", venue)
	}
	return nil
}

// okxPassphraseShape reports whether p is 1 to 128 printable ASCII bytes, so
// that it can travel unchanged in a header or a JSON string.
func okxPassphraseShape(p []byte) bool {
	if len(p) == 0 || len(p) > 128 {
		return false
	}
	for _, c := range p {
		if c < ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// okxCheckPassphrase validates a passphrase at add time without quoting it.
func okxCheckPassphrase(venue string, p []byte) error {
	if len(p) == 0 {
		return badRequest(venue + ": the key's passphrase is missing: give the passphrase you chose when you made the API key")
	}
	if !okxPassphraseShape(p) {
		return badRequest(venue + ": the passphrase must be 1 to 128 printable ASCII characters, as the venue shows them: copy it again without line breaks or surrounding text")
	}
	return nil
}

// okxJSONBody checks a v5-style request body: none on a GET, else JSON
// text (signed and sent as given) with a JSON content type. It reports
// whether the agent must add Content-Type: application/json.
func okxJSONBody(venue string, req Request) (setContentType bool, err error) {
	if req.Body == "" {
		return req.Method == "POST" && !okxHasHeader(req.Headers, "Content-Type"), nil
	}
	if req.Method == "GET" {
		return false, badRequest(venue + ": a GET request carries its parameters in the query string, not a body")
	}
	if !utf8.ValidString(req.Body) {
		return false, badRequest(venue + ": the body is not valid UTF-8: send the JSON text encoded as UTF-8")
	}
	if !json.Valid([]byte(req.Body)) {
		return false, badRequest(venue + ": the body is not valid JSON: send the JSON text you mean to sign, byte for byte")
	}
	ct, ok := headerValue(req.Headers, "Content-Type")
	if !ok {
		return true, nil
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != okxJSONContentType {
		return false, badRequest(venue + ": the body is JSON, so Content-Type must be " + okxJSONContentType)
	}
	return false, nil
}

func okxHasHeader(h map[string]string, name string) bool {
	_, ok := headerValue(h, name)
	return ok
}

func okxCloneHeaders(h map[string]string) map[string]string {
	if h == nil {
		return nil
	}
	return copyHeaders(h, 0)
}

// okxURLPath returns the path of base, an https:// or wss:// URL without a
// query that splitURL has accepted, exactly as written.
func okxURLPath(base string) string {
	_, rest, _ := strings.Cut(base, "://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

// okxWSMember is one member of a WebSocket message's top-level JSON object:
// its name and its value's JSON text as the bot wrote it.
type okxWSMember struct {
	name string
	raw  json.RawMessage
}

// okxParseWSOp parses a WebSocket message that must be the JSON object
// {"op": op} with, optionally, the members named in optional and an empty
// "args" ([] or null) that the agent fills. It returns the members in the
// bot's order and the index of args among them (-1 when absent).
func okxParseWSOp(venue, body, op string, optional ...string) ([]okxWSMember, int, error) {
	shape := fmt.Sprintf(`%s: the message must be the JSON object {"op":"%s"}`, venue, op)
	if len(optional) > 0 {
		shape += fmt.Sprintf(" (optionally with %q)", optional)
	}
	shape += ": the agent adds args"
	if !utf8.ValidString(body) {
		return nil, -1, badRequest(shape + "; the message is not valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, -1, badRequest(shape)
	}
	var (
		members []okxWSMember
		argsAt  = -1
		opSeen  bool
	)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, -1, badRequest(shape + "; it does not parse")
		}
		name, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, -1, badRequest(shape + "; it does not parse")
		}
		for _, m := range members {
			if m.name == name {
				return nil, -1, badRequest(fmt.Sprintf("%s; %q appears twice", shape, truncate(name, 32)))
			}
		}
		switch {
		case name == "op":
			var v string
			if json.Unmarshal(raw, &v) != nil || v != op {
				return nil, -1, badRequest(fmt.Sprintf("%s; op is %s, and the agent signs only %q messages", shape, truncate(string(raw), 32), op))
			}
			opSeen = true
		case name == "args":
			if s := string(bytes.Join(bytes.Fields(raw), nil)); s != "[]" && s != "null" {
				return nil, -1, badRequest(shape + "; args is already filled: send it empty or leave it out, since the agent fills it with the key, the time and the signature")
			}
			argsAt = len(members)
		default:
			known := false
			for _, o := range optional {
				known = known || name == o
			}
			if !known {
				return nil, -1, badRequest(fmt.Sprintf("%s; it has a member %q the agent does not sign", shape, truncate(name, 32)))
			}
		}
		members = append(members, okxWSMember{name: name, raw: raw})
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, -1, badRequest(shape + "; it does not parse")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, -1, badRequest(shape + "; there is text after the object")
	}
	if !opSeen {
		return nil, -1, badRequest(shape + "; it has no op")
	}
	return members, argsAt, nil
}

// okxBuildWSObject writes members back in the bot's order, each value as the
// bot wrote it, with args (the agent's) in place of the bot's empty args or,
// when there was none, last.
func okxBuildWSObject(members []okxWSMember, argsAt int, args []byte) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(m.name)
		b.Write(name)
		b.WriteByte(':')
		if i == argsAt {
			b.Write(args)
		} else {
			b.Write(m.raw)
		}
	}
	if argsAt < 0 {
		if len(members) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"args":`)
		b.Write(args)
	}
	b.WriteByte('}')
	return b.String()
}

// okxAppendJSONString appends s, printable ASCII or UTF-8, as a JSON string.
func okxAppendJSONString(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < ' ':
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
