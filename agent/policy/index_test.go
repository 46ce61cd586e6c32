package policy

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The reference implementations below are the money check as it was
// before the index: a scan of the scheme's catalogue with Endpoint.Match,
// and a name-by-name reading of the parameters. The index and the table
// must agree with them on every input.

// refMoneyEndpoint scans the catalogue in order.
func refMoneyEndpoint(scheme, method, path, body string) *MoneyEntry {
	return refScan(catalogueFor(scheme), method, path, body)
}

func refScan(es []MoneyEntry, method, path, body string) *MoneyEntry {
	for i, e := range es {
		if e.action != "" {
			if method == "POST" && hyperliquidAction(body) == e.action {
				return &es[i]
			}
			continue
		}
		if e.ep.Match(method, path) {
			return &es[i]
		}
	}
	return nil
}

// refFormNames calls f with each key of q, split on '&' and ';', and with
// a key holding '%' or '+' unescaped as well.
func refFormNames(q string, f func(string)) {
	start := 0
	for i := 0; i <= len(q); i++ {
		if i < len(q) && q[i] != '&' && q[i] != ';' {
			continue
		}
		kv := q[start:i]
		start = i + 1
		k, _, _ := strings.Cut(kv, "=")
		f(k)
		if strings.ContainsAny(k, "%+") {
			if u, err := url.QueryUnescape(k); err == nil {
				f(u)
			}
		}
	}
}

func refMoneyParams(scheme string, p *parsedRequest) (string, bool) {
	r, ok := paramRules[scheme]
	if !ok {
		return "", false
	}
	bit := r.names.bit
	var present uint64
	f := func(name string) { present |= bit[name] }
	refFormNames(p.rawQuery, f)
	switch {
	case p.formBody():
		refFormNames(p.body, f)
	case p.body != "":
		for k := range p.params().json {
			f(k)
		}
	}
	for _, n := range r.any {
		if present&bit[n] != 0 {
			return n, true
		}
	}
	for _, set := range r.all {
		hit := true
		for _, n := range set {
			hit = hit && present&bit[n] != 0
		}
		if hit {
			return strings.Join(set, "+"), true
		}
	}
	return "", false
}

// catalogueSchemes is every scheme of the catalogue and of paramRules,
// and some that are neither.
func catalogueSchemes() []string {
	var s []string
	for k := range byScheme {
		s = append(s, k)
	}
	for k := range paramRules {
		s = append(s, k)
	}
	s = append(s, "", "nosuch", "BINANCE")
	slices.Sort(s)
	return slices.Compact(s)
}

var testMethods = append(slices.Clone(methods), "post", "Post", "HEAD", "", " POST")

// expand returns paths a pattern's segments match, with each "*" and
// "**" filled in several ways ("**" also matching nothing).
func expand(segs []string) []string {
	if len(segs) == 0 {
		return []string{""}
	}
	var heads []string
	switch segs[0] {
	case "*":
		heads = []string{"v1", "", "*", "x%2Fy"}
	case "**":
		return []string{"", "/apply", "/a/b", "/apply/", "/**"}
	default:
		heads = []string{segs[0]}
	}
	var out []string
	for _, h := range heads {
		for _, rest := range expand(segs[1:]) {
			out = append(out, "/"+h+rest)
		}
	}
	return out
}

// nearMisses returns p and paths that differ from it a little.
func nearMisses(p string) []string {
	out := []string{p, p + "/", p + "/x", p + "x", p + "%2F", strings.ToUpper(p), strings.ToLower(p),
		strings.TrimPrefix(p, "/"), "/" + p, p + "?", strings.ReplaceAll(p, "/", "//")}
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dir, last := p[:i+1], p[i+1:]
		out = append(out, p[:i], dir) // a prefix
		if last != "" {
			out = append(out,
				dir+strings.ToUpper(last[:1])+last[1:], // case
				dir+"%"+hexByte(last[0])+last[1:],      // percent-encoded
				dir+"%"+strings.ToUpper(hexByte(last[0]))+last[1:],
				dir+last[:len(last)-1],     // shorter
				dir+last[:len(last)-1]+"_") // changed
		}
	}
	if i := strings.IndexByte(strings.TrimPrefix(p, "/"), '/'); i >= 0 {
		first, rest := p[:i+1], p[i+1:] // p is first+rest, rest starts with '/'
		out = append(out, first+"/extra"+rest, "/other"+rest, rest, first+rest+"/extra")
	}
	return out
}

