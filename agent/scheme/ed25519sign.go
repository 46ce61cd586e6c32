package scheme

import (
	"crypto/sha512"
	"crypto/subtle"

	"filippo.io/edwards25519"
)

// This file signs Ed25519 (RFC 8032 section 5.1.6) over
// filippo.io/edwards25519, for one reason: speed. The stored key is
// seed || public key, and crypto/ed25519 offers no way to sign with a seed
// and a known public key. From the seed alone, NewKeyFromSeed recomputes
// the public key, a scalar base multiplication, before Sign does its own:
// two per signature. Signing here takes the public key as stored, so a
// signature costs one. Its output is byte for byte crypto/ed25519's
// (ed25519sign_test.go checks it against crypto/ed25519 and RFC 8032's
// vectors).
//
// What it must never do:
//   - let the seed, its SHA-512 digest (the secret scalar and the nonce
//     prefix) or the per-signature nonce reach ordinary long-lived heap
//     memory: they live in this function's stack frame and are wiped before
//     it returns, and every caller runs it under erase.Do, which wipes the
//     stack and registers it used (and, with runtime/secret, any heap it
//     allocated);
//   - cache anything across calls, by key or otherwise (crypto/ed25519's
//     cache of expanded keys holds a weak pointer to the key's bytes, fatal
//     when they lie in the keyring's locked memory, and a cache would keep
//     the expanded key alive);
//   - sign with a public key that is not the seed's. With a wrong public
//     key A', the nonce r (which depends on the seed and the message only)
//     is the same as under the true A, so two signatures of one message
//     under A and A' give S - S' = (k - k')·s and reveal the secret scalar.
//     Check therefore refuses a key whose second half is not the public key
//     of its first (ed25519KeyConsistent), and only keys Check returned are
//     ever stored.

// ed25519Sign writes the RFC 8032 Ed25519 signature of msg into sig, for
// the 32-byte seed whose public key is pub. pub nil means the key is a bare
// seed (vaults written before the 64-byte form): the public key is then
// computed from the seed, at the cost of a second scalar base
// multiplication. Call it under erase.Do only; seed and pub must be 32
// bytes, and pub must be the seed's public key (see above).
func ed25519Sign(sig *[64]byte, seed, pub, msg []byte) {
	if len(seed) != 32 || (pub != nil && len(pub) != 32) {
		panic("scheme: ed25519Sign: bad key length")
	}
	var (
		h       [64]byte // SHA-512(seed): the secret scalar, then the nonce prefix
		digest  [64]byte
		s, r, S edwards25519.Scalar
		k       edwards25519.Scalar
		R, A    edwards25519.Point
		pubA    [32]byte
		mh      = sha512.New()
	)
	h = sha512.Sum512(seed)
	// SetBytesWithClamping and SetUniformBytes fail on a wrong length only.
	s.SetBytesWithClamping(h[:32])
	if pub == nil {
		A.ScalarBaseMult(&s)
		copy(pubA[:], A.Bytes())
		pub = pubA[:]
	}

	// r = SHA-512(prefix || msg) mod l; R = r·B.
	mh.Write(h[32:])
	mh.Write(msg)
	mh.Sum(digest[:0])
	r.SetUniformBytes(digest[:])
	R.ScalarBaseMult(&r)
	copy(sig[:32], R.Bytes())

	// k = SHA-512(R || A || msg) mod l; S = k·s + r.
	mh.Reset()
	mh.Write(sig[:32])
	mh.Write(pub)
	mh.Write(msg)
	mh.Sum(digest[:0])
	k.SetUniformBytes(digest[:])
	S.MultiplyAdd(&k, &s, &r)
	copy(sig[32:], S.Bytes())

	clear(h[:])
	clear(digest[:])
	wipeScalars(&s, &r, &S, &k)
	wipePoints(&R, &A)
	// Reset restores the initial hash state but leaves the 128-byte block
	// buffer as it is. crypto/sha512 today keeps the nonce prefix at the
	// buffer's start, where the second hash's R overwrites it, so this is
	// a second line, in case that layout changes: 127 zero bytes written
	// into the emptied buffer, then one more, fill it with zeros and hash
	// it. mh is not passed to a helper: through the hash.Hash interface it
	// would escape to the heap.
	var zero [sha512.BlockSize]byte
	mh.Reset()
	mh.Write(zero[:sha512.BlockSize-1])
	mh.Write(zero[:1])
	mh.Reset()
}

// ed25519KeyConsistent reports whether key, 64 bytes, is seed || public
// key of one Ed25519 key. Call it under erase.Do only.
func ed25519KeyConsistent(key []byte) bool {
	if len(key) != 64 {
		return false
	}
	var (
		h   [64]byte
		s   edwards25519.Scalar
		A   edwards25519.Point
		pub [32]byte
	)
	h = sha512.Sum512(key[:32])
	s.SetBytesWithClamping(h[:32])
	A.ScalarBaseMult(&s)
	copy(pub[:], A.Bytes())
	ok := subtle.ConstantTimeCompare(pub[:], key[32:]) == 1
	clear(h[:])
	wipeScalars(&s)
	wipePoints(&A)
	return ok
}

// wipeScalars sets each scalar to zero. It is not inlined, so the stores
// cannot be dropped as dead.
//
//go:noinline
func wipeScalars(ss ...*edwards25519.Scalar) {
	for _, s := range ss {
		*s = edwards25519.Scalar{}
	}
}

// wipePoints sets each point to the zero value (not a valid point: it is
// never used again).
//
//go:noinline
func wipePoints(ps ...*edwards25519.Point) {
	for _, p := range ps {
		*p = edwards25519.Point{}
	}
}
