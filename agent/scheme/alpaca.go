package scheme

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// alpaca adds Alpaca's credentials to Trading API and Market Data API
// requests, as https://docs.alpaca.markets/docs/authentication documents:
// the key id in APCA-API-KEY-ID and the secret key itself in
// APCA-API-SECRET-KEY, on every request. There is no signature: the venue
// receives the secret in clear, so the scheme is forward-only (the agent
// sends the request; the bot never sees it).
//
// Paper and live accounts have separate keys and separate trading hosts
// (paper-api.alpaca.markets, api.alpaca.markets); both use
// data.alpaca.markets for market data. A credential is pinned to one of
// them, so that a paper key is never sent to the live host and the other
// way round: by the metadata "paper" ("true": paper, "false": live) or,
// without it, by the key id's prefix (PK… paper, AK… live; any other, both).
// Hosts has no metadata, so Sign refuses a host outside the pinned set.
//
// The Broker API (broker-api.alpaca.markets, HTTP Basic authentication) is
// not covered.
type alpaca struct{}

func (alpaca) Name() string { return "alpaca" }

const (
	alpacaLiveHost  = "api.alpaca.markets"
	alpacaPaperHost = "paper-api.alpaca.markets"
	alpacaDataHost  = "data.alpaca.markets"
	alpacaKeyHeader = "APCA-API-KEY-ID"
	alpacaSecHeader = "APCA-API-SECRET-KEY"
	alpacaMetaPaper = "paper"
)

func (alpaca) Hosts() []string {
	return []string{alpacaLiveHost, alpacaPaperHost, alpacaDataHost}
}

func (alpaca) Info() Info {
	return Info{
		KeyTypes:     []string{KeyToken},
		ClearSecrets: []string{"secret key"},
		ForwardOnly:  true,
		Meta: map[string]string{
			alpacaMetaPaper: `"true" pins the credential to paper trading (paper-api.alpaca.markets and data.alpaca.markets), "false" to live trading (api.alpaca.markets and data.alpaca.markets); without it, a key id starting PK is paper, AK live, any other may use both`,
		},
	}
}

// alpacaPinned returns the venue hosts a credential may use, from its
// metadata or its key id.
func alpacaPinned(apiKey string, meta map[string]string) ([]string, error) {
	paper, live := []string{alpacaPaperHost, alpacaDataHost}, []string{alpacaLiveHost, alpacaDataHost}
	switch v, ok := meta[alpacaMetaPaper]; {
	case !ok:
	case v == "true":
		return paper, nil
	case v == "false":
		return live, nil
	default:
		return nil, fmt.Errorf("alpaca: paper is %q: give --meta paper=true for a paper account's key or paper=false for a live one", truncate(v, 16))
	}
	switch {
	case strings.HasPrefix(apiKey, "PK"):
		return paper, nil
	case strings.HasPrefix(apiKey, "AK"):
		return live, nil
	}
	return []string{alpacaLiveHost, alpacaPaperHost, alpacaDataHost}, nil
}

// Check accepts the key id and secret key Alpaca shows when a key is made.
// The key id is upper-case letters and digits (20 today, PK… for paper and
// AK… for live); the check allows 16 to 40 so that a new form still passes.
func (alpaca) Check(k Key) (Checked, error) {
	if _, err := alpacaPinned(k.APIKey, k.Meta); err != nil {
		return Checked{}, badRequest(err.Error())
	}
	if n := len(k.APIKey); n < 16 || n > 40 {
		return Checked{}, badRequest(fmt.Sprintf("alpaca: the key id is %d characters; Alpaca's key ids are about 20 upper-case letters and digits (PK… for paper, AK… for live): give the API Key ID, not the secret", n))
	}
	for i := 0; i < len(k.APIKey); i++ {
		if c := k.APIKey[i]; !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return Checked{}, badRequest(fmt.Sprintf("alpaca: the key id has %s at byte %d; Alpaca's key ids are upper-case letters and digits (PK… for paper, AK… for live): give the API Key ID, and the secret key as the secret", describeByte(k.APIKey, i), i))
		}
	}
	if bytes.Equal(k.Secret, []byte(k.APIKey)) {
		return Checked{}, badRequest("alpaca: the secret is the key id: give the secret key Alpaca showed once, when the key was made")
	}
	if err := checkToken("alpaca", "secret key", k.Secret, 20, 128); err != nil {
		return Checked{}, err
	}
	return Checked{KeyType: KeyToken}, nil
}

func (a alpaca) Sign(in Input) (Request, error) {
	if err := tokenAgentFaults("alpaca", in, true); err != nil {
		return Request{}, err
	}
	pinned, err := alpacaPinned(in.APIKey, in.Meta)
	if err != nil {
		return Request{}, fmt.Errorf("%w (the credential's metadata: re-add it)", err)
	}
	out, err := forwardRequest(a, in, alpacaKeyHeader, alpacaSecHeader)
	if err != nil {
		return Request{}, err
	}
	if err := alpacaHostPinned(in.Request.URL, pinned); err != nil {
		return Request{}, err
	}
	out.Headers[alpacaKeyHeader] = in.APIKey
	out.Headers[alpacaSecHeader] = tokenHeader("", in.Secret)
	return out, nil
}

// alpacaHostPinned refuses one of Alpaca's own hosts outside the pinned
// set; a host granted with --host is the owner's choice and passes.
func alpacaHostPinned(raw string, pinned []string) error {
	base, _, _ := strings.Cut(raw, "?")
	u, err := url.Parse(base) // forwardRequest parsed it already
	if err != nil {
		return badRequest("alpaca: the URL does not parse")
	}
	host := strings.ToLower(u.Hostname())
	if !slices.Contains(alpaca{}.Hosts(), host) || slices.Contains(pinned, host) {
		return nil
	}
	if slices.Contains(pinned, alpacaPaperHost) {
		return badRequest(fmt.Sprintf("alpaca: this credential is a paper trading key (%s): %s is live trading, which takes a live key; add the live key as its own credential", strings.Join(pinned, ", "), host))
	}
	return badRequest(fmt.Sprintf("alpaca: this credential is a live trading key (%s): %s is paper trading, which takes a paper key; add the paper key as its own credential, or set --meta paper=true if this key is a paper key", strings.Join(pinned, ", "), host))
}