func hexByte(b byte) string { return fmt.Sprintf("%02x", b) }

// indexPaths is every catalogue entry's paths and their near misses.
func indexPaths() []string {
	paths := []string{"", "/", "//", "///", "*", "/*", "/**", "/api/v3/order", "/sapi", "/sapi/", "/sapi/v1", "/sapi/v1/", "/fapi/v1/order",
		"/v5/order/create", "/api/v5/trade/order", "/exchange", "/0/private/AddOrder", "/api/v4/sub_accounts/1/keys/2/3"}
	for _, e := range catalogue() {
		if e.action != "" {
			continue
		}
		for _, p := range expand(e.ep.segs) {
			paths = append(paths, nearMisses(p)...)
		}
		paths = append(paths, e.ep.Path)
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}

func indexBodies() []string {
	bodies := []string{"", "{}", "not json", `{"action":{"type":""}}`, `{"action":{"type":"order"}}`, `{"action":"withdraw3"}`}
	for _, e := range catalogue() {
		if e.action != "" {
			bodies = append(bodies, `{"action":{"type":"`+e.action+`"},"nonce":1}`, `{"action":{"type":"`+strings.ToUpper(e.action)+`"}}`)
		}
	}
	return bodies
}

// TestMoneyIndexAgreesWithScan holds moneyEndpoint to the scan of the
// catalogue for every entry's paths and their near misses (trailing
// slash, case, prefix, extra segment, percent-encoding, …), under every
// scheme and method.
func TestMoneyIndexAgreesWithScan(t *testing.T) {
	// Entries are told apart by ID within a scheme.
	for s, es := range byScheme {
		ids := map[string]bool{}
		for _, e := range es {
			require.False(t, ids[e.ID], "%s: ID %q twice", s, e.ID)
			ids[e.ID] = true
		}
	}
	paths, bodies := indexPaths(), indexBodies()
	hits, misses := 0, 0
	for _, scheme := range catalogueSchemes() {
		for _, method := range testMethods {
			for _, path := range paths {
				for _, body := range bodies {
					if body != "" && (scheme != "hyperliquid" || path != "/exchange") {
						continue // the body matters to action entries alone
					}
					want := refMoneyEndpoint(scheme, method, path, body)
					got := moneyEndpoint(scheme, method, path, body)
					if want == nil {
						misses++
						if got != nil {
							t.Errorf("%s %s %s %q: index says %q, the scan nothing", scheme, method, path, body, got.ID)
						}
						continue
					}
					hits++
					if got == nil || got.ID != want.ID {
						t.Errorf("%s %s %s %q: index says %v, the scan %q", scheme, method, path, body, got, want.ID)
					}
				}
			}
		}
	}
	t.Logf("%d paths: %d hits, %d misses", len(paths), hits, misses)
	assert.Greater(t, hits, 500)
	assert.Greater(t, misses, 10000)
}

// TestMoneyIndexFirstEntry: where two entries match a path, both find
// the one the catalogue lists first.
func TestMoneyIndexFirstEntry(t *testing.T) {
	for _, c := range []struct{ scheme, path, id string }{
		{"coinbase", "/v2/accounts/1/withdrawals", "POST /v2/accounts/*/withdrawals"},
		{"coinbase", "/v2/accounts/1/withdrawals/x", "POST /v2/accounts/*/withdrawals/**"},
		{"kraken", "/derivatives/api/v3/transfer", "POST /derivatives/api/v3/transfer"},
		{"kraken", "/derivatives/api/v3/transfer/subaccount", "POST /derivatives/api/v3/transfer/**"},
	} {
		e := moneyEndpoint(c.scheme, "POST", c.path, "")
		require.NotNil(t, e, c.path)
		assert.Equal(t, c.id, e.ID)
		assert.Equal(t, c.id, refMoneyEndpoint(c.scheme, "POST", c.path, "").ID)
	}
}

// TestMoneyIndexPatterns holds the index to the scan on patterns the
// catalogue does not have yet: wildcard methods and first segments, a
// wildcard entry listed before a literal one, "/" and trailing slashes.
func TestMoneyIndexPatterns(t *testing.T) {
	var es []MoneyEntry
	for _, s := range []string{"POST /a/**", "POST /a/b", "* /*/x", "GET /**", "POST /", "POST /a/", "DELETE /*/*",
		"PUT /a/*/c/**", "* /z", "PATCH /a/b/c", "WS /**", "POST /b/*", "POST /b/c", "POST /Up/y", "POST /up/Down"} {
		es = append(es, money("test", "test", s)...)
	}
	es = append(es, actions("test", "test", "a1", "a2", "a1")...)
	es = append(es, money("test", "test", "POST /exchange")...)
	x := newMoneyIndex(es)
	var paths []string
	for _, e := range es {
		if e.action == "" {
			for _, p := range expand(e.ep.segs) {
				paths = append(paths, nearMisses(p)...)
			}
		}
	}
	paths = append(paths, "", "/", "//", "/exchange", "/q", "/q/x", "/q/x/", "/z/", "/z/z")
	bodies := []string{"", `{"action":{"type":"a1"}}`, `{"action":{"type":"a2"}}`, `{"action":{"type":"a3"}}`}
	hits := 0
	for _, m := range testMethods {
		for _, p := range paths {
			for _, body := range bodies {
				want, got := refScan(es, m, p, body), x.lookup(m, p, body)
				if want == nil {
					assert.Equal(t, -1, got, "%s %q %q", m, p, body)
					continue
				}
				hits++
				if !assert.GreaterOrEqual(t, got, 0, "%s %q %q: want %s", m, p, body, want.ID) {
					continue
				}
				assert.Same(t, want, &es[got], "%s %q %q: %s, want %s", m, p, body, es[got].ID, want.ID)
			}
		}
	}
	assert.Greater(t, hits, 1000)
}

var paramTexts = []string{
	"", "&", ";", ";;", "=", "==", "&=&", "symbol=BTCUSDT&quantity=1", "asset=BTC&amount=1&type=1",
	"address", "address=", "=address", "a=address", "a=b=address", "x=1&address", "x=1;address=2", "x=%26address",
	"addr%65ss=x", "addr%6=x", "%", "%%", "+address", "address+", "addr+ess", "a%3Daddress", "add%72ess", "addr%65ss;x",
	"Address=1", "ADDRESS=1", "address =1", " address=1", "address%00=1", "addressx=1", "addres=1", "tag=1", "ips",
	"coin=BTC", "amount=1", "coin=BTC&amount=1", "coin=BTC;amount=1", "token=x&amount=1", "asset&amount", "coin&amount=&x",
	"toEmail=x%40y", "withdrawOrderId", "transactionFeeFlag=1", "toAccountType=1", "fromMemberId=1;readOnly=0",
	"symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.1&price=30000&timestamp=1&recvWindow=5000",
	strings.Repeat("a", 70) + "=1", strings.Repeat("address", 10), "t=1&to=2&tag=3&tags=4",
}

var paramJSON = []string{
	`{"symbol":"BTCUSDT","qty":"1"}`, `{"coin":"BTC","amount":"1","address":"x"}`, `{"fromAccountType":"UNIFIED"}`,
	`{"id":"1","method":"order.place","params":{"symbol":"BTCUSDT","address":"x"}}`, `{"method":"x","params":{"coin":"a","amount":"1"}}`,
	`{"params":{"address":"x"}}`, `[{"address":"x"}]`, `{"Address":"x"}`, `{"addr%65ss":"x"}`, `{broken`,
}

// TestFormBitsAgreesWithScan holds moneyParams to the name-by-name
// reading for every scheme, with the texts in the query, in a form body
// or both, and with JSON bodies.
func TestFormBitsAgreesWithScan(t *testing.T) {
	refused := 0
	check := func(scheme, q, body string) {
		t.Helper()
		want, wok := refMoneyParams(scheme, &parsedRequest{rawQuery: q, body: body})
		got, gok := moneyParams(scheme, &parsedRequest{rawQuery: q, body: body})
		if wok {
			refused++
		}
		if want != got || wok != gok {
			t.Errorf("%s ?%s body %q: moneyParams %q %v, the scan %q %v", scheme, q, body, got, gok, want, wok)
		}
	}
	for _, scheme := range catalogueSchemes() {
		for _, a := range paramTexts {
			check(scheme, a, "")
			check(scheme, "", a)
			for _, b := range paramTexts {
				check(scheme, a, b)
				check(scheme, a+"&"+b, "")
			}
			for _, j := range paramJSON {
				check(scheme, a, j)
			}
		}
	}
	assert.Greater(t, refused, 1000)
}

// FuzzMoneyIndex holds the index and the name table to the reference on
// random requests.
func FuzzMoneyIndex(f *testing.F) {
	for _, e := range catalogue() {
		if e.action != "" {
			f.Add(uint8(0), "POST", "/exchange", "", `{"action":{"type":"`+e.action+`"}}`)
			continue
		}
		f.Add(uint8(len(e.Scheme)), e.ep.Method, concrete(e.ep), "coin=BTC&amount=1", "")
	}
	for _, q := range paramTexts {
		f.Add(uint8(3), "POST", "/api/v3/order", q, q)
	}
	schemes := catalogueSchemes()
	f.Fuzz(func(t *testing.T, s uint8, method, path, query, body string) {
		scheme := schemes[int(s)%len(schemes)]
		want := refMoneyEndpoint(scheme, method, path, body)
		got := moneyEndpoint(scheme, method, path, body)
		if (want == nil) != (got == nil) || want != nil && want.ID != got.ID {
			t.Fatalf("%s %q %q %q: index %v, scan %v", scheme, method, path, body, got, want)
		}
		p1 := &parsedRequest{rawQuery: query, body: strings.TrimSpace(body)}
		p2 := &parsedRequest{rawQuery: query, body: strings.TrimSpace(body)}
		ws, wok := refMoneyParams(scheme, p1)
		gs, gok := moneyParams(scheme, p2)
		if ws != gs || wok != gok {
			t.Fatalf("%s ?%q body %q: moneyParams %q %v, scan %q %v", scheme, query, body, gs, gok, ws, wok)
		}
	})
}

// BenchmarkMoneyCheck compares the money check of a Binance order, with
// the URL already parsed as the agent passes it, through the index and
// through the reference scan.
func BenchmarkMoneyCheck(b *testing.B) {
	r := Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "POST", URL: "https://api.binance.com/api/v3/order",
		Host: "api.binance.com", Path: "/api/v3/order", Body: "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.1&price=30000&timestamp=1&recvWindow=5000"}
	var p parsedRequest
	p.set(r)
	b.Run("index", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if moneyEndpoint(r.Scheme, r.Method, p.path, r.Body) != nil {
				b.Fatal("hit")
			}
			if _, hit := moneyParams(r.Scheme, &p); hit {
				b.Fatal("hit")
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if refMoneyEndpoint(r.Scheme, r.Method, p.path, r.Body) != nil {
				b.Fatal("hit")
			}
			if _, hit := refMoneyParams(r.Scheme, &p); hit {
				b.Fatal("hit")
			}
		}
	})
}
