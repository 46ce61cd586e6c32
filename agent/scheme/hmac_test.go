package scheme

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// RFC 4231 section 4 test vectors (HMAC-SHA-256 and, for the generic path,
// HMAC-SHA-512): https://www.rfc-editor.org/rfc/rfc4231#section-4
func TestHMACRFC4231(t *testing.T) {
	aa131 := bytes.Repeat([]byte{0xaa}, 131)
	cases := []struct {
		name           string
		key, data      []byte
		sha256, sha512 string
	}{
		{"1", bytes.Repeat([]byte{0x0b}, 20), []byte("Hi There"),
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
			"87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
		{"2", []byte("Jefe"), []byte("what do ya want for nothing?"),
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
			"164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
		{"3", bytes.Repeat([]byte{0xaa}, 20), bytes.Repeat([]byte{0xdd}, 50),
			"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", ""},
		{"4", unhex(t, "0102030405060708090a0b0c0d0e0f10111213141516171819"), bytes.Repeat([]byte{0xcd}, 50),
			"82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", ""},
		{"6", aa131, []byte("Test Using Larger Than Block-Size Key - Hash Key First"),
			"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", ""},
		{"7", aa131, []byte("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."),
			"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", ""},
	}
	scratch := make([]byte, ScratchSize)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := hmacSHA256(scratch, c.key, nil, c.data)
			assert.Equal(t, c.sha256, hex.EncodeToString(got))
			assert.True(t, allZero(scratch), "scratch wiped")
			if c.sha512 != "" {
				got := hmacSum(sha512.New, scratch, c.key, nil, c.data)
				assert.Equal(t, c.sha512, hex.EncodeToString(got))
				assert.True(t, allZero(scratch), "scratch wiped")
			}
		})
	}
	// Test case 5 checks truncation to 128 bits.
	got := hmacSHA256(scratch, bytes.Repeat([]byte{0x0c}, 20), nil, []byte("Test With Truncation"))
	assert.Equal(t, "a3b6167473100ee06e0c796c2955552b", hex.EncodeToString(got[:16]))
}

// TestHMACMatchesStdlib checks every key length around the block size and
// messages split into several pieces against crypto/hmac.
func TestHMACMatchesStdlib(t *testing.T) {
	hashes := []struct {
		name string
		new  func() hash.Hash
	}{{"sha256", sha256.New}, {"sha512", sha512.New}}
	lengths := []int{0, 1, 63, 64, 65, 127, 128, 129, 200}
	scratch := make([]byte, ScratchSize)
	for _, h := range hashes {
		for _, kl := range lengths {
			for _, ml := range lengths {
				key := pattern(kl, 7)
				msg := pattern(ml, 13)
				want := hmac.New(h.new, key)
				want.Write(msg)
				// The message split in three pieces must give the same MAC.
				a, b := ml/3, 2*ml/3
				prefix := []byte("prefix:")
				got := hmacSum(h.new, scratch, key, prefix, msg[:a], msg[a:b], msg[b:])
				require.Equal(t, want.Sum(prefix), got, "%s key %d msg %d", h.name, kl, ml)
				require.True(t, allZero(scratch), "scratch wiped")
			}
		}
	}
}

func TestHMACShortScratchPanics(t *testing.T) {
	assert.Panics(t, func() { hmacSHA256(make([]byte, 127), []byte("k"), nil, []byte("m")) })
	assert.Panics(t, func() { hmacSum(sha512.New, make([]byte, 255), []byte("k"), nil, []byte("m")) })
}

func TestHMACDoesNotAllocateForKeyBlocks(t *testing.T) {
	scratch := make([]byte, ScratchSize)
	key := pattern(64, 1)
	msg := pattern(100, 2)
	dst := make([]byte, 0, 32)
	allocs := testing.AllocsPerRun(100, func() { hmacSHA256(scratch, key, dst[:0], msg) })
	// One allocation: the hash object. The key blocks and digests stay in scratch.
	assert.LessOrEqual(t, allocs, 1.0, fmt.Sprintf("allocs/op = %v", allocs))
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)*31 + seed
	}
	return b
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// TestHashKeepsNoKeyBytes: after an HMAC with a key longer than a block,
// the hash object (for SHA-256 one that goes back to the pool) holds none
// of the key in its partial-block buffer, which Reset does not clear. It
// reads the standard library's unexported buffer by reflection.
func TestHashKeepsNoKeyBytes(t *testing.T) {
	for _, c := range []struct {
		name    string
		newHash func() hash.Hash
	}{{"sha256", sha256.New}, {"sha512", sha512.New}} {
		t.Run(c.name, func(t *testing.T) {
			h := c.newHash()
			bs := h.BlockSize()
			// A block and then a partial block as long as can be: the
			// inner digest written later covers only the partial block's
			// first bytes.
			key := bytes.Repeat([]byte("k"), 2*bs-1)
			tail := key[bs:]
			for i := range tail {
				tail[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[i%36] ^ byte(i/36)
			}
			scratch := make([]byte, 2*bs)
			var mac [64]byte
			hmacWith(h, scratch, key, mac[:0], []byte("ts=1"))

			x := reflect.ValueOf(h).Elem().FieldByName("x")
			require.True(t, x.IsValid() && x.Kind() == reflect.Array,
				"%T has no partial-block buffer named x: update this test for the Go version", h)
			buf := make([]byte, x.Len())
			for i := range buf {
				buf[i] = byte(x.Index(i).Uint())
			}
			for i := 0; i+8 <= len(tail); i++ {
				require.False(t, bytes.Contains(buf, tail[i:i+8]), "the hash still holds key bytes %q: %q", tail[i:i+8], buf)
			}
		})
	}
}
