package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// batch returns n records named prefix-0000… with distinct secrets.
func batch(prefix string, n int) ([]Record, [][]byte) {
	recs := make([]Record, n)
	secrets := make([][]byte, n)
	for i := range n {
		recs[i] = Record{Name: fmt.Sprintf("%s-%04d", prefix, i), Scheme: "binance", APIKey: fmt.Sprintf("key-%d", i), Meta: map[string]string{"key_type": "hmac"}}
		secrets[i] = fmt.Appendf(nil, "secret-%s-%04d-not-real", prefix, i)
	}
	return recs, secrets
}

func TestAddBatch(t *testing.T) {
	path := populated(t)
	v, _ := mustUnlock(t, path)
	recs, secrets := batch("bulk", 500)
	// Out of order on purpose: the file keeps records sorted by name.
	recs[0], recs[499] = recs[499], recs[0]
	secrets[0], secrets[499] = secrets[499], secrets[0]
	before := time.Now().UTC().Truncate(time.Second)
	require.NoError(t, v.AddBatch(recs, secrets))

	assert.Len(t, v.Records(), 503)
	_, s, err := unlock(path, passphrase())
	require.NoError(t, err, "the file authenticates and every record opens")
	require.Len(t, s, 503)
	for i, r := range recs {
		assert.Equal(t, string(secrets[i]), string(s[r.Name]))
	}
	for _, r := range testRecords {
		assert.Equal(t, r.secret, string(s[r.rec.Name]), "records already there are kept")
	}
	f, err := Open(path)
	require.NoError(t, err)
	got := f.Records()
	for i := 1; i < len(got); i++ {
		assert.Less(t, got[i-1].Name, got[i].Name, "records are sorted by name")
	}
	for _, r := range got {
		if strings.HasPrefix(r.Name, "bulk-") {
			assert.Equal(t, uint32(1), r.Version)
			assert.Equal(t, r.Created, r.Rotated)
			assert.False(t, r.Created.Before(before))
			assert.Equal(t, "hmac", r.Meta["key_type"])
		}
	}
	assert.Equal(t, got, v.Records(), "the unlocked vault and the file agree")

	require.NoError(t, v.AddBatch(nil, nil), "an empty batch is a no-op")
	assert.Len(t, v.Records(), 503)
}

func TestAddBatchIsAllOrNothing(t *testing.T) {
	path := populated(t)
	v, _ := mustUnlock(t, path)
	snapshot := readFile(t, path)

	dup, dupSecrets := batch("bulk", 10)
	dup[7].Name = dup[3].Name
	twiceExisting, twiceSecrets := batch("bulk", 10)
	twiceExisting[9].Name = "binance-main"
	badName, badSecrets := batch("bulk", 10)
	badName[5].Name = "-bad"
	emptySecret, emptySecrets := batch("bulk", 10)
	emptySecrets[2] = nil
	noScheme, noSchemeSecrets := batch("bulk", 10)
	noScheme[8].Scheme = ""
	short, _ := batch("bulk", 3)

	cases := []struct {
		name    string
		recs    []Record
		secrets [][]byte
		is      error
		msg     string
	}{
		{"duplicate in the batch", dup, dupSecrets, ErrRecordExists, "bulk-0003: credential already exists: it is named twice in the batch"},
		{"name already in the vault", twiceExisting, twiceSecrets, ErrRecordExists, "binance-main: credential already exists"},
		{"invalid name", badName, badSecrets, nil, "record 5 ((invalid name)): credential name starts with '-'"},
		{"empty secret", emptySecret, emptySecrets, nil, "record 2 (bulk-0002): the secret is empty"},
		{"no scheme", noScheme, noSchemeSecrets, nil, "scheme must be"},
		{"secrets do not match records", short, [][]byte{[]byte("one-secret-only")}, nil, "3 records but 1 secrets"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			err := v.AddBatch(tt.recs, tt.secrets)
			require.Error(t, err)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			assert.Contains(t, err.Error(), tt.msg)
			assert.True(t, strings.HasPrefix(err.Error(), "vault: add batch of "), err.Error())
			for _, s := range tt.secrets {
				if len(s) > 0 {
					assert.NotContains(t, err.Error(), string(s), "no secret in the error")
				}
			}
			assert.Equal(t, snapshot, readFile(t, path), "the file is unchanged")
			assert.Len(t, v.Records(), 3, "the vault's memory is unchanged")
		})
	}

	// A failed write changes nothing either, and leaves no temporary file.
	files := listDir(t, filepath.Dir(path))
	v.hook = func(stage string) error {
		if stage == "rename" {
			return errors.New("disk full")
		}
		return nil
	}
	recs, secrets := batch("bulk", 10)
	assert.ErrorContains(t, v.AddBatch(recs, secrets), "disk full")
	assert.Equal(t, snapshot, readFile(t, path))
	assert.Equal(t, files, listDir(t, filepath.Dir(path)))
	assert.Len(t, v.Records(), 3)

	v.hook = nil
	require.NoError(t, v.AddBatch(recs, secrets), "the same batch succeeds once the disk is back")
	_, s, err := unlock(path, passphrase())
	require.NoError(t, err)
	assert.Len(t, s, 13)

	v.Close()
	assert.ErrorIs(t, v.AddBatch(recs, secrets), ErrClosed)
}

