package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/protocol/agenttest"
)

func writePassFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pass")
	require.NoError(t, os.WriteFile(path, []byte(content), mode))
	require.NoError(t, os.Chmod(path, mode))
	return path
}

func TestReadPassphraseFile(t *testing.T) {
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
		wantErr string
	}{
		{"one line", "correct horse\n", 0o600, "correct horse", ""},
		{"no line ending", "correct horse", 0o400, "correct horse", ""},
		{"crlf", "correct horse\r\n", 0o600, "correct horse", ""},
		{"group-readable (a Kubernetes Secret with fsGroup)", "pw\n", 0o440, "pw", ""},
		{"world-readable", "pw\n", 0o644, "", "can be read by every user (mode 0644): run `chmod o-rwx"},
		{"empty", "", 0o600, "", "is empty: write the vault passphrase on one line"},
		{"only a newline", "\n", 0o600, "", "is empty"},
		{"two lines", "pw\nsecond\n", 0o600, "", "has more than one line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writePassFile(t, tc.content, tc.mode)
			buf, err := readPassphraseFile(path)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				if tc.content != "" && strings.TrimSpace(tc.content) != "" {
					assert.NotContains(t, err.Error(), strings.TrimSpace(tc.content), "an error never quotes the file")
				}
				return
			}
			require.NoError(t, err)
			defer buf.Destroy()
			assert.Equal(t, tc.want, string(buf.Bytes()))
		})
	}
	_, err := readPassphraseFile(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = readPassphraseFile(t.TempDir())
	assert.ErrorContains(t, err, "is not a regular file")
}

func TestUnlockSource(t *testing.T) {
	creds := t.TempDir()
	p, origin, err := unlockSource("", creds)
	require.NoError(t, err)
	assert.Empty(t, p, "a credentials directory without keyward.passphrase means no unlock")
	assert.Empty(t, origin)

	require.NoError(t, os.WriteFile(filepath.Join(creds, CredentialName), []byte("pw"), 0o400))
	p, origin, err = unlockSource("", creds)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(creds, CredentialName), p)
	assert.Equal(t, "systemd credential keyward.passphrase", origin)

	p, origin, err = unlockSource("/etc/x", creds)
	require.NoError(t, err)
	assert.Equal(t, "/etc/x", p, "--unlock-file wins")
	assert.Equal(t, "--unlock-file", origin)

	p, _, err = unlockSource("", "")
	require.NoError(t, err)
	assert.Empty(t, p)
}

func TestUnlockAtStart(t *testing.T) {
	a := newTestAgent(t)
	bad := writePassFile(t, "wrong passphrase\n", 0o600)
	_, err := unlockAtStart(context.Background(), a, uint32(os.Getuid()), bad, "--unlock-file")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "agent: unlock from --unlock-file ("+bad+"): wrong passphrase")
	assert.NotContains(t, err.Error(), "wrong passphrase\n")
	locked, _ := a.State()
	assert.True(t, locked)

	good := writePassFile(t, agenttest.Passphrase+"\n", 0o600)
	n, err := unlockAtStart(context.Background(), a, uint32(os.Getuid()), good, "--unlock-file")
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	locked, _ = a.State()
	assert.False(t, locked)
	data, err := os.ReadFile(good)
	require.NoError(t, err)
	assert.Equal(t, agenttest.Passphrase+"\n", string(data), "the file is not altered")
}
