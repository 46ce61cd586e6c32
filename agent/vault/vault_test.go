package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	path := newVault(t)

	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), st.Mode().Perm())
	st, err = os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), st.Mode().Perm(), "missing parents are created 0700")

	f, err := Open(path)
	require.NoError(t, err)
	assert.Empty(t, f.Records())
	assert.Equal(t, cheap, f.Params())
	assert.Equal(t, path, f.Path())

	before := time.Now().UTC().Truncate(time.Second)
	v, _ := mustUnlock(t, path)
	for _, r := range testRecords {
		require.NoError(t, v.Add(r.rec, []byte(r.secret)))
	}
	after := time.Now().UTC()

	f, err = Open(path) // metadata while locked
	require.NoError(t, err)
	recs := f.Records()
	require.Len(t, recs, len(testRecords))
	assert.Equal(t, []string{"0x_okx", "binance-main", "kraken.bot-1"}, []string{recs[0].Name, recs[1].Name, recs[2].Name})
	for _, want := range testRecords {
		var got Record
		for _, r := range recs {
			if r.Name == want.rec.Name {
				got = r
			}
		}
		assert.Equal(t, want.rec.Scheme, got.Scheme)
		assert.Equal(t, want.rec.APIKey, got.APIKey)
		assert.Equal(t, len(want.rec.Meta), len(got.Meta))
		for k, val := range want.rec.Meta {
			assert.Equal(t, val, got.Meta[k])
		}
		assert.Equal(t, uint32(1), got.Version)
		assert.Equal(t, time.UTC, got.Created.Location())
		assert.Equal(t, got.Created, got.Rotated)
		assert.Zero(t, got.Created.Nanosecond())
		assert.False(t, got.Created.Before(before) || got.Created.After(after), "created %v not in [%v, %v]", got.Created, before, after)
	}
	assert.Equal(t, recs, v.Records(), "the unlocked vault and the file agree")

	recs[0].Meta["x"] = "y" // copies: mutating them changes nothing
	assert.NotContains(t, f.Records()[0].Meta, "x")

	s := secrets{}
	v2, err := f.Unlock(passphrase(), s.dst)
	require.NoError(t, err)
	defer v2.Close()
	require.Len(t, s, len(testRecords))
	for _, r := range testRecords {
		assert.Equal(t, r.secret, string(s[r.rec.Name]))
	}
	raw := readFile(t, path)
	for _, r := range testRecords {
		if len(r.secret) > 8 {
			assert.NotContains(t, string(raw), r.secret, "a secret is on disk in clear")
		}
	}
}

