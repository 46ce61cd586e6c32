package vault

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/v1-example.vault and the FuzzOpen seed corpus")

const (
	examplePath   = "testdata/v1-example.vault"
	exampleSecret = "keyward-test-secret-not-real"
)

var exampleRecord = Record{
	Name:    "example",
	Scheme:  "binance-hmac",
	APIKey:  "keyward-test-api-key-not-real",
	Meta:    map[string]string{"exchange": "binance"},
	Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	Rotated: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	Version: 1,
}

// TestV1Example opens a vault committed when format v1 was written, so a
// change that stops old files from opening fails here. Regenerate it (and
// the fuzz seeds) only on purpose: go test ./agent/vault -run TestV1Example -update
func TestV1Example(t *testing.T) {
	if *update {
		writeTestdata(t)
	}
	// git does not keep mode 0600, so open a copy.
	path := filepath.Join(t.TempDir(), "vault")
	writeFile(t, path, readFile(t, examplePath))

	f, err := Open(path)
	require.NoError(t, err)
	assert.Equal(t, cheap, f.Params())
	assert.Equal(t, []Record{exampleRecord}, f.Records())

	s := secrets{}
	v, err := f.Unlock(passphrase(), s.dst)
	require.NoError(t, err)
	v.Close()
	assert.Equal(t, exampleSecret, string(s["example"]))
}

func writeTestdata(t *testing.T) {
	dir := t.TempDir()
	build := func(name string, recs int) []byte {
		path := filepath.Join(dir, name)
		require.NoError(t, Create(path, passphrase(), cheap))
		v, _ := mustUnlock(t, path)
		if recs > 0 {
			require.NoError(t, v.Add(exampleRecord, []byte(exampleSecret)))
		}
		for i := 1; i < recs; i++ {
			require.NoError(t, v.Add(Record{Name: fmt.Sprintf("bot-%d", i), Scheme: "kraken", Meta: map[string]string{"i": fmt.Sprint(i)}}, []byte("not-a-real-secret")))
		}
		return readFile(t, path)
	}
	example := build("example", 1)
	require.NoError(t, os.WriteFile(examplePath, example, 0o600))

	three := build("three", 3)
	newer := splitLines(three)
	newer[0] = []byte("keyward-vault v2\n")
	seeds := map[string][]byte{
		"v1-example":    example,
		"empty-vault":   build("empty", 0),
		"three-records": three,
		"truncated":     three[:len(three)/2],
		"newer-version": resum(newer),
	}
	corpus := filepath.Join("testdata", "fuzz", "FuzzOpen")
	require.NoError(t, os.MkdirAll(corpus, 0o755))
	for name, b := range seeds {
		require.NoError(t, os.WriteFile(filepath.Join(corpus, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644))
	}
}

// TestRecordAADVector pins the record additional data to FORMAT.md's worked
// example.
func TestRecordAADVector(t *testing.T) {
	const want = "000000156b657977617264207265636f726420616164207631000000076578616d706c650000000c62696e616e63652d686d61630000001d6b6579776172642d746573742d6170692d6b65792d6e6f742d7265616c000000010000000865786368616e67650000000762696e616e636500000014323032352d30312d30325430333a30343a30355a00000014323032352d30312d30325430333a30343a30355a00000001"
	assert.Equal(t, want, hex.EncodeToString(recordAAD(exampleRecord)))
}

// withSum replaces data's last line with a correct sum line (or appends
// one), so the fuzzer's mutations get past the checksum to the line parsers.
func withSum(data []byte) []byte {
	body := data
	if i := bytes.LastIndex(data, []byte("\nsum ")); i >= 0 {
		body = data[:i+1]
	} else if len(data) > 0 && data[len(data)-1] != '\n' {
		body = append(bytes.Clone(data), '\n')
	}
	sum := sha256.Sum256(body)
	return append(bytes.Clone(body), "sum "+hex.EncodeToString(sum[:])+"\n"...)
}

// FuzzOpen feeds the parser hostile files, as they are and with their sum
// recomputed. It must not panic or allocate without bound; it either rejects
// a file with one of the format errors, or accepts exactly the bytes it would
// write itself. Cheap files are unlocked too, with the test passphrase().
func FuzzOpen(f *testing.F) {
	f.Add([]byte("keyward-vault v1\n"))
	f.Add([]byte("keyward-vault v9\nsum 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, data)
		if len(data) < maxLine {
			checkParse(t, withSum(data))
		}
	})
}

func checkParse(t *testing.T, data []byte) {
	p, err := parse(data)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) && !errors.Is(err, ErrTampered) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		return
	}
	body := bytes.Clone(p.raw[:p.keyEnd])
	for i, sr := range p.records {
		if i > 0 && p.records[i-1].rec.Name >= sr.rec.Name {
			t.Fatalf("records out of order")
		}
		body = append(body, recordLine(sr)...)
	}
	if !bytes.Equal(appendTrailer(body, p.mac), data) {
		t.Fatalf("accepted a file that is not in canonical form")
	}
	if p.params.MemoryKiB > 1024 || p.params.Time > 2 {
		return
	}
	v, err := (&File{path: "fuzz", p: p}).Unlock(passphrase(), secrets{}.dst)
	if err != nil {
		if !errors.Is(err, ErrWrongPassphrase) && !errors.Is(err, ErrTampered) {
			t.Fatalf("unexpected unlock error kind: %v", err)
		}
		return
	}
	v.Close()
}
