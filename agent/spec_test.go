package agent

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/agent/vault"
	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// TestSpecSignExampleIsReal signs SPEC.md's example request with Binance's
// documented example key at the documented time, and expects SPEC.md's
// example reply byte for byte.
func TestSpecSignExampleIsReal(t *testing.T) {
	spec, err := os.ReadFile("../protocol/SPEC.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)### sign request\n\n```json\n(.*?)\n```.*?### sign reply\n\n```json\n(.*?)\n```").FindSubmatch(spec)
	require.NotNil(t, m, "SPEC.md has a sign request and reply")
	req, err := protocol.DecodeRequest(m[1])
	require.NoError(t, err)

	path := filepath.Join(t.TempDir(), "vault")
	require.NoError(t, vault.Create(path, []byte(agenttest.Passphrase), cheapKDF))
	a := New(Config{VaultPath: path, Log: testLog(t), OwnerUID: uint32(os.Getuid()),
		Now: func() time.Time { return time.UnixMilli(1499827319559) }})
	defer a.Close()
	ctx := selfContext()
	_, err = a.Unlock(ctx, protocol.UnlockArgs{Passphrase: protocol.Secret(agenttest.Passphrase)})
	require.NoError(t, err)
	// Binance's published example key pair, from the page SPEC.md links.
	_, err = a.Add(ctx, protocol.AddArgs{Name: "main", Scheme: "binance",
		APIKey: "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
		Secret: protocol.Secret("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j")})
	require.NoError(t, err)

	reply := protocol.Handle(ctx, a, req)
	got, err := protocol.EncodeReply(reply)
	require.NoError(t, err)
	assert.Equal(t, string(m[2]), string(got))
}