func TestUnlockFailures(t *testing.T) {
	path := populated(t)
	f, err := Open(path)
	require.NoError(t, err)

	t.Run("wrong passphrase", func(t *testing.T) {
		calls := 0
		_, err := f.Unlock([]byte("Correct horse battery staple"), func(Record, int) ([]byte, error) { calls++; return nil, nil })
		require.ErrorIs(t, err, ErrWrongPassphrase)
		assert.Equal(t, "vault: unlock "+path+": wrong passphrase", err.Error())
		assert.Zero(t, calls, "no buffer is asked for before the passphrase is right")
	})
	t.Run("empty passphrase", func(t *testing.T) {
		_, err := f.Unlock(nil, secrets{}.dst)
		require.ErrorIs(t, err, ErrWrongPassphrase)
	})
	t.Run("dst fails", func(t *testing.T) {
		_, err := f.Unlock(passphrase(), func(Record, int) ([]byte, error) { return nil, errors.New("out of locked memory") })
		require.ErrorContains(t, err, "out of locked memory")
		assert.ErrorContains(t, err, "credential 0x_okx")
	})
	t.Run("dst wrong size", func(t *testing.T) {
		_, err := f.Unlock(passphrase(), func(_ Record, n int) ([]byte, error) { return make([]byte, n+1), nil })
		require.ErrorContains(t, err, "want 1")
	})
	t.Run("dst larger capacity", func(t *testing.T) {
		s := secrets{}
		v, err := f.Unlock(passphrase(), func(r Record, n int) ([]byte, error) {
			b := make([]byte, n, n+100)
			s[r.Name] = b
			return b, nil
		})
		require.NoError(t, err)
		v.Close()
		assert.Equal(t, "k", string(s["0x_okx"]))
	})
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	valid := readFile(t, populated(t))
	v2 := splitLines(valid)
	v2[0] = []byte("keyward-vault v2\n")

	tests := []struct {
		name    string
		setup   func(path string)
		is      error
		message string
	}{
		{"missing", func(string) {}, ErrNotExist, "run `keyward init`"},
		{"world-readable", func(p string) { writeFile(t, p, valid); os.Chmod(p, 0o644) }, ErrPermissions, "mode 0644 lets other users access it: run `chmod 600 PATH`"},
		{"group-readable", func(p string) { writeFile(t, p, valid); os.Chmod(p, 0o640) }, ErrPermissions, "run `chmod 600 PATH`"},
		{"newer version", func(p string) { writeFile(t, p, resum(v2)) }, ErrUnsupportedVersion, "vault format v2 is newer than this keyward (v1): upgrade keyward"},
		{"other kdf", func(p string) {
			l := splitLines(valid)
			l[1] = bytes.Replace(l[1], []byte("argon2id"), []byte("scrypt"), 1)
			writeFile(t, p, resum(l))
		}, ErrUnsupportedVersion, `key derivation "scrypt" is not supported`},
		{"empty", func(p string) { writeFile(t, p, nil) }, ErrCorrupt, "the file is empty"},
		{"not a vault", func(p string) { writeFile(t, p, []byte("-----BEGIN PRIVATE KEY-----\n")) }, ErrCorrupt, "line 1: not a keyward vault"},
		{"bad record json", func(p string) {
			l := splitLines(valid)
			l[4] = []byte("record {\"name\":\n")
			writeFile(t, p, resum(l))
		}, ErrCorrupt, "line 5: record: malformed JSON"},
		{"non-canonical record", func(p string) {
			l := splitLines(valid)
			l[4] = bytes.Replace(l[4], []byte(`{"name"`), []byte(`{ "name"`), 1)
			writeFile(t, p, resum(l))
		}, ErrCorrupt, "line 5: record: not in canonical form"},
		{"unknown field", func(p string) {
			l := splitLines(valid)
			l[4] = bytes.Replace(l[4], []byte(`{"name"`), []byte(`{"evil":1,"name"`), 1)
			writeFile(t, p, resum(l))
		}, ErrCorrupt, "line 5: record: not in canonical form"},
		{"cost above ceiling", func(p string) {
			l := splitLines(valid)
			l[1] = bytes.Replace(l[1], []byte("m=64 "), []byte("m=4294967295 "), 1)
			writeFile(t, p, resum(l))
		}, ErrCorrupt, "line 2: kdf: argon2id memory m=4294967295 KiB is out of range"},
		{"directory", func(p string) { os.Mkdir(p, 0o700) }, nil, "not a regular file"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("vault-%d", i))
			tt.setup(path)
			before, _ := os.ReadFile(path)
			_, err := Open(path)
			require.Error(t, err)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
			assert.Contains(t, err.Error(), "vault: open "+path+": ")
			assert.Contains(t, err.Error(), strings.ReplaceAll(tt.message, "PATH", path))
			after, _ := os.ReadFile(path)
			assert.Equal(t, before, after, "Open never writes")
		})
	}
	_, err := Open(filepath.Join(dir, "nope"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "ErrNotExist also matches fs.ErrNotExist")
}

func TestPermissionHintQuotesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "my vault's")
	writeFile(t, path, readFile(t, newVault(t)))
	require.NoError(t, os.Chmod(path, 0o604))
	_, err := Open(path)
	require.ErrorIs(t, err, ErrPermissions)
	assert.Contains(t, err.Error(), "run `chmod 600 '"+strings.ReplaceAll(path, "'", `'\''`)+"'`")
}

