// Package scheme holds the exchanges' request-signing schemes as pure
// functions: a scheme maps (request, secret, clock, nonce) to the signed
// request exactly as it must be sent, and nothing else.
//
// A scheme must never import the agent server, the keyring, the network or a
// logger, never read the clock itself (the agent passes Now), and never keep,
// log, return or convert to a string any part of the secret it is lent, or any
// value derived from it other than the finished signature. Errors the bot
// caused are *RequestError, whose text is safe to show the bot.
package scheme

import (
	"slices"
	"strings"
	"time"
)

// Request is an HTTP request in the shape of ccxt's sign() output.
type Request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// Input is everything a scheme may use to sign one request.
type Input struct {
	Request Request
	APIKey  string // the public key id
	// Secret is locked memory lent for this call only: never retain it,
	// never convert it to a string.
	Secret []byte
	// Scratch is at least ScratchSize bytes of zeroed locked memory for key
	// blocks; the caller wipes it after the call.
	Scratch []byte
	Meta    map[string]string // the credential's metadata
	Now     time.Time         // the agent's clock; schemes never read the clock themselves
}

// ScratchSize is the least scratch a scheme needs: two key blocks of the
// widest hash a scheme uses (SHA-512's 128-byte block).
const ScratchSize = 256

// Scheme signs requests for one venue.
type Scheme interface {
	Name() string
	// Hosts lists the venue's hosts (mainnet and testnet); a request to any
	// other host is refused.
	Hosts() []string
	// Sign returns the request exactly as it must be sent.
	Sign(in Input) (Request, error)
}

// RequestError says the bot's request is wrong. Msg is safe to show the bot:
// it never carries secret material.
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

// badRequest builds a *RequestError; the message is the bot's to read.
func badRequest(msg string) error { return &RequestError{Msg: msg} }

// all is the fixed table of schemes. It is a function, not a variable, so
// that nothing can register or replace a scheme at run time.
func all() []Scheme { return []Scheme{binance{}} }

// Lookup returns the scheme called name.
func Lookup(name string) (Scheme, bool) {
	switch name {
	case "binance":
		return binance{}, true
	}
	return nil, false
}

// Names returns the names of all schemes, sorted.
func Names() []string {
	s := all()
	names := make([]string, 0, len(s))
	for _, sc := range s {
		names = append(names, sc.Name())
	}
	slices.Sort(names)
	return names
}

// AllowedHosts returns the hosts a credential of scheme s may sign for: the
// venue's own, then the extra ones granted in meta["hosts"], a
// comma-separated list of host names (`keyward add --host`).
func AllowedHosts(s Scheme, meta map[string]string) []string {
	hosts := slices.Clone(s.Hosts())
	for h := range strings.SplitSeq(meta["hosts"], ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// HostAllowed reports whether host, a URL's host name without its port,
// is one AllowedHosts names. The port is not restricted: TLS, not the port,
// tells a venue's server from another.
func HostAllowed(s Scheme, meta map[string]string, host string) bool {
	host = strings.ToLower(host)
	if slices.Contains(s.Hosts(), host) {
		return true
	}
	for h := range strings.SplitSeq(meta["hosts"], ",") {
		if strings.EqualFold(strings.TrimSpace(h), host) && host != "" {
			return true
		}
	}
	return false
}
