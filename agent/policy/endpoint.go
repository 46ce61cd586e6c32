package policy

import (
	"fmt"
	"strings"
)

// Endpoint is a method and a path pattern: "POST /api/v3/order",
// "GET /api/v5/account/*", "* /fapi/**". In a pattern, "*" matches one
// path segment and a final "**" any rest (including nothing).
type Endpoint struct {
	Method string // upper case, or "*"
	Path   string
	segs   []string
}

var methods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "WS", "*"}

// ParseEndpoint parses "METHOD /path".
func ParseEndpoint(s string) (Endpoint, error) {
	m, p, ok := strings.Cut(strings.TrimSpace(s), " ")
	p = strings.TrimSpace(p)
	if !ok || p == "" {
		return Endpoint{}, fmt.Errorf("endpoint %q: write \"METHOD /path\", e.g. \"POST /api/v3/order\"", s)
	}
	m = strings.ToUpper(m)
	valid := false
	for _, x := range methods {
		valid = valid || m == x
	}
	if !valid {
		return Endpoint{}, fmt.Errorf("endpoint %q: method %q is not one of %s", s, m, strings.Join(methods, ", "))
	}
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# ") {
		return Endpoint{}, fmt.Errorf("endpoint %q: the path starts with / and has no query string", s)
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, sg := range segs {
		if sg == "**" && i != len(segs)-1 {
			return Endpoint{}, fmt.Errorf("endpoint %q: \"**\" may only end a path", s)
		}
		if strings.Contains(sg, "*") && sg != "*" && sg != "**" {
			return Endpoint{}, fmt.Errorf("endpoint %q: a wildcard is a whole segment (\"*\" or \"**\"), not part of one", s)
		}
	}
	return Endpoint{Method: m, Path: p, segs: segs}, nil
}

func (e Endpoint) String() string { return e.Method + " " + e.Path }

// Match reports whether a request's method and path are this endpoint's.
// Paths are compared as sent, segment by segment; a trailing slash is a
// segment of its own. It does not allocate: it is on the signing path.
func (e Endpoint) Match(method, path string) bool {
	if e.Method != "*" && e.Method != method {
		return false
	}
	rest := strings.TrimPrefix(path, "/")
	atEnd := false // the path has no segments left
	for _, p := range e.segs {
		if p == "**" {
			return true
		}
		if atEnd {
			return false
		}
		seg, after, found := strings.Cut(rest, "/")
		if p != "*" && p != seg {
			return false
		}
		if found {
			rest = after
		} else {
			atEnd = true
		}
	}
	return atEnd
}
