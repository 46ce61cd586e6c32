package keyring

import (
	"testing"

	"github.com/awnumar/memguard"
)

func benchKeyring(b *testing.B, count int) *Keyring {
	k := newKeyring(b, Options{LockIdle: 1 << 40, LockAfter: 1 << 40})
	if err := k.Unlock(count, count*64, loadN(count, 64, nil)); err != nil {
		b.Fatal(err)
	}
	return k
}

func noopUse(_ Credential, secret, scratch []byte) error {
	scratch[0] = secret[0]
	return nil
}

// BenchmarkUse is the signing path's cost without the signing: lend one
// secret and a scratch slot. allocs/op must be 0.
func BenchmarkUse(b *testing.B) {
	k := benchKeyring(b, 1)
	name := credName(0)
	b.ReportAllocs()
	for b.Loop() {
		if err := k.Use(name, noopUse); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUse100k is BenchmarkUse with 100,000 credentials loaded, cycling
// through all of them: the arena must sign as fast with many as with one.
func BenchmarkUse100k(b *testing.B) {
	const n = 100_000
	k := benchKeyring(b, n)
	// A prime stride touches the whole table and arena. The names are
	// made in the order they are used, so that reading them costs what
	// reading a request does (nothing the keyring could save), and only
	// the keyring's own cache misses are measured.
	names := make([]string, n)
	for i := range names {
		names[i] = credName(i * 7919 % n)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := k.Use(names[i], noopUse); err != nil {
			b.Fatal(err)
		}
		if i++; i == n {
			i = 0
		}
	}
}

func BenchmarkUseParallel(b *testing.B) {
	k := benchKeyring(b, 64)
	names := make([]string, 64)
	for i := range names {
		names[i] = credName(i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := k.Use(names[i%64], noopUse); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkUnlock100k measures unlocking 100,000 credentials with 64-byte
// secrets (the copy stands in for decryption) and locking them again.
func BenchmarkUnlock100k(b *testing.B) {
	const n = 100_000
	k := newKeyring(b, Options{})
	secret := secretFor(1, 64)
	names := make([]string, n)
	for i := range names {
		names[i] = credName(i)
	}
	load := func(put func(Credential, int) ([]byte, error)) error {
		for i := range n {
			dst, err := put(Credential{Name: names[i], Scheme: "binance"}, 64)
			if err != nil {
				return err
			}
			copy(dst, secret)
		}
		return nil
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := k.Unlock(n, n*64, load); err != nil {
			b.Fatal(err)
		}
		k.Lock("bench")
	}
}

// BenchmarkEnclaveOpenBaseline is the design this package replaces: open a
// memguard Enclave per signature. For comparison only.
func BenchmarkEnclaveOpenBaseline(b *testing.B) {
	e := memguard.NewEnclave(secretFor(1, 64))
	b.ReportAllocs()
	for b.Loop() {
		lb, err := e.Open()
		if err != nil {
			b.Fatal(err)
		}
		lb.Destroy()
	}
}