// Every proper prefix of a vault is corrupt: never a panic, never a wrong
// passphrase().
func TestTruncated(t *testing.T) {
	raw := readFile(t, populated(t))
	path := filepath.Join(t.TempDir(), "vault")
	for n := range len(raw) {
		writeFile(t, path, raw[:n])
		_, err := Open(path)
		require.ErrorIs(t, err, ErrCorrupt, "truncated to %d of %d bytes", n, len(raw))
	}
}

// A changed byte anywhere is caught by the sum (or the structure) while the
// vault is still locked.
func TestFlippedByte(t *testing.T) {
	raw := readFile(t, populated(t))
	for _, mask := range []byte{0x01, 0x80, 0x20} {
		for i := range raw {
			b := bytes.Clone(raw)
			b[i] ^= mask
			_, err := parse(b)
			require.ErrorIs(t, err, ErrCorrupt, "byte %d ^ %#x", i, mask)
		}
	}
	// And through Open, for a sample.
	path := filepath.Join(t.TempDir(), "vault")
	for i := 0; i < len(raw); i += 97 {
		b := bytes.Clone(raw)
		b[i] ^= 0x04
		writeFile(t, path, b)
		_, err := Open(path)
		require.ErrorIs(t, err, ErrCorrupt, "byte %d", i)
	}
}

