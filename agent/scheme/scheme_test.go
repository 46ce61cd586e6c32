package scheme

import (
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTable(t *testing.T) {
	names := Names()
	require.NotEmpty(t, names)
	assert.True(t, slices.IsSorted(names))
	for _, n := range names {
		s, ok := Lookup(n)
		require.True(t, ok, n)
		assert.Equal(t, n, s.Name())
		if _, perCredential := s.Info().Meta["hosts"]; !perCredential {
			assert.NotEmpty(t, s.Hosts(), "%s has no hosts of its own, so Info().Meta must say it takes them from \"hosts\"", n)
		}
		assert.NotEmpty(t, s.Info().KeyTypes, n)
	}
	_, ok := Lookup("nope")
	assert.False(t, ok)
	// Names hands out a fresh slice: changing it changes nothing here.
	names[0] = "x"
	assert.NotEqual(t, "x", Names()[0])
}

// TestTableCacheAgrees: InfoOf and HostAllowed, which read what the table
// cached, say what Info and Hosts say.
func TestTableCacheAgrees(t *testing.T) {
	for _, n := range Names() {
		s, _ := Lookup(n)
		assert.Equal(t, s.Info(), InfoOf(s), n)
		for _, h := range s.Hosts() {
			assert.True(t, HostAllowed(s, nil, h), "%s: %s", n, h)
			assert.True(t, HostAllowed(s, nil, strings.ToUpper(h)), "%s: %s in upper case", n, h)
			assert.False(t, HostAllowed(s, nil, h+".evil.example"), "%s: %s.evil.example", n, h)
		}
		assert.False(t, HostAllowed(s, nil, "evil.example"), n)
		assert.True(t, HostAllowed(s, map[string]string{"hosts": "a.example, Evil.Example"}, "evil.example"), n)
		assert.False(t, HostAllowed(s, nil, ""), n)
	}
}

// allowedImports are the packages beyond the standard library a scheme may
// use: the erasure wrapper for asymmetric keys, and well-kept primitives
// the standard library lacks.
var allowedImports = []string{
	"github.com/keyward/keyward/internal/erase",
	"github.com/keyward/keyward/internal/fasturl",     // net/url without its allocations for the common URL
	"golang.org/x/crypto/sha3",                        // Keccak-256 (hyperliquid)
	"github.com/decred/dcrd/dcrec/secp256k1/v4",       // secp256k1 (hyperliquid)
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa", // secp256k1 recoverable signatures
	"filippo.io/edwards25519",                         // Ed25519 signing with the stored public key (ed25519sign.go)
}

// TestImportsStayPure holds the package to its doc comment: standard library
// only, and nothing that reaches the network, the clock's owner, a logger
// or the agent.
func TestImportsStayPure(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	forbidden := []string{"net", "net/netip", "net/http", "log", "log/slog", "os", "os/exec", "unsafe", "math/rand", "crypto/hmac"}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			require.NoError(t, err)
			first, _, _ := strings.Cut(path, "/")
			if !slices.Contains(allowedImports, path) {
				assert.NotContains(t, first, ".", "%s imports %s: schemes use the standard library and allowedImports only", name, path)
			}
			assert.NotContains(t, forbidden, path, "%s imports %s", name, path)
		}
	}
}

// TestCaseTwinsRefused: a member that differs from one the agent sets only
// in letter case is refused, since case-insensitive decoders would read
// the two as one (found by the fuzzers).
func TestCaseTwinsRefused(t *testing.T) {
	k, twin := caseTwin("Nonce", "nonce")
	assert.True(t, twin)
	assert.Equal(t, "nonce", k)
	_, twin = caseTwin("nonce", "nonce")
	assert.False(t, twin)

	_, err := kraken{}.Sign(Input{
		Request: Request{Method: "POST", URL: "https://api.kraken.com/0/private/Balance",
			Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"Nonce":1}`},
		APIKey: "k", Secret: make([]byte, 64), Scratch: make([]byte, ScratchSize), Now: time.UnixMilli(1),
	})
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.Contains(t, re.Msg, `differs from "nonce" only in case`)

	_, err = deribit{}.Sign(Input{
		Request: Request{Method: MethodWS, URL: "wss://www.deribit.com/ws/api/v2",
			Body: `{"method":"public/auth","params":{"grant_type":"client_signature","nonCe":0}}`},
		APIKey: "client", Secret: []byte("deribit-test-secret"), Scratch: make([]byte, ScratchSize), Now: time.UnixMilli(1),
	})
	require.ErrorAs(t, err, &re)
	assert.Contains(t, re.Msg, `differs from "nonce" only in case`)
}

// TestKrakenRawSemicolonRefused: found by FuzzKrakenSign in CI. A raw ';'
// in a form body is a separator to some decoders and not to others.
func TestKrakenRawSemicolonRefused(t *testing.T) {
	_, err := kraken{}.Sign(Input{
		Request: Request{Method: "POST", URL: "https://api.kraken.com/0/private/Balance", Body: "a=1;b=2"},
		APIKey:  "k", Secret: make([]byte, 64), Scratch: make([]byte, ScratchSize), Now: time.UnixMilli(1),
	})
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.Contains(t, re.Msg, "%3B")
}

// loadVectors reads testdata/NAME.json, a scheme's test vectors, into a T.
func loadVectors[T any](t testing.TB, name string) T {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	require.NoError(t, err)
	var v T
	require.NoError(t, json.Unmarshal(raw, &v))
	return v
}

// requireRefusal checks that err is a *RequestError of scheme whose
// message says want.
func requireRefusal(t testing.TB, err error, scheme, want string) {
	t.Helper()
	var re *RequestError
	require.True(t, errors.As(err, &re), "want a RequestError, got %v", err)
	assert.Contains(t, re.Msg, want)
	assert.True(t, strings.HasPrefix(re.Msg, scheme+": "), re.Msg)
}
