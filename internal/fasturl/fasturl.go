// Package fasturl parses the absolute URLs bots ask the agent to sign,
// giving exactly what net/url would, without net/url's allocations for the
// shape nearly every request has: https:// or wss://, a host of letters,
// digits, dots and hyphens, a path of unreserved characters and slashes,
// and any query. Every other URL is handed to net/url, so the two never
// disagree; the tests hold the fast path to net/url on every field.
//
// It is for reading a URL, never for building one, and it must never
// accept a URL that net/url refuses.
package fasturl

import (
	"net/url"
)

// URL is what the agent reads of a parsed URL. The fields mean what
// net/url.URL's methods and fields of the same names return.
type URL struct {
	Scheme string
	// Host is host[:port] as written; Hostname drops the port and an
	// IPv6 literal's brackets.
	Host     string
	Hostname string
	// EscapedPath is url.URL.EscapedPath; Path is url.URL.Path (decoded).
	EscapedPath string
	Path        string
	RawQuery    string
	// HasUser reports user information ("user@"); Opaque and Fragment as
	// in url.URL.
	HasUser  bool
	Opaque   string
	Fragment string
}

// Parse parses raw as url.Parse does and returns the parts the agent
// reads. Its errors are url.Parse's.
func Parse(raw string) (URL, error) {
	if u, ok := fast(raw); ok {
		return u, nil
	}
	pu, err := url.Parse(raw)
	if err != nil {
		return URL{}, err
	}
	return URL{
		Scheme:      pu.Scheme,
		Host:        pu.Host,
		Hostname:    pu.Hostname(),
		EscapedPath: pu.EscapedPath(),
		Path:        pu.Path,
		RawQuery:    pu.RawQuery,
		HasUser:     pu.User != nil,
		Opaque:      pu.Opaque,
		Fragment:    pu.Fragment,
	}, nil
}

// hostByte, pathByte and queryByte are the bytes the fast path takes in a
// host, a path and a query: bytes net/url keeps as they are, so that
// Hostname is the host, EscapedPath and Path are the path and RawQuery is
// the query, byte for byte.
var hostByte, pathByte, queryByte [256]bool

func init() {
	for c := 'a'; c <= 'z'; c++ {
		hostByte[c], hostByte[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		hostByte[c] = true
	}
	hostByte['.'], hostByte['-'] = true, true
	pathByte = hostByte
	pathByte['_'], pathByte['~'], pathByte['/'] = true, true, true
	// A query is kept as written (RawQuery); only what would make net/url
	// refuse the URL or cut it (control bytes, '#') and what is not ASCII
	// go to net/url.
	for c := 0x21; c < 0x7f; c++ {
		queryByte[c] = c != '#'
	}
}

// fast parses the common shape; ok is false for anything else.
func fast(raw string) (u URL, ok bool) {
	var rest string
	switch {
	case len(raw) > 8 && raw[:8] == "https://":
		u.Scheme, rest = "https", raw[8:]
	case len(raw) > 6 && raw[:6] == "wss://":
		u.Scheme, rest = "wss", raw[6:]
	default:
		return URL{}, false
	}
	i := 0
	for i < len(rest) && hostByte[rest[i]] {
		i++
	}
	if i == 0 || (i < len(rest) && rest[i] != '/' && rest[i] != '?') {
		return URL{}, false
	}
	u.Host, u.Hostname = rest[:i], rest[:i]
	rest = rest[i:]
	i = 0
	for i < len(rest) && pathByte[rest[i]] {
		i++
	}
	if i < len(rest) && rest[i] != '?' {
		return URL{}, false
	}
	u.EscapedPath, u.Path = rest[:i], rest[:i]
	if i == len(rest) {
		return u, true
	}
	q := rest[i+1:]
	for j := 0; j < len(q); j++ {
		if !queryByte[q[j]] {
			return URL{}, false
		}
	}
	u.RawQuery = q
	return u, true
}
