package scheme

import (
	"errors"
	"fmt"
	"strings"
)

// KeyToken is the key type of a static credential the venue receives as
// is on every request (a bearer token, a secret-key header): the forward-only
// schemes' key type.
const KeyToken = "token"

// bearer is a generic forward-only scheme for venues that take a static
// token in a header, everything about it in the credential's metadata
// (`keyward add --scheme bearer --host HOST --meta KEY=VALUE …`):
//
//   - header: the header that carries the token (default Authorization);
//     a header HTTP itself uses to frame or route the message (Host,
//     Content-Length, Transfer-Encoding, Connection, Proxy-…) is refused;
//   - prefix: the text before the token in that header (default "Bearer ",
//     with its space); an empty prefix (--meta prefix=) sends the token
//     alone.
//
// The token is the credential's secret. The API key is not sent: it is a
// label for the owner (the agent requires one). Like the hmac scheme, bearer
// has no hosts of its own: every host comes from --host, and a credential
// without one is refused when it is added.
//
// The venue receives the token itself, so the agent never hands a request
// with it to a bot (Info.ForwardOnly): it sends the request and returns the
// answer.
type bearer struct{}

func (bearer) Name() string { return "bearer" }

// Hosts is empty: a bearer credential is used only for its --host hosts.
func (bearer) Hosts() []string { return nil }

func (bearer) Info() Info {
	return Info{
		KeyTypes:     []string{KeyToken},
		ClearSecrets: []string{"token"},
		ForwardOnly:  true,
		Meta: map[string]string{
			"hosts":  "the venue's API hosts (required: the bearer scheme has none of its own): keyward add --host HOST, repeatable",
			"header": "the header that carries the token (default Authorization)",
			"prefix": `the text sent before the token in that header (default "Bearer ", with the space); empty (--meta prefix=) sends the token alone`,
		},
	}
}

const (
	bearerDefaultHeader = "Authorization"
	bearerDefaultPrefix = "Bearer "
	// tokenMaxLen bounds a token: JWTs run to a few kilobytes.
	tokenMaxLen = 8192
)

// bearerConfig reads the header name and prefix from meta. Its messages
// quote only metadata, which holds no secret.
func bearerConfig(meta map[string]string) (header, prefix string, err error) {
	header = bearerDefaultHeader
	if h, ok := meta["header"]; ok {
		if err := checkForwardHeaderName("bearer", "header", h); err != nil {
			return "", "", err
		}
		header = h
	}
	prefix = bearerDefaultPrefix
	if p, ok := meta["prefix"]; ok {
		if len(p) > 64 {
			return "", "", fmt.Errorf("bearer: prefix is %d bytes; at most 64", len(p))
		}
		for i := 0; i < len(p); i++ {
			if c := p[i]; c < ' ' || c >= 0x7f {
				return "", "", fmt.Errorf("bearer: prefix has a control or non-ASCII byte at byte %d: give printable text such as \"Bearer \" or \"Token \"", i)
			}
		}
		prefix = p
	}
	return header, prefix, nil
}

// checkForwardHeaderName accepts an HTTP field name (RFC 9110 token) that
// does not frame or route the message; key names the metadata key.
func checkForwardHeaderName(venue, key, v string) error {
	if v == "" {
		return fmt.Errorf("%s: %s is empty: name the header the venue's docs give, or leave %s out for the default", venue, key, key)
	}
	if len(v) > 64 {
		return fmt.Errorf("%s: %s is %d bytes; a header name is at most 64", venue, key, len(v))
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return fmt.Errorf("%s: %s %q is not a header name: use letters, digits and - (e.g. X-API-TOKEN), without ':' or spaces", venue, key, truncate(v, 64))
		}
	}
	for _, f := range genericForbiddenHeaders {
		if strings.EqualFold(v, f) || strings.HasPrefix(strings.ToLower(v), "proxy-") {
			return fmt.Errorf("%s: %s %q is a header HTTP itself uses: name the venue's own header", venue, key, v)
		}
	}
	return nil
}

