package policy

import (
	"encoding/json"
	"net/url"
	"strings"
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
}

// parsedRequest is a request's path and parameters, read leniently: the
// policy judges what the venue would see, and a scheme refuses malformed
// requests itself.
type parsedRequest struct {
	host, path string
	query      url.Values
	form       url.Values     // a form-encoded body
	json       map[string]any // a JSON object body
	jsonList   []any          // a JSON array body
}

func parseRequest(r Request) parsedRequest {
	var p parsedRequest
	base, rawQuery, _ := strings.Cut(r.URL, "?")
	if u, err := url.Parse(base); err == nil {
		p.host, p.path = strings.ToLower(u.Hostname()), u.EscapedPath()
	}
	p.query, _ = url.ParseQuery(rawQuery)
	body := strings.TrimSpace(r.Body)
	switch {
	case strings.HasPrefix(body, "{"):
		d := json.NewDecoder(strings.NewReader(body))
		d.UseNumber()
		_ = d.Decode(&p.json)
	case strings.HasPrefix(body, "["):
		d := json.NewDecoder(strings.NewReader(body))
		d.UseNumber()
		_ = d.Decode(&p.jsonList)
	case body != "":
		p.form, _ = url.ParseQuery(body)
	}
	// A JSON-RPC body (Deribit, Binance WebSocket) carries its parameters
	// in "params".
	if params, ok := p.json["params"].(map[string]any); ok && p.json["method"] != nil {
		p.json = params
	}
	return p
}

// names returns every parameter name in the query, the form body and the
// top level of a JSON body.
func (p parsedRequest) names() map[string]bool {
	n := map[string]bool{}
	for k := range p.query {
		n[k] = true
	}
	for k := range p.form {
		n[k] = true
	}
	for k := range p.json {
		n[k] = true
	}
	return n
}

// get returns a parameter's value as text from wherever the request
// carries it.
func (p parsedRequest) get(name string) (string, bool) {
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
