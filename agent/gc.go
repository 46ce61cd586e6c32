package agent

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/keyward/keyward/agent/scheme"
)

// Asymmetric signatures (RSA, ECDSA, secp256k1) expand the key into
// ordinary Go heap memory. They run under runtime/secret
// (internal/erase), which erases such memory when the garbage collector
// frees it — and the standard library's fips140 key cache keeps a
// precomputed key until a cleanup that runs after one collection. Nothing
// makes an idle agent collect for two minutes, so the agent collects
// twice itself: on lock, and shortly after the last asymmetric signature
// (and during an unlock: once for Argon2id's leftovers, and for a large
// vault releaseGarbage in release.go; see Unlock).
// The memory-scan test (e2e/memory_test.go) proves the result.

// keyGarbageDelay is how long after an asymmetric signature the heap is
// collected; signatures in between share one collection.
const keyGarbageDelay = 300 * time.Millisecond

// collectKeyGarbage runs two collections with the cleanups the first one
// queued (the fips140 key cache) run in between.
func collectKeyGarbage() {
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	runtime.GC()
}

// keyGarbage schedules collectKeyGarbage after asymmetric signatures.
type keyGarbage struct {
	mu      sync.Mutex
	pending bool
}

// signed notes a signature by a key of keyType.
func (g *keyGarbage) signed(keyType string) {
	switch keyType {
	case scheme.KeyRSA, scheme.KeyECDSAP256, scheme.KeySecp256k1:
	default:
		// HMAC keys live in locked memory only, and the Ed25519 signer
		// (agent/scheme/ed25519sign.go) keeps what it derives on the
		// stack, which erase.Do wipes, and allocates nothing.
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending {
		return
	}
	g.pending = true
	time.AfterFunc(keyGarbageDelay, func() {
		g.mu.Lock()
		g.pending = false
		g.mu.Unlock()
		collectKeyGarbage()
	})
}

// boundHeap sets a soft memory limit of limit bytes, unless a lower one
// (GOMEMLIMIT) is set, and returns what restores the previous one.
// Unlocking a large vault parses and decrypts the whole file, and the
// garbage would otherwise pile up to twice the live heap before the
// collector ran: ~300 MiB resident at the peak for 100,000 credentials,
// against ~210 MiB with the limit (2 x the file + 128 MiB), and no slower
// (make bench -only scale, one run each).
// It is soft: the collector works harder near it, nothing fails.
func boundHeap(limit int64) (restore func()) {
	prev := debug.SetMemoryLimit(-1)
	if limit >= prev {
		return func() {}
	}
	debug.SetMemoryLimit(limit)
	return func() { debug.SetMemoryLimit(prev) }
}