// Check validates the metadata, the hosts and the token.
func (bearer) Check(k Key) (Checked, error) {
	if _, _, err := bearerConfig(k.Meta); err != nil {
		return Checked{}, badRequest(err.Error())
	}
	hosts := 0
	for h := range strings.SplitSeq(k.Meta["hosts"], ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if strings.ContainsAny(h, "/:@?# ") {
			return Checked{}, badRequest(fmt.Sprintf("bearer: host %q is not a host name: give the name alone, e.g. --host api.example.com", truncate(h, 64)))
		}
		hosts++
	}
	if hosts == 0 {
		return Checked{}, badRequest("bearer: the bearer scheme has no hosts of its own: name the venue's API host with --host (e.g. --host api.example.com; repeat it for a testnet host)")
	}
	if err := checkToken("bearer", "token", k.Secret, 8, tokenMaxLen); err != nil {
		return Checked{}, err
	}
	return Checked{KeyType: KeyToken}, nil
}

// checkToken accepts a static secret as a venue shows it: printable ASCII
// without spaces, min to max bytes. what names it in messages ("token",
// "secret key"); the messages never quote it.
func checkToken(venue, what string, secret []byte, minLen, maxLen int) error {
	if isPEM(secret) {
		return badRequest(fmt.Sprintf("%s: this is a PEM key file, but the venue takes a %s sent as is: give the %s the venue showed", venue, what, what))
	}
	if len(secret) < minLen || len(secret) > maxLen {
		return badRequest(fmt.Sprintf("%s: the %s is %d bytes; the venue's is %d to %d printable characters", venue, what, len(secret), minLen, maxLen))
	}
	for i, c := range secret {
		if c <= ' ' || c >= 0x7f {
			return badRequest(fmt.Sprintf("%s: the %s has a space, control or non-ASCII byte at byte %d: copy it again without surrounding text", venue, what, i))
		}
	}
	return nil
}

func (b bearer) Sign(in Input) (Request, error) {
	header, prefix, err := bearerConfig(in.Meta)
	if err != nil {
		return Request{}, fmt.Errorf("%w (the credential's metadata: re-add it)", err)
	}
	if err := tokenAgentFaults("bearer", in, false); err != nil {
		return Request{}, err
	}
	out, err := forwardRequest(b, in, header)
	if err != nil {
		return Request{}, err
	}
	out.Headers[header] = tokenHeader(prefix, in.Secret)
	return out, nil
}

// tokenHeader is the one string that holds a forward-only credential's
// secret: prefix and secret in a single allocation, with no intermediate
// copy (the agent builds the request under runtime/secret, which erases
// that allocation once it is dropped).
func tokenHeader(prefix string, secret []byte) string { return prefix + string(secret) }

// The helpers below are shared by the forward-only schemes (bearer, alpaca,
// oanda).

// forwardMethods are the methods the forward-only schemes pass on.
var forwardMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// tokenAgentFaults reports what is wrong with the agent's side of a
// forward-only call: plain errors that carry no secret. apiKey says whether
// the scheme sends the API key.
func tokenAgentFaults(name string, in Input, apiKey bool) error {
	if len(in.Secret) == 0 {
		return fmt.Errorf("%s: credential has an empty secret", name)
	}
	for _, c := range in.Secret {
		if c <= ' ' || c >= 0x7f {
			return errors.New(name + ": credential's secret cannot travel in a header")
		}
	}
	if apiKey && (in.APIKey == "" || !headerSafe(in.APIKey)) {
		return fmt.Errorf("%s: credential has no usable API key", name)
	}
	return nil
}

// forwardRequest checks the bot's request for a forward-only scheme (an
// HTTP method the schemes pass on, an https URL to one of the credential's
// hosts, no header that differs from one the scheme sets only in letter
// case) and returns a copy whose headers the scheme may add to: the bot's
// headers, without those named in set, with room for them. The body and URL
// go as given.
func forwardRequest(s Scheme, in Input, set ...string) (Request, error) {
	name := s.Name()
	req := in.Request
	if req.Method == MethodWS {
		return Request{}, badRequest(name + ": the agent forwards HTTP requests only for this venue, not WebSocket messages")
	}
	if err := genericMethod(name, req.Method, forwardMethods); err != nil {
		return Request{}, err
	}
	if _, _, err := splitURL(s, req.URL, in.Meta); err != nil {
		return Request{}, err
	}
	for k := range req.Headers {
		if own, twin := caseTwin(k, set...); twin {
			return Request{}, badRequest(fmt.Sprintf("%s: the request has header %q, which differs from %q only in case: the agent sets %q, so remove it", name, truncate(k, 64), own, own))
		}
	}
	out := Request{Method: req.Method, URL: req.URL, Body: req.Body}
	out.Headers = copyHeaders(req.Headers, len(set), set...)
	return out, nil
}