// Deliberate edits with a recomputed sum. Edits to the kdf or key line can
// only show as a wrong passphrase() (the KEK or the wrapped key changed, so
// the data key cannot be unwrapped to check anything else); edits anywhere
// else are ErrTampered: caught by the file MAC on Unlock, or by Open when
// records are out of order or duplicated. The "remac" cases recompute the MAC
// too, as only a holder of the data key could, to show that each record's
// own additional data binds it.
func TestTampered(t *testing.T) {
	path := populated(t)
	raw := readFile(t, path)
	other := readFile(t, populated(t)) // same passphrase(), other data key
	// lines: 0 version, 1 kdf, 2 key, 3..5 records (0x_okx, binance-main, kraken.bot-1), 6 mac, 7 sum
	lines := func() [][]byte { return splitLines(raw) }
	replace := func(l []byte, old, new string) []byte {
		require.Contains(t, string(l), old)
		return bytes.Replace(l, []byte(old), []byte(new), 1)
	}
	field := func(l []byte, name string) string {
		var rest string
		_, rest, _ = strings.Cut(string(l), `"`+name+`":"`)
		v, _, _ := strings.Cut(rest, `"`)
		return v
	}
	swapSealed := func(l [][]byte) {
		a, b := field(l[3], "sealed"), field(l[5], "sealed")
		l[3], l[5] = replace(l[3], a, b), replace(l[5], b, a)
	}
	tests := []struct {
		name  string
		edit  func(l [][]byte) []byte
		want  error
		where string // "open" or "unlock"
	}{
		{"rename record", func(l [][]byte) []byte { l[4] = replace(l[4], "binance-main", "binance-mair"); return resum(l) }, ErrTampered, "unlock"},
		{"edit scheme", func(l [][]byte) []byte { l[4] = replace(l[4], "binance-hmac", "binance-rsa"); return resum(l) }, ErrTampered, "unlock"},
		{"edit meta", func(l [][]byte) []byte {
			l[4] = replace(l[4], `"exchange":"binance"`, `"exchange":"bybit"`)
			return resum(l)
		}, ErrTampered, "unlock"},
		{"add meta", func(l [][]byte) []byte { l[3] = replace(l[3], `"meta":{}`, `"meta":{"a":"b"}`); return resum(l) }, ErrTampered, "unlock"},
		{"edit api key", func(l [][]byte) []byte { l[5] = replace(l[5], "ünïcödé", "unicode"); return resum(l) }, ErrTampered, "unlock"},
		{"edit version", func(l [][]byte) []byte { l[4] = replace(l[4], `"version":1`, `"version":2`); return resum(l) }, ErrTampered, "unlock"},
		{"edit created", func(l [][]byte) []byte { l[4] = replace(l[4], `"created":"2`, `"created":"1`); return resum(l) }, ErrTampered, "unlock"},
		{"swap sealed blobs", func(l [][]byte) []byte { swapSealed(l); return resum(l) }, ErrTampered, "unlock"},
		{"delete record", func(l [][]byte) []byte { return resum(append(l[:4:4], l[5:]...)) }, ErrTampered, "unlock"},
		{"delete all records", func(l [][]byte) []byte { return resum(append(l[:3:3], l[6:]...)) }, ErrTampered, "unlock"},
		{"add record from another vault", func(l [][]byte) []byte {
			o := splitLines(other)
			o[3] = replace(o[3], "0x_okx", "zz-extra")
			return resum(append(l[:6:6], append([][]byte{o[3]}, l[6:]...)...))
		}, ErrTampered, "unlock"},
		{"records from another vault", func(l [][]byte) []byte { o := splitLines(other); copy(l[3:6], o[3:6]); return resum(l) }, ErrTampered, "unlock"},
		{"header from another vault", func(l [][]byte) []byte { o := splitLines(other); copy(l[:3], o[:3]); return resum(l) }, ErrTampered, "unlock"},
		{"mac from another vault", func(l [][]byte) []byte { l[6] = splitLines(other)[6]; return resum(l) }, ErrTampered, "unlock"},
		{"reorder records", func(l [][]byte) []byte { l[3], l[4] = l[4], l[3]; return resum(l) }, ErrTampered, "open"},
		{"duplicate record", func(l [][]byte) []byte { l[4] = l[3]; return resum(l) }, ErrTampered, "open"},
		{"edit kdf cost", func(l [][]byte) []byte { l[1] = replace(l[1], "t=1 ", "t=2 "); return resum(l) }, ErrWrongPassphrase, "unlock"},
		{"edit kdf salt", func(l [][]byte) []byte { l[1] = splitLines(other)[1]; return resum(l) }, ErrWrongPassphrase, "unlock"},
		{"key line from another vault", func(l [][]byte) []byte { l[2] = splitLines(other)[2]; return resum(l) }, ErrWrongPassphrase, "unlock"},
		{"remac: rename record", func(l [][]byte) []byte {
			l[4] = replace(l[4], "binance-main", "binance-mair")
			return remac(t, l, passphrase())
		}, ErrTampered, "unlock"},
		{"remac: edit meta", func(l [][]byte) []byte {
			l[4] = replace(l[4], `"exchange":"binance"`, `"exchange":"bybit"`)
			return remac(t, l, passphrase())
		}, ErrTampered, "unlock"},
		{"remac: edit version", func(l [][]byte) []byte {
			l[4] = replace(l[4], `"version":1`, `"version":2`)
			return remac(t, l, passphrase())
		}, ErrTampered, "unlock"},
		{"remac: swap sealed blobs", func(l [][]byte) []byte { swapSealed(l); return remac(t, l, passphrase()) }, ErrTampered, "unlock"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, fmt.Sprintf("vault-%d", i))
			writeFile(t, p, tt.edit(lines()))
			f, err := Open(p)
			if tt.where == "open" {
				require.ErrorIs(t, err, tt.want)
				return
			}
			require.NoError(t, err, "an intact, well-formed file opens while locked")
			s := secrets{}
			_, err = f.Unlock(passphrase(), s.dst)
			require.ErrorIs(t, err, tt.want)
			assert.NotErrorIs(t, err, ErrCorrupt)
			if !strings.HasPrefix(tt.name, "remac") {
				assert.Empty(t, s, "buffers are handed out only after the MAC passes")
			}
			for name, b := range s {
				assert.Equal(t, make([]byte, len(b)), b, "buffer for %s is wiped on failure", name)
			}
		})
	}
	_, _, err := unlock(path, passphrase())
	require.NoError(t, err, "the original still unlocks")
}

func TestCreateExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vault")
	writeFile(t, path, []byte("someone's precious file\n"))
	err := Create(path, passphrase(), cheap)
	require.ErrorIs(t, err, ErrExists)
	assert.ErrorIs(t, err, fs.ErrExist)
	assert.Equal(t, "someone's precious file\n", string(readFile(t, path)))

	require.NoError(t, os.Mkdir(filepath.Join(dir, "d"), 0o700))
	require.ErrorIs(t, Create(filepath.Join(dir, "d"), passphrase(), cheap), ErrExists)
	assert.Equal(t, []string{"d", "vault"}, listDir(t, dir))
}

