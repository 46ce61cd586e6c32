package policy

import "testing"

func TestEndpointMatch(t *testing.T) {
	cases := []struct {
		pat, method, path string
		want              bool
	}{
		{"GET /api/v3/order", "GET", "/api/v3/order", true},
		{"GET /api/v3/order", "POST", "/api/v3/order", false},
		{"GET /api/v3/order", "GET", "/api/v3/order/", false},
		{"GET /api/v3/order", "GET", "/api/v3/orders", false},
		{"GET /api/v3/order", "GET", "/api/v3", false},
		{"GET /api/v3/order", "GET", "/api/v3/order/x", false},
		{"* /api/*/order", "DELETE", "/api/v9/order", true},
		{"* /api/*/order", "DELETE", "/api//order", true},
		{"GET /api/**", "GET", "/api", true},
		{"GET /api/**", "GET", "/api/a/b/c", true},
		{"GET /api/**", "GET", "/apix", false},
		{"GET /", "GET", "/", true},
		{"GET /", "GET", "/x", false},
		{"GET /a/", "GET", "/a/", true},
		{"GET /a/", "GET", "/a", false},
		{"POST /sapi/*/capital/withdraw/**", "POST", "/sapi/v1/capital/withdraw/apply", true},
		{"POST /sapi/*/capital/withdraw/**", "POST", "/sapi/v1/capital/deposit/apply", false},
	}
	for _, c := range cases {
		ep, err := ParseEndpoint(c.pat)
		if err != nil {
			t.Fatal(err)
		}
		if got := ep.Match(c.method, c.path); got != c.want {
			t.Errorf("%q.Match(%s %s) = %v, want %v", c.pat, c.method, c.path, got, c.want)
		}
	}
}
