package scheme

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// deribit signs Deribit API v2 requests with a client id and client secret,
// as https://docs.deribit.com/#authentication documents:
//
// REST: the header
//
//	Authorization: deri-hmac-sha256 id=ClientId,ts=Timestamp,sig=Signature,nonce=Nonce
//
// where Signature = hex(HMAC-SHA256(StringToSign)) under the client secret,
// StringToSign = Timestamp + "\n" + Nonce + "\n" + RequestData and
// RequestData = UPPERCASE(method) + "\n" + URI + "\n" + body + "\n", URI
// being the path and query string exactly as sent. Timestamp is Now in
// milliseconds; Nonce is the credential's next strictly increasing
// millisecond nonce (ccxt uses the same clock for both).
//
// WebSocket: the bot sends the JSON-RPC message
//
//	{"jsonrpc":"2.0","id":…,"method":"public/auth","params":{"grant_type":"client_signature"}}
//
// (params may carry data); the agent adds client_id, timestamp, signature
// and nonce to params, without re-serialising the bot's JSON, where
// signature = hex(HMAC-SHA256(timestamp + "\n" + nonce + "\n" + data)).
// Members the bot already set are overwritten in place.
type deribit struct{}

func (deribit) Name() string { return "deribit" }

func (deribit) Hosts() []string { return []string{"www.deribit.com", "test.deribit.com"} }

func (deribit) Info() Info { return Info{KeyTypes: []string{KeyHMAC}, WebSocket: true} }

// Check accepts the Client Secret Deribit shows with a Client Id.
func (deribit) Check(k Key) (Checked, error) {
	if strings.ContainsAny(k.APIKey, ", \t\r\n\"\\") {
		return Checked{}, badRequest("deribit: the Client Id has a comma, space, quote or backslash: give the Client Id Deribit shows, not the secret")
	}
	return checkHMACSecret("deribit", k.Secret)
}

const deribitAuthPrefix = "deri-hmac-sha256 "

func (d deribit) Sign(in Input) (Request, error) {
	if len(in.Secret) == 0 {
		return Request{}, errors.New("deribit: credential has an empty secret")
	}
	if len(in.Scratch) < ScratchSize {
		return Request{}, fmt.Errorf("deribit: scratch is %d bytes, need %d", len(in.Scratch), ScratchSize)
	}
	if in.APIKey == "" || !headerSafe(in.APIKey) || strings.ContainsAny(in.APIKey, ", \"\\") {
		return Request{}, errors.New("deribit: credential has no usable Client Id")
	}
	if in.Request.Method == MethodWS {
		return d.signWS(in)
	}
	return d.signREST(in)
}

func (d deribit) signREST(in Input) (Request, error) {
	req := in.Request
	switch req.Method {
	case "GET", "POST":
	default:
		return Request{}, badRequest(fmt.Sprintf("deribit: method %q is not one Deribit's REST API takes: use GET or POST (or WS for a WebSocket message)", truncate(req.Method, 16)))
	}
	if _, _, err := splitURL(d, req.URL, in.Meta); err != nil {
		return Request{}, err
	}
	// The URI is everything after the host, exactly as sent.
	rest := req.URL[len("https://"):]
	uri := rest[strings.IndexAny(rest, "/"):]
	if !strings.HasPrefix(uri, "/api/v2/") {
		return Request{}, badRequest("deribit: the URL path must start with /api/v2/")
	}

	ts := strconv.AppendInt(make([]byte, 0, 20), in.Now.UnixMilli(), 10)
	nonce := strconv.AppendUint(make([]byte, 0, 20), in.NextNonce(time.Millisecond), 10)
	nl := []byte{'\n'}
	var mac [sha256Size]byte
	sum := hmacSHA256(in.Scratch, in.Secret, mac[:0], ts, nl, nonce, nl,
		[]byte(req.Method), nl, []byte(uri), nl, []byte(req.Body), nl)
	var sig [2 * sha256Size]byte
	hex.Encode(sig[:], sum)

	out := Request{Method: req.Method, URL: req.URL, Body: req.Body}
	out.Headers = copyHeaders(req.Headers, 1, "Authorization")
	out.Headers["Authorization"] = deribitAuthPrefix + "id=" + in.APIKey + ",ts=" + string(ts) + ",sig=" + string(sig[:]) + ",nonce=" + string(nonce)
	return out, nil
}

// deribitOwned are the params members the agent sets in public/auth, in
// the order it appends them (ccxt's order).
var deribitOwned = []string{"client_id", "timestamp", "signature", "nonce"}