// Two inits racing: the second finds the path taken between its check and
// its write, and must neither replace the file nor leave a temporary behind.
func TestCreateRace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vault")
	err := create(path, passphrase(), cheap, func(stage string) error {
		if stage == "rename" {
			return Create(path, []byte("the other one"), cheap)
		}
		return nil
	})
	require.ErrorIs(t, err, ErrExists)
	assert.Equal(t, []string{"vault"}, listDir(t, dir))
	_, _, err = unlock(path, []byte("the other one"))
	assert.NoError(t, err, "the winner's vault is intact")
}

func TestCreateRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault")
	assert.ErrorContains(t, Create(path, nil, cheap), "passphrase is empty")
	assert.ErrorContains(t, Create(path, passphrase(), Params{Time: 1, MemoryKiB: 32, Threads: 1}), "memory m=32 KiB is out of range")
	assert.NoFileExists(t, path)
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		p   Params
		err string
	}{
		{DefaultParams(), ""},
		{cheap, ""},
		{Params{Time: 0, MemoryKiB: 65536, Threads: 4}, "time t=0"},
		{Params{Time: 65, MemoryKiB: 65536, Threads: 4}, "time t=65"},
		{Params{Time: 3, MemoryKiB: 63, Threads: 1}, "memory m=63"},
		{Params{Time: 3, MemoryKiB: 5 << 20, Threads: 1}, "memory m=5242880"},
		{Params{Time: 3, MemoryKiB: 65536, Threads: 0}, "threads p=0"},
		{Params{Time: 3, MemoryKiB: 64, Threads: 16}, "below 8 KiB per thread"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.p), func(t *testing.T) {
			err := tt.p.validate()
			if tt.err == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tt.err)
			}
		})
	}
	assert.Equal(t, Params{Time: 3, MemoryKiB: 65536, Threads: 4}, DefaultParams())
}

func TestChangePassphrase(t *testing.T) {
	path := populated(t)
	before := splitLines(readFile(t, path))
	v, _ := mustUnlock(t, path)
	newPass := func() []byte { return []byte("tr0ub4dor&3") }
	newParams := Params{Time: 2, MemoryKiB: 128, Threads: 2}
	require.NoError(t, v.ChangePassphrase(newPass(), newParams))

	after := splitLines(readFile(t, path))
	require.Len(t, after, len(before))
	assert.Equal(t, before[0], after[0])
	assert.NotEqual(t, before[1], after[1], "new salt")
	assert.NotEqual(t, before[2], after[2], "re-wrapped")
	assert.Equal(t, before[3:6], after[3:6], "record lines are untouched")

	_, _, err := unlock(path, passphrase())
	assert.ErrorIs(t, err, ErrWrongPassphrase)
	f, err := Open(path)
	require.NoError(t, err)
	assert.Equal(t, newParams, f.Params())
	_, s, err := unlock(path, newPass())
	require.NoError(t, err)
	assert.Equal(t, "k", string(s["0x_okx"]))

	// The vault keeps working with the new header.
	require.NoError(t, v.Remove("0x_okx"))
	_, s, err = unlock(path, newPass())
	require.NoError(t, err)
	assert.Len(t, s, 2)

	assert.ErrorContains(t, v.ChangePassphrase(nil, cheap), "new passphrase is empty")
	assert.ErrorContains(t, v.ChangePassphrase(newPass(), Params{}), "out of range")
}

