package scheme

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var bearerMeta = map[string]string{"hosts": "api.example.com, api-testnet.example.com"}

func withMeta(base map[string]string, kv ...string) map[string]string {
	m := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "-" {
			delete(m, kv[i])
		} else {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

func TestBearerSign(t *testing.T) {
	cases := []struct {
		name       string
		meta       map[string]string
		header     string
		wantHeader string
	}{
		{"defaults", bearerMeta, "Authorization", "Bearer " + fwdSecret},
		{"own header", withMeta(bearerMeta, "header", "X-API-TOKEN"), "X-API-TOKEN", "Bearer " + fwdSecret},
		{"own prefix", withMeta(bearerMeta, "prefix", "Token "), "Authorization", "Token " + fwdSecret},
		{"no prefix", withMeta(bearerMeta, "header", "X-Api-Key", "prefix", ""), "X-Api-Key", fwdSecret},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := Request{Method: "POST", URL: "https://API.example.com:8443/v1/orders?x=1", Headers: map[string]string{"Content-Type": "application/json", "User-Agent": "bot/1"}, Body: `{"a":1}`}
			before := maps.Clone(req.Headers)
			out, err := bearer{}.Sign(fwdInput(req, "label", fwdSecret, c.meta))
			require.NoError(t, err)
			assert.Equal(t, req.URL, out.URL)
			assert.Equal(t, req.Body, out.Body)
			assert.Equal(t, map[string]string{"Content-Type": "application/json", "User-Agent": "bot/1", c.header: c.wantHeader}, out.Headers)
			assert.Equal(t, before, req.Headers)
			fwdNoSecret(t, out, nil, fwdSecret, c.header)
		})
	}
	// The API key is a label: it is not sent, and need not be header-safe.
	out, err := bearer{}.Sign(fwdInput(Request{Method: "GET", URL: "https://api.example.com/x"}, "", fwdSecret, bearerMeta))
	require.NoError(t, err)
	assert.Len(t, out.Headers, 1)
}

func TestBearerRefusals(t *testing.T) {
	cases := []struct {
		name    string
		method  string
		url     string
		headers map[string]string
		meta    map[string]string
		want    string
	}{
		{"foreign host", "GET", "https://evil.example/x", nil, bearerMeta, "not one of the credential's hosts"},
		{"no hosts", "GET", "https://api.example.com/x", nil, withMeta(bearerMeta, "hosts", "-"), "not one of the credential's hosts"},
		{"venue host not granted", "GET", "https://api.binance.com/api/v3/account", nil, bearerMeta, "not one of the credential's hosts"},
		{"http", "GET", "http://api.example.com/x", nil, bearerMeta, "https"},
		{"websocket", MethodWS, "wss://api.example.com/ws", nil, bearerMeta, "HTTP requests only"},
		{"method", "CONNECT", "https://api.example.com/x", nil, bearerMeta, "method"},
		{"header twin", "GET", "https://api.example.com/x", map[string]string{"AUTHORIZATION": "Bearer guess"}, bearerMeta, `differs from "Authorization" only in case`},
		{"own header twin", "GET", "https://api.example.com/x", map[string]string{"x-api-token": "guess"}, withMeta(bearerMeta, "header", "X-API-TOKEN"), `differs from "X-API-TOKEN" only in case`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := bearer{}.Sign(fwdInput(Request{Method: c.method, URL: c.url, Headers: c.headers}, "label", fwdSecret, c.meta))
			requireRefusal(t, err, "bearer", c.want)
			fwdNoSecret(t, out, err, fwdSecret, "")
		})
	}
	// Bad metadata is the credential's fault: a plain error.
	_, err := bearer{}.Sign(fwdInput(Request{Method: "GET", URL: "https://api.example.com/x"}, "label", fwdSecret, withMeta(bearerMeta, "header", "Host")))
	require.Error(t, err)
	assert.False(t, errors.As(err, new(*RequestError)))
	_, err = bearer{}.Sign(fwdInput(Request{Method: "GET", URL: "https://api.example.com/x"}, "label", "a\r\nb", bearerMeta))
	require.Error(t, err)
	assert.False(t, errors.As(err, new(*RequestError)))
}

