package policy

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/keyward/keyward/internal/fasturl"
)

// Request is what the policy decides on: who asks (the caller passes the
// peer's identity separately), which operation, which credential of which
// scheme, and for sign/forward the request the bot sent.
type Request struct {
	Op         string
	Credential string
	Scheme     string
	Method     string
	URL        string
	Body       string
	// Host (lower case) and Path (escaped) are URL's, when the caller has
	// parsed it already; when Host is empty the policy parses URL itself.
	Host, Path string
}

// parsedRequest is a request's path and parameters, read leniently: the
// policy judges what the venue would see, and a scheme refuses malformed
// requests itself. The parameters are parsed only when a check needs
// their values (params); moneyParams reads the names of a form without
// parsing it.
type parsedRequest struct {
	host, path string
	rawQuery   string
	body       string // trimmed
	parsed     bool
	query      url.Values
	form       url.Values     // a form-encoded body
	json       map[string]any // a JSON object body
	jsonList   []any          // a JSON array body
}

func parseRequest(r Request) *parsedRequest {
	p := new(parsedRequest)
	p.set(r)
	return p
}

// set sets p to r's, parsed. Decide keeps p on its stack.
func (p *parsedRequest) set(r Request) {
	*p = parsedRequest{host: r.Host, path: r.Path, body: strings.TrimSpace(r.Body)}
	base, rawQuery, _ := strings.Cut(r.URL, "?")
	p.rawQuery = rawQuery
	if r.Host == "" {
		// fasturl gives net/url's Hostname and EscapedPath, and refuses
		// what url.Parse refuses.
		if u, err := fasturl.Parse(base); err == nil {
			p.host, p.path = strings.ToLower(u.Hostname), u.EscapedPath
		}
	}
}

// formBody reports whether the body is form-encoded (not JSON).
func (p *parsedRequest) formBody() bool {
	return p.body != "" && p.body[0] != '{' && p.body[0] != '['
}

// params parses the query and the body, once.
func (p *parsedRequest) params() *parsedRequest {
	if p.parsed {
		return p
	}
	p.parsed = true
	p.query, _ = url.ParseQuery(p.rawQuery)
	switch {
	// The values are decoded into locals, not through &p.json, which
	// would move every parsedRequest to the heap.
	case strings.HasPrefix(p.body, "{"):
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(p.body))
		d.UseNumber()
		_ = d.Decode(&m)
		p.json = m
	case strings.HasPrefix(p.body, "["):
		var l []any
		d := json.NewDecoder(strings.NewReader(p.body))
		d.UseNumber()
		_ = d.Decode(&l)
		p.jsonList = l
	case p.body != "":
		p.form, _ = url.ParseQuery(p.body)
	}
	// A JSON-RPC body (Deribit, Binance WebSocket) carries its parameters
	// in "params".
	if params, ok := p.json["params"].(map[string]any); ok && p.json["method"] != nil {
		p.json = params
	}
	return p
}

// get returns a parameter's value as text from wherever the request
// carries it.
func (p *parsedRequest) get(name string) (string, bool) {
	p.params()
	if v, ok := p.query[name]; ok && len(v) > 0 {
		return v[0], true
	}
	if v, ok := p.form[name]; ok && len(v) > 0 {
		return v[0], true
	}
	if v, ok := p.json[name]; ok {
		return scalar(v)
	}
	return "", false
}

// scalar renders a JSON scalar as the text the bot wrote.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// hyperliquidAction returns the "type" of a Hyperliquid /exchange body's
// action.
func hyperliquidAction(body string) string {
	var b struct {
		Action struct {
			Type string `json:"type"`
		} `json:"action"`
	}
	if json.Unmarshal([]byte(body), &b) != nil {
		return ""
	}
	return b.Action.Type
}