func TestAddRemoveRotate(t *testing.T) {
	path := populated(t)
	v, _ := mustUnlock(t, path)
	snapshot := readFile(t, path)

	err := v.Add(Record{Name: "binance-main", Scheme: "x"}, []byte("s"))
	require.ErrorIs(t, err, ErrRecordExists)
	assert.Equal(t, "vault: add binance-main: credential already exists: remove it first or choose another name", err.Error())
	require.ErrorIs(t, v.Remove("nope"), ErrNoRecord)
	require.ErrorIs(t, v.Rotate(Record{Name: "nope", Scheme: "x"}, []byte("s")), ErrNoRecord)

	bad := []struct {
		name   string
		rec    Record
		secret string
		err    string
	}{
		{"bad name", Record{Name: "-x", Scheme: "s"}, "s", `starts with '-'`},
		{"empty secret", Record{Name: "x", Scheme: "s"}, "", "secret is empty"},
		{"no scheme", Record{Name: "x"}, "s", "scheme must be"},
		{"scheme with space", Record{Name: "x", Scheme: "a b"}, "s", "scheme has a space"},
		{"control in api key", Record{Name: "x", Scheme: "s", APIKey: "a\nb"}, "s", "api key must be"},
		{"invalid utf-8 meta", Record{Name: "x", Scheme: "s", Meta: map[string]string{"k": "\xff"}}, "s", `metadata "k"`},
		{"empty meta key", Record{Name: "x", Scheme: "s", Meta: map[string]string{"": "v"}}, "s", "metadata keys"},
		{"huge secret", Record{Name: "x", Scheme: "s"}, strings.Repeat("a", MaxSecretSize+1), "the limit is 65536"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Add(tt.rec, []byte(tt.secret))
			require.ErrorContains(t, err, tt.err)
			if len(tt.secret) > 1 {
				assert.NotContains(t, err.Error(), tt.secret)
			}
		})
	}
	assert.Equal(t, snapshot, readFile(t, path), "failed operations leave the file alone")

	// Explicit times and version are kept, in UTC to the second.
	created := time.Date(2024, 2, 29, 23, 59, 59, 999, time.FixedZone("X", 3600))
	require.NoError(t, v.Add(Record{Name: "old", Scheme: "s", Created: created, Rotated: created, Version: 7}, []byte("old-secret")))
	byName := func(name string) Record {
		f, err := Open(path)
		require.NoError(t, err)
		for _, r := range f.Records() {
			if r.Name == name {
				return r
			}
		}
		t.Fatalf("no record %s", name)
		return Record{}
	}
	old := byName("old")
	assert.Equal(t, "old", old.Name)
	assert.Equal(t, "2024-02-29T22:59:59Z", old.Created.Format(time.RFC3339Nano))
	assert.Equal(t, uint32(7), old.Version)

	require.NoError(t, v.Rotate(Record{Name: "old", Scheme: "s2", APIKey: "new-key"}, []byte("new-secret")))
	_, s, err := unlock(path, passphrase())
	require.NoError(t, err)
	assert.Equal(t, "new-secret", string(s["old"]))
	old = byName("old")
	assert.Equal(t, uint32(8), old.Version)
	assert.Equal(t, "2024-02-29T22:59:59Z", old.Created.Format(time.RFC3339))
	assert.True(t, old.Rotated.After(old.Created))
	assert.Equal(t, "new-key", old.APIKey)

	sealed := func(name string) string {
		for _, l := range splitLines(readFile(t, path)) {
			if bytes.Contains(l, []byte(`"name":"`+name+`"`)) {
				_, rest, _ := strings.Cut(string(l), `"sealed":"`)
				return rest[:len(rest)-3]
			}
		}
		return ""
	}
	blob := sealed("binance-main")
	require.NotEmpty(t, blob)
	require.NoError(t, v.Remove("binance-main"))
	assert.NotContains(t, string(readFile(t, path)), blob, "the removed record's ciphertext is gone")
	assert.NotContains(t, string(readFile(t, path)), "binance-main")
	assert.Len(t, v.Records(), 3)

	v.Close()
	assert.ErrorIs(t, v.Add(Record{Name: "late", Scheme: "s"}, []byte("s")), ErrClosed)
	assert.ErrorIs(t, v.Remove("old"), ErrClosed)
	assert.ErrorIs(t, v.ChangePassphrase(passphrase(), cheap), ErrClosed)
	v.Close() // idempotent
}

