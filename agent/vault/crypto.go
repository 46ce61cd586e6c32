package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"io"

	"github.com/keyward/keyward/internal/erase"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/hkdf"
)

// deriveKEK stretches the passphrase and then wipes it: the passphrase is
// not needed past this point. Argon2id runs under erase, because
// x/crypto/argon2 hashes the passphrase into a BLAKE2b state on the heap
// that it never wipes (see ErasesDerivation). The caller clears the result.
func deriveKEK(passphrase []byte, salt []byte, p Params) []byte {
	kek := make([]byte, keySize)
	erase.Do(func() {
		k := argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, keySize)
		copy(kek, k)
		clear(k)
		clear(passphrase)
	})
	return kek
}

// newGCM returns AES-256-GCM under key. The cipher keeps its own expanded
// copy of the key, which the Go runtime does not let us wipe; the caller
// clears key itself.
func newGCM(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("vault: aes: " + err.Error()) // key sizes are constants
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic("vault: gcm: " + err.Error())
	}
	return gcm
}

// hkdfKey derives a 32-byte key from the data key. The caller clears it.
func hkdfKey(dataKey, salt []byte, info string) []byte {
	k := make([]byte, keySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, dataKey, salt, []byte(info)), k); err != nil {
		panic("vault: hkdf: " + err.Error()) // 32 bytes is far below HKDF's limit
	}
	return k
}

// fileMAC is HMAC-SHA256 under HKDF(data key, info "keyward vault mac v1").
func fileMAC(dataKey, body []byte) []byte {
	k := hkdfKey(dataKey, nil, macInfo)
	defer clear(k)
	h := hmac.New(sha256.New, k)
	h.Write(body)
	return h.Sum(nil)
}

// recordGCM returns the cipher for one record's secret.
func recordGCM(dataKey, salt []byte) cipher.AEAD {
	k := hkdfKey(dataKey, salt, recordInfo)
	defer clear(k)
	return newGCM(k)
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("vault: crypto/rand: " + err.Error()) // crypto/rand does not fail on Linux
	}
	return b
}
