package scheme

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// oanda adds an OANDA personal access token to v20 REST and streaming
// requests, as https://developer.oanda.com/rest-live-v20/authentication/
// documents: "Authorization: Bearer <token>" on every request. The venue
// receives the token itself, so the scheme is forward-only.
//
// The credential's secret is the token and its API key the v20 account id
// (101-004-1234567-001). A token reaches every account of its owner; the
// credential is one account, so a URL under /v3/accounts/{id}/ must name
// that id (listing the accounts, /v3/accounts, stays open), and a path with
// a dot segment ("." or "..", which a server may resolve into another
// account's path) is refused.
//
// Practice (fxTrade Practice) and live (fxTrade) accounts have separate
// tokens and hosts (https://developer.oanda.com/rest-live-v20/development-guide/):
// the metadata "environment" (practice or live) pins a credential to one;
// without it both are allowed, since nothing in a token tells them apart.
type oanda struct{}

func (oanda) Name() string { return "oanda" }

const (
	oandaPracticeAPI    = "api-fxpractice.oanda.com"
	oandaLiveAPI        = "api-fxtrade.oanda.com"
	oandaPracticeStream = "stream-fxpractice.oanda.com"
	oandaLiveStream     = "stream-fxtrade.oanda.com"
	oandaMetaEnv        = "environment"
	oandaAuthHeader     = "Authorization"
	oandaBearer         = "Bearer "
)

func (oanda) Hosts() []string {
	return []string{oandaPracticeAPI, oandaLiveAPI, oandaPracticeStream, oandaLiveStream}
}

func (oanda) Info() Info {
	return Info{
		KeyTypes:     []string{KeyToken},
		ClearSecrets: []string{"token"},
		ForwardOnly:  true,
		Meta: map[string]string{
			oandaMetaEnv: "practice (api-fxpractice and stream-fxpractice.oanda.com) or live (api-fxtrade and stream-fxtrade.oanda.com): the hosts the token is for; without it, both",
		},
	}
}

// oandaPinned returns the venue hosts a credential may use.
func oandaPinned(meta map[string]string) ([]string, error) {
	switch v, ok := meta[oandaMetaEnv]; {
	case !ok:
		return oanda{}.Hosts(), nil
	case v == "practice":
		return []string{oandaPracticeAPI, oandaPracticeStream}, nil
	case v == "live":
		return []string{oandaLiveAPI, oandaLiveStream}, nil
	default:
		return nil, fmt.Errorf("oanda: environment is %q: give --meta environment=practice for an fxTrade Practice token or environment=live for an fxTrade one", truncate(v, 16))
	}
}

// oandaAccountShape reports whether id looks like a v20 account id: digits
// in dash-separated groups (101-004-1234567-001), loosely.
func oandaAccountShape(id string) bool {
	if len(id) < 3 || len(id) > 64 || id[0] == '-' || id[len(id)-1] == '-' || strings.Contains(id, "--") {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c != '-' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Check accepts a v20 account id as the API key and the personal access
// token OANDA generated ("Manage API Access") as the secret.
func (oanda) Check(k Key) (Checked, error) {
	if _, err := oandaPinned(k.Meta); err != nil {
		return Checked{}, badRequest(err.Error())
	}
	if !oandaAccountShape(k.APIKey) {
		if len(k.APIKey) > 40 {
			return Checked{}, badRequest("oanda: the API key must be the v20 account id (like 101-004-1234567-001), and this looks longer than one: give the token as the secret, not as the API key")
		}
		// Not quoted: it may be the token, pasted in the wrong field.
		return Checked{}, badRequest("oanda: the API key must be the v20 account id, digits in dash-separated groups like 101-004-1234567-001: give the token as the secret, not as the API key")
	}
	if len(k.Secret) >= len(oandaBearer) && bytes.EqualFold(k.Secret[:len(oandaBearer)], []byte(oandaBearer)) {
		return Checked{}, badRequest("oanda: the token starts with \"Bearer \": give the token alone; the agent adds the prefix")
	}
	if err := checkToken("oanda", "token", k.Secret, 16, 512); err != nil {
		return Checked{}, err
	}
	return Checked{KeyType: KeyToken}, nil
}

func (o oanda) Sign(in Input) (Request, error) {
	if err := tokenAgentFaults("oanda", in, true); err != nil {
		return Request{}, err
	}
	if !oandaAccountShape(in.APIKey) {
		return Request{}, fmt.Errorf("oanda: credential's API key is not a v20 account id")
	}
	pinned, err := oandaPinned(in.Meta)
	if err != nil {
		return Request{}, fmt.Errorf("%w (the credential's metadata: re-add it)", err)
	}
	out, err := forwardRequest(o, in, oandaAuthHeader)
	if err != nil {
		return Request{}, err
	}
	base, _, _ := strings.Cut(in.Request.URL, "?")
	u, err := url.Parse(base) // forwardRequest parsed it already
	if err != nil {
		return Request{}, badRequest("oanda: the URL does not parse")
	}
	host := strings.ToLower(u.Hostname())
	if slices.Contains(o.Hosts(), host) && !slices.Contains(pinned, host) {
		return Request{}, badRequest(fmt.Sprintf("oanda: this credential's token is for %s (environment=%s): %s is the other environment, which takes its own token", strings.Join(pinned, ", "), in.Meta[oandaMetaEnv], host))
	}
	if err := oandaCheckPath(u.EscapedPath(), in.APIKey); err != nil {
		return Request{}, err
	}
	out.Headers[oandaAuthHeader] = tokenHeader(oandaBearer, in.Secret)
	return out, nil
}

// oandaCheckPath refuses dot segments and, under /v3/accounts/, an account
// other than the credential's.
func oandaCheckPath(path, account string) error {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if s == "" && i > 0 && i < len(segs)-1 {
			return badRequest("oanda: the URL path has an empty segment ('//'): write the path with single slashes")
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return badRequest("oanda: the URL path has a '%' that does not start an escape")
		}
		if d == "." || d == ".." || strings.Contains(d, "/") {
			return badRequest("oanda: the URL path has a '.' or '..' segment or an encoded '/': write the path in full")
		}
	}
	// segs[0] is "" (the path starts with '/').
	if len(segs) > 3 && strings.EqualFold(segs[1], "v3") && strings.EqualFold(segs[2], "accounts") && segs[3] != account {
		return badRequest(fmt.Sprintf("oanda: the URL is for account %q, and this credential is account %s: add a credential for that account", truncate(segs[3], 40), account))
	}
	return nil
}
