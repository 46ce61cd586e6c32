package fasturl

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// reference is what net/url makes of raw.
func reference(raw string) (URL, error) {
	pu, err := url.Parse(raw)
	if err != nil {
		return URL{}, err
	}
	return URL{
		Scheme: pu.Scheme, Host: pu.Host, Hostname: pu.Hostname(),
		EscapedPath: pu.EscapedPath(), Path: pu.Path, RawQuery: pu.RawQuery,
		HasUser: pu.User != nil, Opaque: pu.Opaque, Fragment: pu.Fragment,
	}, nil
}

// agree checks that the fast path, when it takes raw, says what net/url
// says, and that Parse always does.
func agree(t *testing.T, raw string) (fastPath bool) {
	t.Helper()
	want, werr := reference(raw)
	got, gerr := Parse(raw)
	if werr != nil {
		require.Error(t, gerr, "%q: net/url refuses it", raw)
	} else {
		require.NoError(t, gerr, "%q", raw)
		require.Equal(t, want, got, "%q", raw)
	}
	f, ok := fast(raw)
	if ok {
		require.NoError(t, werr, "%q: the fast path took a URL net/url refuses", raw)
		require.Equal(t, want, f, "%q", raw)
	}
	return ok
}

func TestParseAgreesWithNetURL(t *testing.T) {
	for _, c := range []struct {
		raw  string
		fast bool
	}{
		{"https://api.binance.com/api/v3/order?symbol=BTCUSDT&side=BUY&timestamp=1", true},
		{"https://api.binance.com/api/v3/order", true},
		{"https://api.binance.com", true},
		{"https://api.binance.com?x=1", true},
		{"https://API.Binance.COM/Api/V3", true},
		{"wss://ws-api.binance.com/ws-api/v3", true},
		{"https://h/p?", true},
		{"https://h/p?a=%20b&c=d;e=f&g=h+i", true},
		{"https://h//double/./dot/../x_~", true},
		{"https://h/p?a=b#frag", false},
		{"https://h/p#frag", false},
		{"https://h:443/p", false},
		{"https://h:x/p", false},
		{"https://user@h/p", false},
		{"https://user:pw@h/p", false},
		{"https://[::1]/p", false},
		{"https://h/p%2Fq", false},
		{"https://h/p%zz", false},
		{"https://h/a b", false},
		{"https://h/p?a=\x7f", false},
		{"https://h/p?a=\x00", false},
		{"https://h/p\n", false},
		{"https://h/é", false},
		{"https://h/p?é=1", false},
		{"https://h/p@q:r", false},
		{"https://h/p;q=r", false},
		{"HTTPS://h/p", false},
		{"http://h/p", false},
		{"https://", false},
		{"https:///p", false},
		{"https:h/p", false},
		{"https://h%41/p", false},
		{"https://h\\/p", false},
		{"wss://", false},
		{"", false},
		{"/relative?x", false},
	} {
		require.Equal(t, c.fast, agree(t, c.raw), "fast path for %q", c.raw)
	}
}

func TestFastPathAllocatesNothing(t *testing.T) {
	raw := "https://api.binance.com/api/v3/order?symbol=BTCUSDT&side=BUY&timestamp=1"
	var sink URL
	n := testing.AllocsPerRun(100, func() {
		u, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		sink = u
	})
	require.Zero(t, n)
	require.Equal(t, "/api/v3/order", sink.EscapedPath)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"https://api.binance.com/api/v3/order?symbol=BTCUSDT",
		"wss://h/p", "https://h:1/p?q#f", "https://u@h/%41?%zz", "https://[::1]:8/x",
		"https://h/a;b,c!d$e'f(g)h*i+j=k:l@m", "https://h/p?a\x7f", "https://h./-/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		agree(t, raw)
	})
}
