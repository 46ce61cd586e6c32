package client

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDependencyRules enforces the architecture: the client links neither
// the agent nor memguard, protocol imports nothing else of keyward's, and
// the signing schemes never link the server, the keyring, HTTP or a logger.
// (They do link package net: crypto/x509, which parses venues' PEM keys,
// imports it for IP addresses in certificates. No scheme imports net
// itself; agent/scheme's TestImportsStayPure checks that.)
func TestDependencyRules(t *testing.T) {
	for _, tc := range []struct {
		pkg       string
		forbidden []string
	}{
		// A trailing "/..." forbids the package and everything below it.
		{"github.com/keyward/keyward/client", []string{"github.com/keyward/keyward/agent/...", "github.com/awnumar/...", "golang.org/x/crypto/..."}},
		{"github.com/keyward/keyward/protocol", []string{"github.com/keyward/keyward/agent/...", "github.com/keyward/keyward/client/...", "github.com/awnumar/..."}},
		{"github.com/keyward/keyward/agent/scheme", []string{"github.com/keyward/keyward/agent", "github.com/keyward/keyward/agent/keyring", "github.com/keyward/keyward/agent/vault", "github.com/keyward/keyward/agent/peercred", "github.com/keyward/keyward/protocol", "github.com/awnumar/...", "net/http", "log/slog", "os/exec"}},
	} {
		out, err := exec.Command("go", "list", "-deps", tc.pkg).CombinedOutput()
		require.NoError(t, err, "%s", out)
		deps := strings.Fields(string(out))
		require.NotEmpty(t, deps)
		require.Contains(t, deps, tc.pkg)
		for _, d := range deps {
			for _, f := range tc.forbidden {
				prefix, tree := strings.CutSuffix(f, "/...")
				if d == prefix || tree && strings.HasPrefix(d, prefix+"/") {
					t.Errorf("%s links %s, which it must not (%s)", tc.pkg, d, f)
				}
			}
		}
	}
}