// A batch and single adds interleave: each sees the other's records.
func TestAddBatchThenAdd(t *testing.T) {
	path := newVault(t)
	v, _ := mustUnlock(t, path)
	recs, secrets := batch("a", 3)
	require.NoError(t, v.AddBatch(recs, secrets))
	require.ErrorIs(t, v.Add(Record{Name: "a-0001", Scheme: "s"}, []byte("s")), ErrRecordExists)
	require.NoError(t, v.Add(Record{Name: "a-0001x", Scheme: "s"}, []byte("s")))
	recs, secrets = batch("b", 2)
	require.NoError(t, v.AddBatch(recs, secrets))
	_, s, err := unlock(path, passphrase())
	require.NoError(t, err)
	assert.Len(t, s, 6)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

// TestParsedRecordsShareMeta proves a parsed file keeps one map for equal
// metadata, and still hands every caller a map of its own.
func TestParsedRecordsShareMeta(t *testing.T) {
	path := newVault(t)
	v, _ := mustUnlock(t, path)
	recs, secrets := batch("shared", 4)
	for i := range recs {
		recs[i].Meta = map[string]string{"key_type": "hmac"}
	}
	recs[3].Meta = map[string]string{"key_type": "rsa"}
	require.NoError(t, v.AddBatch(recs, secrets))

	f, err := Open(path)
	require.NoError(t, err)
	ptr := func(i int) uintptr { return reflect.ValueOf(f.p.records[i].rec.Meta).Pointer() }
	assert.Equal(t, ptr(0), ptr(1))
	assert.Equal(t, ptr(0), ptr(2))
	assert.NotEqual(t, ptr(0), ptr(3))
	assert.Equal(t, "binance", f.p.records[0].rec.Scheme)

	got := f.Records()
	got[0].Meta["key_type"] = "changed"
	assert.Equal(t, "hmac", f.Records()[1].Meta["key_type"])

	v2, _, err := unlock(path, passphrase())
	require.NoError(t, err)
	defer v2.Close()
	got = v2.Records()
	got[1].Meta["key_type"] = "changed"
	for _, r := range v2.Records()[:3] {
		assert.Equal(t, map[string]string{"key_type": "hmac"}, r.Meta)
	}
	// A rotation gives one record a map of its own; the others keep theirs.
	rot := v2.Records()[0]
	rot.Meta["key_type"] = "ed25519"
	require.NoError(t, v2.Rotate(rot, []byte("new secret")))
	rs := v2.Records()
	assert.Equal(t, "ed25519", rs[0].Meta["key_type"])
	assert.Equal(t, "hmac", rs[1].Meta["key_type"])
	assert.Equal(t, "hmac", rs[2].Meta["key_type"])
}

// TestRewriteKeepsLines proves a write encodes every record it did not
// change exactly as it read it: the Vault keeps the sealed parts, not the
// lines, and encodes them again.
func TestRewriteKeepsLines(t *testing.T) {
	path := populated(t)
	before := splitLines(readFile(t, path))
	v, _ := mustUnlock(t, path)
	require.NoError(t, v.Add(Record{Name: "zz-last", Scheme: "binance", APIKey: `a "quoted" \ key`}, []byte("s")))
	after := splitLines(readFile(t, path))
	require.Len(t, after, len(before)+1)
	assert.Equal(t, before[:6], after[:6], "the header and every record line are as they were")
	assert.Contains(t, string(after[6]), `"api_key":"a \"quoted\" \\ key"`)

	v2, s := mustUnlock(t, path)
	assert.Equal(t, "s", string(s["zz-last"]))
	assert.Equal(t, `a "quoted" \ key`, v2.Records()[3].APIKey)
}
