package vault

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// cheap keeps Argon2id fast under -race; real vaults use DefaultParams.
var cheap = Params{Time: 1, MemoryKiB: 64, Threads: 1}

// passphrase returns a fresh copy of the tests' passphrase: the vault
// wipes every passphrase it is given once the key is derived.
func passphrase() []byte { return []byte("correct horse battery staple") }

// secrets collects what Unlock decrypts. Tests use the ordinary heap; the
// keyring hands out locked memory.
type secrets map[string][]byte

func (s secrets) dst(rec Record, n int) ([]byte, error) {
	b := make([]byte, n)
	s[rec.Name] = b
	return b, nil
}

func newVault(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyward", "vault")
	require.NoError(t, Create(path, passphrase(), cheap))
	return path
}

func unlock(path string, pass []byte) (*Vault, secrets, error) {
	f, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	s := secrets{}
	v, err := f.Unlock(pass, s.dst)
	return v, s, err
}

func mustUnlock(t *testing.T, path string) (*Vault, secrets) {
	t.Helper()
	v, s, err := unlock(path, passphrase())
	require.NoError(t, err)
	t.Cleanup(v.Close)
	return v, s
}

// populated returns a vault with three records.
func populated(t *testing.T) string {
	t.Helper()
	path := newVault(t)
	v, _ := mustUnlock(t, path)
	for _, r := range testRecords {
		require.NoError(t, v.Add(r.rec, []byte(r.secret)))
	}
	return path
}

var testRecords = []struct {
	rec    Record
	secret string
}{
	{Record{Name: "binance-main", Scheme: "binance-hmac", APIKey: "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", Meta: map[string]string{"exchange": "binance", "note": `quotes " and \ survive`}}, "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"},
	{Record{Name: "kraken.bot-1", Scheme: "kraken", APIKey: "ünïcödé-key"}, "kraken-test-secret-not-real=="},
	{Record{Name: "0x_okx", Scheme: "okx", Meta: map[string]string{}}, "k"},
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, b, 0o600))
	require.NoError(t, os.Chmod(path, 0o600))
}

// splitLines splits a file into lines, each with its newline.
func splitLines(raw []byte) [][]byte {
	return bytes.SplitAfter(raw[:len(raw)-1], []byte("\n"))
}

// resum replaces the last line of lines with a correct sum line, as an
// attacker who edits the file would.
func resum(lines [][]byte) []byte {
	body := bytes.Join(lines[:len(lines)-1], nil)
	sum := sha256.Sum256(body)
	return append(body, "sum "+hex.EncodeToString(sum[:])+"\n"...)
}

// remac recomputes the mac and sum lines with the real data key, as only
// someone holding the data key could: it lets a test reach the per-record
// authentication behind the file MAC.
func remac(t *testing.T, lines [][]byte, pass []byte) []byte {
	t.Helper()
	p, err := parse(resum(lines))
	require.NoError(t, err)
	kek := deriveKEK(pass, p.salt, p.params)
	dk, err := newGCM(kek).Open(nil, p.keyNonce, p.wrapped, p.header)
	require.NoError(t, err)
	body := bytes.Join(lines[:len(lines)-2], nil)
	return appendTrailer(body, fileMAC(dk, body))
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