// A write that fails at any stage leaves the old file byte-identical, no
// temporary file behind, and the vault's memory as it was. Tests run as
// root, where permissions cannot make a write fail, so a hook does.
func TestFailedWrite(t *testing.T) {
	for _, stage := range []string{"create", "write", "sync", "rename"} {
		t.Run(stage, func(t *testing.T) {
			path := populated(t)
			dir := filepath.Dir(path)
			v, _ := mustUnlock(t, path)
			before := readFile(t, path)
			files := listDir(t, dir)
			v.hook = func(s string) error {
				if s == stage {
					return errors.New("disk full")
				}
				return nil
			}
			assert.ErrorContains(t, v.Add(Record{Name: "new", Scheme: "s"}, []byte("s")), "disk full")
			assert.ErrorContains(t, v.Remove("0x_okx"), "disk full")
			assert.ErrorContains(t, v.Rotate(Record{Name: "0x_okx", Scheme: "s"}, []byte("s")), "disk full")
			assert.ErrorContains(t, v.ChangePassphrase([]byte("new"), cheap), "disk full")
			assert.Equal(t, before, readFile(t, path))
			assert.Equal(t, files, listDir(t, dir), "no temporary file is left")
			assert.Len(t, v.Records(), 3)

			v.hook = nil
			require.NoError(t, v.Add(Record{Name: "new", Scheme: "s"}, []byte("s")))
			_, s, err := unlock(path, passphrase())
			require.NoError(t, err, "the vault's memory matched the old file")
			assert.Len(t, s, 4)
		})
	}
	t.Run("target is a directory", func(t *testing.T) {
		path := populated(t)
		v, _ := mustUnlock(t, path)
		require.NoError(t, os.Rename(path, path+".moved"))
		require.NoError(t, os.Mkdir(path, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(path, "x"), nil, 0o600))
		assert.ErrorContains(t, v.Add(Record{Name: "new", Scheme: "s"}, []byte("s")), "rename into place")
		assert.Equal(t, []string{"vault", "vault.moved"}, listDir(t, filepath.Dir(path)))
	})
}

func TestConcurrentUse(t *testing.T) {
	path := newVault(t)
	v, _ := mustUnlock(t, path)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := fmt.Sprintf("bot-%d", i)
			assert.NoError(t, v.Add(Record{Name: name, Scheme: "s"}, []byte(name)))
			_ = v.Records()
		})
	}
	wg.Wait()
	_, s, err := unlock(path, passphrase())
	require.NoError(t, err)
	assert.Len(t, s, 8)
	assert.Equal(t, "bot-3", string(s["bot-3"]))
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault")
	release, err := Lock(path)
	require.NoError(t, err)
	st, err := os.Stat(path + ".lock")
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), st.Mode().Perm())

	_, err = Lock(path)
	require.ErrorIs(t, err, ErrLockHeld)
	assert.Equal(t, "vault: lock "+path+".lock: vault is in use by another keyward agent: stop the other agent first, or point this one at another vault", err.Error())

	release()
	release() // idempotent
	release2, err := Lock(path)
	require.NoError(t, err)
	release2()

	_, err = Lock(filepath.Join(t.TempDir(), "missing-dir", "vault"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		err  string
	}{
		{"a", ""},
		{"binance-main", ""},
		{"Kraken.bot_1", ""},
		{"0", ""},
		{strings.Repeat("a", 64), ""},
		{"", "credential name is empty"},
		{strings.Repeat("a", 65), "65 characters long: use 1–64"},
		{".hidden", `starts with '.'`},
		{"_x", `starts with '_'`},
		{"a/b", `has '/' at position 2`},
		{"a b", "has a space, control or non-ASCII character at position 2"},
		{"café", "non-ASCII character at position 4"},
		{"a\nb", "control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidName(tt.name)
			if tt.err == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
			assert.Contains(t, err.Error(), "letters, digits")
		})
	}
}