func TestBearerCheck(t *testing.T) {
	c, err := bearer{}.Check(Key{APIKey: "any label", Secret: []byte(fwdSecret), Meta: bearerMeta})
	require.NoError(t, err)
	assert.Equal(t, Checked{KeyType: KeyToken}, c)
	for name, k := range map[string]struct {
		meta   map[string]string
		secret string
		want   string
	}{
		"no hosts":        {withMeta(bearerMeta, "hosts", "-"), fwdSecret, "--host"},
		"blank hosts":     {withMeta(bearerMeta, "hosts", " , "), fwdSecret, "--host"},
		"host with URL":   {withMeta(bearerMeta, "hosts", "https://api.example.com"), fwdSecret, "give the name alone"},
		"framing header":  {withMeta(bearerMeta, "header", "Content-Length"), fwdSecret, "HTTP itself uses"},
		"hop header":      {withMeta(bearerMeta, "header", "connection"), fwdSecret, "HTTP itself uses"},
		"proxy header":    {withMeta(bearerMeta, "header", "Proxy-Authorization"), fwdSecret, "HTTP itself uses"},
		"host header":     {withMeta(bearerMeta, "header", "Host"), fwdSecret, "HTTP itself uses"},
		"header colon":    {withMeta(bearerMeta, "header", "X-Key:"), fwdSecret, "not a header name"},
		"empty header":    {withMeta(bearerMeta, "header", ""), fwdSecret, "header is empty"},
		"prefix newline":  {withMeta(bearerMeta, "prefix", "Bearer\n"), fwdSecret, "control"},
		"long prefix":     {withMeta(bearerMeta, "prefix", strings.Repeat("p", 65)), fwdSecret, "at most 64"},
		"short token":     {bearerMeta, "abc", "8 to 8192"},
		"token w/ space":  {bearerMeta, "fake token for tests", "space"},
		"PEM":             {bearerMeta, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "PEM"},
		"non-ASCII token": {bearerMeta, "fake-tökén-for-tests", "non-ASCII"},
	} {
		_, err := bearer{}.Check(Key{APIKey: "label", Secret: []byte(k.secret), Meta: k.meta})
		requireRefusal(t, err, "bearer", k.want)
		assert.NotContains(t, err.Error(), fwdSecret, name)
	}
	assert.Empty(t, bearer{}.Hosts())
	info := bearer{}.Info()
	assert.True(t, info.ForwardOnly)
	assert.Equal(t, []string{"token"}, info.ClearSecrets)
	for _, k := range []string{"hosts", "header", "prefix"} {
		assert.Contains(t, info.Meta, k)
	}
}

// Every forward-only scheme says so, names what travels in clear, and
// takes a token.
func TestForwardOnlySchemes(t *testing.T) {
	var names []string
	for _, s := range all() {
		if s.Info().ForwardOnly {
			names = append(names, s.Name())
			assert.NotEmpty(t, s.Info().ClearSecrets, s.Name())
			assert.Equal(t, []string{KeyToken}, s.Info().KeyTypes, s.Name())
		}
	}
	assert.ElementsMatch(t, []string{"alpaca", "oanda", "bearer"}, names)
}

func FuzzBearerSign(f *testing.F) {
	f.Add("GET", "api.example.com", "/v1/me", "", "", "", "Authorization")
	f.Add("POST", "api.example.com", "/v1/orders", "a=1", `{"a":1}`, "X-API-TOKEN", "x-api-token")
	f.Add("GET", "api-testnet.example.com:8443", "/x", "", "", "", "authorization")
	f.Add("GET", "api.example.com", "/x", "", "", "Host", "")
	f.Fuzz(func(t *testing.T, method, host, path, query, body, header, botHeader string) {
		u := "https://" + host + path
		if query != "" {
			u += "?" + query
		}
		meta := bearerMeta
		if header != "" {
			// Set as is: withMeta reads "-" as "remove the key", and "-" is
			// a header name.
			meta = maps.Clone(bearerMeta)
			meta["header"] = header
		}
		var headers map[string]string
		if botHeader != "" {
			headers = map[string]string{botHeader: "bot-value"}
		}
		out, err := bearer{}.Sign(fwdInput(Request{Method: method, URL: u, Body: body, Headers: headers}, "label", fwdSecret, meta))
		if err != nil {
			require.NotContains(t, err.Error(), fwdSecret)
			var re *RequestError
			if !errors.As(err, &re) {
				_, _, cerr := bearerConfig(meta)
				require.Error(t, cerr, "a plain error only for bad metadata: %v", err)
			}
			return
		}
		want := header
		if want == "" {
			want = "Authorization"
		}
		require.Equal(t, "Bearer "+fwdSecret, out.Headers[want])
		n := 0
		for k, v := range out.Headers {
			if strings.EqualFold(k, want) {
				n++
			} else {
				require.NotContains(t, v, fwdSecret)
			}
		}
		require.Equal(t, 1, n)
		require.Equal(t, u, out.URL)
		require.Equal(t, body, out.Body)
	})
}