func (d deribit) signWS(in Input) (Request, error) {
	req := in.Request
	if _, _, err := splitURLScheme(d, req.URL, in.Meta, "wss"); err != nil {
		return Request{}, err
	}
	msg := req.Body
	top, err := krakenJSONObject(msg, 0)
	if err != nil {
		return Request{}, badRequest("deribit: the message " + err.Error())
	}
	var method, params *krakenJSONMember
	for i := range top.Members {
		m := &top.Members[i]
		if k, twin := caseTwin(m.Name, "method", "params"); twin {
			return Request{}, badRequest(fmt.Sprintf("deribit: the message has %q, which differs from %q only in case: send %q alone", truncate(m.Name, 32), k, k))
		}
		switch m.Name {
		case "method", "params":
			p := &method
			if m.Name == "params" {
				p = &params
			}
			if *p != nil {
				return Request{}, badRequest(fmt.Sprintf("deribit: the message has %q more than once", m.Name))
			}
			*p = m
		}
	}
	if method == nil || !deribitStringIs(msg[method.ValStart:method.ValEnd], "public/auth") {
		return Request{}, badRequest(`deribit: the agent signs WebSocket messages with "method":"public/auth" only: other private methods need no signature once the connection is authenticated`)
	}
	if params == nil || msg[params.ValStart] != '{' {
		return Request{}, badRequest(`deribit: public/auth needs "params":{"grant_type":"client_signature"}`)
	}
	p, err := krakenJSONObject(msg[params.ValStart:params.ValEnd], params.ValStart)
	if err != nil {
		return Request{}, badRequest("deribit: params " + err.Error())
	}
	var grant, data *krakenJSONMember
	owned := make([]*krakenJSONMember, len(deribitOwned))
	for i := range p.Members {
		m := &p.Members[i]
		var slot **krakenJSONMember
		switch m.Name {
		case "grant_type":
			slot = &grant
		case "data":
			slot = &data
		case "client_secret", "refresh_token", "password", "username":
			return Request{}, badRequest(fmt.Sprintf("deribit: params carries %q: the agent signs with grant_type client_signature, which sends no secret; remove it", m.Name))
		default:
			if k, twin := caseTwin(m.Name, append([]string{"grant_type", "data"}, deribitOwned...)...); twin {
				return Request{}, badRequest(fmt.Sprintf("deribit: params has %q, which differs from %q only in case: send %q alone", truncate(m.Name, 32), k, k))
			}
			j := slices.Index(deribitOwned, m.Name)
			if j < 0 {
				continue
			}
			slot = &owned[j]
		}
		if *slot != nil {
			return Request{}, badRequest(fmt.Sprintf("deribit: params has %q more than once", m.Name))
		}
		*slot = m
	}
	if grant == nil || !deribitStringIs(msg[grant.ValStart:grant.ValEnd], "client_signature") {
		return Request{}, badRequest(`deribit: the agent signs public/auth with "grant_type":"client_signature" only (client_credentials would send the secret in clear)`)
	}
	var dataValue string
	if data != nil {
		if err := json.Unmarshal([]byte(msg[data.ValStart:data.ValEnd]), &dataValue); err != nil {
			return Request{}, badRequest(`deribit: params' "data" must be a string`)
		}
	}

	ts := strconv.AppendInt(make([]byte, 0, 20), in.Now.UnixMilli(), 10)
	nonce := strconv.AppendUint(make([]byte, 0, 20), in.NextNonce(time.Millisecond), 10)
	nl := []byte{'\n'}
	var mac [sha256Size]byte
	sum := hmacSHA256(in.Scratch, in.Secret, mac[:0], ts, nl, nonce, nl, []byte(dataValue))
	var sig [2 * sha256Size]byte
	hex.Encode(sig[:], sum)

	clientID, err := json.Marshal(in.APIKey)
	if err != nil {
		return Request{}, errors.New("deribit: credential has no usable Client Id")
	}
	values := []string{string(clientID), string(ts), `"` + string(sig[:]) + `"`, `"` + string(nonce) + `"`}
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	var appended strings.Builder
	sep := len(p.Members) > 0
	for i, m := range owned {
		if m != nil {
			edits = append(edits, edit{m.ValStart, m.ValEnd, values[i]})
			continue
		}
		if sep {
			appended.WriteByte(',')
		}
		sep = true
		appended.WriteString(`"` + deribitOwned[i] + `":` + values[i])
	}
	edits = append(edits, edit{p.Close, p.Close, appended.String()})
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	var out strings.Builder
	out.Grow(len(msg) + 200)
	at := 0
	for _, e := range edits {
		out.WriteString(msg[at:e.start])
		out.WriteString(e.text)
		at = e.end
	}
	out.WriteString(msg[at:])
	return Request{Method: req.Method, URL: req.URL, Headers: copyHeaders(req.Headers, 0), Body: out.String()}, nil
}

// deribitStringIs reports whether raw is a JSON string whose value is want.
func deribitStringIs(raw, want string) bool {
	var s string
	return len(raw) > 0 && raw[0] == '"' && json.Unmarshal([]byte(raw), &s) == nil && s == want
}