// No error, whatever went wrong, carries a passphrase() or a secret.
func TestErrorsCarryNoSecrets(t *testing.T) {
	path := populated(t)
	var errs []error
	_, _, err := unlock(path, []byte("hunter2-wrong-passphrase"))
	errs = append(errs, err)
	raw := readFile(t, path)
	for i := 0; i < len(raw); i += 13 {
		b := bytes.Clone(raw)
		b[i] ^= 0x10
		_, err := parse(b)
		errs = append(errs, err)
	}
	v, _ := mustUnlock(t, path)
	errs = append(errs,
		v.Add(Record{Name: "x y NhqPtmdSJYdKjVHjA7PZj4Mge3R5", Scheme: "s"}, []byte("s")),
		v.Add(Record{Name: "binance-main", Scheme: "s"}, []byte("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j")))
	for _, err := range errs {
		require.Error(t, err)
		for _, s := range []string{"hunter2", "correct horse", "NhqPtmdSJYdKjVHjA7PZj4Mge3R5", "kraken-test-secret"} {
			assert.NotContains(t, err.Error(), s)
		}
	}
}

// TestPassphrasesAreWipedOnceDerived checks that every function taking a
// passphrase wipes it after the derivation, right or wrong.
func TestPassphrasesAreWipedOnceDerived(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault")
	zero := func(b []byte) bool { return !slices.ContainsFunc(b, func(c byte) bool { return c != 0 }) }

	p := passphrase()
	require.NoError(t, Create(path, p, cheap))
	assert.True(t, zero(p), "Create")

	f, err := Open(path)
	require.NoError(t, err)
	wrong := []byte("not the passphrase")
	_, err = f.Unlock(wrong, secrets{}.dst)
	assert.ErrorIs(t, err, ErrWrongPassphrase)
	assert.True(t, zero(wrong), "Unlock with a wrong passphrase")

	p = passphrase()
	v, err := f.Unlock(p, secrets{}.dst)
	require.NoError(t, err)
	defer v.Close()
	assert.True(t, zero(p), "Unlock")

	p = passphrase()
	require.NoError(t, v.CheckPassphrase(p))
	assert.True(t, zero(p), "CheckPassphrase")
	wrong = []byte("not the passphrase")
	assert.ErrorIs(t, v.CheckPassphrase(wrong), ErrWrongPassphrase)
	assert.True(t, zero(wrong), "CheckPassphrase with a wrong passphrase")

	p = []byte("a new passphrase")
	require.NoError(t, v.ChangePassphrase(p, cheap))
	assert.True(t, zero(p), "ChangePassphrase")
	require.NoError(t, v.CheckPassphrase([]byte("a new passphrase")))
}

// TestOpenRefusesWhatIsNotAPlainFile: a symbolic link, a directory and a
// FIFO at the vault path are refused at once with ErrNotRegular; the FIFO
// must not block open(2) (found by the bad-input table: it froze unlock).
func TestOpenRefusesWhatIsNotAPlainFile(t *testing.T) {
	real := newVault(t)
	dir := t.TempDir()

	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(real, link))
	_, err := Open(link)
	require.ErrorIs(t, err, ErrNotRegular)
	assert.Contains(t, err.Error(), "symbolic link")

	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o700))
	_, err = Open(sub)
	require.ErrorIs(t, err, ErrNotRegular)
	assert.Contains(t, err.Error(), "directory")

	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	done := make(chan error, 1)
	go func() { _, err := Open(fifo); done <- err }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrNotRegular)
		assert.Contains(t, err.Error(), "named pipe")
	case <-time.After(5 * time.Second):
		t.Fatal("Open blocked on a FIFO")
	}
}

// TestLockRemovesStaleTemps: an agent killed inside an atomic write leaves
// a temporary file; the next agent to take the lock removes it, but not a
// fresh one that an init may be writing.
func TestLockRemovesStaleTemps(t *testing.T) {
	path := newVault(t)
	dir, base := filepath.Split(path)
	stale := filepath.Join(dir, "."+base+".tmp-123")
	fresh := filepath.Join(dir, "."+base+".tmp-456")
	other := filepath.Join(dir, "unrelated.tmp-1")
	for _, f := range []string{stale, fresh, other} {
		require.NoError(t, os.WriteFile(f, []byte("x"), 0o600))
	}
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(stale, old, old))
	require.NoError(t, os.Chtimes(other, old, old))
	release, err := Lock(path)
	require.NoError(t, err)
	defer release()
	assert.NoFileExists(t, stale)
	assert.FileExists(t, fresh)
	assert.FileExists(t, other)
}
